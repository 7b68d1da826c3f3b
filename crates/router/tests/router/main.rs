//! The router against a live simulator on 127.0.0.1, over real HTTP.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

mod failures;
mod habits;
mod resilience;
mod strategies;

use std::time::Duration;

use prometheus::Registry;
use serde_json::{Value, json};
use trizone_core::{
    Configuration, Merge, ModelSpec, Models, Parameters, Prompt, ProviderName, Strategy,
};
use trizone_router::{
    Api, CallOutcome, ModelRouter, Provider, Providers, ResilienceSettings, Review, ReviewInput,
    Reviewed, RouterError, Usage,
};
use trizone_sim::{Behaviour, Dataset, Profile, RunningSim};

/// A review that answered, with its calls and usage, read as the review.
#[derive(Debug)]
pub struct Answered {
    pub calls: Vec<CallOutcome>,
    pub usage: Usage,
    pub review: Review,
}

impl std::ops::Deref for Answered {
    type Target = Review;
    fn deref(&self) -> &Review {
        &self.review
    }
}

/// A review that failed, with its calls and usage, read as the error.
#[derive(Debug)]
pub struct Failed {
    pub calls: Vec<CallOutcome>,
    pub usage: Usage,
    pub error: RouterError,
}

impl std::ops::Deref for Failed {
    type Target = RouterError;
    fn deref(&self) -> &RouterError {
        &self.error
    }
}

/// `unwrap` and `unwrap_err` for a `Reviewed`, keeping its accounting.
pub trait Outcome {
    fn answered(self) -> Answered;
    fn failed(self) -> Failed;
}

impl Outcome for Reviewed {
    fn answered(self) -> Answered {
        match self.result {
            Ok(review) => Answered {
                calls: self.calls,
                usage: self.usage,
                review,
            },
            Err(error) => panic!("the review failed: {error}"),
        }
    }

    fn failed(self) -> Failed {
        match self.result {
            Ok(review) => panic!("the review answered: {review:?}"),
            Err(error) => Failed {
                calls: self.calls,
                usage: self.usage,
                error,
            },
        }
    }
}

pub const PRIMARY: &str = "gpt-sim";
pub const SECONDARY: &str = "claude-sim";
pub const OPENAI_KEY: &str = "sk-test-openai";
pub const ANTHROPIC_KEY: &str = "sk-test-anthropic";

/// The simulator as the operator would list it: one provider per wire
/// format, both asked for structured output or neither.
pub fn providers(sim: &RunningSim, structured_output: bool) -> Providers {
    Providers::new([
        Provider::new(
            "sim-openai",
            Api::Openai,
            &sim.openai_base_url(),
            OPENAI_KEY,
        )
        .unwrap()
        .with_structured_output(structured_output),
        Provider::new(
            "sim-anthropic",
            Api::Anthropic,
            &sim.anthropic_base_url(),
            ANTHROPIC_KEY,
        )
        .unwrap()
        .with_structured_output(structured_output),
    ])
    .unwrap()
}

pub fn provider(name: &str) -> ProviderName {
    ProviderName::parse(name).unwrap()
}

/// A case the simulator knows: one bug on line 3.
pub const CODE: &str =
    "def bitcount(n):\n    count = 0\n    while n: n ^= n - 1\n    return count\n";
const DATASET: &str = r#"{"id": "bitcount", "language": "python", "path": "bitcount.py", "code": "def bitcount(n):\n    count = 0\n    while n: n ^= n - 1\n    return count\n", "expected_findings": [{"line_start": 3, "line_end": 3, "category": "bug", "description": "should be n &= n - 1"}]}"#;

pub fn input() -> ReviewInput<'static> {
    ReviewInput {
        code: CODE,
        language: "python",
        path: "bitcount.py",
    }
}

const FAST: ResilienceSettings = ResilienceSettings {
    breaker_failures: 3,
    breaker_open_for: Duration::from_millis(300),
    backoff_min: Duration::from_millis(20),
    backoff_max: Duration::from_millis(80),
};

#[derive(Debug)]
pub struct Harness {
    pub sim: RunningSim,
    pub router: ModelRouter,
    pub registry: Registry,
    http: reqwest::Client,
}

impl Harness {
    /// Fast settings: circuits open after 3 failures for 300 ms; backoff
    /// 20–80 ms; structured output on, as providers are listed by default.
    pub async fn start() -> Self {
        Self::with(FAST, true).await
    }

    /// [`Harness::start`] with providers that get no structured output:
    /// the prompt's contract is all a model is told.
    pub async fn unstructured() -> Self {
        Self::with(FAST, false).await
    }

    pub async fn with(settings: ResilienceSettings, structured_output: bool) -> Self {
        let sim = RunningSim::start(7, Dataset::parse(DATASET).unwrap(), 0)
            .await
            .unwrap();
        let registry = Registry::new();
        let router =
            ModelRouter::new(providers(&sim, structured_output), settings, &registry).unwrap();
        Self {
            sim,
            router,
            registry,
            http: reqwest::Client::new(),
        }
    }

    /// OpenAI primary and Anthropic secondary, both on the simulator.
    pub fn config(&self, strategy: Strategy) -> Configuration {
        Configuration {
            name: "under-test".into(),
            models: Models {
                primary: ModelSpec {
                    provider: provider("sim-openai"),
                    model: PRIMARY.into(),
                    input_per_mtok: 2.5,
                    cached_input_per_mtok: None,
                    output_per_mtok: 10.0,
                },
                secondary: Some(ModelSpec {
                    provider: provider("sim-anthropic"),
                    model: SECONDARY.into(),
                    input_per_mtok: 15.0,
                    cached_input_per_mtok: None,
                    output_per_mtok: 75.0,
                }),
            },
            strategy,
            prompt: Prompt {
                system: "You are a careful reviewer.".into(),
                template: "Review {{path}} ({{language}}):\n{{code}}".into(),
            },
            parameters: Parameters {
                timeout_ms: 2_000,
                max_retries: 2,
                ..Parameters::default()
            },
        }
    }

    pub fn ensemble(&self, merge: Merge) -> Configuration {
        self.config(Strategy::Ensemble { merge })
    }

    async fn put(&self, path: &str, body: Value) {
        let response = self
            .http
            .put(format!("http://{}{path}", self.sim.address))
            .bearer_auth(&self.sim.control_token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "PUT {path}: {}",
            response.text().await.unwrap()
        );
    }

    pub async fn profile(&self, model: &str, profile: Value) {
        self.put(&format!("/control/profiles/{model}"), profile)
            .await;
    }

    pub async fn script(&self, model: &str, script: &[Behaviour]) {
        self.put(&format!("/control/scripts/{model}"), json!(script))
            .await;
    }

    /// Requests the simulator received for `model`, and when (ms).
    pub async fn requests(&self, model: &str) -> Vec<f64> {
        let stats: Value = self
            .http
            .get(format!("http://{}/control/stats", self.sim.address))
            .bearer_auth(&self.sim.control_token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stats[model]["request_times_ms"]
            .as_array()
            .map(|times| times.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    }

    /// The value of one metric series, 0 when it was never touched.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.registry
            .gather()
            .iter()
            .filter(|family| family.name() == name)
            .flat_map(|family| family.get_metric().iter())
            .find(|metric| {
                labels.iter().all(|(k, v)| {
                    metric
                        .get_label()
                        .iter()
                        .any(|l| l.name() == *k && l.value() == *v)
                })
            })
            // Unset fields read as 0, so the sum is whichever of the two the metric is.
            .map_or(0.0, |m| {
                m.get_counter().get_value() + m.get_gauge().get_value()
            })
    }
}

/// A healthy profile with the given accuracy.
pub fn accurate(accuracy: f64) -> Value {
    serde_json::to_value(Profile {
        accuracy,
        ..Profile::default()
    })
    .unwrap()
}
