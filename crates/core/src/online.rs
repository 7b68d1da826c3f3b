//! The online judge: one rollout step judged on its own live data, with
//! the offline judge's sequential tests, so a step advances as soon as its
//! evidence is certain and aborts as soon as it is certainly bad.
//!
//! Each step is a fresh test on requests that step alone saw, so Ville's
//! inequality bounds each step's wrong-pass chance by the design's risk;
//! over a plan of k steps a bad candidate reaches everyone with chance at
//! most k × risk (in practice far less: a bad rate fails early steps).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::judge::{Check, CheckName, Decision, TestState, Verdict, combine};
use crate::sequential::{Direction, Leaning, Sprt, anytime_range};
use crate::thresholds::{LATENCY_TAIL_SHARE, Thresholds};

/// What one step's live requests add up to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StepEvidence {
    /// Requests the candidate answered (or was mirrored) in this step.
    pub requests: u64,
    pub errors: u64,
    /// Answers slower than the latency bar.
    pub slow: u64,
    /// Shadow only: requests both configurations answered, and how many
    /// of those they agreed on.
    pub compared: u64,
    pub agreed: u64,
    /// The stable configuration over the same requests (shadow) or the
    /// same windows (canary).
    pub stable_requests: u64,
    pub stable_errors: u64,
}

/// The judge of a step, built once per step.
#[derive(Debug, Clone)]
pub struct StepJudge {
    risk: f64,
    latency_bar_ms: f64,
    min_requests: u64,
    errors: Sprt,
    latency: Sprt,
    agreement: Option<Sprt>,
}

impl StepJudge {
    /// The SLO checks of `thresholds` (valid ones), at least `min_requests`
    /// requests, and when `min_agreement` is given (a shadow step), the
    /// share of requests whose answers agree with the stable ones.
    pub fn new(thresholds: &Thresholds, min_requests: u64, min_agreement: Option<f64>) -> Self {
        let design = thresholds.design();
        Self {
            risk: thresholds.risk,
            latency_bar_ms: thresholds.max_p95_latency_ms,
            min_requests,
            errors: Sprt::new(Direction::AtMost, thresholds.max_error_rate, design),
            latency: Sprt::new(Direction::AtMost, LATENCY_TAIL_SHARE, design),
            agreement: min_agreement.map(|floor| Sprt::new(Direction::AtLeast, floor, design)),
        }
    }

    pub fn verdict(&self, evidence: &StepEvidence) -> Verdict {
        let e = evidence;
        let enough = e.requests >= self.min_requests;
        let mut checks = vec![Check {
            name: CheckName::SampleSize,
            outcome: if enough {
                Decision::Pass
            } else {
                Decision::Inconclusive
            },
            value: Some(e.requests as f64),
            threshold: self.min_requests as f64,
            direction: Direction::AtLeast,
            test: None,
            reason: format!(
                "{} requests in this step, {} needed before it can pass",
                e.requests, self.min_requests
            ),
            cases_to_decide: Some(self.min_requests.max(e.requests)),
        }];
        checks.push(self.sequential(
            CheckName::ErrorRate,
            &self.errors,
            (e.errors, e.requests),
            "errors",
        ));
        checks.push(self.sequential(
            CheckName::LatencyP95,
            &self.latency,
            (e.slow, e.requests.saturating_sub(e.errors)),
            &format!("answers slower than {} ms", self.latency_bar_ms),
        ));
        if let Some(agreement) = &self.agreement {
            checks.push(self.sequential(
                CheckName::Agreement,
                agreement,
                (e.agreed, e.compared),
                "answers agreeing with the stable ones",
            ));
        }
        checks.push(self.against_stable(e));
        let decision = combine(checks.iter().map(|c| c.outcome));
        Verdict {
            decision,
            cases: e.requests,
            checks,
            additional_cases_needed: None,
        }
    }

    fn sequential(
        &self,
        name: CheckName,
        sprt: &Sprt,
        (events, cases): (u64, u64),
        what: &str,
    ) -> Check {
        let log_ratio = sprt.log_ratio(events, cases);
        let outcome = match sprt.leaning(log_ratio) {
            Leaning::Pass => Decision::Pass,
            Leaning::Fail => Decision::Fail,
            Leaning::Undecided => Decision::Inconclusive,
        };
        let rate = (cases > 0).then(|| events as f64 / cases as f64);
        let range = anytime_range(events, cases, self.risk);
        let relation = match sprt.direction {
            Direction::AtLeast => "at least",
            Direction::AtMost => "at most",
        };
        let verdict = match outcome {
            Decision::Pass => "certainly",
            Decision::Fail => "certainly not",
            Decision::Inconclusive => "not yet certainly",
        };
        let reason = format!(
            "{events} of {cases} {what} ({}, plausibly {}–{}): {verdict} {relation} {}",
            rate.map_or_else(|| "none yet".to_owned(), percent),
            percent(range[0]),
            percent(range[1]),
            percent(sprt.threshold),
        );
        Check {
            name,
            outcome,
            value: rate,
            threshold: sprt.threshold,
            direction: sprt.direction,
            test: Some(TestState {
                rate,
                events,
                cases,
                range,
                bad: sprt.bad,
                good: sprt.good,
                log_ratio,
                pass_at: sprt.pass_at,
                fail_at: sprt.fail_at,
            }),
            reason,
            cases_to_decide: sprt
                .expected_more(events, cases)
                .map(|(more, _)| cases + more),
        }
    }

    /// Fails when the candidate's error rate is certainly above the stable
    /// one's (their anytime ranges apart); never what holds a step back.
    fn against_stable(&self, e: &StepEvidence) -> Check {
        let candidate = anytime_range(e.errors, e.requests, self.risk);
        let stable = anytime_range(e.stable_errors, e.stable_requests, self.risk);
        let worse = e.requests > 0 && e.stable_requests > 0 && candidate[0] > stable[1];
        let rate =
            |errors: u64, requests: u64| (requests > 0).then(|| errors as f64 / requests as f64);
        Check {
            name: CheckName::ErrorsAgainstStable,
            outcome: if worse {
                Decision::Fail
            } else {
                Decision::Pass
            },
            value: rate(e.errors, e.requests),
            threshold: stable[1],
            direction: Direction::AtMost,
            test: None,
            reason: format!(
                "error rate {} (plausibly {}–{}) against the stable configuration's {} (plausibly {}–{}) over the same {}: {}",
                rate(e.errors, e.requests).map_or_else(|| "unknown".to_owned(), percent),
                percent(candidate[0]),
                percent(candidate[1]),
                rate(e.stable_errors, e.stable_requests)
                    .map_or_else(|| "unknown".to_owned(), percent),
                percent(stable[0]),
                percent(stable[1]),
                if e.stable_requests == e.requests {
                    "requests"
                } else {
                    "windows"
                },
                if worse {
                    "certainly worse"
                } else {
                    "not certainly worse"
                },
            ),
            cases_to_decide: None,
        }
    }
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn judge(min_agreement: Option<f64>) -> StepJudge {
        StepJudge::new(&Thresholds::default(), 20, min_agreement)
    }

    fn clean(requests: u64) -> StepEvidence {
        StepEvidence {
            requests,
            compared: requests,
            agreed: requests,
            stable_requests: requests,
            ..StepEvidence::default()
        }
    }

    #[test]
    fn clean_traffic_passes_once_certain_and_not_before() {
        let canary = judge(None);
        assert_eq!(canary.verdict(&clean(100)).decision, Decision::Inconclusive);
        assert_eq!(canary.verdict(&clean(400)).decision, Decision::Pass);
        let shadow = judge(Some(0.8));
        assert_eq!(shadow.verdict(&clean(400)).decision, Decision::Pass);
        let disagreeing = StepEvidence {
            agreed: 100,
            ..clean(400)
        };
        let verdict = shadow.verdict(&disagreeing);
        assert_eq!(verdict.decision, Decision::Fail);
        assert_eq!(
            verdict.failed_checks().map(|c| c.name).collect::<Vec<_>>(),
            [CheckName::Agreement]
        );
    }

    #[test]
    fn a_tenth_of_calls_failing_aborts_within_a_few_dozen_requests() {
        let judge = judge(None);
        let evidence = StepEvidence {
            requests: 40,
            errors: 4,
            stable_requests: 400,
            ..StepEvidence::default()
        };
        let verdict = judge.verdict(&evidence);
        assert_eq!(verdict.decision, Decision::Fail, "{verdict:#?}");
        assert!(verdict.check(CheckName::ErrorRate).unwrap().outcome == Decision::Fail);
    }

    proptest! {
        /// More errors never turn a fail into a pass, nor fewer a pass into a fail.
        #[test]
        fn errors_move_the_decision_one_way(requests in 20u64..2000, errors in 0u64..100) {
            let errors = errors.min(requests);
            let judge = judge(None);
            let with = |errors: u64| judge.verdict(&StepEvidence { errors, ..clean(requests) }).decision;
            if with(errors) == Decision::Fail {
                prop_assert_eq!(with((errors + 1).min(requests)), Decision::Fail);
            }
            if errors > 0 && with(errors) == Decision::Pass {
                prop_assert_eq!(with(errors - 1), Decision::Pass);
            }
        }
    }
}
