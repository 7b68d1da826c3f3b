//! Signed-in people. A session holds the token a person pasted, their role
//! and principal (as V1 told them), and the token their forms must carry.
//! The browser holds only a random session id in an HttpOnly,
//! SameSite=Strict cookie; the token never reaches a page, a URL or a log.
//! Sessions live in this process: a restart signs everyone out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use secrecy::SecretString;
use subtle::ConstantTimeEq;
use trizone_api::auth::Me;

/// The cookie holding the session id.
pub const COOKIE: &str = "tz_session";

/// How long a session lasts without use.
const IDLE: Duration = Duration::from_secs(8 * 3600);

/// Most sessions held at once; past it, the least recently used goes.
const MAX_SESSIONS: usize = 10_000;

pub struct Session {
    pub token: SecretString,
    pub me: Me,
    /// What every form of this session carries back.
    pub csrf: String,
}

impl Session {
    /// Whether `presented` is this session's form token.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes()))
    }

    pub fn is_admin(&self) -> bool {
        self.me.role == trizone_api::auth::Role::Admin
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

struct Entry {
    session: Arc<Session>,
    used: Instant,
}

#[derive(Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// 256 random bits as hex: a session id or a form token.
fn random_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a session for `token`; returns its id, for the cookie.
    pub fn start(&self, token: SecretString, me: Me) -> String {
        let id = random_id();
        let session = Arc::new(Session {
            token,
            me,
            csrf: random_id(),
        });
        let mut sessions = self.lock();
        sessions.retain(|_, entry| entry.used.elapsed() < IDLE);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Entry {
                session,
                used: Instant::now(),
            },
        );
        id
    }

    /// The live session `id` names, if any.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        let mut sessions = self.lock();
        let entry = sessions.get_mut(id)?;
        if entry.used.elapsed() >= IDLE {
            sessions.remove(id);
            return None;
        }
        entry.used = Instant::now();
        Some(Arc::clone(&entry.session))
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_it_ends() {
        let sessions = Sessions::default();
        let me = Me {
            role: trizone_api::auth::Role::Experimenter,
            principal: "alice".into(),
        };
        let id = sessions.start("t".to_owned().into(), me);
        let session = sessions.get(&id).unwrap();
        assert_eq!(session.me.principal, "alice");
        assert!(session.csrf_matches(&session.csrf.clone()));
        assert!(!session.csrf_matches("forged"));
        assert!(!format!("{session:?}").contains("token"));
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
        assert_eq!(id.len(), 64);
    }
}
