//! Retries and circuit breakers, in one place.
//!
//! Every attempt runs under the call's deadline and through the circuit
//! breaker of its provider and model, so a hang counts as a failure and an
//! open circuit fails at once. Retries (jittered exponential backoff, at
//! least the provider's `Retry-After`) happen only for retryable failures
//! and never sleep past the deadline.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use failsafe::backoff::{self, Constant};
use failsafe::failure_policy::{self, ConsecutiveFailures};
use failsafe::futures::CircuitBreaker as _;
use failsafe::{Config, Instrument, StateMachine};
use prometheus::IntGauge;
use tokio::time::Instant;
use trizone_core::ProviderName;

use crate::error::{CallError, ErrorKind};
use crate::metrics::RouterMetrics;

/// Tuning of retries and circuit breakers.
#[derive(Debug, Clone)]
pub struct ResilienceSettings {
    /// Consecutive provider failures (connect, timeout, 429, 5xx) that open a circuit.
    pub breaker_failures: u32,
    /// How long a circuit stays open before one call may probe it.
    pub breaker_open_for: Duration,
    /// First retry delay, doubled each time, jittered.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for ResilienceSettings {
    fn default() -> Self {
        Self {
            breaker_failures: 5,
            breaker_open_for: Duration::from_secs(30),
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
        }
    }
}

type Breaker = StateMachine<ConsecutiveFailures<Constant>, CircuitGauge>;

/// Mirrors a circuit's state into `router_circuit_open{provider,model}`.
struct CircuitGauge(IntGauge);

impl Instrument for CircuitGauge {
    fn on_call_rejected(&self) {}
    fn on_open(&self) {
        self.0.set(1);
    }
    fn on_half_open(&self) {}
    fn on_closed(&self) {
        self.0.set(0);
    }
}

/// One breaker per provider and model, created on first use. Looked up by
/// `&str` under a read lock: the hot path neither allocates nor contends.
pub(crate) struct Breakers {
    settings: ResilienceSettings,
    metrics: RouterMetrics,
    map: RwLock<HashMap<ProviderName, HashMap<String, Breaker>>>,
}

impl Breakers {
    pub(crate) fn new(settings: ResilienceSettings, metrics: RouterMetrics) -> Self {
        Self {
            settings,
            metrics,
            map: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, provider: &ProviderName, model: &str) -> Breaker {
        let known = self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(provider)
            .and_then(|m| m.get(model))
            .cloned();
        if let Some(breaker) = known {
            return breaker;
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        map.entry(provider.clone())
            .or_default()
            .entry(model.to_owned())
            .or_insert_with(|| {
                let gauge = self.metrics.circuit_gauge(provider, model);
                let policy = failure_policy::consecutive_failures(
                    self.settings.breaker_failures,
                    backoff::constant(self.settings.breaker_open_for),
                );
                Config::new()
                    .failure_policy(policy)
                    .instrument(CircuitGauge(gauge))
                    .build()
            })
            .clone()
    }

    /// Runs `attempt` with retries until it succeeds, fails for good, or
    /// the deadline comes. Returns the result and how many attempts it took.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        provider: &ProviderName,
        model: &str,
        max_retries: u32,
        deadline: Instant,
        attempt: F,
    ) -> (Result<T, CallError>, u32)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, CallError>>,
    {
        let breaker = self.get(provider, model);
        let attempts = AtomicU32::new(0);
        let one_attempt = || {
            attempts.fetch_add(1, Ordering::Relaxed);
            let bounded = async {
                tokio::time::timeout_at(deadline, attempt())
                    .await
                    .unwrap_or_else(|_| {
                        Err(CallError::new(
                            ErrorKind::Timeout,
                            "no answer before the deadline",
                        ))
                    })
            };
            let guarded = breaker.call_with(|e: &CallError| e.kind.is_provider_fault(), bounded);
            async move {
                guarded.await.map_err(|error| match error {
                    failsafe::Error::Inner(e) => e,
                    failsafe::Error::Rejected => CallError::new(
                        ErrorKind::CircuitOpen,
                        format!(
                            "the circuit for {provider}/{model} is open after repeated failures"
                        ),
                    ),
                })
            }
        };
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.settings.backoff_min)
            .with_max_delay(self.settings.backoff_max)
            .with_max_times(max_retries as usize);
        let result = one_attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e: &CallError| e.kind.is_retryable())
            .adjust(|e: &CallError, next: Option<Duration>| {
                // At least what the provider asked for; never past the deadline.
                let wait = e
                    .retry_after
                    .map_or(next?, |asked| asked.max(next.unwrap_or_default()));
                (Instant::now() + wait < deadline).then_some(wait)
            })
            .await;
        (result, attempts.load(Ordering::Relaxed))
    }
}
