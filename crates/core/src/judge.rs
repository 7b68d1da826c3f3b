//! The gate's judgement of a configuration's pooled evidence: every check
//! with its value, its test statistic and range, and a sentence a person can
//! act on; overall Pass, Fail or Inconclusive.
//!
//! Accuracy, error rate and latency are each a sequential test
//! ([`crate::sequential`]), so a verdict may be asked for after every case
//! and stays valid. A configuration is promoted only when every check
//! passes, so one check on the wrong side of its bar by the indifference
//! margin is enough to keep the chance of promotion below `risk`: no
//! correction for the number of checks is needed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::evidence::Evidence;
use crate::sequential::{Direction, Leaning, Sprt, anytime_range};
use crate::thresholds::{LATENCY_TAIL_SHARE, Thresholds};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "snake_case")
)]
pub enum Decision {
    Pass,
    Fail,
    Inconclusive,
}

impl Decision {
    pub fn is_decided(self) -> bool {
        self != Self::Inconclusive
    }

    /// From its stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pass, Self::Fail, Self::Inconclusive]
            .into_iter()
            .find(|d| d.as_str() == raw)
    }

    /// As stored and serialized: `pass`, `fail` or `inconclusive`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// Online, while shadowing: answers agreeing with the stable ones.
    Agreement,
    /// Online: the error rate against the stable configuration's.
    ErrorsAgainstStable,
}

impl CheckName {
    /// As serialized: `sample_size`, `accuracy`, `error_rate`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SampleSize => "sample_size",
            Self::Accuracy => "accuracy",
            Self::ErrorRate => "error_rate",
            Self::LatencyP95 => "latency_p95",
            Self::CostPerCase => "cost_per_case",
            Self::NonInferiority => "non_inferiority",
            Self::Agreement => "agreement",
            Self::ErrorsAgainstStable => "errors_against_stable",
        }
    }

    /// The check as a sentence names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::SampleSize => "sample size",
            Self::Accuracy => "accuracy",
            Self::ErrorRate => "error rate",
            Self::LatencyP95 => "p95 latency",
            Self::CostPerCase => "cost per case",
            Self::NonInferiority => "accuracy against the stable configuration",
            Self::Agreement => "agreement with the stable answers",
            Self::ErrorsAgainstStable => "error rate against the stable configuration",
        }
    }
}

/// Where a sequential check's test stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TestState {
    /// The rate under test: accuracy, error rate, or for latency the share
    /// of answers slower than the bar. `None` before any case.
    pub rate: Option<f64>,
    /// Cases counted towards the rate, and how many of them were events
    /// (correct cases, errors, slow answers).
    pub events: u64,
    pub cases: u64,
    /// Rates consistent with the evidence at confidence 1 − risk, valid
    /// however often it is looked at.
    pub range: [f64; 2],
    /// The two rates the test tells apart: missing the bar by the
    /// indifference margin, and clearing it comfortably.
    pub bad: f64,
    pub good: f64,
    /// ln of how many times likelier the evidence is under `good` than
    /// under `bad`; the check passes at `pass_at` and fails at `fail_at`.
    pub log_ratio: f64,
    pub pass_at: f64,
    pub fail_at: f64,
}

/// One check of a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Check {
    pub name: CheckName,
    pub outcome: Decision,
    /// The observed value: a rate, milliseconds (p95), USD or cases.
    pub value: Option<f64>,
    /// The bar the value is held to (for latency, in milliseconds).
    pub threshold: f64,
    pub direction: Direction,
    /// The sequential test behind the outcome, for accuracy, error rate,
    /// latency and non-inferiority.
    pub test: Option<TestState>,
    /// A sentence a person can act on.
    pub reason: String,
    /// Total cases at which this check is expected to decide at the rate
    /// seen so far; `None` when no practical number would.
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
    /// Cases the verdict rests on.
    pub cases: u64,
    pub checks: Vec<Check>,
    /// For Inconclusive: how many more cases the judge expects to need at
    /// the rates seen so far; `None` when some check would stay undecided
    /// at any practical size.
    pub additional_cases_needed: Option<u64>,
}

impl Verdict {
    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.outcome == Decision::Fail)
    }

    pub fn check(&self, name: CheckName) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// The rates the judge tests sequentially.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measure {
    Accuracy,
    ErrorRate,
    Latency,
    NonInferiority,
}

impl Measure {
    fn name(self) -> CheckName {
        match self {
            Self::Accuracy => CheckName::Accuracy,
            Self::ErrorRate => CheckName::ErrorRate,
            Self::Latency => CheckName::LatencyP95,
            Self::NonInferiority => CheckName::NonInferiority,
        }
    }

    /// (events, cases) the rate is measured on.
    fn counts(self, evidence: &Evidence) -> (u64, u64) {
        match self {
            Self::Accuracy | Self::NonInferiority => (evidence.correct, evidence.cases),
            Self::ErrorRate => (evidence.errors, evidence.cases),
            Self::Latency => (evidence.over_latency_bar, evidence.answered()),
        }
    }
}

/// The judge for one set of thresholds: the tests are built once, so a run
/// can ask for a [`Judge::decision`] after every case cheaply.
#[derive(Debug, Clone)]
pub struct Judge {
    thresholds: Thresholds,
    accuracy: Sprt,
    error_rate: Sprt,
    latency: Sprt,
    non_inferiority: Option<(Sprt, Baseline)>,
}

/// Judges pooled evidence against thresholds (and, when given, the stable
/// baseline).
pub fn judge(evidence: &Evidence, thresholds: &Thresholds, baseline: Option<Baseline>) -> Verdict {
    Judge::new(thresholds, baseline).verdict(evidence)
}

impl Judge {
    /// `thresholds` must be valid (`Thresholds::validate`).
    pub fn new(thresholds: &Thresholds, baseline: Option<Baseline>) -> Self {
        let design = thresholds.design();
        let non_inferiority = thresholds
            .non_inferiority_margin
            .zip(baseline)
            .map(|(margin, baseline)| (baseline.accuracy - margin, baseline))
            // A floor this low cannot be missed by the margin: nothing to test.
            .filter(|(floor, _)| *floor - design.indifference > 0.0)
            .map(|(floor, baseline)| (Sprt::new(Direction::AtLeast, floor, design), baseline));
        Self {
            accuracy: Sprt::new(Direction::AtLeast, thresholds.min_accuracy, design),
            error_rate: Sprt::new(Direction::AtMost, thresholds.max_error_rate, design),
            latency: Sprt::new(Direction::AtMost, LATENCY_TAIL_SHARE, design),
            non_inferiority,
            thresholds: thresholds.clone(),
        }
    }

    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    fn rates(&self) -> impl Iterator<Item = (Measure, &Sprt)> {
        [
            (Measure::Accuracy, Some(&self.accuracy)),
            (Measure::ErrorRate, Some(&self.error_rate)),
            (Measure::Latency, Some(&self.latency)),
            (
                Measure::NonInferiority,
                self.non_inferiority.as_ref().map(|(sprt, _)| sprt),
            ),
        ]
        .into_iter()
        .filter_map(|(rate, sprt)| sprt.map(|sprt| (rate, sprt)))
    }

    fn enough(&self, evidence: &Evidence) -> bool {
        evidence.cases >= self.thresholds.min_sample_size
    }

    fn sequential_outcome(&self, rate: Measure, sprt: &Sprt, evidence: &Evidence) -> Decision {
        if !self.enough(evidence) {
            return Decision::Inconclusive;
        }
        let (events, cases) = rate.counts(evidence);
        match sprt.leaning(sprt.log_ratio(events, cases)) {
            Leaning::Pass => Decision::Pass,
            Leaning::Fail => Decision::Fail,
            Leaning::Undecided => Decision::Inconclusive,
        }
    }

    fn cost_outcome(&self, evidence: &Evidence) -> Option<Decision> {
        let ceiling = self.thresholds.max_cost_per_case_usd?;
        Some(match evidence.cost_per_case_usd() {
            Some(_) if !self.enough(evidence) => Decision::Inconclusive,
            None => Decision::Inconclusive,
            Some(cost) if cost <= ceiling => Decision::Pass,
            Some(_) => Decision::Fail,
        })
    }

    /// The overall decision alone; the same as `verdict(evidence).decision`.
    pub fn decision(&self, evidence: &Evidence) -> Decision {
        let sample = if self.enough(evidence) {
            Decision::Pass
        } else {
            Decision::Inconclusive
        };
        combine(
            std::iter::once(sample)
                .chain(
                    self.rates()
                        .map(|(rate, sprt)| self.sequential_outcome(rate, sprt, evidence)),
                )
                .chain(self.cost_outcome(evidence)),
        )
    }

    pub fn verdict(&self, evidence: &Evidence) -> Verdict {
        let mut checks = vec![self.sample_size_check(evidence)];
        checks.extend(
            self.rates()
                .map(|(rate, sprt)| self.sequential_check(rate, sprt, evidence)),
        );
        if let Some(check) = self.cost_check(evidence) {
            checks.push(check);
        }
        let decision = combine(checks.iter().map(|c| c.outcome));
        let additional_cases_needed = (decision == Decision::Inconclusive)
            .then(|| self.additional_cases(evidence))
            .flatten();
        Verdict {
            decision,
            cases: evidence.cases,
            checks,
            additional_cases_needed,
        }
    }

    /// The undecided tests' expected further cases: the soonest of those
    /// heading for a fail (one failed check decides), otherwise the latest of
    /// those heading for a pass (every check must pass).
    fn additional_cases(&self, evidence: &Evidence) -> Option<u64> {
        let floor = self
            .thresholds
            .min_sample_size
            .saturating_sub(evidence.cases);
        let mut soonest_fail: Option<u64> = None;
        let mut latest_pass = Some(0u64);
        for (rate, sprt) in self.rates() {
            let (events, cases) = rate.counts(evidence);
            match sprt.expected_more(events, cases) {
                Some((more, Leaning::Fail)) => {
                    soonest_fail = Some(soonest_fail.map_or(more, |s| s.min(more)));
                }
                Some((more, _)) => latest_pass = latest_pass.map(|l| l.max(more)),
                None => latest_pass = None,
            }
        }
        soonest_fail
            .or(latest_pass)
            .map(|more| more.max(floor).max(1))
    }

    fn sample_size_check(&self, evidence: &Evidence) -> Check {
        let (n, min) = (evidence.cases, self.thresholds.min_sample_size);
        let enough = n >= min;
        Check {
            name: CheckName::SampleSize,
            outcome: if enough {
                Decision::Pass
            } else {
                Decision::Inconclusive
            },
            value: Some(n as f64),
            threshold: min as f64,
            direction: Direction::AtLeast,
            test: None,
            reason: if enough {
                format!("{n} cases, at least the minimum of {min}")
            } else {
                format!("{n} cases, fewer than the minimum of {min} before anything is decided")
            },
            cases_to_decide: Some(min.max(n)),
        }
    }

    fn sequential_check(&self, rate: Measure, sprt: &Sprt, evidence: &Evidence) -> Check {
        let (events, cases) = rate.counts(evidence);
        let log_ratio = sprt.log_ratio(events, cases);
        let outcome = self.sequential_outcome(rate, sprt, evidence);
        let test = TestState {
            rate: (cases > 0).then(|| events as f64 / cases as f64),
            events,
            cases,
            range: anytime_range(events, cases, self.thresholds.risk),
            bad: sprt.bad,
            good: sprt.good,
            log_ratio,
            pass_at: sprt.pass_at,
            fail_at: sprt.fail_at,
        };
        let cases_to_decide = match outcome {
            Decision::Inconclusive => sprt
                .expected_more(events, cases)
                .map(|(more, _)| (evidence.cases + more).max(self.thresholds.min_sample_size)),
            _ => Some(evidence.cases),
        };
        let (value, threshold) = match rate {
            Measure::Latency => (evidence.latency_p95_ms, self.thresholds.max_p95_latency_ms),
            _ => (test.rate, sprt.threshold),
        };
        let reason = self.reason(rate, sprt, &test, outcome, evidence);
        Check {
            name: rate.name(),
            outcome,
            value,
            threshold,
            direction: sprt.direction,
            test: Some(test),
            reason,
            cases_to_decide,
        }
    }

    fn reason(
        &self,
        rate: Measure,
        sprt: &Sprt,
        test: &TestState,
        outcome: Decision,
        evidence: &Evidence,
    ) -> String {
        let (relation, better, worse) = match sprt.direction {
            Direction::AtLeast => ("at least", "≥", "≤"),
            Direction::AtMost => ("at most", "≤", "≥"),
        };
        let good = format!("{better} {}", percent(sprt.good));
        let bad = format!("{worse} {}", percent(sprt.bad));
        let [low, high] = test.range;
        let observed = match (rate, test.rate) {
            (_, None) => format!("no {} yet", noun(rate)),
            (Measure::Latency, Some(share)) => format!(
                "p95 latency {}; {} of {} answers ({}) slower than {} ms, plausibly {}–{}",
                evidence
                    .latency_p95_ms
                    .map_or_else(|| "unknown".to_owned(), |p95| format!("{p95:.0} ms")),
                test.events,
                test.cases,
                percent(share),
                self.thresholds.max_p95_latency_ms,
                percent(low),
                percent(high),
            ),
            (_, Some(value)) => format!(
                "{} {} over {} cases, plausibly {}–{}",
                noun(rate),
                percent(value),
                test.cases,
                percent(low),
                percent(high),
            ),
        };
        let bar = match rate {
            Measure::Latency => format!(
                "{relation} {} of answers over {} ms",
                percent(sprt.threshold),
                self.thresholds.max_p95_latency_ms
            ),
            Measure::NonInferiority => match &self.non_inferiority {
                Some((_, baseline)) => format!(
                    "{relation} {} (stable accuracy {} minus the margin)",
                    percent(sprt.threshold),
                    percent(baseline.accuracy)
                ),
                None => format!("{relation} {}", percent(sprt.threshold)),
            },
            _ => format!("{relation} {}", percent(sprt.threshold)),
        };
        let odds = odds(test.log_ratio, &good, &bad);
        match outcome {
            Decision::Pass => format!(
                "{observed}: the evidence is {odds}, past the {:.0} to 1 a pass needs, so it is {bar}",
                sprt.pass_at.exp()
            ),
            Decision::Fail => format!(
                "{observed}: the evidence is {odds}, past the {:.0} to 1 against that fails it, so it is not {bar}",
                (-sprt.fail_at).exp()
            ),
            Decision::Inconclusive if !self.enough(evidence) => format!(
                "{observed}; not judged below {} cases",
                self.thresholds.min_sample_size
            ),
            Decision::Inconclusive => {
                let more = match sprt.expected_more(test.events, test.cases) {
                    Some((more, _)) => format!("about {more} more cases expected to decide"),
                    None => "it sits between the two, so more cases may not settle it".to_owned(),
                };
                format!(
                    "{observed}: not yet decided whether it is {bar}; the evidence is {odds}, a pass needs {:.0} to 1 and a fail {:.0} to 1 against; {more}",
                    sprt.pass_at.exp(),
                    (-sprt.fail_at).exp()
                )
            }
        }
    }

    fn cost_check(&self, evidence: &Evidence) -> Option<Check> {
        let ceiling = self.thresholds.max_cost_per_case_usd?;
        let outcome = self.cost_outcome(evidence)?;
        let cost = evidence.cost_per_case_usd();
        let reason = match (cost, outcome) {
            (None, _) => format!("no cases; cost per case must be at most ${ceiling}"),
            (Some(cost), Decision::Inconclusive) => format!(
                "cost per case ${cost:.6}; not judged below {} cases",
                self.thresholds.min_sample_size
            ),
            (Some(cost), Decision::Pass) => {
                format!("cost per case ${cost:.6} is at most ${ceiling}")
            }
            (Some(cost), Decision::Fail) => format!("cost per case ${cost:.6} is above ${ceiling}"),
        };
        Some(Check {
            name: CheckName::CostPerCase,
            outcome,
            value: cost,
            threshold: ceiling,
            direction: Direction::AtMost,
            test: None,
            reason,
            cases_to_decide: Some(evidence.cases.max(self.thresholds.min_sample_size)),
        })
    }
}

/// Any failed check fails; every check passed passes; otherwise undecided.
pub(crate) fn combine(outcomes: impl Iterator<Item = Decision>) -> Decision {
    let mut all_pass = true;
    for outcome in outcomes {
        match outcome {
            Decision::Fail => return Decision::Fail,
            Decision::Inconclusive => all_pass = false,
            Decision::Pass => {}
        }
    }
    if all_pass {
        Decision::Pass
    } else {
        Decision::Inconclusive
    }
}

fn noun(rate: Measure) -> &'static str {
    match rate {
        Measure::Accuracy | Measure::NonInferiority => "accuracy",
        Measure::ErrorRate => "error rate",
        Measure::Latency => "answers",
    }
}

fn percent(rate: f64) -> String {
    let percent = rate * 100.0;
    if (percent - percent.round()).abs() < 1e-9 {
        format!("{percent:.0}%")
    } else {
        format!("{percent:.1}%")
    }
}

/// "12 to 1 for ≥ 97% over ≤ 94%", or the other way round.
fn odds(log_ratio: f64, good: &str, bad: &str) -> String {
    let ratio = log_ratio.abs().exp();
    let ratio = if ratio >= 10_000.0 {
        "more than 10,000".to_owned()
    } else if ratio >= 10.0 {
        format!("{ratio:.0}")
    } else {
        format!("{ratio:.1}")
    };
    if log_ratio >= 0.0 {
        format!("{ratio} to 1 for {good} over {bad}")
    } else {
        format!("{ratio} to 1 for {bad} over {good}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn evidence(cases: u64, correct: u64, errors: u64, slow: u64) -> Evidence {
        Evidence {
            cases,
            correct,
            errors,
            over_latency_bar: slow,
            latency_p95_ms: Some(if slow * 20 > cases { 4500.0 } else { 1200.0 }),
            cost_usd: 0.0,
        }
    }

    fn outcome(verdict: &Verdict, name: CheckName) -> Decision {
        verdict.check(name).unwrap().outcome
    }

    #[test]
    fn a_clean_large_run_passes() {
        let verdict = judge(&evidence(400, 400, 0, 0), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Pass, "{verdict:#?}");
        assert_eq!(verdict.additional_cases_needed, None);
    }

    #[test]
    fn a_slow_run_fails_on_latency_with_value_and_threshold() {
        let verdict = judge(&evidence(400, 400, 0, 100), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Fail);
        let failed: Vec<_> = verdict.failed_checks().collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].name, CheckName::LatencyP95);
        assert_eq!(
            (failed[0].value, failed[0].threshold),
            (Some(4500.0), 3000.0)
        );
        assert!(
            failed[0]
                .reason
                .contains("100 of 400 answers (25%) slower than 3000 ms"),
            "{}",
            failed[0].reason
        );
    }

    #[test]
    fn an_inaccurate_run_fails_on_accuracy_early() {
        let verdict = judge(&evidence(60, 50, 0, 0), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Fail, "{verdict:#?}");
        assert_eq!(outcome(&verdict, CheckName::Accuracy), Decision::Fail);
    }

    #[test]
    fn a_borderline_run_is_inconclusive_and_says_how_many_more_cases() {
        let verdict = judge(&evidence(100, 100, 0, 0), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Inconclusive, "{verdict:#?}");
        // 100 clean cases: ln 100 / ln(0.99 / 0.97) ≈ 225.6, so 226 in all.
        assert_eq!(
            outcome(&verdict, CheckName::ErrorRate),
            Decision::Inconclusive
        );
        assert_eq!(verdict.additional_cases_needed, Some(126));
        let accuracy = verdict.check(CheckName::Accuracy).unwrap();
        assert!(
            accuracy.reason.contains("about 47 more cases"),
            "{}",
            accuracy.reason
        );
    }

    #[test]
    fn no_data_is_never_a_pass() {
        let verdict = judge(&Evidence::default(), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Inconclusive);
        // At the design point (1% errors), ln 100 / KL(0.01 ‖ 0.03) ≈ 499.5.
        assert_eq!(verdict.additional_cases_needed, Some(500));
    }

    #[test]
    fn too_small_a_sample_decides_nothing() {
        let verdict = judge(&evidence(20, 0, 0, 20), &Thresholds::default(), None);
        assert_eq!(verdict.decision, Decision::Inconclusive);
        assert_eq!(verdict.failed_checks().count(), 0);
        assert!(
            verdict
                .checks
                .iter()
                .any(|c| c.reason.contains("not judged below 30 cases"))
        );
    }

    #[test]
    fn optional_checks_join_only_when_configured() {
        let mut pooled = evidence(400, 396, 0, 0);
        pooled.cost_usd = 4.0;
        let thresholds = Thresholds {
            max_cost_per_case_usd: Some(0.005),
            non_inferiority_margin: Some(0.01),
            ..Thresholds::default()
        };
        let verdict = judge(&pooled, &thresholds, Some(Baseline { accuracy: 0.999 }));
        assert_eq!(outcome(&verdict, CheckName::CostPerCase), Decision::Fail);
        assert_eq!(
            outcome(&verdict, CheckName::NonInferiority),
            Decision::Inconclusive
        );
        let plain = judge(
            &pooled,
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
        fn verdicts_agree_with_their_checks_and_the_fast_decision(
            cases in 0u64..2_000,
            correct_pct in 0u64..=100,
            error_pct in 0u64..=100,
            slow_pct in 0u64..=100,
            min_sample_size in 1u64..300,
            risk in 0.001f64..0.3,
        ) {
            let correct = cases * correct_pct / 100;
            let errors = (cases - correct) * error_pct / 100;
            let slow = (cases - errors) * slow_pct / 100;
            let thresholds = Thresholds { min_sample_size, risk, ..Thresholds::default() };
            let pooled = evidence(cases, correct, errors, slow);
            let judge = Judge::new(&thresholds, None);
            let verdict = judge.verdict(&pooled);
            prop_assert_eq!(judge.decision(&pooled), verdict.decision);
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
            prop_assert!(verdict.additional_cases_needed.is_none() || verdict.decision == Decision::Inconclusive);
        }
    }
}

#[cfg(test)]
mod check_names {
    use super::CheckName;

    #[test]
    fn a_check_name_prints_as_it_is_serialized() {
        for name in [
            CheckName::SampleSize,
            CheckName::Accuracy,
            CheckName::ErrorRate,
            CheckName::LatencyP95,
            CheckName::CostPerCase,
            CheckName::NonInferiority,
        ] {
            assert_eq!(
                serde_json::to_string(&name).unwrap(),
                format!("\"{}\"", name.as_str())
            );
        }
    }
}
