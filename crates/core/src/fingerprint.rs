//! Canonical JSON and the content fingerprints built on it.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Hex SHA-256 of a configuration's canonical JSON (its `name` left out).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
pub struct Fingerprint(String);

impl Fingerprint {
    pub(crate) fn of_content<T: Serialize>(value: &T) -> Self {
        let mut json = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(map) = &mut json {
            map.remove("name");
        }
        Self(sha256_hex(canonical_json(&json).as_bytes()))
    }

    /// Accepts exactly 64 lowercase hex digits.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Self(raw.to_owned()))
        } else {
            Err("a fingerprint is 64 lowercase hexadecimal digits".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<Fingerprint> for String {
    fn from(fingerprint: Fingerprint) -> Self {
        fingerprint.0
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What identifies a case to a configuration: what the model is shown of
/// it (language, path and code), whichever dataset it came in. Evidence
/// counts each key once per configuration. The database's backfill of
/// older rows computes the same digest.
pub fn case_key(language: &str, path: &str, code: &str) -> String {
    sha256_hex(format!("{language}\u{1f}{path}\u{1f}{code}").as_bytes())
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// JSON with object keys sorted by byte order and no
/// insignificant whitespace. Written out here rather than relying on
/// `serde_json::Map` ordering, which a `preserve_order` feature enabled
/// anywhere in the build would silently change.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let value: serde_json::Value =
            serde_json::from_str(r#"{ "b": [ {"z": 1, "a": null} ], "a": "x" }"#).unwrap();
        assert_eq!(
            canonical_json(&value),
            r#"{"a":"x","b":[{"a":null,"z":1}]}"#
        );
    }

    #[test]
    fn fingerprints_parse_only_lowercase_hex_of_the_right_length() {
        assert!(Fingerprint::parse(&"a".repeat(64)).is_ok());
        assert!(Fingerprint::parse(&"A".repeat(64)).is_err());
        assert!(Fingerprint::parse("abc").is_err());
    }
}
