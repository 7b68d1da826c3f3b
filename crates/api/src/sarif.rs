//! SARIF 2.1.0, the results format GitHub code scanning, GitLab and
//! editors read: V2's reviews as one run of one tool. Only what trizone
//! fills in is modelled; a test validates the output against the official
//! OASIS schema.

use serde::{Deserialize, Serialize};
use trizone_core::Severity;
use uuid::Uuid;

use crate::reviews::{DeploymentRef, ReviewFinding, ReviewResponse, SkippedFile};
use crate::states::ReviewOutcome;

/// The media type a client asks for with `Accept`.
pub const MEDIA_TYPE: &str = "application/sarif+json";

/// Where the schema of the version written is published.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// A SARIF log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SarifLog {
    #[serde(rename = "$schema")]
    pub schema: String,
    /// Always `2.1.0`.
    pub version: String,
    pub runs: Vec<Run>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    pub tool: Tool,
    /// Whether every file was reviewed, and what was not.
    pub invocations: Vec<Invocation>,
    pub results: Vec<SarifResult>,
    pub properties: RunProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tool {
    pub driver: Driver,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Driver {
    pub name: String,
    pub version: String,
    /// One rule per finding category.
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub id: String,
    pub short_description: Message,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Invocation {
    /// False when a file could not be reviewed (no model answered).
    pub execution_successful: bool,
    /// One per file not reviewed: skipped (a note) or failed (an error).
    pub tool_execution_notifications: Vec<Notification>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    pub level: Level,
    pub message: Message,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
}

/// A finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SarifResult {
    /// The finding's category.
    pub rule_id: String,
    pub rule_index: usize,
    pub level: Level,
    pub message: Message,
    /// Empty when the review named no file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Location>,
    pub properties: ResultProperties,
}

/// What SARIF has no place for: trizone's own severity, how many models
/// agreed, and the review to leave feedback on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultProperties {
    pub severity: Severity,
    pub agreement: u8,
    pub review_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunProperties {
    /// The V2 deployment that reviewed.
    pub deployment: DeploymentRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub physical_location: PhysicalLocation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhysicalLocation {
    pub artifact_location: ArtifactLocation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArtifactLocation {
    /// The file's path as a relative URI reference (percent-encoded).
    pub uri: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub start_line: u32,
    pub end_line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
    Note,
}

impl From<Severity> for Level {
    /// As code scanning shows them: high and critical block, medium warns.
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Critical | Severity::High => Self::Error,
            Severity::Medium => Self::Warning,
            Severity::Low | Severity::Info => Self::Note,
        }
    }
}

impl SarifLog {
    /// `reviews` (all by `deployment`) and the files a diff review skipped,
    /// as one run.
    pub fn of(
        deployment: &DeploymentRef,
        reviews: &[ReviewResponse],
        skipped: &[SkippedFile],
    ) -> Self {
        let mut rules: Vec<Rule> = Vec::new();
        let mut results = Vec::new();
        let mut notifications = Vec::new();
        for review in reviews {
            let location = |region| {
                review.path.as_deref().map(|path| Location {
                    physical_location: PhysicalLocation {
                        artifact_location: ArtifactLocation { uri: uri(path) },
                        region,
                    },
                })
            };
            if review.outcome == ReviewOutcome::Error {
                let kind = review.error_kind.map_or("unknown", |k| k.as_str());
                notifications.push(Notification {
                    level: Level::Error,
                    message: Message {
                        text: format!("no model could review this file ({kind})"),
                    },
                    locations: location(None).into_iter().collect(),
                });
            }
            for ReviewFinding { finding, agreement } in &review.findings {
                let rule_index = match rules.iter().position(|r| r.id == finding.category) {
                    Some(index) => index,
                    None => {
                        rules.push(Rule {
                            id: finding.category.clone(),
                            short_description: Message {
                                text: finding.category.clone(),
                            },
                        });
                        rules.len() - 1
                    }
                };
                results.push(SarifResult {
                    rule_id: finding.category.clone(),
                    rule_index,
                    level: finding.severity.into(),
                    message: Message {
                        text: plain_text(&finding.message),
                    },
                    locations: location(Some(Region {
                        start_line: finding.line_start,
                        end_line: finding.line_end.max(finding.line_start),
                    }))
                    .into_iter()
                    .collect(),
                    properties: ResultProperties {
                        severity: finding.severity,
                        agreement: *agreement,
                        review_id: review.id,
                    },
                });
            }
        }
        let failed = !notifications.is_empty();
        notifications.extend(skipped.iter().map(|file| Notification {
            level: Level::Note,
            message: Message {
                text: format!("not reviewed: {}", file.reason.as_str()),
            },
            locations: vec![Location {
                physical_location: PhysicalLocation {
                    artifact_location: ArtifactLocation {
                        uri: uri(&file.path),
                    },
                    region: None,
                },
            }],
        }));
        Self {
            schema: SCHEMA_URI.into(),
            version: "2.1.0".into(),
            runs: vec![Run {
                tool: Tool {
                    driver: Driver {
                        name: "trizone".into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        rules,
                    },
                },
                invocations: vec![Invocation {
                    execution_successful: !failed,
                    tool_execution_notifications: notifications,
                }],
                results,
                properties: RunProperties {
                    deployment: deployment.clone(),
                },
            }],
        }
    }
}

/// A model's words as a SARIF plain-text message: SARIF viewers turn
/// `[text](target)` into a link (an "embedded link"), so brackets, and the
/// backslash that escapes them, are escaped as the specification says.
fn plain_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `path` as a relative URI reference: unreserved characters and `/`
/// kept, every other byte percent-encoded. A `/` that would start the
/// reference or follow another (an absolute path, or `//host`, a
/// network-path reference) is encoded too, as is a `..` segment: what V2
/// writes points inside the repository, whatever an old record holds.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut previous: Option<&str> = None;
    for segment in path.split('/') {
        match previous {
            None => {}
            // After an empty segment: the path's start, or another `/`.
            Some("") => out.push_str("%2F"),
            Some(_) => out.push('/'),
        }
        previous = Some(segment);
        if segment == ".." {
            out.push_str("%2E%2E");
            continue;
        }
        for byte in segment.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_in_a_message_cannot_become_a_link() {
        assert_eq!(
            plain_text("see [here](http://e.x) \\o/"),
            "see \\[here\\](http://e.x) \\\\o/"
        );
    }

    #[test]
    fn a_path_becomes_a_relative_uri() {
        assert_eq!(uri("src/app.py"), "src/app.py");
        assert_eq!(
            uri("//evil.example/steal.py"),
            "%2F%2Fevil.example/steal.py"
        );
        assert_eq!(uri("/etc/cron.d/x.py"), "%2Fetc/cron.d/x.py");
        assert_eq!(uri("../../etc/passwd.py"), "%2E%2E/%2E%2E/etc/passwd.py");
        assert_eq!(uri("a//b.py"), "a/%2Fb.py");
        assert_eq!(uri("my dir/café#1.py"), "my%20dir/caf%C3%A9%231.py");
    }

    #[test]
    fn severities_map_to_the_levels_code_scanning_shows() {
        assert_eq!(Level::from(Severity::Critical), Level::Error);
        assert_eq!(Level::from(Severity::Medium), Level::Warning);
        assert_eq!(Level::from(Severity::Info), Level::Note);
    }
}
