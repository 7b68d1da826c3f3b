//! Wilson score bounds for proportions, and how many cases would decide one.

use statrs::distribution::{ContinuousCDF, Normal};

/// Largest sample size `cases_to_decide` looks at; beyond it the answer is
/// "not in any practical run".
const MAX_CASES: u64 = 10_000_000;

/// The z score of a one-sided bound at `confidence` (0.95 → 1.645).
///
/// One-sided because every check asks one question ("is accuracy at least
/// 0.95?"): the chance of wrongly passing is then at most `1 - confidence`.
pub fn z_for_confidence(confidence: f64) -> f64 {
    let confidence = confidence.clamp(0.5, 0.999_999);
    Normal::standard().inverse_cdf(confidence)
}

/// Lower and upper Wilson score bounds of the proportion `p_hat` observed in
/// `n` trials. With no trials nothing is known: `(0, 1)`.
pub fn wilson_bounds(p_hat: f64, n: f64, z: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let z2 = z * z;
    let centre = p_hat + z2 / (2.0 * n);
    let spread = z * (p_hat * (1.0 - p_hat) / n + z2 / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z2 / n;
    let lower = ((centre - spread) / denominator).clamp(0.0, 1.0);
    let upper = ((centre + spread) / denominator).clamp(0.0, 1.0);
    // Rounding can push a bound a hair past the estimate it brackets.
    (lower.min(p_hat), upper.max(p_hat))
}

/// Which side of the threshold a proportion must be on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    AtLeast,
    AtMost,
}

/// What the bounds say about a proportion against a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundDecision {
    Pass,
    Fail,
    Undecided,
}

pub fn decide(lower: f64, upper: f64, threshold: f64, direction: Direction) -> BoundDecision {
    match direction {
        Direction::AtLeast if lower >= threshold => BoundDecision::Pass,
        Direction::AtLeast if upper < threshold => BoundDecision::Fail,
        Direction::AtMost if upper <= threshold => BoundDecision::Pass,
        Direction::AtMost if lower > threshold => BoundDecision::Fail,
        _ => BoundDecision::Undecided,
    }
}

/// The smallest total sample size, at least `from`, at which the observed
/// rate `p_hat` would decide the check; `None` when no practical sample would
/// (the estimate sits on the threshold).
pub fn cases_to_decide(
    p_hat: f64,
    from: u64,
    z: f64,
    threshold: f64,
    direction: Direction,
) -> Option<u64> {
    let decided = |n: u64| {
        let (lower, upper) = wilson_bounds(p_hat, n as f64, z);
        decide(lower, upper, threshold, direction) != BoundDecision::Undecided
    };
    let from = from.max(1);
    if decided(from) {
        return Some(from);
    }
    if !decided(MAX_CASES) {
        return None;
    }
    // Bounds narrow monotonically with n, so "decided" flips once.
    let (mut undecided, mut decided_at) = (from, MAX_CASES);
    while decided_at - undecided > 1 {
        let mid = undecided + (decided_at - undecided) / 2;
        if decided(mid) {
            decided_at = mid;
        } else {
            undecided = mid;
        }
    }
    Some(decided_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const Z95: f64 = 1.6448536269514722;

    #[test]
    fn z_matches_the_normal_table() {
        assert!((z_for_confidence(0.95) - Z95).abs() < 1e-9);
        assert!((z_for_confidence(0.975) - 1.959_963_985).abs() < 1e-6);
    }

    #[test]
    fn bounds_match_a_hand_computed_value() {
        // 95 of 100 at z = 1.96: the textbook Wilson interval (0.8882, 0.9785).
        let (lower, upper) = wilson_bounds(0.95, 100.0, 1.96);
        assert!((lower - 0.8882).abs() < 5e-4, "{lower}");
        assert!((upper - 0.9785).abs() < 5e-4, "{upper}");
    }

    #[test]
    fn a_perfect_run_needs_enough_cases_to_clear_the_bar() {
        // p̂ = 1: lower = n / (n + z²) ≥ 0.95 ⇔ n ≥ 19 z² ≈ 51.4.
        assert_eq!(
            cases_to_decide(1.0, 1, Z95, 0.95, Direction::AtLeast),
            Some(52)
        );
    }

    #[test]
    fn an_estimate_on_the_threshold_never_decides() {
        assert_eq!(
            cases_to_decide(0.95, 100, Z95, 0.95, Direction::AtLeast),
            None
        );
    }

    proptest! {
        #[test]
        fn bounds_bracket_the_estimate(successes in 0u64..5_000, extra in 0u64..5_000, confidence in 0.5f64..0.999) {
            let n = successes + extra;
            prop_assume!(n > 0);
            let p_hat = successes as f64 / n as f64;
            let (lower, upper) = wilson_bounds(p_hat, n as f64, z_for_confidence(confidence));
            prop_assert!(0.0 <= lower && lower <= p_hat && p_hat <= upper && upper <= 1.0,
                "{lower} <= {p_hat} <= {upper}");
        }

        #[test]
        fn bounds_narrow_as_the_sample_grows(p_hat in 0.0f64..=1.0, n in 1u64..100_000, factor in 2u64..50) {
            let (l1, u1) = wilson_bounds(p_hat, n as f64, Z95);
            let (l2, u2) = wilson_bounds(p_hat, (n * factor) as f64, Z95);
            prop_assert!(u2 - l2 <= u1 - l1 + 1e-12, "[{l1}, {u1}] then [{l2}, {u2}]");
        }

        #[test]
        fn cases_to_decide_is_the_first_deciding_sample(p_hat in 0.0f64..=1.0, from in 1u64..1_000, threshold in 0.01f64..0.99) {
            if let Some(n) = cases_to_decide(p_hat, from, Z95, threshold, Direction::AtLeast) {
                prop_assert!(n >= from);
                let (l, u) = wilson_bounds(p_hat, n as f64, Z95);
                prop_assert_ne!(decide(l, u, threshold, Direction::AtLeast), BoundDecision::Undecided);
                if n > from {
                    let (l, u) = wilson_bounds(p_hat, (n - 1) as f64, Z95);
                    prop_assert_eq!(decide(l, u, threshold, Direction::AtLeast), BoundDecision::Undecided);
                }
            }
        }
    }
}
