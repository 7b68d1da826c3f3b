//! Router metrics, registered in the registry of the service that uses it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use trizone_core::ProviderName;

use crate::outcome::CallOutcome;
use crate::providers::Providers;

/// How many model names a provider that lists none gets as labels; calls
/// to any further model are counted under `other`.
pub const UNLISTED_MODEL_LABELS: usize = 32;

/// The `model` label of each call: model names come from experimenters, so
/// they are bounded by the operator's list (or, for a provider without
/// one, by `UNLISTED_MODEL_LABELS`) to keep the series finite.
#[derive(Debug, Default)]
struct ModelLabels {
    /// The models of the providers that list theirs.
    listed: HashMap<String, HashSet<String>>,
    /// The names given labels so far, for providers that list none.
    seen: RwLock<HashMap<String, HashSet<String>>>,
}

impl ModelLabels {
    fn new(providers: &Providers) -> Self {
        let listed = providers
            .iter()
            .filter_map(|p| {
                let models = p.models.as_ref()?;
                Some((p.name.to_string(), models.iter().cloned().collect()))
            })
            .collect();
        Self {
            listed,
            seen: RwLock::default(),
        }
    }

    fn label<'a>(&self, provider: &str, model: &'a str) -> &'a str {
        if let Some(listed) = self.listed.get(provider) {
            return if listed.contains(model) {
                model
            } else {
                "unlisted"
            };
        }
        let known = |seen: &HashMap<String, HashSet<String>>| {
            seen.get(provider)
                .map(|models| (models.contains(model), models.len()))
        };
        // A poisoned lock only means another thread panicked mid-insert;
        // the set is still a set.
        let read = known(&self.seen.read().unwrap_or_else(|e| e.into_inner()));
        match read {
            Some((true, _)) => model,
            Some((false, n)) if n >= UNLISTED_MODEL_LABELS => "other",
            _ => {
                let mut seen = self.seen.write().unwrap_or_else(|e| e.into_inner());
                let models = seen.entry(provider.to_owned()).or_default();
                if models.contains(model) || models.len() < UNLISTED_MODEL_LABELS {
                    models.insert(model.to_owned());
                    model
                } else {
                    "other"
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct RouterMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    retries: IntCounterVec,
    circuit_open: IntGaugeVec,
    fallbacks: IntCounterVec,
    recoveries: IntCounterVec,
    models: Arc<ModelLabels>,
}

impl RouterMetrics {
    /// The router's metrics for calls to `providers`, registered in `registry`.
    pub fn new(registry: &Registry, providers: &Providers) -> Result<Self, prometheus::Error> {
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
        let recoveries = IntCounterVec::new(
            Opts::new(
                "router_format_recoveries_total",
                "Answers that broke the output contract but were read exactly, by how",
            ),
            &["provider", "model", "recovery"],
        )?;
        registry.register(Box::new(recoveries.clone()))?;
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
            recoveries,
            models: Arc::new(ModelLabels::new(providers)),
        })
    }

    pub(crate) fn circuit_gauge(&self, provider: &ProviderName, model: &str) -> IntGauge {
        self.circuit_open.with_label_values(&[
            provider.as_str(),
            self.models.label(provider.as_str(), model),
        ])
    }

    pub(crate) fn record(&self, call: &CallOutcome) {
        let labels = [
            call.provider.as_str(),
            self.models.label(&call.provider, &call.model),
        ];
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
        if let Some(recovery) = call.recovered {
            self.recoveries
                .with_label_values(&[labels[0], labels[1], recovery.as_str()])
                .inc();
        }
    }

    pub(crate) fn record_fallback(&self, reason: &str) {
        self.fallbacks.with_label_values(&[reason]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{Api, Provider};

    #[test]
    fn model_labels_are_the_operators_list_or_a_bounded_few() {
        let listed = Provider::new("listed", Api::Openai, "https://a.example/v1", "k")
            .unwrap()
            .with_models(vec!["m-1".into()])
            .unwrap();
        let open = Provider::new("open", Api::Openai, "https://b.example/v1", "k").unwrap();
        let labels = ModelLabels::new(&Providers::new([listed, open]).unwrap());
        let (listed, open) = ("listed", "open");
        assert_eq!(labels.label(listed, "m-1"), "m-1");
        assert_eq!(labels.label(listed, "m-2"), "unlisted");
        let names: Vec<String> = (0..UNLISTED_MODEL_LABELS + 10)
            .map(|i| format!("x-{i}"))
            .collect();
        let given: HashSet<&str> = names.iter().map(|n| labels.label(open, n)).collect();
        // The first names keep their own label, the rest share one, and a
        // name once labelled keeps its label.
        assert_eq!(given.len(), UNLISTED_MODEL_LABELS + 1);
        assert!(given.contains("other"));
        assert_eq!(labels.label(open, "x-0"), "x-0");
        assert_eq!(labels.label(open, &names[UNLISTED_MODEL_LABELS]), "other");
    }
}
