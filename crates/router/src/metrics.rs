//! Router metrics, registered in the registry of the service that uses it.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use trizone_core::ProviderName;

use crate::outcome::CallOutcome;

#[derive(Clone, Debug)]
pub struct RouterMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    retries: IntCounterVec,
    circuit_open: IntGaugeVec,
    fallbacks: IntCounterVec,
}

impl RouterMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "router_provider_requests_total",
                "Model calls by outcome (ok or the error kind)",
            ),
            &["provider", "model", "outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "router_provider_duration_seconds",
                "Model call duration, retries included",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 60.0,
            ]),
            &["provider", "model"],
        )?;
        let retries = IntCounterVec::new(
            Opts::new("router_provider_retries_total", "Attempts beyond the first"),
            &["provider", "model"],
        )?;
        let circuit_open = IntGaugeVec::new(
            Opts::new(
                "router_circuit_open",
                "1 while the circuit of a provider and model is open",
            ),
            &["provider", "model"],
        )?;
        let fallbacks = IntCounterVec::new(
            Opts::new(
                "router_fallbacks_total",
                "Adaptive fallbacks to the secondary model, by reason",
            ),
            &["reason"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(retries.clone()))?;
        registry.register(Box::new(circuit_open.clone()))?;
        registry.register(Box::new(fallbacks.clone()))?;
        Ok(Self {
            requests,
            duration,
            retries,
            circuit_open,
            fallbacks,
        })
    }

    pub(crate) fn circuit_gauge(&self, provider: &ProviderName, model: &str) -> IntGauge {
        self.circuit_open
            .with_label_values(&[provider.as_str(), model])
    }

    pub(crate) fn record(&self, call: &CallOutcome) {
        let labels = [call.provider.as_str(), call.model.as_str()];
        let outcome = call.error.map_or("ok", |kind| kind.as_str());
        self.requests
            .with_label_values(&[labels[0], labels[1], outcome])
            .inc();
        self.duration
            .with_label_values(&labels)
            .observe(call.latency_ms / 1000.0);
        if call.attempts > 1 {
            self.retries
                .with_label_values(&labels)
                .inc_by(u64::from(call.attempts - 1));
        }
    }

    pub(crate) fn record_fallback(&self, reason: &str) {
        self.fallbacks.with_label_values(&[reason]).inc();
    }
}
