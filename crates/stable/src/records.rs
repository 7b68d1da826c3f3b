//! Records of what V2 served, written off the request path. Requests push
//! into a bounded in-memory queue; one writer task drains it in batches,
//! together with the SLO windows. While the database is away the queue
//! holds everything up to its bound (fail-static) and what would overflow
//! it is counted, never silently lost. A record leaves the queue only
//! after the transaction that wrote it committed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, watch};
use trizone_store::StoreError;
use trizone_store::reviews::{self, FeedbackRecord, ReviewRecord};
use trizone_store::rollouts::{self, ShadowRecord};
use uuid::Uuid;

use crate::metrics::V2Metrics;
use crate::slo::{SloBook, Snapshot};

#[derive(Debug, Clone)]
pub enum Record {
    Review(Box<ReviewRecord>),
    Feedback(FeedbackRecord),
    /// A candidate's answer to a mirrored request: kept apart from reviews.
    Shadow(Box<ShadowRecord>),
}

#[derive(Debug)]
pub struct Recorder {
    queue: Mutex<VecDeque<Arc<Record>>>,
    capacity: usize,
    batch: usize,
    wake: Notify,
    metrics: V2Metrics,
}

/// The queue was full: the record was dropped (and counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped;

impl Recorder {
    pub fn new(capacity: usize, batch: usize, metrics: V2Metrics) -> Self {
        Self {
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            batch: batch.max(1),
            wake: Notify::new(),
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Record>>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `record` for writing.
    pub fn push(&self, record: Record) -> Result<(), Dropped> {
        let len = {
            let mut queue = self.lock();
            if queue.len() >= self.capacity {
                drop(queue);
                self.metrics
                    .records_dropped
                    .with_label_values(&["buffer_full"])
                    .inc();
                tracing::error!(
                    capacity = self.capacity,
                    "record buffer full: a record was dropped"
                );
                return Err(Dropped);
            }
            queue.push_back(Arc::new(record));
            queue.len()
        };
        self.metrics.records_pending.set(gauge(len));
        if len >= self.batch {
            self.wake.notify_one();
        }
        Ok(())
    }

    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// A review still waiting to be written.
    pub fn find_review(&self, id: Uuid) -> Option<ReviewRecord> {
        self.lock().iter().rev().find_map(|record| match &**record {
            Record::Review(record) if record.review.id == id => Some((**record).clone()),
            _ => None,
        })
    }

    /// Feedback on `review_id` still waiting to be written.
    pub fn find_feedback(&self, review_id: Uuid) -> Vec<FeedbackRecord> {
        self.lock()
            .iter()
            .filter_map(|record| match &**record {
                Record::Feedback(feedback) if feedback.review_id == review_id => {
                    Some(feedback.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// The oldest records, up to a batch; they stay queued until `commit`.
    fn peek(&self) -> Vec<Arc<Record>> {
        self.lock().iter().take(self.batch).cloned().collect()
    }

    /// Removes the `n` oldest records: they are written. Only the writer
    /// removes from the front, so they are the ones it peeked.
    fn commit(&self, n: usize) {
        let len = {
            let mut queue = self.lock();
            let n = n.min(queue.len());
            queue.drain(..n);
            queue.len()
        };
        self.metrics.records_pending.set(gauge(len));
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The task that writes records and SLO windows.
#[derive(Debug)]
pub struct Writer {
    pub db: PgPool,
    pub recorder: Arc<Recorder>,
    pub slo: Arc<SloBook>,
    pub metrics: V2Metrics,
    pub interval: Duration,
}

/// Longest pause between attempts while the database is away.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long shutdown waits for the last records to be written.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

impl Writer {
    /// Writes until `stop`, then drains what it can within a deadline and
    /// counts the rest as dropped.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut pause = self.interval;
        let mut outage = false;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                () = tokio::time::sleep(pause) => {}
                () = self.recorder.wake.notified() => {}
            }
            match self.flush().await {
                Ok(()) => {
                    if outage {
                        tracing::info!("the database is back: buffered records written");
                        outage = false;
                    }
                    pause = self.interval;
                }
                Err(error) => {
                    if !outage {
                        tracing::warn!(
                            %error,
                            pending = self.recorder.pending(),
                            "cannot write records; buffering them and serving on"
                        );
                        outage = true;
                    }
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
            }
        }
        self.drain().await;
    }

    async fn drain(&self) {
        let deadline = tokio::time::Instant::now() + DRAIN_DEADLINE;
        self.slo
            .rotate(chrono::Utc::now() + chrono::Duration::days(1));
        while self.recorder.pending() > 0 || !self.slo.unwritten().windows.is_empty() {
            if tokio::time::Instant::now() >= deadline || self.flush().await.is_err() {
                let lost = self.recorder.pending();
                if lost > 0 {
                    self.metrics
                        .records_dropped
                        .with_label_values(&["shutdown"])
                        .inc_by(lost as u64);
                    tracing::error!(lost, "stopping with records the database did not take");
                }
                return;
            }
        }
    }

    /// Writes everything pending, a batch per transaction.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.slo.rotate(chrono::Utc::now());
        let mut windows = self.slo.unwritten();
        loop {
            let batch = self.recorder.peek();
            if batch.is_empty() && windows.windows.is_empty() {
                self.metrics.database_available.set(1);
                return Ok(());
            }
            let written = match self.write(&batch, &windows).await {
                Err(error) if is_rejection(&error) => self.write_singly(&batch, &windows).await,
                other => other,
            };
            if let Err(error) = written {
                self.metrics.database_available.set(0);
                return Err(error);
            }
            self.recorder.commit(batch.len());
            self.slo.written(&windows);
            self.metrics.database_available.set(1);
            windows = Snapshot::default();
        }
    }

    async fn write(&self, batch: &[Arc<Record>], windows: &Snapshot) -> Result<(), StoreError> {
        let (reviews, feedback, shadows) = split(batch);
        let mut tx = self.db.begin().await?;
        let mut written = reviews::write_batch(&mut tx, &reviews, &feedback).await?;
        if !shadows.is_empty() {
            written += rollouts::write_shadow(&mut *tx, &shadows).await?;
        }
        trizone_store::slo::upsert(&mut tx, &windows.windows.iter().collect::<Vec<_>>()).await?;
        tx.commit().await?;
        self.metrics.records_written.inc_by(written);
        Ok(())
    }

    /// A batch the database refused: write its records singly, then the
    /// windows, so one bad row costs only itself; count what is refused.
    async fn write_singly(
        &self,
        batch: &[Arc<Record>],
        windows: &Snapshot,
    ) -> Result<(), StoreError> {
        let none = Snapshot::default();
        let parts = batch
            .iter()
            .map(|record| (std::slice::from_ref(record), &none))
            .chain(std::iter::once((&[][..], windows)));
        for (records, windows) in parts {
            match self.write(records, windows).await {
                Err(error) if is_rejection(&error) => {
                    tracing::error!(%error, "the database refused a record; it is dropped");
                    self.metrics
                        .records_dropped
                        .with_label_values(&["rejected"])
                        .inc();
                }
                other => other?,
            }
        }
        Ok(())
    }
}

type Split<'a> = (
    Vec<&'a ReviewRecord>,
    Vec<&'a FeedbackRecord>,
    Vec<&'a ShadowRecord>,
);

fn split(batch: &[Arc<Record>]) -> Split<'_> {
    let (mut reviews, mut feedback, mut shadows) = (Vec::new(), Vec::new(), Vec::new());
    for record in batch {
        match &**record {
            Record::Review(record) => reviews.push(&**record),
            Record::Feedback(f) => feedback.push(f),
            Record::Shadow(record) => shadows.push(&**record),
        }
    }
    (reviews, feedback, shadows)
}

/// The database answered and refused these rows; retrying will not help.
fn is_rejection(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::Constraint { .. } | StoreError::PermissionDenied { .. }
    )
}
