//! Strict parsing of a model's answer into findings and a summary.

use serde::Deserialize;
use trizone_core::Finding;

use crate::error::{CallError, ErrorKind};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReview {
    findings: Vec<Finding>,
    summary: String,
}

/// A parsed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReview {
    pub findings: Vec<Finding>,
    pub summary: String,
}

const QUOTE_CHARS: usize = 120;

/// Parses an answer exactly as the output contract says. Anything else is
/// a `Malformed` error quoting the start of the answer, never an empty review.
pub fn parse(text: &str) -> Result<ParsedReview, CallError> {
    let raw: RawReview = serde_json::from_str(text.trim()).map_err(|error| {
        let quoted: String = text.chars().take(QUOTE_CHARS).collect();
        CallError::new(
            ErrorKind::Malformed,
            format!("answer is not a review ({error}): {quoted:?}"),
        )
    })?;
    for (i, finding) in raw.findings.iter().enumerate() {
        if finding.line_start == 0 || finding.line_end < finding.line_start {
            return Err(CallError::new(
                ErrorKind::Malformed,
                format!(
                    "finding {i} has an impossible line range {}-{}",
                    finding.line_start, finding.line_end
                ),
            ));
        }
    }
    Ok(ParsedReview {
        findings: raw.findings,
        summary: raw.summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contract_answer_parses() {
        let review = parse(r#" {"findings": [{"line_start": 3, "line_end": 4, "severity": "high", "category": "bug", "message": "off by one"}], "summary": "one bug"} "#).unwrap();
        assert_eq!(review.findings.len(), 1);
        assert_eq!(review.summary, "one bug");
    }

    #[test]
    fn prose_fences_extra_fields_and_bad_ranges_are_malformed() {
        for text in [
            "Sure! The code looks fine.",
            "```json\n{\"findings\": [], \"summary\": \"ok\"}\n```",
            r#"{"findings": [], "summary": "ok", "confidence": 0.9}"#,
            r#"{"findings": [{"line_start": 5, "line_end": 2, "severity": "low", "category": "c", "message": "m"}], "summary": "s"}"#,
            r#"{"findings": [{"line_start": 1, "line_end": 1, "severity": "urgent", "category": "c", "message": "m"}], "summary": "s"}"#,
            r#"{"summary": "no findings key"}"#,
        ] {
            assert_eq!(
                parse(text).unwrap_err().kind,
                ErrorKind::Malformed,
                "{text}"
            );
        }
    }
}
