//! The review a simulated model writes.

use rand::{Rng, RngExt};
use serde_json::json;
use trizone_core::{ExpectedFinding, Finding, Severity};

use crate::dataset::Dataset;

/// Writes the review JSON for `prompt`: a known case is answered exactly
/// with probability `accuracy`, otherwise with one finding missed or one
/// invented; unknown code (in `user`, the last message) gets a plausible
/// review of what stands out.
pub fn review(
    dataset: &Dataset,
    prompt: &str,
    user: &str,
    accuracy: f64,
    rng: &mut impl Rng,
) -> String {
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
        None => plausible(user),
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
    ("os.system(", "security", Severity::High),
    ("password", "security", Severity::Medium),
    ("unwrap()", "bug", Severity::Low),
    ("TODO", "maintainability", Severity::Info),
];

/// Unknown code: flag lines with well-known smells. Lines are numbered as
/// in the code: a first line like `Review {{path}} ({{language}}):` is
/// taken for the template's header and not counted.
fn plausible(user: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut lines = user.lines().peekable();
    let header = lines
        .peek()
        .is_some_and(|first| first.starts_with("Review") && first.trim_end().ends_with(':'))
        && user.lines().nth(1).is_some();
    for (i, line) in lines.skip(usize::from(header)).enumerate() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_flagged(user: &str) -> Vec<u32> {
        plausible(user).iter().map(|f| f.line_start).collect()
    }

    #[test]
    fn unknown_code_is_flagged_at_its_own_line_numbers() {
        // A template header is not a line of the code.
        assert_eq!(
            lines_flagged("Review a.py (python):\nimport os\nx = eval(y)\n"),
            vec![2]
        );
        // A template that is only the code.
        assert_eq!(lines_flagged("x = eval(y)\n"), vec![1]);
        assert_eq!(lines_flagged("def f(y):\n    return eval(y)\n"), vec![2]);
    }
}
