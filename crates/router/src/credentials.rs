//! Provider API keys: from the environment or a mounted secret file, held
//! as secrets that never print.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use trizone_core::Provider;

use crate::error::{CallError, ErrorKind};

/// One key per provider. Never part of a configuration body.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    openai: Option<SecretString>,
    anthropic: Option<SecretString>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot read {variable} file {path}")]
pub struct CredentialsError {
    pub variable: &'static str,
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

impl Credentials {
    pub fn new(openai: Option<&str>, anthropic: Option<&str>) -> Self {
        Self {
            openai: openai.map(|k| SecretString::from(k.to_owned())),
            anthropic: anthropic.map(|k| SecretString::from(k.to_owned())),
        }
    }

    /// Reads `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`, or the files named by
    /// `OPENAI_API_KEY_FILE` / `ANTHROPIC_API_KEY_FILE` (a mounted secret).
    /// Binaries call this once at start-up; nothing else reads the environment.
    pub fn from_env() -> Result<Self, CredentialsError> {
        Ok(Self {
            openai: read("OPENAI_API_KEY", "OPENAI_API_KEY_FILE")?,
            anthropic: read("ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY_FILE")?,
        })
    }

    pub(crate) fn key(&self, provider: Provider) -> Result<&str, CallError> {
        let (key, variable) = match provider {
            Provider::Openai => (&self.openai, "OPENAI_API_KEY"),
            Provider::Anthropic => (&self.anthropic, "ANTHROPIC_API_KEY"),
        };
        key.as_ref().map(|k| k.expose_secret()).ok_or_else(|| {
            CallError::new(
                ErrorKind::Config,
                format!("no API key for {provider}: set {variable} or {variable}_FILE"),
            )
        })
    }
}

/// The key in `variable`, else in the file named by `file_variable`.
fn read(
    variable: &str,
    file_variable: &'static str,
) -> Result<Option<SecretString>, CredentialsError> {
    if let Some(key) = std::env::var(variable)
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        return Ok(Some(SecretString::from(key.trim().to_owned())));
    }
    let Ok(path) = std::env::var(file_variable) else {
        return Ok(None);
    };
    let key = std::fs::read_to_string(Path::new(&path)).map_err(|source| CredentialsError {
        variable: file_variable,
        path: path.clone(),
        source,
    })?;
    Ok(Some(SecretString::from(key.trim().to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_print_and_a_missing_one_says_how_to_set_it() {
        let credentials = Credentials::new(Some("sk-very-secret"), None);
        assert!(!format!("{credentials:?}").contains("sk-very-secret"));
        assert_eq!(credentials.key(Provider::Openai).unwrap(), "sk-very-secret");
        let error = credentials.key(Provider::Anthropic).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Config);
        assert!(error.message.contains("ANTHROPIC_API_KEY"));
    }
}
