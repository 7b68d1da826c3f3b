//! Records of what V2 served, written off the request path. Requests push
//! into a bounded in-memory queue; one writer task drains it in batches,
//! together with the SLO windows. While the database is away the queue
//! holds everything up to its bound (fail-static) and what would overflow
//! it is counted, never silently lost. A record leaves the queue only
//! after the transaction that wrote it committed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use sqlx::PgPool;
use tokio::sync::{Notify, watch};
use trizone_http::ProbeOutcome;
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
    failing: Mutex<Option<Failing>>,
}

/// Since when the writer's every attempt has failed, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failing {
    pub since: Instant,
    pub cause: FailureCause,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCause {
    /// No connection, or the server is shutting down or out of resources:
    /// an outage, which V2 rides out by buffering (fail-static).
    Unreachable,
    /// The database answers and refuses the write for a reason that is
    /// not one row's fault (a missing table or column after a bad upgrade,
    /// say): waiting will not fix it, a person must.
    Refused,
}

impl FailureCause {
    fn of(error: &StoreError) -> Self {
        let StoreError::Database(error) = error else {
            return Self::Refused;
        };
        let Some(db) = error.as_database_error() else {
            return Self::Unreachable;
        };
        // 08 connection exception, 53 insufficient resources, 57 operator
        // intervention (shutdown, cannot connect now), 58 system error, 40
        // transaction rollback (serialization failure, deadlock).
        match db.code().as_deref().and_then(|code| code.get(..2)) {
            Some("08" | "53" | "57" | "58" | "40") => Self::Unreachable,
            _ => Self::Refused,
        }
    }
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
            failing: Mutex::new(None),
        }
    }

    /// Since when writes have failed, if they are failing.
    pub fn failing(&self) -> Option<Failing> {
        *self.failing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_failing(&self, cause: Option<FailureCause>) {
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        *failing = match (cause, *failing) {
            (None, _) => None,
            // A new kind of failure restarts the clock.
            (Some(cause), Some(old)) if old.cause == cause => Some(old),
            (Some(cause), _) => Some(Failing {
                since: Instant::now(),
                cause,
            }),
        };
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
            let flushed = self.flush().await;
            self.recorder
                .set_failing(flushed.as_ref().err().map(FailureCause::of));
            match flushed {
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

/// `/readyz` on the writer: a replica whose records the database keeps
/// refusing (not one bad row, which is set aside, but every write) is not
/// ready, so the orchestrator and the alerts see it. An outage is not this
/// probe's: V2 rides it out, and the database check reports it.
#[derive(Debug, Clone)]
pub struct RecordsProbe {
    pub recorder: Arc<Recorder>,
    /// How long writes may be refused before the replica is not ready.
    pub patience: Duration,
}

impl trizone_http::Probe for RecordsProbe {
    fn name(&self) -> &'static str {
        trizone_api::health::RECORDS_CHECK
    }

    fn check(&self) -> BoxFuture<'_, ProbeOutcome> {
        Box::pin(async move {
            match self.recorder.failing() {
                Some(Failing {
                    since,
                    cause: FailureCause::Refused,
                }) if since.elapsed() >= self.patience => ProbeOutcome::NotReady(format!(
                    "the database has refused every write of records for {} s; {} records \
                     are waiting (see this replica's log)",
                    since.elapsed().as_secs(),
                    self.recorder.pending()
                )),
                _ => ProbeOutcome::Ready,
            }
        })
    }
}

/// The database answered and refused these rows; retrying will not help.
/// A privilege the role lacks is the operator's to fix, but every record
/// would wait behind it, so it too costs only the records it refuses.
fn is_rejection(error: &StoreError) -> bool {
    error.is_rejected_row() || matches!(error, StoreError::PermissionDenied { .. })
}
