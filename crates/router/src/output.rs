//! Strict parsing of a model's answer into findings and a summary. One
//! habit of real models is forgiven, and counted: the exact review object
//! wrapped in a Markdown code fence and nothing else. Anything that would
//! need a guess (prose around the object, two objects, a cut-off one, a
//! finding on a line the file does not have) stays a `Malformed` error.

use schemars::JsonSchema;
use serde::Deserialize;
pub use trizone_api::states::FormatRecovery;
use trizone_core::Finding;

use crate::error::{CallError, ErrorKind};

/// The output contract, as a type: what is parsed, and what
/// [`crate::schema`] derives the providers' schema from.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(description = "A review of the code: every problem found, and a summary.")]
pub(crate) struct RawReview {
    /// Every problem found; empty when the code has none.
    findings: Vec<Finding>,
    /// One sentence on the code as a whole.
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

/// Parses an answer to a review of a file of `lines` lines exactly as the
/// output contract says. Anything else is a `Malformed` error quoting the
/// start of the answer, never an empty review.
pub fn parse(text: &str, lines: usize) -> Result<ParsedReview, CallError> {
    if text.trim().is_empty() {
        return Err(CallError::new(ErrorKind::Malformed, "the answer is empty"));
    }
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
        let (start, end) = (finding.line_start, finding.line_end);
        let problem = if start == 0 || end < start {
            "is an impossible line range".to_owned()
        } else if usize::try_from(end).map_or(true, |end| end > lines) {
            // Clamping it into the file would be a guess at what the model
            // meant; a finding nowhere in the code helps no one.
            format!("is outside the file, which has {lines} lines")
        } else {
            continue;
        };
        return Err(CallError::new(
            ErrorKind::Malformed,
            format!("finding {i} on lines {start}-{end} {problem}"),
        ));
    }
    Ok(ParsedReview {
        findings: raw.findings.into_iter().map(clean_finding).collect(),
        summary: trizone_core::text::clean_owned(raw.summary),
        recovered,
    })
}

/// A model's words are kept and shown, in V1, in V2's answers, in SARIF
/// and on terminals; whoever can steer the model (a prompt injection in
/// the reviewed code) must not be able to plant a NUL the database refuses,
/// a terminal escape or a rule id of their choosing.
fn clean_finding(finding: Finding) -> Finding {
    Finding {
        category: trizone_core::findings::normalize_category(&finding.category),
        message: trizone_core::text::clean_owned(finding.message),
        ..finding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contract_answer_parses() {
        let review = parse(r#" {"findings": [{"line_start": 3, "line_end": 4, "severity": "high", "category": "bug", "message": "off by one"}], "summary": "one bug"} "#, 4).unwrap();
        assert_eq!(review.findings.len(), 1);
        assert_eq!(review.summary, "one bug");
    }

    #[test]
    fn what_a_steered_model_plants_is_cleaned_before_anyone_keeps_it() {
        let answer = r#"{"findings": [{"line_start": 1, "line_end": 1, "severity": "high",
            "category": "x\n::error title=pwned::owned\u001b]8;;http://e.x\u0007",
            "message": "nul\u0000 and \u001b[2J clear"}], "summary": "s\u0000\u202e"}"#;
        let review = parse(answer, 1).unwrap();
        let finding = &review.findings[0];
        assert_eq!(
            finding.category,
            "x --error title-pwned--owned--8--http---e-x-"
        );
        assert_eq!(finding.message, "nul and [2J clear");
        assert_eq!(review.summary, "s");
    }

    #[test]
    fn the_object_alone_in_a_fence_is_recovered_and_says_so() {
        for text in [
            "```json\n{\"findings\": [], \"summary\": \"ok\"}\n```",
            "  ```\n{\"findings\": [], \"summary\": \"ok\"}\n```\n",
            "```JSON\n{\"findings\": [],\n \"summary\": \"ok\"}```",
        ] {
            let review = parse(text, 1).unwrap();
            assert_eq!(review.recovered, Some(FormatRecovery::Fenced), "{text}");
            assert_eq!(review.summary, "ok");
        }
        let strict = parse(r#"{"findings": [], "summary": "ok"}"#, 1).unwrap();
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
                parse(text, 10).unwrap_err().kind,
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
            "",
            "  \n",
        ] {
            assert_eq!(
                parse(text, 10).unwrap_err().kind,
                ErrorKind::Malformed,
                "{text}"
            );
        }
    }

    #[test]
    fn a_finding_beyond_the_last_line_is_malformed_not_clamped() {
        let answer = |start: u32, end: u32| {
            format!(
                r#"{{"findings": [{{"line_start": {start}, "line_end": {end}, "severity": "low", "category": "c", "message": "m"}}], "summary": "s"}}"#
            )
        };
        assert!(parse(&answer(4, 4), 4).is_ok());
        for (start, end) in [(5, 5), (3, 5), (40, 41)] {
            let error = parse(&answer(start, end), 4).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Malformed);
            assert!(
                error
                    .message
                    .contains("outside the file, which has 4 lines"),
                "{error}"
            );
        }
    }
}
