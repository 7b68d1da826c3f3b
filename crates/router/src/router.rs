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
use crate::outcome::{ANSWER_CHARS, CallOutcome, Fallback, Review, ReviewFinding, Reviewed, Usage};
use crate::output::{self, ParsedReview};
use crate::provider::anthropic::AnthropicProvider;
use crate::provider::openai::OpenAiProvider;
use crate::provider::{ChatProvider, Tokens};
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
    ///
    /// What the review cost and how long it waited is accounted here, once,
    /// where the strategy is known, for V1's runs, V2's answers and the
    /// smoke test alike.
    pub async fn review(&self, config: &Configuration, input: ReviewInput<'_>) -> Reviewed {
        let started = Instant::now();
        let (result, calls) = self.route(config, input).await;
        let latency_ms = millis(started.elapsed());
        let latencies = calls.iter().map(|c| c.latency_ms);
        let provider_wait_ms = match config.strategy {
            // An ensemble's calls run side by side.
            Strategy::Ensemble { .. } => latencies.fold(0.0, f64::max),
            _ => latencies.sum(),
        };
        let usage = Usage {
            latency_ms,
            provider_wait_ms,
            input_tokens: calls.iter().map(|c| c.input_tokens).sum(),
            cached_input_tokens: calls.iter().map(|c| c.cached_input_tokens).sum(),
            output_tokens: calls.iter().map(|c| c.output_tokens).sum(),
            reasoning_tokens: calls.iter().map(|c| c.reasoning_tokens).sum(),
            cost_usd: calls.iter().map(|c| c.cost_usd).sum(),
        };
        Reviewed {
            calls,
            usage,
            result,
        }
    }

    async fn route(&self, config: &Configuration, input: ReviewInput<'_>) -> Routed {
        let request = match ChatRequest::build(config, input) {
            Ok(request) => request,
            Err(error) => return (Err(single_failure(error, &[])), Vec::new()),
        };
        let primary = &config.models.primary;
        match (config.strategy, config.models.secondary.as_ref()) {
            (Strategy::Primary, _) => self.single(config, primary, &request).await,
            (_, None) => {
                let error = CallError::new(
                    ErrorKind::Config,
                    format!(
                        "strategy `{}` needs models.secondary",
                        config.strategy.kind()
                    ),
                );
                (Err(single_failure(error, &[])), Vec::new())
            }
            (Strategy::Secondary, Some(secondary)) => {
                self.single(config, secondary, &request).await
            }
            (Strategy::Adaptive, Some(secondary)) => {
                self.adaptive(config, primary, secondary, &request).await
            }
            (Strategy::Ensemble { merge: how }, Some(secondary)) => {
                let (first, second) = tokio::join!(
                    self.call(config, primary, &request),
                    self.call(config, secondary, &request)
                );
                ensemble(first, second, how)
            }
        }
    }

    async fn single(
        &self,
        config: &Configuration,
        spec: &ModelSpec,
        request: &ChatRequest,
    ) -> Routed {
        let (result, call) = self.call(config, spec, request).await;
        let calls = vec![call];
        let result = match result {
            Ok(parsed) => Ok(solo(parsed, &calls)),
            Err(error) => Err(single_failure(error, &calls)),
        };
        (result, calls)
    }

    async fn adaptive(
        &self,
        config: &Configuration,
        primary: &ModelSpec,
        secondary: &ModelSpec,
        request: &ChatRequest,
    ) -> Routed {
        let (result, first) = self.call(config, primary, request).await;
        let error = match result {
            Ok(parsed) => {
                let calls = vec![first];
                return (Ok(solo(parsed, &calls)), calls);
            }
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
        let calls = vec![first, second];
        let result = match result {
            Ok(parsed) => Ok(Review {
                fallback: Some(fallback),
                ..solo(parsed, &calls)
            }),
            Err(error) => Err(single_failure(error, &calls)),
        };
        (result, calls)
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
        let tokens = result
            .as_ref()
            .map_or_else(|_| Tokens::default(), |c| c.tokens);
        let answer = result
            .as_ref()
            .ok()
            .and_then(|c| c.answer.as_ref().ok())
            .map(|text| first_chars(text, ANSWER_CHARS).to_owned());
        // Tokens are paid for even when the answer turns out to be unusable.
        let parsed = result
            .and_then(|completion| completion.answer)
            .and_then(|text| output::parse(&text, request.lines));
        let error = parsed.as_ref().err();
        let outcome = CallOutcome {
            provider: spec.provider.to_string(),
            model: spec.model.clone(),
            attempts,
            latency_ms: millis(started.elapsed()),
            input_tokens: tokens.input,
            cached_input_tokens: tokens.cached_input,
            output_tokens: tokens.output,
            reasoning_tokens: tokens.reasoning,
            cost_usd: cost_usd(spec, &tokens),
            error: error.map(|e| e.kind),
            message: error.map(|e| e.message.clone()),
            recovered: parsed.as_ref().ok().and_then(|p| p.recovered),
            answer,
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

/// What routing produced, and every call made for it.
type Routed = (Result<Review, RouterError>, Vec<CallOutcome>);

/// A review from the answers that made it, among `calls`.
fn answered(
    findings: Vec<ReviewFinding>,
    summary: String,
    calls: &[CallOutcome],
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
fn solo(parsed: ParsedReview, calls: &[CallOutcome]) -> Review {
    let (findings, summary) = alone(parsed);
    answered(findings, summary, calls, None)
}

fn ensemble(first: Answer, second: Answer, how: trizone_core::Merge) -> Routed {
    let degraded = |call: &CallOutcome, error: &CallError| Fallback {
        from: call.model_id(),
        reason: error.kind,
        message: error.message.clone(),
    };
    let ((a, call_a), (b, call_b)) = (first, second);
    let calls = vec![call_a, call_b];
    let result = match (a, b) {
        (Ok(a), Ok(b)) => {
            let summary = if a.summary.is_empty() {
                b.summary
            } else {
                a.summary
            };
            Ok(answered(
                merge(a.findings, b.findings, how),
                summary,
                &calls,
                None,
            ))
        }
        (Ok(a), Err(e)) => {
            let note = degraded(&calls[1], &e);
            let (findings, summary) = alone(a);
            Ok(answered(findings, summary, &calls, Some(note)))
        }
        (Err(e), Ok(b)) => {
            let note = degraded(&calls[0], &e);
            let (findings, summary) = alone(b);
            Ok(answered(findings, summary, &calls, Some(note)))
        }
        (Err(_), Err(e)) => Err(single_failure(e, &calls)),
    };
    (result, calls)
}

fn single_failure(error: CallError, calls: &[CallOutcome]) -> RouterError {
    let message = match calls {
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
    }
}

/// The first `n` characters of `text`, borrowed.
fn first_chars(text: &str, n: usize) -> &str {
    text.char_indices()
        .nth(n)
        .map_or(text, |(end, _)| &text[..end])
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::first_chars;

    #[test]
    fn an_answer_is_cut_by_characters_not_bytes() {
        assert_eq!(first_chars("héllo", 2), "hé");
        assert_eq!(first_chars("héllo", 5), "héllo");
        assert_eq!(first_chars("héllo", 50), "héllo");
        assert_eq!(first_chars("", 3), "");
    }
}
