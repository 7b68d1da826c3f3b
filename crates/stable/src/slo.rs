//! This replica's SLO windows: per deployment, request and error counts
//! and a latency histogram per aligned window. The writer persists each
//! window's whole state, so rewriting one is harmless; a closed window is
//! kept serialized (a few hundred bytes) until written, so an outage costs
//! little memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, TimeZone, Utc};
use prometheus::IntCounterVec;
use trizone_core::Slo;
use trizone_store::LatencyHistogram;
use trizone_store::slo::{self, SloWindow, WindowStats};
use uuid::Uuid;

use crate::metrics::V2Metrics;

/// Closed windows kept while the database is away (a day of one-minute
/// windows for a few deployments); older ones are dropped and counted.
const MAX_CLOSED: usize = 10_000;

/// Closed windows kept after they were written, so this replica's own view
/// (`/api/v2/status` while the database is slow or away) still covers the
/// recent period: an hour of one-minute windows for one deployment.
const MAX_RECENT: usize = 64;

#[derive(Debug)]
pub struct SloBook {
    replica: String,
    window_seconds: u32,
    slo: Slo,
    inner: Mutex<Book>,
    violations: IntCounterVec,
    dropped: IntCounterVec,
}

#[derive(Debug, Default)]
struct Book {
    live: HashMap<Uuid, Live>,
    closed: VecDeque<SloWindow>,
    /// Closed and written, newest last.
    recent: VecDeque<SloWindow>,
}

#[derive(Debug)]
struct Live {
    start: DateTime<Utc>,
    requests: i64,
    errors: i64,
    latency: LatencyHistogram,
    /// `requests` when this window was last written.
    written: i64,
}

/// What a write took, to mark as written once it committed.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub windows: Vec<SloWindow>,
    closed: usize,
}

impl SloBook {
    pub fn new(replica: String, window_seconds: u32, metrics: &V2Metrics) -> Self {
        Self {
            replica,
            window_seconds: window_seconds.max(1),
            slo: Slo::default(),
            inner: Mutex::new(Book::default()),
            violations: metrics.slo_violations.clone(),
            dropped: metrics.records_dropped.clone(),
        }
    }

    pub fn window_seconds(&self) -> u32 {
        self.window_seconds
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The start of the window holding `at`, aligned to the epoch so every
    /// replica's windows line up.
    pub fn window_start(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let seconds = at.timestamp();
        let start = seconds - seconds.rem_euclid(i64::from(self.window_seconds));
        Utc.timestamp_opt(start, 0).single().unwrap_or(at)
    }

    /// Counts one answered review request.
    pub fn observe(&self, deployment: Uuid, at: DateTime<Utc>, latency_ms: f64, error: bool) {
        let start = self.window_start(at);
        let mut book = self.lock();
        let book = &mut *book;
        let live = book
            .live
            .entry(deployment)
            .or_insert_with(|| Live::new(start));
        if live.start < start {
            let finished = std::mem::replace(live, Live::new(start));
            self.close(&mut book.closed, deployment, finished);
        }
        live.requests += 1;
        live.errors += i64::from(error);
        live.latency.record_ms(latency_ms);
    }

    /// Closes every window that ended before `now`.
    pub fn rotate(&self, now: DateTime<Utc>) {
        let current = self.window_start(now);
        let mut book = self.lock();
        let book = &mut *book;
        let ended: Vec<Uuid> = book
            .live
            .iter()
            .filter(|(_, live)| live.start < current)
            .map(|(id, _)| *id)
            .collect();
        for deployment in ended {
            if let Some(live) = book.live.remove(&deployment) {
                self.close(&mut book.closed, deployment, live);
            }
        }
    }

    fn close(&self, closed: &mut VecDeque<SloWindow>, deployment: Uuid, live: Live) {
        let p95 = live.latency.quantile_ms(0.95);
        let breaches = self.slo.breaches(live.requests, live.errors, p95);
        if breaches.latency_p95 {
            self.violations.with_label_values(&["latency_p95"]).inc();
        }
        if breaches.error_rate {
            self.violations.with_label_values(&["error_rate"]).inc();
        }
        if live.written == live.requests {
            return;
        }
        if closed.len() >= MAX_CLOSED {
            closed.pop_front();
            self.dropped
                .with_label_values(&["slo_window_overflow"])
                .inc();
        }
        closed.push_back(self.window(deployment, &live));
    }

    fn window(&self, deployment: Uuid, live: &Live) -> SloWindow {
        SloWindow {
            deployment_id: deployment,
            replica: self.replica.clone(),
            window_start: live.start,
            window_seconds: i32::try_from(self.window_seconds).unwrap_or(i32::MAX),
            requests: live.requests,
            errors: live.errors,
            latency_histogram: live.latency.to_bytes(),
            latency_p95_ms: live.latency.quantile_ms(0.95),
        }
    }

    /// Every window with something unwritten: the closed ones, then the
    /// open ones that changed since their last write.
    pub fn unwritten(&self) -> Snapshot {
        let book = self.lock();
        let mut windows: Vec<SloWindow> = book.closed.iter().cloned().collect();
        let closed = windows.len();
        for (deployment, live) in &book.live {
            if live.requests != live.written {
                windows.push(self.window(*deployment, live));
            }
        }
        Snapshot { windows, closed }
    }

    /// Marks what `snapshot` held as written.
    pub fn written(&self, snapshot: &Snapshot) {
        let mut book = self.lock();
        for _ in 0..snapshot.closed {
            if let Some(window) = book.closed.pop_front() {
                if book.recent.len() >= MAX_RECENT {
                    book.recent.pop_front();
                }
                book.recent.push_back(window);
            }
        }
        for window in &snapshot.windows[snapshot.closed..] {
            if let Some(live) = book.live.get_mut(&window.deployment_id)
                && live.start == window.window_start
            {
                live.written = window.requests;
            }
        }
    }

    /// This replica's windows of `deployment` (for `/api/v2/status` while
    /// the database is away), written or not, oldest first.
    pub fn local_windows(&self, deployment: Uuid) -> Vec<WindowStats> {
        let book = self.lock();
        let mut windows: Vec<WindowStats> = book
            .recent
            .iter()
            .chain(&book.closed)
            .filter(|w| w.deployment_id == deployment)
            .map(|w| WindowStats {
                window_start: w.window_start,
                window_seconds: w.window_seconds,
                requests: w.requests,
                errors: w.errors,
                error_rate: slo::error_rate(w.errors, w.requests),
                latency_p95_ms: w.latency_p95_ms,
            })
            .collect();
        if let Some(live) = book.live.get(&deployment) {
            windows.push(WindowStats::new(
                live.start,
                i32::try_from(self.window_seconds).unwrap_or(i32::MAX),
                live.requests,
                live.errors,
                &live.latency,
            ));
        }
        windows
    }
}

impl Live {
    fn new(start: DateTime<Utc>) -> Self {
        Self {
            start,
            requests: 0,
            errors: 0,
            latency: LatencyHistogram::new(),
            written: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(window_seconds: u32) -> (SloBook, V2Metrics) {
        let metrics = V2Metrics::new(&prometheus::Registry::new()).unwrap();
        (SloBook::new("r1".into(), window_seconds, &metrics), metrics)
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn windows_align_to_the_epoch() {
        let (book, _) = book(60);
        let start = book.window_start(at(61));
        assert_eq!(start.timestamp() % 60, 0);
        assert!(start <= at(61) && at(61) < start + chrono::Duration::seconds(60));
    }

    #[test]
    fn a_window_is_written_until_marked_and_again_when_it_changes() {
        let (book, _) = book(60);
        let deployment = Uuid::new_v4();
        book.observe(deployment, at(0), 10.0, false);
        let first = book.unwritten();
        assert_eq!(first.windows.len(), 1);
        assert_eq!(first.windows[0].requests, 1);
        book.observe(deployment, at(1), 10.0, true);
        book.written(&first);
        // The second request arrived after the snapshot: still unwritten.
        let second = book.unwritten();
        assert_eq!(second.windows[0].requests, 2);
        assert_eq!(second.windows[0].errors, 1);
        book.written(&second);
        assert!(book.unwritten().windows.is_empty());
    }

    #[test]
    fn this_replicas_view_keeps_windows_already_written() {
        let (book, _) = book(60);
        let deployment = Uuid::new_v4();
        book.observe(deployment, at(0), 10.0, true);
        // The next request opens a new window and closes the first.
        book.observe(deployment, at(61), 10.0, true);
        book.written(&book.unwritten());
        assert!(book.unwritten().windows.is_empty());
        let local = book.local_windows(deployment);
        let errors: Vec<i64> = local.iter().map(|w| w.errors).collect();
        assert_eq!(
            errors,
            [1, 1],
            "a written window vanished from the local view"
        );
    }

    #[test]
    fn closing_a_breaching_window_counts_each_broken_slo_once() {
        let (book, metrics) = book(60);
        let deployment = Uuid::new_v4();
        for i in 0..50 {
            book.observe(deployment, at(i % 60), 3500.0, i % 10 == 0);
        }
        book.rotate(at(120));
        let count = |slo| metrics.slo_violations.with_label_values(&[slo]).get();
        assert_eq!((count("latency_p95"), count("error_rate")), (1, 1));
        // The closed window waits, serialized, for its write.
        let snapshot = book.unwritten();
        assert_eq!(snapshot.windows.len(), 1);
        assert_eq!(snapshot.windows[0].requests, 50);
        book.written(&snapshot);
        book.rotate(at(240));
        assert_eq!((count("latency_p95"), count("error_rate")), (1, 1));
        assert!(book.unwritten().windows.is_empty());
    }
}
