//! V2's service-level objectives: p95 latency under 3 s and an error rate
//! under 2 %. V2 counts the windows that break them; the gate rolls back
//! on a sustained breach.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Slo {
    /// A window breaks the latency SLO when its p95 is at least this.
    pub latency_p95_ms: f64,
    /// A window breaks the error SLO when its error rate is at least this.
    pub error_rate: f64,
}

impl Default for Slo {
    fn default() -> Self {
        Self {
            latency_p95_ms: 3000.0,
            error_rate: 0.02,
        }
    }
}

/// Which objectives a window broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
pub struct Breaches {
    pub latency_p95: bool,
    pub error_rate: bool,
}

impl Breaches {
    pub fn any(self) -> bool {
        self.latency_p95 || self.error_rate
    }
}

impl Slo {
    /// Judges a window; one without requests breaks nothing.
    pub fn breaches(&self, requests: i64, errors: i64, p95_ms: Option<f64>) -> Breaches {
        if requests <= 0 {
            return Breaches::default();
        }
        Breaches {
            latency_p95: p95_ms.is_some_and(|p95| p95 >= self.latency_p95_ms),
            error_rate: errors as f64 / requests as f64 >= self.error_rate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundaries_are_breaches_and_empty_windows_are_not() {
        let slo = Slo::default();
        assert_eq!(slo.breaches(0, 0, None), Breaches::default());
        let ok = slo.breaches(100, 1, Some(2999.0));
        assert!(!ok.any());
        let at_bounds = slo.breaches(100, 2, Some(3000.0));
        assert!(at_bounds.latency_p95 && at_bounds.error_rate);
    }
}
