//! Latency histograms as the database keeps them: HdrHistogram in µs (1 µs
//! to 1 h, 3 significant digits), V2-serialized, so runs, windows and
//! replicas merge exactly instead of averaging percentiles.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

use crate::StoreError;

const LOWEST_US: u64 = 1;
const HIGHEST_US: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

#[derive(Debug, Clone)]
pub struct LatencyHistogram(Histogram<u64>);

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        // The bounds are constants that hdrhistogram accepts.
        #[expect(clippy::unwrap_used, reason = "constant, valid bounds")]
        let histogram =
            Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS).unwrap();
        Self(histogram)
    }

    /// Records one latency; values outside 1 µs..1 h are clamped to it.
    pub fn record_ms(&mut self, latency_ms: f64) {
        let micros = (latency_ms * 1000.0)
            .round()
            .clamp(LOWEST_US as f64, HIGHEST_US as f64) as u64;
        self.0.saturating_record(micros);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The latency at `quantile` (0..=1) in ms, or `None` without samples.
    pub fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.value_at_quantile(quantile) as f64 / 1000.0)
    }

    /// Latencies recorded above `ms`.
    pub fn count_over_ms(&self, ms: f64) -> u64 {
        let bar = (ms * 1000.0)
            .round()
            .clamp(LOWEST_US as f64, HIGHEST_US as f64) as u64;
        self.0.len() - self.0.count_between(0, bar)
    }

    pub fn merge(&mut self, other: &Self) {
        // Both sides share the bounds above, so adding cannot overflow them.
        let _ = self.0.add(&other.0);
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = V2Serializer::new().serialize(&self.0, &mut bytes);
        bytes
    }

    pub fn from_bytes(bytes: &[u8], column: &'static str) -> Result<Self, StoreError> {
        let histogram: Histogram<u64> =
            Deserializer::new()
                .deserialize(&mut &bytes[..])
                .map_err(|e| StoreError::Corrupt {
                    column,
                    value: format!("histogram: {e}"),
                })?;
        let mut own = Self::new();
        own.0.add(&histogram).map_err(|e| StoreError::Corrupt {
            column,
            value: format!("histogram out of bounds: {e:?}"),
        })?;
        Ok(own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_serialized_histograms_is_exact() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        for ms in 1..=95 {
            a.record_ms(f64::from(ms));
        }
        for _ in 0..5 {
            b.record_ms(4000.0);
        }
        let mut merged = LatencyHistogram::from_bytes(&a.to_bytes(), "t").unwrap();
        merged.merge(&LatencyHistogram::from_bytes(&b.to_bytes(), "t").unwrap());
        assert_eq!(merged.len(), 100);
        let p95 = merged.quantile_ms(0.95).unwrap();
        assert!((94.9..=95.1).contains(&p95), "p95 {p95}");
        let p99 = merged.quantile_ms(0.99).unwrap();
        assert!((3995.0..=4005.0).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn garbage_is_reported_as_corrupt() {
        let error = LatencyHistogram::from_bytes(b"not a histogram", "slo.latency").unwrap_err();
        assert!(matches!(
            error,
            StoreError::Corrupt {
                column: "slo.latency",
                ..
            }
        ));
    }
}
