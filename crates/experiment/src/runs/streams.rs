//! Progress streams (`GET /api/v1/runs/{id}/events`): one poller per run
//! however many watch it, a few streams per key, each for a bounded time,
//! and all of them ended when the service stops.
//!
//! Each stream used to poll the database on its own: 300 streams took it
//! from 2 to 1,200 transactions a second, and one open stream held up
//! shutdown for two minutes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::response::sse::Event;
use futures::Stream;
use tokio::sync::watch;
use trizone_http::ApiError;
use uuid::Uuid;

use super::{RunView, view};
use crate::per_key::{PerKey, Slot};
use crate::state::AppState;

/// What a run's watchers see: its latest view, or `None` once it cannot be read.
type Latest = Option<Arc<RunView>>;

#[derive(Debug, Clone, Copy)]
pub struct StreamSettings {
    /// Open streams per key at once.
    pub per_key: usize,
    /// How long one stream lasts; the client reconnects after an `expired` event.
    pub lifetime: Duration,
    /// How often a run's poller reads its progress.
    pub interval: Duration,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            per_key: 4,
            lifetime: Duration::from_secs(15 * 60),
            interval: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Streams {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: StreamSettings,
    pollers: Mutex<HashMap<Uuid, watch::Sender<Latest>>>,
    per_key: PerKey,
    closing: watch::Sender<bool>,
}

impl Streams {
    pub fn new(settings: StreamSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                pollers: Mutex::new(HashMap::new()),
                per_key: PerKey::new(settings.per_key),
                closing: watch::channel(false).0,
            }),
        }
    }

    /// Ends every open stream, with a `closing` event: the service is stopping.
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Runs being polled now (for tests and metrics).
    pub fn pollers(&self) -> usize {
        self.lock_pollers().len()
    }

    fn lock_pollers(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, watch::Sender<Latest>>> {
        self.inner
            .pollers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The run's shared progress, starting its poller if nobody watches it yet.
    fn watch(&self, state: &AppState, id: Uuid, first: RunView) -> watch::Receiver<Latest> {
        let mut pollers = self.lock_pollers();
        if let Some(sender) = pollers.get(&id) {
            return sender.subscribe();
        }
        let (sender, receiver) = watch::channel(Some(Arc::new(first)));
        pollers.insert(id, sender.clone());
        let (streams, state) = (self.clone(), state.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(streams.inner.settings.interval).await;
                {
                    // Checked under the lock a new watcher takes, so none
                    // subscribes to a poller that is leaving.
                    let mut pollers = streams.lock_pollers();
                    if sender.receiver_count() == 0 {
                        pollers.remove(&id);
                        return;
                    }
                }
                let latest = view(&state, id).await.ok().map(Arc::new);
                let over = latest.as_ref().is_none_or(|v| v.is_over());
                sender.send_replace(latest);
                if over {
                    streams.lock_pollers().remove(&id);
                    return;
                }
            }
        });
        receiver
    }

    /// Events for `id` as `key` watches them: `progress` while the run goes
    /// on, then `end`; or `expired`, `closing` or `error`.
    pub fn events(
        &self,
        state: &AppState,
        key: &str,
        id: Uuid,
        first: RunView,
    ) -> Result<impl Stream<Item = Result<Event, std::convert::Infallible>> + use<>, ApiError> {
        let slot = self.inner.per_key.admit(key)?;
        let progress = self.watch(state, id, first);
        let deadline = tokio::time::Instant::now() + self.inner.settings.lifetime;
        let closing = self.inner.closing.subscribe();
        let start = Step {
            progress,
            closing,
            first: true,
            ended: false,
            _slot: slot,
        };
        Ok(futures::stream::unfold(start, move |mut step| async move {
            if step.ended {
                return None;
            }
            if *step.closing.borrow() {
                step.ended = true;
                return Some((
                    Ok(Event::default()
                        .event("closing")
                        .data("the service is stopping; reconnect")),
                    step,
                ));
            }
            if !std::mem::take(&mut step.first) {
                tokio::select! {
                    changed = step.progress.changed() => {
                        if changed.is_err() {
                            step.ended = true;
                            return Some((Ok(Event::default().event("error").data("progress is unavailable")), step));
                        }
                    }
                    () = tokio::time::sleep_until(deadline) => {
                        step.ended = true;
                        return Some((Ok(Event::default().event("expired").data("this stream has lasted its time; reconnect")), step));
                    }
                    _ = step.closing.changed() => {
                        step.ended = true;
                        return Some((Ok(Event::default().event("closing").data("the service is stopping; reconnect")), step));
                    }
                }
            }
            let latest = step.progress.borrow_and_update().clone();
            let Some(current) = latest else {
                step.ended = true;
                return Some((
                    Ok(Event::default()
                        .event("error")
                        .data("progress is unavailable")),
                    step,
                ));
            };
            step.ended = current.is_over();
            let name = if step.ended { "end" } else { "progress" };
            let event = Event::default()
                .event(name)
                .json_data(&*current)
                .unwrap_or_else(|_| Event::default().event(name));
            Some((Ok(event), step))
        }))
    }
}

struct Step {
    progress: watch::Receiver<Latest>,
    closing: watch::Receiver<bool>,
    first: bool,
    ended: bool,
    _slot: Slot,
}
