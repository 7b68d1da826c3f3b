//! The review a simulated model writes.

use rand::{Rng, RngExt};
use serde_json::{Value, json};
use trizone_core::{ExpectedFinding, Finding, Severity};

use crate::dataset::Dataset;

/// Lines further than this from every expected finding make a false
/// positive under any usual scoring tolerance.
const CLEAR_OF_EXPECTED: u32 = 3;

/// Writes the review for `prompt`: a known case is answered exactly with
/// probability `accuracy`, otherwise with one finding missed or one
/// invented; unknown code (in `user`, the last message) gets a plausible
/// review of what stands out. Every finding lies inside the code.
pub fn review(
    dataset: &Dataset,
    prompt: &str,
    user: &str,
    accuracy: f64,
    rng: &mut impl Rng,
) -> Value {
    let findings = match dataset.find(prompt) {
        Some(case) => {
            let mut findings: Vec<Finding> = case.expected_findings.iter().map(as_found).collect();
            if rng.random::<f64>() >= accuracy {
                let lines = u32::try_from(case.code.lines().count()).unwrap_or(u32::MAX);
                let false_positive = invented(&case.expected_findings, lines);
                match false_positive {
                    Some(invented) if findings.is_empty() || rng.random::<bool>() => {
                        findings.push(invented);
                    }
                    _ => {
                        let miss = rng.random_range(0..findings.len());
                        findings.remove(miss);
                    }
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
    json!({ "findings": findings, "summary": summary })
}

/// The same review with one more finding, on a line past the end of the
/// code in `user` (as models that miscount do).
pub fn beyond_the_file(mut review: Value, user: &str) -> Value {
    let past = u32::try_from(user.lines().count()).unwrap_or(u32::MAX - 10) + 10;
    let finding = Finding {
        line_start: past,
        line_end: past + 1,
        severity: Severity::Medium,
        category: "bug".into(),
        message: "This loop never terminates.".into(),
    };
    if let (Some(findings), Ok(finding)) = (
        review["findings"].as_array_mut(),
        serde_json::to_value(finding),
    ) {
        findings.push(finding);
    }
    review
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

/// A false positive on the line of the code furthest from every expected
/// finding, if one is clear of them all; in a short file there may be none.
fn invented(expected: &[ExpectedFinding], lines: u32) -> Option<Finding> {
    let distance = |line: u32| {
        expected
            .iter()
            .map(|e| {
                let (start, end) = (e.line_start.min(e.line_end), e.line_start.max(e.line_end));
                start.saturating_sub(line).max(line.saturating_sub(end))
            })
            .min()
            .unwrap_or(u32::MAX)
    };
    let line = (1..=lines.max(1)).max_by_key(|&line| distance(line))?;
    (distance(line) >= CLEAR_OF_EXPECTED).then(|| Finding {
        line_start: line,
        line_end: line,
        severity: Severity::Low,
        category: "style".into(),
        message: "Consider renaming this variable.".into(),
    })
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

    fn expected(line: u32) -> ExpectedFinding {
        ExpectedFinding {
            line_start: line,
            line_end: line,
            category: "bug".into(),
            description: String::new(),
        }
    }

    #[test]
    fn an_invented_finding_is_inside_the_file_and_clear_of_the_real_ones() {
        let found = invented(&[expected(2)], 20).unwrap();
        assert_eq!(found.line_start, 20);
        assert_eq!(invented(&[], 1).unwrap().line_start, 1);
        // Four lines, a bug on line 3: no line is clear of it.
        assert!(invented(&[expected(3)], 4).is_none());
    }

    #[test]
    fn an_inaccurate_answer_to_a_short_file_misses_rather_than_invents() {
        let dataset = Dataset::parse(r#"{"id": "c", "code": "a\nb\nc\nd\n", "expected_findings": [{"line_start": 3, "line_end": 3, "category": "bug"}]}"#).unwrap();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        let review = review(&dataset, "a\nb\nc\nd\n", "", 0.0, &mut rng);
        assert_eq!(review["findings"], json!([]));
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
