//! Strict parsing of a model's answer into findings and a summary. One
//! habit of real models is forgiven, and counted: the exact review object
//! wrapped in a Markdown code fence and nothing else. Anything that would
//! need a guess (prose around the object, two objects, a cut-off one)
//! stays a `Malformed` error.

use serde::Deserialize;
pub use trizone_api::states::FormatRecovery;
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
    /// What had to be undone to read it, if anything.
    pub recovered: Option<FormatRecovery>,
}

/// The inside of `text` when `text` is one fenced code block and nothing
/// else: an opening fence (```` ``` ```` or ```` ```json ````) on its own
/// line, the closing fence at the end.
fn unfence(text: &str) -> Option<&str> {
    let body = text.trim().strip_prefix("```")?.strip_suffix("```")?;
    let (info, inside) = body.split_once('\n')?;
    let info = info.trim();
    if !(info.is_empty() || info.eq_ignore_ascii_case("json")) || inside.contains("```") {
        return None;
    }
    Some(inside)
}

const QUOTE_CHARS: usize = 120;

/// Parses an answer exactly as the output contract says. Anything else is
/// a `Malformed` error quoting the start of the answer, never an empty review.
pub fn parse(text: &str) -> Result<ParsedReview, CallError> {
    let strict = serde_json::from_str::<RawReview>(text.trim());
    let (raw, recovered) = match (strict, unfence(text)) {
        (Ok(raw), _) => (raw, None),
        (Err(error), fenced) => {
            let unfenced = fenced.and_then(|inside| serde_json::from_str(inside.trim()).ok());
            let Some(raw) = unfenced else {
                let quoted: String = text.chars().take(QUOTE_CHARS).collect();
                return Err(CallError::new(
                    ErrorKind::Malformed,
                    format!("answer is not a review ({error}): {quoted:?}"),
                ));
            };
            (raw, Some(FormatRecovery::Fenced))
        }
    };
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
        recovered,
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
    fn the_object_alone_in_a_fence_is_recovered_and_says_so() {
        for text in [
            "```json\n{\"findings\": [], \"summary\": \"ok\"}\n```",
            "  ```\n{\"findings\": [], \"summary\": \"ok\"}\n```\n",
            "```JSON\n{\"findings\": [],\n \"summary\": \"ok\"}```",
        ] {
            let review = parse(text).unwrap();
            assert_eq!(review.recovered, Some(FormatRecovery::Fenced), "{text}");
            assert_eq!(review.summary, "ok");
        }
        let strict = parse(r#"{"findings": [], "summary": "ok"}"#).unwrap();
        assert_eq!(strict.recovered, None);
    }

    #[test]
    fn anything_that_would_need_a_guess_is_malformed() {
        for text in [
            "Here is my review:\n```json\n{\"findings\": [], \"summary\": \"ok\"}\n```",
            "```json\n{\"findings\": [], \"summary\": \"ok\"}\n```\nHope this helps!",
            "```json\n{\"findings\": [], \"summary\": \"a\"}\n```\n```json\n{\"findings\": [], \"summary\": \"b\"}\n```",
            "```python\n{\"findings\": [], \"summary\": \"ok\"}\n```",
            "```json\n{\"findings\": [], \"summ",
            "```json\n{\"findings\": [], \"summary\": \"ok\", \"confidence\": 1}\n```",
        ] {
            assert_eq!(
                parse(text).unwrap_err().kind,
                ErrorKind::Malformed,
                "{text}"
            );
        }
    }

    #[test]
    fn prose_extra_fields_and_bad_ranges_are_malformed() {
        for text in [
            "Sure! The code looks fine.",
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
