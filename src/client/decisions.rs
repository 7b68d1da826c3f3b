//! The gate's decisions as a person reads them: one with every check's
//! value, bounds, threshold, evidence and reason; many, each with why.

use std::io::Write;

use trizone_api::gate::DecisionRecord;
use trizone_core::{Check, CheckName, Decision, Direction, Verdict};

/// Why a decision went as it did, in a few words.
pub fn why(verdict: &Verdict) -> String {
    let named = |outcome: Decision| -> Vec<&str> {
        verdict
            .checks
            .iter()
            .filter(|c| c.outcome == outcome)
            .map(|c| c.name.as_str())
            .collect()
    };
    match verdict.decision {
        Decision::Pass => format!("all {} checks pass", verdict.checks.len()),
        Decision::Fail => format!("failed {}", named(Decision::Fail).join(", ")),
        Decision::Inconclusive => {
            let more = verdict
                .additional_cases_needed
                .map(|n| format!("; about {n} more cases expected to decide"))
                .unwrap_or_default();
            format!(
                "undecided {}{more}",
                named(Decision::Inconclusive).join(", ")
            )
        }
    }
}

/// A check's value in its own unit.
fn shown(name: CheckName, value: f64) -> String {
    match name {
        CheckName::SampleSize => format!("{value:.0} cases"),
        CheckName::LatencyP95 => format!("{value:.0} ms"),
        CheckName::CostPerCase => format!("${value:.5}"),
        CheckName::Accuracy
        | CheckName::ErrorRate
        | CheckName::NonInferiority
        | CheckName::Agreement
        | CheckName::ErrorsAgainstStable => {
            format!("{:.1}%", value * 100.0)
        }
    }
}

/// Where a check's sequential test stands: the plausible range of the
/// rate it tests, and the evidence against the bars that decide it.
fn evidence(check: &Check) -> String {
    let Some(test) = &check.test else {
        return "-".to_owned();
    };
    format!(
        "rate {:.1}%–{:.1}% over {} cases; ln odds {:+.1} (pass at {:+.1}, fail at {:+.1})",
        test.range[0] * 100.0,
        test.range[1] * 100.0,
        test.cases,
        test.log_ratio,
        test.pass_at,
        test.fail_at,
    )
}

/// One decision, whole.
pub fn describe(
    out: &mut dyn Write,
    record: &DecisionRecord,
    verdict: &Verdict,
) -> std::io::Result<()> {
    writeln!(
        out,
        "decision {}: {} -> {}",
        record.id, record.decision, record.outcome
    )?;
    writeln!(out, "  experiment  {}", record.experiment_id)?;
    writeln!(out, "  fingerprint {}", record.fingerprint)?;
    writeln!(
        out,
        "  judged      {} ({}, by {})",
        record.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
        record.trigger,
        record.decided_by
    )?;
    let runs = record.pooled_runs.as_deref().unwrap_or_default();
    writeln!(
        out,
        "  evidence    {} cases pooled from {} runs{}",
        verdict.cases,
        runs.len().max(1),
        if runs.is_empty() {
            String::new()
        } else {
            format!(
                ": {}",
                runs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    )?;
    writeln!(out, "  why         {}", why(verdict))?;
    for check in &verdict.checks {
        let value = check
            .value
            .map_or_else(|| "-".to_owned(), |v| shown(check.name, v));
        let bar = match check.direction {
            Direction::AtLeast => "≥",
            Direction::AtMost => "≤",
        };
        writeln!(
            out,
            "  {:<16} {:<12} value {value}, bar {bar} {}",
            check.name.as_str(),
            check.outcome.as_str(),
            shown(check.name, check.threshold),
        )?;
        writeln!(out, "    evidence  {}", evidence(check))?;
        writeln!(out, "    reason    {}", check.reason)?;
    }
    Ok(())
}
