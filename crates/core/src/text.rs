//! What text may hold once it leaves its sender: what clients may send,
//! what is kept of a model's answer, and how text is shown on a terminal.
//!
//! PostgreSQL cannot store U+0000 in `text` or `jsonb`, so a NUL anywhere
//! in what a client sends is refused up front, naming where it was. Prose
//! (comments, reasons, descriptions) refuses every control character but
//! tab and line breaks. A model's answer is not refused but cleaned, since
//! the model, not the caller, wrote it. A terminal shows everything escaped.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

/// Characters no kept text carries: C0 and C1 controls but tab and line
/// breaks, and the bidirectional overrides and isolates that make text
/// read differently from what it holds ("Trojan Source").
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || is_bidi_control(c)
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Why `text`, prose a person wrote, cannot be kept: it holds a control
/// character (named by code point) other than tab and line breaks.
pub fn check_prose(text: &str) -> Result<(), String> {
    match text.chars().find(|&c| is_unsafe(c)) {
        None => Ok(()),
        Some(c) => Err(format!(
            "must not contain control characters (found U+{:04X})",
            u32::from(c)
        )),
    }
}

/// `text` with its unsafe characters removed: for what a model wrote,
/// which is kept and shown but must not carry escapes or a NUL.
pub fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_unsafe) {
        Cow::Owned(text.chars().filter(|&c| !is_unsafe(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// [`clean`] for an owned string: it is kept as it is, without a copy,
/// when there is nothing to remove.
pub fn clean_owned(text: String) -> String {
    if text.chars().any(is_unsafe) {
        text.chars().filter(|&c| !is_unsafe(c)).collect()
    } else {
        text
    }
}

/// `text` made safe to print on one terminal line: every control
/// character, line breaks included, is written as an escape (`\n`,
/// `\u{1b}`), so nothing a sender wrote can clear a screen, forge a line
/// (`::error` in a CI log) or hide text behind a bidirectional override.
pub fn escape_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push_str("\\t"),
            c if c.is_control() || is_bidi_control(c) => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// Where the JSON document `bytes` holds a U+0000 (`comment`,
/// `cases[2].code`, `.` for the document itself), if it does and parses.
/// JSON can carry a NUL only as the escape `\u0000`, so a document without
/// that escape is let through after one scan of its bytes.
pub fn json_nul_path(bytes: &[u8]) -> Option<String> {
    const ESCAPE: &[u8] = b"\\u0000";
    let escaped = memchr::memmem::find_iter(bytes, ESCAPE).any(|at| {
        // The escape counts only when its backslash is not itself escaped:
        // an odd run of backslashes ends at `at`.
        let run = bytes[..=at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        run % 2 == 1
    });
    if !escaped {
        return None;
    }
    let value: Value = serde_json::from_slice(bytes).ok()?;
    value_nul_path(&value)
}

/// Where `value` holds a U+0000, in a string or an object's key.
pub fn value_nul_path(value: &Value) -> Option<String> {
    let mut path = String::new();
    find_nul(value, &mut path).then(|| {
        if path.is_empty() {
            ".".to_owned()
        } else {
            path
        }
    })
}

fn find_nul(value: &Value, path: &mut String) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().enumerate().any(|(index, item)| {
            let len = path.len();
            let _ = write!(path, "[{index}]");
            let found = find_nul(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Object(fields) => fields.iter().any(|(key, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&key.replace('\0', "\\u0000"));
            let found = key.contains('\0') || find_nul(item, path);
            if !found {
                path.truncate(len);
            }
            found
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_nul_is_found_where_it_is() {
        let found = |json: &str| json_nul_path(json.as_bytes());
        assert_eq!(
            found(r#"{"comment":"nul\u0000byte"}"#).as_deref(),
            Some("comment")
        );
        assert_eq!(
            found(r#"{"cases":[{"code":"a"},{"code":"\u0000"}]}"#).as_deref(),
            Some("cases[1].code")
        );
        assert_eq!(found(r#""\u0000""#).as_deref(), Some("."));
        assert_eq!(found(r#"{"k\u0000":1}"#).as_deref(), Some("k\\u0000"));
        // An escaped backslash followed by `u0000` is text, not a NUL.
        assert_eq!(found(r#"{"path":"C:\\u0000.txt"}"#), None);
        assert_eq!(found(r#"{"path":"\\\u0000"}"#).as_deref(), Some("path"));
        assert_eq!(found(r#"{"comment":"fine"}"#), None);
    }

    #[test]
    fn prose_keeps_line_breaks_and_tabs_and_refuses_other_controls() {
        assert!(check_prose("two\nlines\r\n\tindented").is_ok());
        let refused = check_prose("bell\u{7}").unwrap_err();
        assert!(refused.contains("U+0007"), "{refused}");
        assert!(check_prose("right-to-left \u{202e}override").is_err());
        assert!(check_prose("csi \u{9b}2J").is_err());
    }

    #[test]
    fn model_text_is_cleaned_not_refused() {
        assert_eq!(clean("a\u{0}b\u{1b}[2Jc\n"), "ab[2Jc\n");
        assert!(matches!(clean("plain"), Cow::Borrowed("plain")));
        assert_eq!(clean_owned("a\u{0}b".to_owned()), "ab");
    }

    #[test]
    fn a_terminal_line_cannot_be_broken_or_escaped() {
        assert_eq!(
            escape_line("x\n::error title=pwned::owned\u{1b}[2J"),
            "x\\n::error title=pwned::owned\\u{1b}[2J"
        );
        assert!(matches!(escape_line("src/app.py"), Cow::Borrowed(_)));
    }

    proptest! {
        #[test]
        fn the_fast_scan_agrees_with_a_full_parse(text in ".*", key in "[a-z]{1,3}") {
            let document = serde_json::json!({ key.clone(): [text.clone()] });
            let bytes = serde_json::to_vec(&document).unwrap();
            let expected = text.contains('\0').then(|| format!("{key}[0]"));
            prop_assert_eq!(json_nul_path(&bytes), expected);
        }

        #[test]
        fn escaped_lines_hold_no_control_character(text in "\\PC*|[\\x00-\\x1f\\x7f-\\x9f\\u{202a}-\\u{202e}]*") {
            let escaped = escape_line(&text);
            prop_assert!(!escaped.chars().any(|c| c.is_control() || is_bidi_control(c)));
            prop_assert!(!clean(&text).chars().any(is_unsafe));
        }
    }
}
