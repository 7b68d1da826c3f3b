//! The review's JSON schema for providers' structured outputs, derived once
//! from the very types the answer is parsed into, so the schema a model is
//! held to and the parser reading its answer cannot drift apart.
//!
//! It is written in the subset both providers take: OpenAI's strict mode
//! wants every property required, `additionalProperties: false` on every
//! object, no `$ref` to resolve and no `format` it does not know; Anthropic
//! takes the same schema as a tool's `input_schema`.

use std::sync::LazyLock;

use schemars::generate::SchemaSettings;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::output::RawReview;

/// The name of the schema (OpenAI) and of the tool (Anthropic).
pub const NAME: &str = "submit_review";

/// What the schema, or the tool, is for; models read it.
pub const DESCRIPTION: &str =
    "Submit the review of the code: every finding, and a one-sentence summary.";

static REVIEW: LazyLock<Value> = LazyLock::new(|| {
    let schema = SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .into_generator()
        .into_root_schema_for::<RawReview>();
    let mut value = Value::from(schema);
    strip_formats(&mut value);
    value
});

/// The schema as JSON text, written once: every request carries it
/// (about 1.4 KB), and copying text costs less than serializing a tree.
static REVIEW_TEXT: LazyLock<Box<RawValue>> = LazyLock::new(|| serialized(&REVIEW));

#[expect(
    clippy::expect_used,
    reason = "a JSON value always serializes: its keys are strings"
)]
fn serialized(value: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("a JSON value serializes")
}

/// The review's schema.
pub fn review() -> &'static Value {
    &REVIEW
}

/// The review's schema, serialized, for request bodies.
pub fn review_text() -> &'static RawValue {
    &REVIEW_TEXT
}

/// Drops `format` (`uint32` and the like): a hint for Rust, not a JSON
/// Schema format strict modes know; `minimum` already says what matters.
fn strip_formats(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("format");
            map.remove("title");
            map.values_mut().for_each(strip_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_formats),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every object in the schema, wherever it is nested.
    fn objects(value: &Value, found: &mut Vec<serde_json::Map<String, Value>>) {
        match value {
            Value::Object(map) => {
                if map.get("type") == Some(&Value::from("object")) {
                    found.push(map.clone());
                }
                map.values().for_each(|v| objects(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| objects(v, found)),
            _ => {}
        }
    }

    #[test]
    fn the_schema_is_in_the_strict_subset() {
        let mut found = Vec::new();
        objects(review(), &mut found);
        assert_eq!(found.len(), 2, "the review and a finding");
        for object in found {
            assert_eq!(object["additionalProperties"], false, "{object:?}");
            let mut properties: Vec<&String> =
                object["properties"].as_object().unwrap().keys().collect();
            let mut required: Vec<&str> = object["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            properties.sort();
            required.sort();
            assert_eq!(properties, required, "every property is required");
        }
        let text = review().to_string();
        for unsupported in ["$ref", "$defs", "\"format\"", "$schema"] {
            assert!(!text.contains(unsupported), "{unsupported} in {text}");
        }
    }

    #[test]
    fn the_schema_says_what_the_parser_takes() {
        let validator = jsonschema::validator_for(review()).unwrap();
        let good = serde_json::json!({"findings": [{"line_start": 3, "line_end": 4, "severity": "high", "category": "bug", "message": "off by one"}], "summary": "one bug"});
        assert!(validator.is_valid(&good));
        assert!(crate::output::parse(&good.to_string(), 10).is_ok());
        for bad in [
            serde_json::json!({"findings": [], "summary": "s", "confidence": 1}),
            serde_json::json!({"findings": [{"line_start": 0, "line_end": 1, "severity": "high", "category": "c", "message": "m"}], "summary": "s"}),
            serde_json::json!({"findings": [{"line_start": 1, "line_end": 1, "severity": "urgent", "category": "c", "message": "m"}], "summary": "s"}),
            serde_json::json!({"summary": "s"}),
        ] {
            assert!(!validator.is_valid(&bad), "{bad}");
            assert!(crate::output::parse(&bad.to_string(), 10).is_err(), "{bad}");
        }
    }
}
