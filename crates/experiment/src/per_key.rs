//! At most so many of one kind of request open per key at once: progress
//! streams, dataset uploads. Past that, 429: one key cannot hold all of a
//! zone's connections or database pool.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use trizone_http::ApiError;

#[derive(Debug, Clone)]
pub struct PerKey {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    max: usize,
    open: Mutex<HashMap<String, usize>>,
}

/// One admitted request of a key; gives its place back when dropped.
#[derive(Debug)]
pub struct Slot {
    inner: Arc<Inner>,
    key: String,
}

impl PerKey {
    pub fn new(max: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max: max.max(1),
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A place for `key`, or 429 when it already has `max` open.
    pub fn admit(&self, key: &str) -> Result<Slot, ApiError> {
        let mut open = self.inner.lock();
        let count = open.entry(key.to_owned()).or_default();
        if *count >= self.inner.max {
            return Err(ApiError::RateLimited { retry_after_s: 5 });
        }
        *count += 1;
        Ok(Slot {
            inner: self.inner.clone(),
            key: key.to_owned(),
        })
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.inner.lock();
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}
