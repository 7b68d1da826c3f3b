//! Bearer-token authentication with roles.
//!
//! Services never hold tokens, only their hashes (from the environment or
//! a mounted file): HMAC-SHA256 under a server secret the operator mounts,
//! or, without one, plain SHA-256 (kept for older deployments, and warned
//! about: a leaked hash or key id of a weak token can be searched offline).
//! A presented token is hashed and compared in constant time with every
//! known hash.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ApiError;

pub use trizone_api::auth::Role;

/// Who made a request. `key_id` (a prefix of the key's hash) identifies
/// the key in logs, in V2's records and for canary stickiness. `principal`
/// is the person or team the operator bound the key to (`role:hex:name`),
/// else `key-<key_id>`: what owns the experiments the key registers, and
/// what audit rows and records people read name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    pub role: Role,
    pub key_id: String,
    pub principal: String,
}

#[cfg(feature = "store")]
impl<'a> From<&'a Caller> for trizone_store::audit::Actor<'a> {
    fn from(caller: &'a Caller) -> Self {
        Self::Caller {
            role: caller.role.as_str(),
            principal: &caller.principal,
        }
    }
}

impl Caller {
    /// What the audit trail records this caller as.
    #[cfg(feature = "store")]
    pub fn actor(&self) -> trizone_store::audit::Actor<'_> {
        self.into()
    }

    /// Whether this caller may change what `owner` owns: the owner, or an admin.
    pub fn may_change(&self, owner: &str) -> bool {
        self.role == Role::Admin || self.principal == owner
    }
}

struct Key {
    role: Role,
    hash: [u8; 32],
    name: Option<String>,
}

const MAX_NAME_CHARS: usize = 64;

const ROLE_NAMES: &str = "end_user, experimenter, admin, gate, experimentation, scraper";

/// The shortest token `trizone up` accepts: without a server secret, a
/// short one falls to a search of its hash.
pub const MIN_TOKEN_CHARS: usize = 24;

/// The shortest server secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// How a presented token becomes what key entries hold.
#[derive(Clone, Default)]
enum Hashing {
    /// Plain SHA-256: searchable offline from a hash or a key id.
    #[default]
    Sha256,
    /// HMAC-SHA256 under the server's secret.
    Hmac(Arc<Hmac<Sha256>>),
}

impl Hashing {
    fn with_secret(secret: &[u8]) -> Result<Self, KeyLoadError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyLoadError::WeakSecret {
                bytes: secret.len(),
            });
        }
        // HMAC takes a key of any length; this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| KeyLoadError::WeakSecret {
            bytes: secret.len(),
        })?;
        Ok(Self::Hmac(Arc::new(mac)))
    }

    fn hash(&self, token: &str) -> [u8; 32] {
        match self {
            Self::Sha256 => Sha256::digest(token.as_bytes()).into(),
            Self::Hmac(mac) => {
                let mut mac = (**mac).clone();
                mac.update(token.as_bytes());
                mac.finalize().into_bytes().into()
            }
        }
    }
}

/// A principal's name: what an operator binds a key to.
fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b))
}

/// The keys a service accepts.
#[derive(Clone, Default)]
pub struct KeyStore {
    keys: Arc<Vec<Key>>,
    hashing: Hashing,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("keys", &self.keys.len())
            .field("salted", &matches!(self.hashing, Hashing::Hmac(_)))
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("API key entry {entry}: {problem}")]
pub struct KeySpecError {
    /// 1-based position of the entry in the specification.
    pub entry: usize,
    pub problem: String,
}

/// Why a service could not load its keys; it must not start without them.
#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error("in TRIZONE_API_KEYS: {0}")]
    Inline(#[source] KeySpecError),
    #[error("in {path}: {source}")]
    File { path: PathBuf, source: KeySpecError },
    #[error("cannot read the API keys file {path}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no API keys configured: set TRIZONE_API_KEYS or TRIZONE_API_KEYS_FILE (role:hex entries)"
    )]
    Empty,
    #[error("the API key secret is {bytes} bytes; it must be at least {MIN_SECRET_BYTES}")]
    WeakSecret { bytes: usize },
    #[error("cannot read the API key secret file {path}")]
    UnreadableSecret {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The key settings every service binary flattens into its `Config`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuthArgs {
    /// Accepted keys as `role:hex[:name]` entries (separated by
    /// newlines, commas or spaces); `name` binds a key to its owner.
    #[arg(long = "api-keys", env = "TRIZONE_API_KEYS", hide_env_values = true)]
    pub api_keys: Option<String>,
    /// A file of `role:hex[:name]` lines, e.g. a mounted Kubernetes secret.
    #[arg(long = "api-keys-file", env = "TRIZONE_API_KEYS_FILE")]
    pub api_keys_file: Option<PathBuf>,
    /// The server secret (32 bytes or more) the keys' hashes are
    /// HMAC-SHA256s under; `trizone key-entry` computes an entry.
    #[arg(
        long = "api-key-secret",
        env = "TRIZONE_API_KEY_SECRET",
        hide_env_values = true
    )]
    pub api_key_secret: Option<SecretString>,
    /// A file holding that secret, e.g. a mounted Kubernetes secret.
    #[arg(long = "api-key-secret-file", env = "TRIZONE_API_KEY_SECRET_FILE")]
    pub api_key_secret_file: Option<PathBuf>,
}

impl AuthArgs {
    /// Loads every key from both sources; no key at all is an error, so a
    /// service never starts open to anyone or closed to everyone by accident.
    pub fn load(&self) -> Result<KeyStore, KeyLoadError> {
        let mut keys = Vec::new();
        if let Some(spec) = &self.api_keys {
            keys.extend(KeyStore::parse_keys(spec).map_err(KeyLoadError::Inline)?);
        }
        if let Some(path) = &self.api_keys_file {
            keys.extend(read_key_file(path)?);
        }
        if keys.is_empty() {
            return Err(KeyLoadError::Empty);
        }
        let hashing = match self.secret()? {
            Some(secret) => Hashing::with_secret(secret.expose_secret().as_bytes())?,
            None => {
                tracing::warn!(
                    "API keys are unsalted SHA-256 hashes: a leaked hash or key id of a weak token \
                     can be searched offline; set TRIZONE_API_KEY_SECRET_FILE and HMAC entries"
                );
                Hashing::Sha256
            }
        };
        Ok(KeyStore {
            keys: Arc::new(keys),
            hashing,
        })
    }

    fn secret(&self) -> Result<Option<SecretString>, KeyLoadError> {
        if let Some(secret) = &self.api_key_secret {
            return Ok(Some(secret.expose_secret().trim().to_owned().into()));
        }
        let Some(path) = &self.api_key_secret_file else {
            return Ok(None);
        };
        let secret =
            std::fs::read_to_string(path).map_err(|source| KeyLoadError::UnreadableSecret {
                path: path.clone(),
                source,
            })?;
        Ok(Some(secret.trim().to_owned().into()))
    }
}

fn read_key_file(path: &Path) -> Result<Vec<Key>, KeyLoadError> {
    let spec = std::fs::read_to_string(path).map_err(|source| KeyLoadError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    KeyStore::parse_keys(&spec).map_err(|source| KeyLoadError::File {
        path: path.to_owned(),
        source,
    })
}

impl KeyStore {
    /// Parses `role:hex[:name]` entries separated by newlines, commas
    /// or spaces; `#` starts a comment. This is the format of
    /// `TRIZONE_API_KEYS` and of a mounted keys file. `name` binds the key
    /// to a person or team (letters, digits, `.`, `_`, `@`, `-`).
    pub fn parse(spec: &str) -> Result<Self, KeySpecError> {
        Ok(Self {
            keys: Arc::new(Self::parse_keys(spec)?),
            hashing: Hashing::Sha256,
        })
    }

    fn parse_keys(spec: &str) -> Result<Vec<Key>, KeySpecError> {
        let mut keys = Vec::new();
        let entries = spec
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default())
            .flat_map(|line| line.split([',', ' ', '\t']))
            .filter(|entry| !entry.is_empty());
        for (i, entry) in entries.enumerate() {
            let fail = |problem: String| KeySpecError {
                entry: i + 1,
                problem,
            };
            let mut parts = entry.splitn(3, ':');
            let (Some(role), Some(hash)) = (parts.next(), parts.next()) else {
                return Err(fail("expected `role:hex` or `role:hex:name`".into()));
            };
            let name = parts.next().map(str::to_owned);
            if name.as_deref().is_some_and(|n| !valid_name(n)) {
                return Err(fail(format!(
                    "a key's name is 1 to {MAX_NAME_CHARS} letters, digits, `.`, `_`, `@` or `-`"
                )));
            }
            let role = Role::parse(role).ok_or_else(|| {
                fail(if role == "service" {
                    "the `service` role is gone: it was split so that each caller holds only what it needs; give the gate a `gate` key (V2's smoke tests), V1 an `experimentation` key (reading V3 records) and Prometheus a `scraper` key".to_owned()
                } else {
                    format!("unknown role `{role}`; roles are {ROLE_NAMES}")
                })
            })?;
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hash, &mut bytes).map_err(|_| {
                fail(
                    "the hash must be 64 hexadecimal digits (`trizone key-entry` prints an entry)"
                        .into(),
                )
            })?;
            keys.push(Key {
                role,
                hash: bytes,
                name,
            });
        }
        Ok(keys)
    }

    /// Builds a store from plaintext tokens (local set-ups and tests).
    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = (Role, &'a str)>) -> Self {
        let keys = tokens
            .into_iter()
            .map(|(role, token)| Key {
                role,
                hash: hash_token(token),
                name: None,
            })
            .collect();
        Self {
            keys: Arc::new(keys),
            hashing: Hashing::Sha256,
        }
    }

    /// Builds a store from plaintext tokens, each bound to a principal.
    pub fn from_named_tokens<'a>(
        tokens: impl IntoIterator<Item = (Role, &'a str, &'a str)>,
    ) -> Self {
        let keys = tokens
            .into_iter()
            .map(|(role, name, token)| Key {
                role,
                hash: hash_token(token),
                name: Some(name.to_owned()),
            })
            .collect();
        Self {
            keys: Arc::new(keys),
            hashing: Hashing::Sha256,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The caller a token belongs to, if any. Every key is compared, in
    /// constant time, whichever matches.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let digest = self.hashing.hash(token);
        let mut found = None;
        for key in self.keys.iter() {
            if bool::from(key.hash.ct_eq(&digest)) {
                found = Some(key);
            }
        }
        found.map(|key| {
            let key_id = key_id_of(&key.hash);
            Caller {
                role: key.role,
                principal: key.name.clone().unwrap_or_else(|| format!("key-{key_id}")),
                key_id,
            }
        })
    }
}

/// The hex SHA-256 of a token: what goes into `TRIZONE_API_KEYS` for a
/// service without a secret.
pub fn token_hash_hex(token: &str) -> String {
    hex::encode(hash_token(token))
}

/// The hex HMAC-SHA256 of a token under `secret`: what goes into
/// `TRIZONE_API_KEYS` for a service given that secret.
pub fn token_hmac_hex(secret: &[u8], token: &str) -> Result<String, KeyLoadError> {
    Ok(hex::encode(Hashing::with_secret(secret)?.hash(token)))
}

/// The id a token's key is known by (in logs, records and canary
/// assignment): a prefix of its hash, which reveals nothing of the token.
pub fn key_id(token: &str) -> String {
    key_id_of(&hash_token(token))
}

fn key_id_of(hash: &[u8; 32]) -> String {
    hex::encode(&hash[..6])
}

fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Which roles an endpoint admits.
pub trait Policy: Send + Sync + 'static {
    const ALLOWED: &'static [Role];
    /// For the 403 message, e.g. "experimenter, admin".
    const DESCRIPTION: &'static str;
}

macro_rules! policy {
    ($(#[$doc:meta])* $name:ident, [$($role:ident),+], $description:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Policy for $name {
            const ALLOWED: &'static [Role] = &[$(Role::$role),+];
            const DESCRIPTION: &'static str = $description;
        }
    };
}

policy!(
    /// Any valid token.
    AnyRole, [EndUser, Experimenter, Admin, Gate, Experimentation, Scraper],
    "end_user, experimenter, admin, gate, experimentation, scraper"
);
policy!(
    /// Every role but Prometheus's, which reads `/metrics` and nothing else:
    /// the OpenAPI documents.
    People, [EndUser, Experimenter, Admin, Gate, Experimentation],
    "end_user, experimenter, admin, gate, experimentation"
);
policy!(
    /// V2 reviews.
    EndUsers, [EndUser, Admin], "end_user, admin"
);
policy!(
    /// V2's status: end users, admins, and the gate checking V2.
    StatusReaders, [EndUser, Admin, Gate], "end_user, admin, gate"
);
policy!(
    /// Registering, uploading, running, feedback in V1.
    Experimenters, [Experimenter, Admin], "experimenter, admin"
);
policy!(
    /// Gate operations, re-evaluation.
    Admins, [Admin], "admin"
);
policy!(
    /// V3's archive: the people who decide about configurations.
    ArchiveReaders, [Experimenter, Admin], "experimenter, admin"
);
policy!(
    /// One V3 record: those people, and V1 fetching it to re-evaluate it.
    RecordReaders, [Experimenter, Admin, Experimentation], "experimenter, admin, experimentation"
);
policy!(
    /// V2's smoke test: the gate, promoting.
    GateCalls, [Gate], "gate"
);
policy!(
    /// `/metrics`: Prometheus, and admins looking.
    Scrapers, [Scraper, Admin], "scraper, admin"
);

/// Extracts the caller and checks the endpoint's policy: 401 without a
/// valid token, 403 with a token of another role.
#[derive(Debug)]
pub struct Authorized<P: Policy>(pub Caller, PhantomData<P>);

impl<P: Policy> Authorized<P> {
    pub fn caller(&self) -> &Caller {
        &self.0
    }
}

impl<S, P> FromRequestParts<S> for Authorized<P>
where
    S: Send + Sync,
    P: Policy,
    KeyStore: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(ApiError::Unauthenticated)?;
        let caller = KeyStore::from_ref(state)
            .authenticate(token)
            .ok_or(ApiError::Unauthenticated)?;
        if !P::ALLOWED.contains(&caller.role) {
            return Err(ApiError::Forbidden {
                allowed: P::DESCRIPTION,
            });
        }
        tracing::Span::current().record("caller", caller.key_id.as_str());
        Ok(Self(caller, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_of_hashes_authenticates_the_matching_token() {
        let spec = format!(
            "# local keys\nadmin:{}\n experimenter:{} , end_user:{}",
            token_hash_hex("a-token"),
            token_hash_hex("e-token"),
            token_hash_hex("u-token")
        );
        let store = KeyStore::parse(&spec).unwrap();
        assert_eq!(
            store.authenticate("e-token").map(|c| c.role),
            Some(Role::Experimenter)
        );
        assert_eq!(
            store.authenticate("a-token").map(|c| c.role),
            Some(Role::Admin)
        );
        assert_eq!(store.authenticate("nope"), None);
    }

    #[test]
    fn a_service_key_says_which_roles_replaced_it() {
        let error = KeyStore::parse(&format!("service:{}", "0".repeat(64))).unwrap_err();
        let message = error.to_string();
        for role in ["`gate`", "`experimentation`", "`scraper`"] {
            assert!(message.contains(role), "{message}");
        }
    }

    #[test]
    fn bad_entries_are_named_by_position() {
        let error = KeyStore::parse(&format!("admin:{}\nroot:abcd", "0".repeat(64))).unwrap_err();
        assert_eq!(error.entry, 2);
        assert!(error.to_string().contains("unknown role `root`"));
        let error = KeyStore::parse("admin:xyz").unwrap_err();
        assert!(error.to_string().contains("64 hexadecimal digits"));
    }

    #[test]
    fn keys_load_from_the_environment_value_and_a_mounted_file_together() {
        let path = std::env::temp_dir().join(format!("trizone-keys-{}", std::process::id()));
        std::fs::write(
            &path,
            format!("# mounted secret\nscraper:{}\n", token_hash_hex("svc")),
        )
        .unwrap();
        let args = AuthArgs {
            api_keys: Some(format!("admin:{}", token_hash_hex("adm"))),
            api_keys_file: Some(path.clone()),
            ..AuthArgs::default()
        };
        let store = args.load().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            store.authenticate("svc").map(|c| c.role),
            Some(Role::Scraper)
        );
        assert_eq!(store.authenticate("adm").map(|c| c.role), Some(Role::Admin));
    }

    #[test]
    fn a_service_without_keys_or_with_an_unreadable_file_does_not_start() {
        assert!(matches!(
            AuthArgs::default().load(),
            Err(KeyLoadError::Empty)
        ));
        let missing = AuthArgs {
            api_keys: None,
            api_keys_file: Some("/nonexistent/keys".into()),
            ..AuthArgs::default()
        };
        let error = missing.load().unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot read the API keys file /nonexistent/keys"
        );
        let bad = AuthArgs {
            api_keys: Some("admin:nothex".into()),
            ..AuthArgs::default()
        };
        assert!(
            bad.load()
                .unwrap_err()
                .to_string()
                .starts_with("in TRIZONE_API_KEYS: API key entry 1")
        );
    }

    #[test]
    fn a_key_bound_to_a_name_makes_that_name_the_principal() {
        let named = format!("experimenter:{}:alice", token_hash_hex("a"));
        let unnamed = format!("experimenter:{}", token_hash_hex("b"));
        let store = KeyStore::parse(&format!("{named}\n{unnamed}")).unwrap();
        let alice = store.authenticate("a").unwrap();
        assert_eq!(alice.principal, "alice");
        assert!(alice.may_change("alice") && !alice.may_change("bob"));
        let other = store.authenticate("b").unwrap();
        assert_eq!(other.principal, format!("key-{}", other.key_id));
        let bad = format!("experimenter:{}:not a name", token_hash_hex("c"));
        assert!(KeyStore::parse(&bad).is_err());
        let admin = KeyStore::from_tokens([(Role::Admin, "z")])
            .authenticate("z")
            .unwrap();
        assert!(admin.may_change("alice"));
    }

    #[test]
    fn with_a_secret_keys_are_hmacs_and_a_bare_sha256_no_longer_opens() {
        let secret = "a-server-secret-of-at-least-32-bytes!";
        let entry = token_hmac_hex(secret.as_bytes(), "alice-token").unwrap();
        let args = |keys: String| AuthArgs {
            api_keys: Some(keys),
            api_key_secret: Some(secret.to_owned().into()),
            ..AuthArgs::default()
        };
        let store = args(format!("experimenter:{entry}:alice")).load().unwrap();
        let alice = store.authenticate("alice-token").unwrap();
        assert_eq!(alice.principal, "alice");
        // The key id is a prefix of the HMAC: nothing to search offline.
        assert_eq!(alice.key_id, entry[..12]);
        assert_ne!(alice.key_id, key_id("alice-token"));
        let plain = args(format!("experimenter:{}", token_hash_hex("alice-token")))
            .load()
            .unwrap();
        assert_eq!(plain.authenticate("alice-token"), None);
        let weak = AuthArgs {
            api_keys: Some(format!("admin:{entry}")),
            api_key_secret: Some("short".to_owned().into()),
            ..AuthArgs::default()
        };
        assert!(matches!(
            weak.load(),
            Err(KeyLoadError::WeakSecret { bytes: 5 })
        ));
        assert!(format!("{store:?}").contains("salted: true"));
    }

    #[test]
    fn key_ids_do_not_reveal_the_token_and_debug_prints_no_hash() {
        let store = KeyStore::from_tokens([(Role::Scraper, "s3cret-token")]);
        let caller = store.authenticate("s3cret-token").unwrap();
        assert_eq!(caller.key_id.len(), 12);
        assert!(!caller.key_id.contains("s3cret"));
        assert_eq!(format!("{store:?}"), "KeyStore { keys: 1, salted: false }");
    }
}
