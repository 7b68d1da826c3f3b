//! The local session: where `trizone up` is listening and the tokens it
//! accepts, kept in a file only its user can read, so the commands in
//! another terminal find the platform without copying tokens around.
//! Flags and environment variables always win over it.

use std::collections::BTreeMap;
#[cfg(feature = "local")]
use std::io::Write;
use std::path::PathBuf;

#[cfg(feature = "local")]
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
    /// Every local end user's token (`tokens.end_user` among them), so a
    /// canary share has users to take.
    #[serde(default)]
    pub end_users: Vec<String>,
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
    #[cfg(feature = "local")]
    pub fn save(&self) -> anyhow::Result<PathBuf> {
        let path = path().context("no place for the session file: set TRIZONE_SESSION_FILE")?;
        self.save_to(&path)?;
        Ok(path)
    }

    /// Writes a new file beside `path` and renames it over `path`. Opening
    /// `path` itself would keep the mode of a file already there (0644 stays
    /// readable by all) and follow a symlink planted in its place; a fresh
    /// file, created exclusively with mode 0600, does neither, and the rename
    /// replaces the link rather than its target.
    #[cfg(feature = "local")]
    fn save_to(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let fresh = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&fresh);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&fresh)
            .and_then(|mut file| {
                file.write_all(serde_json::to_string_pretty(self)?.as_bytes())?;
                file.sync_all()
            })
            .and_then(|()| std::fs::rename(&fresh, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&fresh);
        }
        written.with_context(|| format!("cannot write {}", path.display()))
    }

    /// Removes the file if it is still this session's: a second platform
    /// started since owns it now.
    #[cfg(feature = "local")]
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

#[cfg(all(test, unix, feature = "local"))]
#[expect(clippy::unwrap_used, reason = "a test fails loudly when set-up breaks")]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn session() -> Session {
        Session {
            v1_url: "http://v1".into(),
            v2_url: "http://v2".into(),
            v3_url: "http://v3".into(),
            gate_url: "http://gate".into(),
            sim_url: "http://sim".into(),
            tokens: [("admin".to_owned(), "secret-admin-token".to_owned())].into(),
            end_users: vec!["secret-end-user-token".to_owned()],
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("trizone-session-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_session_file_left_readable_by_all_is_replaced_by_one_only_its_user_reads() {
        let dir = temp_dir("mode");
        let path = dir.join("session.json");
        std::fs::write(&path, "{}").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        session().save_to(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let saved: Session =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved, session());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_symlink_in_place_of_the_session_file_is_not_followed() {
        let dir = temp_dir("link");
        let victim = dir.join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        let path = dir.join("session.json");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        session().save_to(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        assert!(
            !std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
