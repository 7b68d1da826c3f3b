//! The review a simulated model writes.

use rand::{Rng, RngExt};
use serde_json::json;
use trizone_core::{ExpectedFinding, Finding, Severity};

use crate::dataset::Dataset;

/// Writes the review JSON for `prompt`: a known case is answered exactly
/// with probability `accuracy`, otherwise with one finding missed or one
/// invented; unknown code gets a plausible review of what stands out.
pub fn review(dataset: &Dataset, prompt: &str, accuracy: f64, rng: &mut impl Rng) -> String {
    let findings = match dataset.find(prompt) {
        Some(case) => {
            let mut findings: Vec<Finding> = case.expected_findings.iter().map(as_found).collect();
            if rng.random::<f64>() >= accuracy {
                if !findings.is_empty() && rng.random::<bool>() {
                    let miss = rng.random_range(0..findings.len());
                    findings.remove(miss);
                } else {
                    findings.push(invented(&case.expected_findings));
                }
            }
            findings
        }
        None => plausible(prompt),
    };
    let summary = match findings.len() {
        0 => "No problems found.".to_owned(),
        1 => "One problem found.".to_owned(),
        n => format!("{n} problems found."),
    };
    json!({ "findings": findings, "summary": summary }).to_string()
}

fn as_found(expected: &ExpectedFinding) -> Finding {
    Finding {
        line_start: expected.line_start,
        line_end: expected.line_end,
        severity: Severity::High,
        category: expected.category.clone(),
        // The description is for scoring reports; a model never saw it.
        message: format!(
            "{} problem on lines {}-{}",
            expected.category, expected.line_start, expected.line_end
        ),
    }
}

/// A false positive well clear of every expected finding.
fn invented(expected: &[ExpectedFinding]) -> Finding {
    let line = expected
        .iter()
        .map(|e| e.line_end)
        .max()
        .map_or(1, |end| end + 10);
    Finding {
        line_start: line,
        line_end: line,
        severity: Severity::Low,
        category: "style".into(),
        message: "Consider renaming this variable.".into(),
    }
}

const SUSPICIOUS: &[(&str, &str, Severity)] = &[
    ("eval(", "security", Severity::High),
    ("password", "security", Severity::Medium),
    ("unwrap()", "bug", Severity::Low),
    ("TODO", "maintainability", Severity::Info),
];

/// Unknown code: flag lines with well-known smells.
fn plausible(prompt: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (i, line) in prompt.lines().enumerate() {
        if let Some((pattern, category, severity)) =
            SUSPICIOUS.iter().find(|(p, _, _)| line.contains(p))
        {
            let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
            findings.push(Finding {
                line_start: n,
                line_end: n,
                severity: *severity,
                category: (*category).into(),
                message: format!("`{pattern}` here deserves a second look."),
            });
        }
    }
    findings
}
