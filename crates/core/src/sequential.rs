//! Wald's sequential probability ratio test for one rate, and the
//! anytime-valid range reported beside it.
//!
//! Each check of the judge asks on which side of a threshold a rate lies
//! (accuracy, error rate, the share of answers slower than the latency bar).
//! The test weighs two simple hypotheses about the rate: `bad`, which misses
//! the threshold by the indifference margin, and `good`, which clears it by
//! twice the margin. Its statistic is the log-likelihood ratio of good over
//! bad, which depends only on the counts.
//!
//! Why it is safe however often it is read: under any rate at least as bad
//! as `bad`, the likelihood ratio is a non-negative supermartingale that
//! starts at 1, so by Ville's inequality it *ever* reaches `1 / risk` with
//! probability at most `risk`. That holds for every look schedule, for runs
//! that stop early, and for evidence pooled over any number of runs, as long
//! as each case counts once. Symmetrically, under any rate at least as good
//! as `good`, it ever falls to `quarantine_risk` with probability at most
//! `quarantine_risk`.

use serde::{Deserialize, Serialize};
use statrs::function::beta::ln_beta;
use utoipa::ToSchema;

/// Which side of the threshold a rate must be on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    AtLeast,
    AtMost,
}

/// What a test's statistic says now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaning {
    /// The statistic reached the pass boundary.
    Pass,
    /// The statistic reached the fail boundary.
    Fail,
    Undecided,
}

/// The error rates and margin every sequential check is designed with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Design {
    pub indifference: f64,
    /// Chance of passing a rate that misses the threshold by `indifference`.
    pub risk: f64,
    /// Chance of failing a rate that clears the threshold by twice `indifference`.
    pub quarantine_risk: f64,
}

/// Beyond this many further cases a check "would not decide in any
/// practical run".
const MAX_CASES: f64 = 10_000_000.0;

/// One check's test: its two hypotheses and its two boundaries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sprt {
    pub direction: Direction,
    pub threshold: f64,
    /// The rate that misses the threshold by the indifference margin.
    pub bad: f64,
    /// The rate that clears it comfortably: by twice the margin, or halfway
    /// to 0 or 1 when the threshold is closer to the edge than that.
    pub good: f64,
    /// ln(1 / risk): the log-likelihood ratio at which the check passes.
    pub pass_at: f64,
    /// ln(quarantine_risk): the log-likelihood ratio at which it fails.
    pub fail_at: f64,
    /// Added to the statistic per event (a correct case, an error, a slow answer).
    per_hit: f64,
    /// Added to the statistic per non-event.
    per_miss: f64,
}

impl Sprt {
    /// The test of `rate >= threshold` (AtLeast) or `rate <= threshold`
    /// (AtMost). The design must have been validated (see
    /// `Thresholds::validate`), so both hypotheses lie strictly inside (0, 1).
    pub fn new(direction: Direction, threshold: f64, design: Design) -> Self {
        let margin = design.indifference;
        let (bad, good) = match direction {
            Direction::AtLeast => (
                threshold - margin,
                threshold + (2.0 * margin).min((1.0 - threshold) / 2.0),
            ),
            Direction::AtMost => (
                threshold + margin,
                threshold - (2.0 * margin).min(threshold / 2.0),
            ),
        };
        Self {
            direction,
            threshold,
            bad,
            good,
            pass_at: (1.0 / design.risk).ln(),
            fail_at: design.quarantine_risk.ln(),
            per_hit: (good / bad).ln(),
            per_miss: ((1.0 - good) / (1.0 - bad)).ln(),
        }
    }

    /// The statistic after `hits` events in `cases` cases.
    pub fn log_ratio(&self, hits: u64, cases: u64) -> f64 {
        let misses = cases.saturating_sub(hits);
        hits as f64 * self.per_hit + misses as f64 * self.per_miss
    }

    pub fn leaning(&self, log_ratio: f64) -> Leaning {
        if log_ratio >= self.pass_at {
            Leaning::Pass
        } else if log_ratio <= self.fail_at {
            Leaning::Fail
        } else {
            Leaning::Undecided
        }
    }

    /// How far the statistic moves per case, on average, at `rate`.
    pub fn drift(&self, rate: f64) -> f64 {
        rate * self.per_hit + (1.0 - rate) * self.per_miss
    }

    /// How many more cases the statistic needs, on average, to reach a
    /// boundary if the rate is what has been seen so far (the `good` rate
    /// before any case); which boundary it heads for; `None` when the
    /// estimate sits so close to the indifference point that no practical
    /// number of cases would decide.
    pub fn expected_more(&self, hits: u64, cases: u64) -> Option<(u64, Leaning)> {
        let log_ratio = self.log_ratio(hits, cases);
        match self.leaning(log_ratio) {
            Leaning::Undecided => {}
            decided => return Some((0, decided)),
        }
        let rate = if cases == 0 {
            self.good
        } else {
            hits as f64 / cases as f64
        };
        let drift = self.drift(rate);
        let (distance, heading) = if drift > 0.0 {
            (self.pass_at - log_ratio, Leaning::Pass)
        } else {
            (log_ratio - self.fail_at, Leaning::Fail)
        };
        let more = distance / drift.abs();
        (more.is_finite() && more <= MAX_CASES).then(|| (more.ceil().max(1.0) as u64, heading))
    }
}

/// The range of rates consistent with `hits` in `cases` at confidence
/// `1 - risk`, valid however often it is read: Robbins' mixture confidence
/// sequence with a Jeffreys Beta(½, ½) mixing prior. It is what the
/// estimate's "bounds" mean in a verdict.
pub fn anytime_range(hits: u64, cases: u64, risk: f64) -> [f64; 2] {
    if cases == 0 {
        return [0.0, 1.0];
    }
    let (k, n) = (hits as f64, cases as f64);
    let level = (1.0 / risk).ln();
    let mixture = ln_beta(k + 0.5, n - k + 0.5) - ln_beta(0.5, 0.5);
    // The log mixture martingale against the rate p; the range is where it
    // stays below ln(1 / risk). It is convex in p with its minimum at k / n.
    let statistic = |p: f64| {
        let mut log_likelihood = 0.0;
        if k > 0.0 {
            log_likelihood += k * p.ln();
        }
        if n - k > 0.0 {
            log_likelihood += (n - k) * (1.0 - p).ln();
        }
        mixture - log_likelihood
    };
    let estimate = k / n;
    let edge = |inside: f64, outside: f64| {
        if statistic(outside) < level {
            return outside;
        }
        let (mut inside, mut outside) = (inside, outside);
        for _ in 0..64 {
            let middle = (inside + outside) / 2.0;
            if statistic(middle) < level {
                inside = middle;
            } else {
                outside = middle;
            }
        }
        inside
    };
    let lower = if hits == 0 { 0.0 } else { edge(estimate, 0.0) };
    let upper = if hits == cases {
        1.0
    } else {
        edge(estimate, 1.0)
    };
    [lower, upper]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEFAULT: Design = Design {
        indifference: 0.01,
        risk: 0.01,
        quarantine_risk: 0.1,
    };

    /// Exactly: the chance that a test with looks after each case in
    /// `looks` (ascending, each at most `horizon`) ever passes and ever
    /// fails, when every case is an event with probability `rate`. Dynamic
    /// programming over the number of events, with decided paths absorbed.
    fn exact_outcomes(sprt: &Sprt, rate: f64, looks: &[u64]) -> (f64, f64) {
        let horizon = looks.last().copied().unwrap_or(0) as usize;
        // alive[k]: probability of k events so far on a path still undecided.
        let mut alive = vec![1.0f64];
        let (mut passed, mut failed) = (0.0, 0.0);
        let mut next_look = looks.iter().peekable();
        for n in 1..=horizon {
            let mut grown = vec![0.0; alive.len() + 1];
            for (k, p) in alive.iter().enumerate() {
                grown[k] += p * (1.0 - rate);
                grown[k + 1] += p * rate;
            }
            alive = grown;
            if next_look.peek().is_some_and(|&&look| look as usize == n) {
                next_look.next();
                for (k, p) in alive.iter_mut().enumerate() {
                    match sprt.leaning(sprt.log_ratio(k as u64, n as u64)) {
                        Leaning::Pass => passed += std::mem::take(p),
                        Leaning::Fail => failed += std::mem::take(p),
                        Leaning::Undecided => {}
                    }
                }
            }
        }
        (passed, failed)
    }

    #[test]
    fn the_default_accuracy_test_separates_094_from_097() {
        let sprt = Sprt::new(Direction::AtLeast, 0.95, DEFAULT);
        assert!((sprt.bad - 0.94).abs() < 1e-12 && (sprt.good - 0.97).abs() < 1e-12);
        let errors = Sprt::new(Direction::AtMost, 0.02, DEFAULT);
        // Twice the margin would be a rate of 0, which no test can prove.
        assert!((errors.bad - 0.03).abs() < 1e-12 && (errors.good - 0.01).abs() < 1e-12);
        // 151 clean cases are not enough to pass the error check, 233 are.
        assert_eq!(errors.leaning(errors.log_ratio(0, 151)), Leaning::Undecided);
        assert_eq!(errors.leaning(errors.log_ratio(0, 233)), Leaning::Pass);
    }

    #[test]
    fn a_perfect_run_heads_for_a_pass_and_a_poor_one_for_a_fail() {
        let sprt = Sprt::new(Direction::AtLeast, 0.95, DEFAULT);
        let (more, heading) = sprt.expected_more(50, 50).unwrap();
        assert_eq!(heading, Leaning::Pass);
        // ln 100 / ln(0.97 / 0.94) ≈ 146.6 cases in all.
        assert_eq!(more, 147 - 50);
        let (_, heading) = sprt.expected_more(40, 50).unwrap();
        assert_eq!(heading, Leaning::Fail);
    }

    #[test]
    fn the_range_matches_its_definition_and_covers_the_estimate() {
        let [lower, upper] = anytime_range(390, 400, 0.01);
        assert!(lower < 0.975 && 0.975 < upper, "[{lower}, {upper}]");
        // Wider than a fixed-sample 99% interval (≈ ±0.018 here): it pays
        // for being valid at every look.
        assert!(upper - lower > 0.036, "[{lower}, {upper}]");
        assert_eq!(anytime_range(0, 0, 0.01), [0.0, 1.0]);
        assert_eq!(anytime_range(10, 10, 0.01)[1], 1.0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Promotion of a rate on the wrong side by the margin stays within
        /// `risk`, and failure of a good rate within `quarantine_risk`,
        /// computed exactly, for any look schedule.
        #[test]
        fn error_bounds_hold_for_any_look_schedule(
            threshold in 0.5f64..0.95,
            indifference in 0.02f64..0.1,
            risk in 0.05f64..0.3,
            quarantine_risk in 0.05f64..0.3,
            worse in 0.0f64..0.05,
            mut looks in proptest::collection::btree_set(1u64..300, 1..40),
            at_most in any::<bool>(),
        ) {
            let design = Design { indifference, risk, quarantine_risk };
            let (direction, threshold) = if at_most {
                (Direction::AtMost, 1.0 - threshold)
            } else {
                (Direction::AtLeast, threshold)
            };
            let sprt = Sprt::new(direction, threshold, design);
            prop_assume!(sprt.bad > 0.0 && sprt.bad < 1.0);
            let looks: Vec<u64> = std::mem::take(&mut looks).into_iter().collect();
            // A rate on the wrong side of `bad`, by `worse`.
            let bad_rate = match direction {
                Direction::AtLeast => (sprt.bad - worse).max(0.0),
                Direction::AtMost => (sprt.bad + worse).min(1.0),
            };
            let (passed, _) = exact_outcomes(&sprt, bad_rate, &looks);
            prop_assert!(passed <= risk + 1e-9, "P(pass) = {passed} > {risk}");
            let (_, failed) = exact_outcomes(&sprt, sprt.good, &looks);
            prop_assert!(failed <= quarantine_risk + 1e-9, "P(fail) = {failed} > {quarantine_risk}");
        }

        #[test]
        fn the_range_always_holds_the_estimate(hits in 0u64..2_000, extra in 0u64..2_000, risk in 0.001f64..0.4) {
            let cases = hits + extra;
            prop_assume!(cases > 0);
            let estimate = hits as f64 / cases as f64;
            let [lower, upper] = anytime_range(hits, cases, risk);
            prop_assert!(0.0 <= lower && lower <= estimate + 1e-12 && estimate <= upper + 1e-12 && upper <= 1.0,
                "{lower} <= {estimate} <= {upper}");
        }
    }
}
