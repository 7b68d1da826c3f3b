//! Shadow traffic. While a candidate shadows, a sample of live requests is
//! mirrored to it once the user has been answered by the active
//! deployment, so a shadow call never delays or changes an answer.
//! Mirroring has its own bounded queue and concurrency: a sampled request
//! that does not fit is dropped and counted, so shadow work cannot starve
//! users' requests. Shadow answers are recorded apart from reviews.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use trizone_api::reviews::ReviewRequest;
use trizone_api::states::ReviewOutcome;
use trizone_core::{ExpectedFinding, Finding, MatchPolicy, score_case};
use trizone_router::ReviewInput;
use trizone_store::rollouts::ShadowRecord;
use uuid::Uuid;

use crate::active::{Active, Role};
use crate::records::Record;
use crate::state::AppState;

/// How much shadow work a replica takes on.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ShadowSettings {
    /// Mirrored requests waiting for the candidate; more are dropped and
    /// counted (`v2_shadow_dropped_total`).
    #[arg(
        long = "shadow-queue",
        env = "TRIZONE_V2_SHADOW_QUEUE",
        default_value_t = 256
    )]
    pub queue: usize,
    /// Mirrored requests the candidate is asked at once.
    #[arg(
        long = "shadow-concurrency",
        env = "TRIZONE_V2_SHADOW_CONCURRENCY",
        default_value_t = 4
    )]
    pub concurrency: usize,
}

impl Default for ShadowSettings {
    fn default() -> Self {
        Self {
            queue: 256,
            concurrency: 4,
        }
    }
}

/// A request to mirror, with the stable answer its user got.
#[derive(Debug)]
pub struct ShadowJob {
    pub candidate: Arc<Active>,
    pub stable_id: Uuid,
    pub review_id: Uuid,
    pub request: ReviewRequest,
    pub stable_outcome: ReviewOutcome,
    pub stable_findings: Vec<Finding>,
    pub stable_latency_ms: f64,
    pub stable_cost_usd: f64,
}

#[derive(Debug)]
pub struct Shadow {
    sender: mpsc::Sender<ShadowJob>,
    /// Taken by the one task that works the queue.
    receiver: Mutex<Option<mpsc::Receiver<ShadowJob>>>,
    concurrency: usize,
}

impl Shadow {
    pub fn new(settings: ShadowSettings) -> Self {
        let (sender, receiver) = mpsc::channel(settings.queue.max(1));
        Self {
            sender,
            receiver: Mutex::new(Some(receiver)),
            concurrency: settings.concurrency.max(1),
        }
    }

    /// Whether review `id` falls in a `sample` share of requests, read from
    /// the random bits of its id (the last 32 of a v7 id are random; its
    /// first ones are the time): independent of the user and the code.
    pub fn sampled(id: Uuid, sample: f64) -> bool {
        let bytes = id.as_bytes();
        let bucket = u16::from_be_bytes([bytes[14], bytes[15]]) % 10_000;
        f64::from(bucket) < sample * 10_000.0
    }

    /// Queues `job`, or drops and counts it when the queue is full.
    pub fn offer(&self, state: &AppState, job: ShadowJob) {
        if self.sender.try_send(job).is_err() {
            state
                .metrics
                .shadow_dropped
                .with_label_values(&["queue_full"])
                .inc();
        }
    }

    /// Works the queue until `stop`, at most `concurrency` calls at once;
    /// calls in flight at the stop are abandoned (nobody waits for them).
    pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
        let taken = state
            .shadow
            .receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(mut receiver) = taken else {
            return;
        };
        let permits = Arc::new(Semaphore::new(state.shadow.concurrency));
        let mut calls = JoinSet::new();
        loop {
            let job = tokio::select! {
                _ = stop.changed() => break,
                job = receiver.recv() => job,
            };
            let Some(job) = job else { break };
            // Waiting here leaves jobs in the queue, which then fills and drops.
            let permit = tokio::select! {
                _ = stop.changed() => break,
                permit = Arc::clone(&permits).acquire_owned() => permit,
            };
            let Ok(permit) = permit else { break };
            let state = state.clone();
            calls.spawn(async move {
                mirror(&state, job).await;
                drop(permit);
            });
            while calls.try_join_next().is_some() {}
        }
        calls.abort_all();
    }
}

/// Asks the candidate, and records its answer beside the stable one.
async fn mirror(state: &AppState, job: ShadowJob) {
    let created_at = Utc::now();
    let input = ReviewInput {
        code: &job.request.code,
        language: job.request.language.as_str(),
        path: job.request.path.as_deref().unwrap_or(""),
    };
    let reviewed = state
        .models
        .review(&job.candidate.configuration, input)
        .await;
    let usage = reviewed.usage;
    let (outcome, error_kind, findings) = match reviewed.result {
        Ok(review) => (ReviewOutcome::Ok, None, review.findings),
        Err(error) => (ReviewOutcome::Error, Some(error.kind), Vec::new()),
    };
    crate::serving::observe_role(state, Role::Shadow, outcome, usage.latency_ms);
    let agrees =
        (outcome == ReviewOutcome::Ok && job.stable_outcome == ReviewOutcome::Ok).then(|| {
            let found: Vec<Finding> = findings.iter().map(|f| f.finding.clone()).collect();
            agree(&job.stable_findings, &found)
        });
    let record = ShadowRecord {
        id: Uuid::now_v7(),
        deployment_id: job.candidate.id,
        stable_deployment_id: job.stable_id,
        review_id: job.review_id,
        outcome,
        error_kind,
        findings,
        latency_ms: usage.latency_ms,
        cost_usd: usage.cost_usd,
        stable_outcome: job.stable_outcome,
        stable_latency_ms: job.stable_latency_ms,
        stable_cost_usd: job.stable_cost_usd,
        agrees,
        created_at,
    };
    // A full buffer is counted by the recorder.
    let _ = state.recorder.push(Record::Shadow(Box::new(record)));
}

/// Whether two answers find the same problems, matched as V1 matches a
/// model's findings to a case's: the stable findings stand for the
/// expected ones.
pub fn agree(stable: &[Finding], candidate: &[Finding]) -> bool {
    let expected: Vec<ExpectedFinding> = stable
        .iter()
        .map(|f| ExpectedFinding {
            line_start: f.line_start,
            line_end: f.line_end,
            category: f.category.clone(),
            description: String::new(),
        })
        .collect();
    score_case(&expected, candidate, MatchPolicy::default()).correct()
}

#[cfg(test)]
mod tests {
    use super::*;
    use trizone_core::Severity;

    fn finding(line: u32) -> Finding {
        Finding {
            line_start: line,
            line_end: line,
            severity: Severity::High,
            category: "security".into(),
            message: "m".into(),
        }
    }

    #[test]
    fn answers_agree_when_their_findings_match_one_to_one() {
        assert!(agree(&[], &[]));
        assert!(agree(&[finding(3)], &[finding(4)]));
        assert!(!agree(&[finding(3)], &[]));
        assert!(!agree(&[], &[finding(3)]));
        assert!(!agree(&[finding(3)], &[finding(30)]));
    }

    #[test]
    fn a_sample_takes_its_share_of_review_ids() {
        // Review ids made in a burst share their time bits.
        let sampled = (0..20_000)
            .filter(|_| Shadow::sampled(Uuid::now_v7(), 0.1))
            .count();
        assert!((1_600..2_400).contains(&sampled), "{sampled}");
        assert!(!Shadow::sampled(Uuid::now_v7(), 0.0));
        assert!(Shadow::sampled(Uuid::now_v7(), 1.0));
    }
}
