//! `ModelRouter`: runs a configuration's strategy over its models.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use tokio::time::Instant;
use trizone_core::{Configuration, ModelSpec, ProviderName, Strategy};

use crate::error::{CallError, ErrorKind, RouterError};
use crate::merge::merge;
use crate::metrics::RouterMetrics;
use crate::outcome::{CallOutcome, Fallback, Review, ReviewFinding};
use crate::output::{self, ParsedReview};
use crate::provider::ChatProvider;
use crate::provider::anthropic::AnthropicProvider;
use crate::provider::openai::OpenAiProvider;
use crate::providers::{Api, Catalog, Providers};
use crate::request::{ChatRequest, ReviewInput, cost_usd};
use crate::resilience::{Breakers, ResilienceSettings};

/// Gets reviews from models as configurations say. One per process: it
/// holds the operator's providers, the connection pool, circuit breakers
/// and metrics.
pub struct ModelRouter {
    catalog: Catalog,
    /// One client per provider, made at start-up: the only endpoints this
    /// router ever calls, each with its own key.
    clients: HashMap<ProviderName, Arc<dyn ChatProvider>>,
    breakers: Breakers,
    metrics: RouterMetrics,
}

impl std::fmt::Debug for ModelRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRouter").finish_non_exhaustive()
    }
}

/// A model's answer with its call facts.
type Answer = (Result<ParsedReview, CallError>, CallOutcome);

impl ModelRouter {
    /// A router over `providers`; registers its metrics in `registry`.
    pub fn new(
        providers: Providers,
        settings: ResilienceSettings,
        registry: &Registry,
    ) -> Result<Self, prometheus::Error> {
        let metrics = RouterMetrics::new(registry, &providers)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(60))
            // A redirect would take the request, and Anthropic's
            // `x-api-key` header, which reqwest does not strip across
            // hosts, to a host the operator never configured.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| prometheus::Error::Msg(format!("cannot build the HTTP client: {e}")))?;
        let clients = providers
            .iter()
            .map(|provider| {
                let client: Arc<dyn ChatProvider> = match provider.api {
                    Api::Openai => Arc::new(OpenAiProvider::new(http.clone(), provider)),
                    Api::Anthropic => Arc::new(AnthropicProvider::new(http.clone(), provider)),
                };
                (provider.name.clone(), client)
            })
            .collect();
        Ok(Self {
            catalog: providers.catalog(),
            clients,
            breakers: Breakers::new(settings, metrics.clone()),
            metrics,
        })
    }

    /// Reviews `input` with `config`'s models and strategy. The latency, on
    /// a review and on an error alike, is the wall time of the whole review:
    /// an ensemble's calls run side by side, so their latencies do not add.
    pub async fn review(
        &self,
        config: &Configuration,
        input: ReviewInput<'_>,
    ) -> Result<Review, RouterError> {
        let started = Instant::now();
        let result = self.route(config, input).await;
        let latency_ms = millis(started.elapsed());
        result
            .map(|review| Review {
                latency_ms,
                ..review
            })
            .map_err(|error| RouterError {
                latency_ms,
                ..error
            })
    }

    async fn route(
        &self,
        config: &Configuration,
        input: ReviewInput<'_>,
    ) -> Result<Review, RouterError> {
        let request =
            ChatRequest::build(config, input).map_err(|e| single_failure(e, Vec::new()))?;
        let primary = &config.models.primary;
        let secondary = config.models.secondary.as_ref();
        let need_secondary = || {
            secondary.ok_or_else(|| {
                single_failure(
                    CallError::new(
                        ErrorKind::Config,
                        format!(
                            "strategy `{}` needs models.secondary",
                            config.strategy.kind()
                        ),
                    ),
                    Vec::new(),
                )
            })
        };
        let review = match config.strategy {
            Strategy::Primary => self.single(config, primary, &request).await?,
            Strategy::Secondary => self.single(config, need_secondary()?, &request).await?,
            Strategy::Adaptive => {
                self.adaptive(config, primary, need_secondary()?, &request)
                    .await?
            }
            Strategy::Ensemble { merge: how } => {
                let secondary = need_secondary()?;
                let (first, second) = tokio::join!(
                    self.call(config, primary, &request),
                    self.call(config, secondary, &request)
                );
                ensemble(first, second, how)?
            }
        };
        Ok(review)
    }

    async fn single(
        &self,
        config: &Configuration,
        spec: &ModelSpec,
        request: &ChatRequest,
    ) -> Result<Review, RouterError> {
        let (result, call) = self.call(config, spec, request).await;
        match result {
            Ok(parsed) => Ok(solo(parsed, vec![call])),
            Err(error) => Err(single_failure(error, vec![call])),
        }
    }

    async fn adaptive(
        &self,
        config: &Configuration,
        primary: &ModelSpec,
        secondary: &ModelSpec,
        request: &ChatRequest,
    ) -> Result<Review, RouterError> {
        let (result, first) = self.call(config, primary, request).await;
        let error = match result {
            Ok(parsed) => return Ok(solo(parsed, vec![first])),
            Err(error) => error,
        };
        self.metrics.record_fallback(error.kind.as_str());
        tracing::info!(from = %primary.id(), reason = %error.kind, "falling back to the secondary model");
        let fallback = Fallback {
            from: primary.id(),
            reason: error.kind,
            message: error.message,
        };
        let (result, second) = self.call(config, secondary, request).await;
        match result {
            Ok(parsed) => Ok(Review {
                fallback: Some(fallback),
                ..solo(parsed, vec![first, second])
            }),
            Err(error) => Err(single_failure(error, vec![first, second])),
        }
    }

    /// One model, with retries, deadline and circuit breaker; the answer parsed.
    async fn call(
        &self,
        config: &Configuration,
        spec: &ModelSpec,
        request: &ChatRequest,
    ) -> Answer {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(config.parameters.timeout_ms);
        let (result, attempts) = match self.client(spec) {
            Ok(client) => {
                let attempt = || client.complete(&spec.model, request);
                self.breakers
                    .call(
                        &spec.provider,
                        &spec.model,
                        config.parameters.max_retries,
                        deadline,
                        attempt,
                    )
                    .await
            }
            Err(error) => (Err(error), 0),
        };
        let (input_tokens, output_tokens) = result
            .as_ref()
            .map_or((0, 0), |c| (c.input_tokens, c.output_tokens));
        // Tokens are paid for even when the answer turns out to be unusable.
        let parsed = result.and_then(|completion| output::parse(&completion.text));
        let error = parsed.as_ref().err();
        let outcome = CallOutcome {
            provider: spec.provider.to_string(),
            model: spec.model.clone(),
            attempts,
            latency_ms: millis(started.elapsed()),
            input_tokens,
            output_tokens,
            cost_usd: cost_usd(spec, input_tokens, output_tokens),
            error: error.map(|e| e.kind),
            message: error.map(|e| e.message.clone()),
        };
        self.metrics.record(&outcome);
        (parsed, outcome)
    }

    /// The client of the model's provider. A provider the operator did
    /// not configure gets no request at all.
    fn client(&self, spec: &ModelSpec) -> Result<&Arc<dyn ChatProvider>, CallError> {
        self.clients.get(&spec.provider).ok_or_else(|| {
            CallError::new(
                ErrorKind::Config,
                format!(
                    "`{}` is not a provider of this service: its operator configured {}",
                    spec.provider,
                    self.catalog.names()
                ),
            )
        })
    }
}

/// A review from the answers that made it, and every call made for it.
fn answered(
    findings: Vec<ReviewFinding>,
    summary: String,
    calls: Vec<CallOutcome>,
    degraded: Option<Fallback>,
) -> Review {
    let answered_by = calls
        .iter()
        .filter(|c| c.error.is_none())
        .map(CallOutcome::model_id)
        .collect();
    Review {
        findings,
        summary,
        answered_by,
        fallback: None,
        degraded,
        calls,
        latency_ms: 0.0,
    }
}

/// One model's findings, each raised by that model alone.
fn alone(parsed: ParsedReview) -> (Vec<ReviewFinding>, String) {
    let findings = parsed
        .findings
        .into_iter()
        .map(|finding| ReviewFinding {
            finding,
            agreement: 1,
        })
        .collect();
    (findings, parsed.summary)
}

/// A review answered by one model.
fn solo(parsed: ParsedReview, calls: Vec<CallOutcome>) -> Review {
    let (findings, summary) = alone(parsed);
    answered(findings, summary, calls, None)
}

fn ensemble(
    first: Answer,
    second: Answer,
    how: trizone_core::Merge,
) -> Result<Review, RouterError> {
    let degraded = |call: &CallOutcome, error: &CallError| Fallback {
        from: call.model_id(),
        reason: error.kind,
        message: error.message.clone(),
    };
    match (first, second) {
        ((Ok(a), call_a), (Ok(b), call_b)) => {
            let summary = if a.summary.is_empty() {
                b.summary
            } else {
                a.summary
            };
            Ok(answered(
                merge(a.findings, b.findings, how),
                summary,
                vec![call_a, call_b],
                None,
            ))
        }
        ((Ok(a), call_a), (Err(e), call_b)) => {
            let note = degraded(&call_b, &e);
            let (findings, summary) = alone(a);
            Ok(answered(
                findings,
                summary,
                vec![call_a, call_b],
                Some(note),
            ))
        }
        ((Err(e), call_a), (Ok(b), call_b)) => {
            let note = degraded(&call_a, &e);
            let (findings, summary) = alone(b);
            Ok(answered(
                findings,
                summary,
                vec![call_a, call_b],
                Some(note),
            ))
        }
        ((Err(_), call_a), (Err(e), call_b)) => Err(single_failure(e, vec![call_a, call_b])),
    }
}

fn single_failure(error: CallError, calls: Vec<CallOutcome>) -> RouterError {
    let message = match calls.as_slice() {
        [] => error.message,
        calls => calls
            .iter()
            .map(|c| format!("{}: {}", c.model_id(), c.message.as_deref().unwrap_or("ok")))
            .collect::<Vec<_>>()
            .join("; "),
    };
    RouterError {
        kind: error.kind,
        message,
        calls,
        // Set by `review`, which times the whole review.
        latency_ms: 0.0,
    }
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}
