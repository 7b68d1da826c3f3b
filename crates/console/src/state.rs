//! What every page handler can reach.

use std::sync::Arc;

use crate::sessions::Sessions;
use crate::zones::Zones;

#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
    pub zones: Zones,
    pub sessions: Sessions,
    /// Cookies carry `Secure`: the console is served over TLS (directly or
    /// behind a proxy that terminates it).
    pub secure_cookies: bool,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}
