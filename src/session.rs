//! The local session: where `trizone up` is listening and the tokens it
//! accepts, kept in a file only its user can read, so the commands in
//! another terminal find the platform without copying tokens around.
//! Flags and environment variables always win over it.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub v1_url: String,
    /// The first V2 replica.
    pub v2_url: String,
    pub v3_url: String,
    /// The first gate replica.
    pub gate_url: String,
    pub sim_url: String,
    /// By role name (`admin`, `end_user`, ...).
    pub tokens: BTreeMap<String, String>,
}

/// `TRIZONE_SESSION_FILE`, else `$XDG_STATE_HOME/trizone/session.json`,
/// else `~/.local/state/trizone/session.json`.
pub fn path() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("TRIZONE_SESSION_FILE").filter(|f| !f.is_empty()) {
        return Some(file.into());
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("trizone/session.json"))
}

impl Session {
    /// The running platform's session, if one was written and is readable.
    pub fn load() -> Option<Self> {
        let text = std::fs::read_to_string(path()?).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the file readable by this user only (it holds tokens).
    pub fn save(&self) -> anyhow::Result<PathBuf> {
        let path = path().context("no place for the session file: set TRIZONE_SESSION_FILE")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        file.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
        Ok(path)
    }

    /// Removes the file if it is still this session's: a second platform
    /// started since owns it now.
    pub fn remove(&self) {
        if Self::load().as_ref() == Some(self)
            && let Some(path) = path()
        {
            let _ = std::fs::remove_file(path);
        }
    }

    pub fn token(&self, role: &str) -> Option<&str> {
        self.tokens.get(role).map(String::as_str)
    }
}
