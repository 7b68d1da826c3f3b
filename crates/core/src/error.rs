//! The one error type of `trizone-core`: invalid input and refused transitions.

use crate::lifecycle::ExperimentStatus;

/// One problem with one field of an input, addressed by its dotted path
/// (`models.primary.provider`, `parameters.temperature`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input could not be read as the format it claims to be, or does not
    /// have the shape of the type (unknown field, wrong type, missing field).
    #[error("{0}")]
    Malformed(FieldError),
    /// The input parsed but breaks a rule; every broken rule is listed.
    #[error("{}", .0.first().map(ToString::to_string).unwrap_or_default())]
    Invalid(Vec<FieldError>),
    #[error("an experiment cannot go from {from} to {to}")]
    Transition {
        from: ExperimentStatus,
        to: ExperimentStatus,
    },
}

impl Error {
    /// The same error with every field path put under `prefix`, for a
    /// document nested in another (`parameters.x` → `configuration.parameters.x`).
    pub fn nested_in(self, prefix: &str) -> Self {
        let nest = |mut e: FieldError| {
            e.field = if e.field.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{}", e.field)
            };
            e
        };
        match self {
            Self::Malformed(e) => Self::Malformed(nest(e)),
            Self::Invalid(errors) => Self::Invalid(errors.into_iter().map(nest).collect()),
            other => other,
        }
    }

    /// Every field problem this error carries, first one first.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Malformed(e) => std::slice::from_ref(e),
            Self::Invalid(errors) => errors,
            Self::Transition { .. } => &[],
        }
    }
}

/// `outer: inner: innermost`: an error with every cause, for one log line
/// or one message per failure.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
