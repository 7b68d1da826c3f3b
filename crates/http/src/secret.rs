//! Secrets from flags, the environment and mounted files: held as
//! `SecretString`, so a configuration's `Debug` (logged at start-up, shown
//! in a panic) prints `[REDACTED]` where a password or token would be.
//! clap parses a `SecretString` flag by itself (it is `From<String>`).

use std::path::Path;

use anyhow::Context;
use secrecy::SecretString;

/// A token given directly, else read from `file` (a mounted secret);
/// trimmed, since a file usually ends in a newline. `None` when neither is.
pub fn token(
    direct: Option<&SecretString>,
    file: Option<&Path>,
) -> anyhow::Result<Option<SecretString>> {
    use secrecy::ExposeSecret;
    if let Some(token) = direct {
        return Ok(Some(token.expose_secret().trim().to_owned().into()));
    }
    let Some(file) = file else {
        return Ok(None);
    };
    let token =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(Some(token.trim().to_owned().into()))
}
