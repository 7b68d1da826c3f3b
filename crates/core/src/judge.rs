//! The gate's judgement of one run: every check with its value, bound,
//! threshold and reason, and an overall Pass, Fail or Inconclusive.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::metrics::RunMetrics;
use crate::stats::{self, BoundDecision, Direction};
use crate::thresholds::Thresholds;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Pass,
    Fail,
    Inconclusive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckName {
    SampleSize,
    Accuracy,
    ErrorRate,
    LatencyP95,
    CostPerCase,
    NonInferiority,
}

/// One check of a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Check {
    pub name: CheckName,
    pub outcome: Decision,
    /// The observed value (a proportion, milliseconds, USD or cases).
    pub value: Option<f64>,
    /// The confidence bound compared with the threshold, for proportions:
    /// the lower bound for "at least" checks, the upper for "at most".
    pub bound: Option<f64>,
    pub threshold: f64,
    pub direction: Direction,
    /// A sentence a person can act on.
    pub reason: String,
    /// Total cases at which the current rate would decide this check.
    pub cases_to_decide: Option<u64>,
}

/// The stable configuration a candidate is compared with for non-inferiority.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Baseline {
    pub accuracy: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Verdict {
    pub decision: Decision,
    pub checks: Vec<Check>,
    /// For Inconclusive: how many more cases (beyond this run's) would let
    /// every undecided check decide at the rates seen so far; `None` when
    /// some check would stay undecided at any practical size.
    pub additional_cases_needed: Option<u64>,
}

impl Verdict {
    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome == Decision::Fail)
    }
}

/// Judges a run against thresholds (and, when given, the stable baseline).
pub fn judge(metrics: &RunMetrics, thresholds: &Thresholds, baseline: Option<Baseline>) -> Verdict {
    let z = stats::z_for_confidence(thresholds.confidence);
    let n = metrics.cases;
    let min = thresholds.min_sample_size.max(1);
    let enough = n >= min;

    let mut checks = vec![sample_size_check(n, min)];
    checks.push(proportion_check(
        CheckName::Accuracy,
        "accuracy",
        metrics.correct,
        n,
        thresholds.min_accuracy,
        Direction::AtLeast,
        z,
        min,
    ));
    checks.push(proportion_check(
        CheckName::ErrorRate,
        "error rate",
        metrics.errors,
        n,
        thresholds.max_error_rate,
        Direction::AtMost,
        z,
        min,
    ));
    checks.push(latency_check(
        metrics.latency_p95_ms,
        thresholds.max_p95_latency_ms,
        min,
    ));
    if let Some(ceiling) = thresholds.max_cost_per_case_usd {
        checks.push(cost_check(metrics.cost_per_case_usd(), ceiling, min));
    }
    if let (Some(margin), Some(baseline)) = (thresholds.non_inferiority_margin, baseline) {
        let floor = (baseline.accuracy - margin).max(0.0);
        let mut check = proportion_check(
            CheckName::NonInferiority,
            "accuracy against the stable configuration",
            metrics.correct,
            n,
            floor,
            Direction::AtLeast,
            z,
            min,
        );
        check.reason = format!(
            "{} (stable accuracy {:.4} minus margin {margin})",
            check.reason, baseline.accuracy
        );
        checks.push(check);
    }

    if !enough {
        // Below the minimum sample nothing is decided, in either direction.
        for check in checks
            .iter_mut()
            .filter(|c| c.name != CheckName::SampleSize)
        {
            if check.outcome != Decision::Inconclusive {
                check.outcome = Decision::Inconclusive;
                check.reason = format!("{}; not judged below {min} cases", check.reason);
            }
        }
    }

    let decision = if checks.iter().any(|c| c.outcome == Decision::Fail) {
        Decision::Fail
    } else if checks.iter().any(|c| c.outcome == Decision::Inconclusive) {
        Decision::Inconclusive
    } else {
        Decision::Pass
    };
    let additional_cases_needed = (decision == Decision::Inconclusive)
        .then(|| {
            checks
                .iter()
                .filter(|c| c.outcome == Decision::Inconclusive)
                .map(|c| c.cases_to_decide)
                .try_fold(n, |most, needed| needed.map(|needed| most.max(needed)))
                .map(|total| total.saturating_sub(n).max(1))
        })
        .flatten();
    Verdict {
        decision,
        checks,
        additional_cases_needed,
    }
}

fn sample_size_check(n: u64, min: u64) -> Check {
    let enough = n >= min;
    Check {
        name: CheckName::SampleSize,
        outcome: if enough {
            Decision::Pass
        } else {
            Decision::Inconclusive
        },
        value: Some(n as f64),
        bound: None,
        threshold: min as f64,
        direction: Direction::AtLeast,
        reason: if enough {
            format!("{n} cases, at least the minimum of {min}")
        } else {
            format!("{n} cases, fewer than the minimum of {min}")
        },
        cases_to_decide: Some(min.max(n)),
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site per proportion, each argument named there"
)]
fn proportion_check(
    name: CheckName,
    label: &str,
    hits: u64,
    n: u64,
    threshold: f64,
    direction: Direction,
    z: f64,
    min: u64,
) -> Check {
    let (relation, opposite) = match direction {
        Direction::AtLeast => ("at least", "below"),
        Direction::AtMost => ("at most", "above"),
    };
    if n == 0 {
        return Check {
            name,
            outcome: Decision::Inconclusive,
            value: None,
            bound: None,
            threshold,
            direction,
            reason: format!("no cases: {label} unknown, must be {relation} {threshold}"),
            cases_to_decide: Some(min),
        };
    }
    let p_hat = hits as f64 / n as f64;
    let (lower, upper) = stats::wilson_bounds(p_hat, n as f64, z);
    let (bound, far_bound) = match direction {
        Direction::AtLeast => (lower, upper),
        Direction::AtMost => (upper, lower),
    };
    let decision = stats::decide(lower, upper, threshold, direction);
    let (outcome, reason) = match decision {
        BoundDecision::Pass => (
            Decision::Pass,
            format!("{label} {p_hat:.4}: its confident bound {bound:.4} is {relation} {threshold}"),
        ),
        BoundDecision::Fail => (
            Decision::Fail,
            format!(
                "{label} {p_hat:.4}: even its most favourable bound {far_bound:.4} is {opposite} {threshold}"
            ),
        ),
        BoundDecision::Undecided => (
            Decision::Inconclusive,
            format!("{label} {p_hat:.4}: the bounds [{lower:.4}, {upper:.4}] straddle {threshold}"),
        ),
    };
    let cases_to_decide = match outcome {
        Decision::Inconclusive => {
            stats::cases_to_decide(p_hat, n.max(min), z, threshold, direction)
        }
        _ => Some(n.max(min)),
    };
    Check {
        name,
        outcome,
        value: Some(p_hat),
        bound: Some(bound),
        threshold,
        direction,
        reason,
        cases_to_decide,
    }
}

fn latency_check(p95_ms: Option<f64>, max_ms: f64, min: u64) -> Check {
    let (outcome, reason) = match p95_ms {
        None => (
            Decision::Inconclusive,
            format!("no latency samples; p95 must be at most {max_ms} ms"),
        ),
        Some(p95) if p95 <= max_ms => (
            Decision::Pass,
            format!("p95 latency {p95:.0} ms is at most {max_ms} ms"),
        ),
        Some(p95) => (
            Decision::Fail,
            format!("p95 latency {p95:.0} ms is above {max_ms} ms"),
        ),
    };
    Check {
        name: CheckName::LatencyP95,
        outcome,
        value: p95_ms,
        bound: None,
        threshold: max_ms,
        direction: Direction::AtMost,
        reason,
        cases_to_decide: Some(min),
    }
}

fn cost_check(cost_per_case: Option<f64>, ceiling: f64, min: u64) -> Check {
    let (outcome, reason) = match cost_per_case {
        None => (
            Decision::Inconclusive,
            format!("no cases; cost per case must be at most ${ceiling}"),
        ),
        Some(cost) if cost <= ceiling => (
            Decision::Pass,
            format!("cost per case ${cost:.6} is at most ${ceiling}"),
        ),
        Some(cost) => (
            Decision::Fail,
            format!("cost per case ${cost:.6} is above ${ceiling}"),
        ),
    };
    Check {
        name: CheckName::CostPerCase,
        outcome,
        value: cost_per_case,
        bound: None,
        threshold: ceiling,
        direction: Direction::AtMost,
        reason,
        cases_to_decide: Some(min),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn run(cases: u64, correct: u64, errors: u64, p95: f64) -> RunMetrics {
        RunMetrics {
            cases,
            correct,
            errors,
            latency_p95_ms: Some(p95),
            ..RunMetrics::default()
        }
    }

    fn outcome(verdict: &Verdict, name: CheckName) -> Decision {
        verdict
            .checks
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .outcome
    }

    #[test]
    fn a_clean_large_run_passes() {
        let verdict = judge(&run(400, 400, 0, 1200.0), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Pass, "{verdict:#?}");
        assert_eq!(verdict.additional_cases_needed, None);
    }

    #[test]
    fn a_slow_run_fails_on_latency_with_value_and_threshold() {
        let verdict = judge(&run(400, 400, 0, 4500.0), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Fail);
        let failed: Vec<_> = verdict.failed_checks().collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].name, CheckName::LatencyP95);
        assert_eq!(
            (failed[0].value, failed[0].threshold),
            (Some(4500.0), 3000.0)
        );
        assert!(
            failed[0].reason.contains("4500 ms is above 3000"),
            "{}",
            failed[0].reason
        );
    }

    #[test]
    fn an_inaccurate_run_fails_on_accuracy() {
        let verdict = judge(&run(200, 150, 0, 800.0), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Fail);
        assert_eq!(outcome(&verdict, CheckName::Accuracy), Decision::Fail);
    }

    #[test]
    fn a_borderline_run_is_inconclusive_and_says_how_many_more_cases() {
        // 0 errors in 100 cases: upper bound ≈ 0.026 is still above 0.02.
        let verdict = judge(&run(100, 100, 0, 800.0), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Inconclusive, "{verdict:#?}");
        assert_eq!(
            outcome(&verdict, CheckName::ErrorRate),
            Decision::Inconclusive
        );
        // p̂ = 0: upper = z²/(n + z²) ≤ 0.02 ⇔ n ≥ 49 z² ≈ 132.6 → 133 in all.
        assert_eq!(verdict.additional_cases_needed, Some(33));
    }

    #[test]
    fn no_data_is_never_a_pass() {
        let verdict = judge(&RunMetrics::default(), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Inconclusive);
        assert_eq!(verdict.additional_cases_needed, Some(100));
    }

    #[test]
    fn too_small_a_sample_decides_nothing() {
        let verdict = judge(&run(20, 0, 0, 99_000.0), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Inconclusive);
        assert_eq!(verdict.failed_checks().count(), 0);
        assert!(
            verdict
                .checks
                .iter()
                .any(|c| c.reason.contains("not judged below 100 cases"))
        );
    }

    #[test]
    fn optional_checks_join_only_when_configured() {
        let mut metrics = run(400, 396, 0, 900.0);
        metrics.cost_usd = 4.0;
        let thresholds = Thresholds {
            max_cost_per_case_usd: Some(0.005),
            non_inferiority_margin: Some(0.01),
            ..Thresholds::default()
        };
        let verdict = judge(&metrics, &thresholds, Some(Baseline { accuracy: 0.999 }));
        assert_eq!(outcome(&verdict, CheckName::CostPerCase), Decision::Fail);
        assert_eq!(
            outcome(&verdict, CheckName::NonInferiority),
            Decision::Inconclusive
        );
        let plain = judge(
            &metrics,
            &Thresholds::default(),
            Some(Baseline { accuracy: 0.999 }),
        );
        assert!(
            plain
                .checks
                .iter()
                .all(|c| !matches!(c.name, CheckName::CostPerCase | CheckName::NonInferiority))
        );
    }

    proptest! {
        #[test]
        fn verdicts_agree_with_their_checks(
            cases in 0u64..2_000,
            correct_pct in 0u64..=100,
            error_pct in 0u64..=100,
            p95 in 0.0f64..6_000.0,
            min_sample_size in 1u64..300,
            confidence in 0.51f64..0.999,
        ) {
            let correct = cases * correct_pct / 100;
            let errors = (cases - correct) * error_pct / 100;
            let thresholds = Thresholds { min_sample_size, confidence, ..Thresholds::default() };
            let verdict = judge(&run(cases, correct, errors, p95), &thresholds, None);
            match verdict.decision {
                Decision::Pass => {
                    prop_assert!(verdict.checks.iter().all(|c| c.outcome == Decision::Pass));
                    prop_assert!(cases >= min_sample_size);
                }
                Decision::Fail => prop_assert!(verdict.failed_checks().count() >= 1),
                Decision::Inconclusive => {
                    prop_assert_eq!(verdict.failed_checks().count(), 0);
                    prop_assert!(verdict.checks.iter().any(|c| c.outcome == Decision::Inconclusive));
                }
            }
            prop_assert_eq!(verdict.additional_cases_needed.is_some() && verdict.decision != Decision::Inconclusive, false);
        }
    }
}
