//! The deployment this replica serves, and the candidate the gate is
//! rolling out beside it. Requests take a snapshot (`load`, `pick`) and
//! finish on it; the follower swaps in a new one atomically when the gate
//! enables another or moves a rollout, so a swap never fails or changes a
//! request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use prometheus::{IntCounter, IntGaugeVec, Opts, Registry};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use trizone_api::reviews::DeploymentRef;
use trizone_core::Configuration;
use trizone_http::ProbeOutcome;
use trizone_store::production::{self, Deployment};
use trizone_store::rollouts;
use uuid::Uuid;

/// What a request needs of the active deployment.
#[derive(Debug)]
pub struct Active {
    pub id: Uuid,
    pub version: i64,
    pub fingerprint: String,
    pub configuration: Configuration,
    pub since: DateTime<Utc>,
}

impl Active {
    /// The deployment as a review names it.
    pub fn deployment_ref(&self) -> DeploymentRef {
        DeploymentRef {
            id: self.id,
            version: self.version,
            fingerprint: self.fingerprint.clone(),
        }
    }
}

impl From<Deployment> for Active {
    fn from(deployment: Deployment) -> Self {
        Self {
            id: deployment.id,
            version: deployment.version,
            fingerprint: deployment.fingerprint,
            since: deployment.activated_at.unwrap_or(deployment.created_at),
            configuration: deployment.configuration,
        }
    }
}

/// A candidate in rollout: the share of requests it answers (percent,
/// per API key) and the share mirrored to it after users are answered.
#[derive(Debug)]
pub struct Candidate {
    pub deployment: Arc<Active>,
    /// The deployment it is served beside.
    pub stable_id: Uuid,
    pub share: f64,
    pub shadow_sample: f64,
}

/// Who answers one request, and whether its answer is mirrored.
#[derive(Debug, Clone)]
pub struct Pick {
    pub serving: Arc<Active>,
    pub role: Role,
    /// The candidate to mirror the request to, when it is shadowing.
    pub shadow: Option<(Arc<Active>, f64)>,
    /// For a canary: the stable deployment that answers when it fails.
    pub fallback: Option<Arc<Active>>,
}

/// Which configuration answered a request, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Stable,
    Canary,
    Shadow,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::Canary => "canary",
            Self::Shadow => "shadow",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ActiveDeployment {
    current: Arc<ArcSwapOption<Active>>,
    candidate: Arc<ArcSwapOption<Candidate>>,
    /// The database said no deployment is active anywhere: a platform
    /// before its first promotion, not a replica that lost track.
    none_promoted: Arc<AtomicBool>,
    info: IntGaugeVec,
    swaps: IntCounter,
}

impl ActiveDeployment {
    /// Registers `v2_active_deployment_info` and `v2_deployment_swaps_total`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let info = IntGaugeVec::new(
            Opts::new(
                "v2_active_deployment_info",
                "The deployment this replica serves (value 1)",
            ),
            &["version", "fingerprint"],
        )?;
        let swaps = IntCounter::new(
            "v2_deployment_swaps_total",
            "Times this replica switched to another deployment",
        )?;
        registry.register(Box::new(info.clone()))?;
        registry.register(Box::new(swaps.clone()))?;
        Ok(Self {
            current: Arc::new(ArcSwapOption::empty()),
            candidate: Arc::new(ArcSwapOption::empty()),
            none_promoted: Arc::new(AtomicBool::new(false)),
            info,
            swaps,
        })
    }

    /// The deployment to serve a request with, held for the whole request.
    pub fn load(&self) -> Option<Arc<Active>> {
        self.current.load_full()
    }

    /// The candidate in rollout, if any.
    pub fn candidate(&self) -> Option<Arc<Candidate>> {
        self.candidate.load_full()
    }

    /// Who answers a request from API key `key`: the candidate when the key
    /// is in its canary share, else the active deployment (with the
    /// candidate to mirror to while it shadows). `None` before the first
    /// promotion.
    pub fn pick(&self, key: &str) -> Option<Pick> {
        let stable = self.load()?;
        let Some(candidate) = self
            .candidate
            .load_full()
            .filter(|c| c.stable_id == stable.id)
        else {
            return Some(Pick {
                serving: stable,
                role: Role::Stable,
                shadow: None,
                fallback: None,
            });
        };
        if candidate.share > 0.0
            && trizone_core::rollout::in_canary(
                key,
                candidate.deployment.id.as_bytes(),
                candidate.share,
            )
        {
            return Some(Pick {
                serving: Arc::clone(&candidate.deployment),
                role: Role::Canary,
                shadow: None,
                fallback: Some(stable),
            });
        }
        let shadow = (candidate.shadow_sample > 0.0)
            .then(|| (Arc::clone(&candidate.deployment), candidate.shadow_sample));
        Some(Pick {
            serving: stable,
            role: Role::Stable,
            shadow,
            fallback: None,
        })
    }

    /// Follows the rollout under way: the candidate's deployment is read
    /// once, its shares on every change.
    async fn refresh_candidate(&self, db: &PgPool) -> Result<(), trizone_store::StoreError> {
        let Some(rollout) = rollouts::current(db).await? else {
            if self.candidate.swap(None).is_some() {
                tracing::info!("no rollout under way: the active deployment serves everyone");
            }
            return Ok(());
        };
        let held = self.candidate.load_full();
        let deployment = match held
            .as_ref()
            .filter(|c| c.deployment.id == rollout.deployment_id)
        {
            Some(candidate) => Arc::clone(&candidate.deployment),
            None => Arc::new(Active::from(
                production::get(db, rollout.deployment_id).await?,
            )),
        };
        let unchanged = held.as_ref().is_some_and(|c| {
            c.deployment.id == rollout.deployment_id
                && c.share == rollout.share
                && c.shadow_sample == rollout.shadow_sample
        });
        if !unchanged {
            tracing::info!(
                candidate = deployment.version,
                share = rollout.share,
                shadow_sample = rollout.shadow_sample,
                "following the rollout"
            );
            self.candidate.store(Some(Arc::new(Candidate {
                deployment,
                stable_id: rollout.stable_deployment_id,
                share: rollout.share,
                shadow_sample: rollout.shadow_sample,
            })));
        }
        Ok(())
    }

    /// Serves `deployment` from now on; true when it is a change.
    pub fn store(&self, deployment: Deployment) -> bool {
        if self.current.load().as_ref().map(|a| a.id) == Some(deployment.id) {
            return false;
        }
        let next = Arc::new(Active::from(deployment));
        self.info.reset();
        self.info
            .with_label_values(&[&next.version.to_string(), &next.fingerprint])
            .set(1);
        let previous = self.current.swap(Some(Arc::clone(&next)));
        self.swaps.inc();
        tracing::info!(
            version = next.version,
            fingerprint = %next.fingerprint,
            previous = ?previous.map(|p| p.version),
            "serving another deployment"
        );
        true
    }

    /// Reads the active pointer and the rollout, and swaps what moved. With no active
    /// deployment in the database, whatever is held stays (the pointer is
    /// never cleared, so that only happens before the first promotion).
    pub async fn refresh(&self, db: &PgPool) -> Result<(), trizone_store::StoreError> {
        match production::active(db).await? {
            Some(deployment) => {
                self.none_promoted.store(false, Ordering::Relaxed);
                self.store(deployment);
            }
            None => self.none_promoted.store(true, Ordering::Relaxed),
        }
        self.refresh_candidate(db).await
    }

    /// Follows the gate's changes until `stop`: `LISTEN`s on
    /// [`production::ACTIVE_CHANNEL`] and re-reads the pointer on every
    /// notification, after every reconnection (notifications sent while
    /// disconnected are lost) and every `poll` in any case.
    pub async fn follow(self, db: PgPool, poll: Duration, mut stop: watch::Receiver<bool>) {
        let mut listener: Option<PgListener> = None;
        let mut outage = false;
        loop {
            if listener.is_none() {
                listener = listen(&db).await;
            }
            let refreshed = self.refresh(&db).await;
            match (&refreshed, outage) {
                (Err(error), false) => {
                    tracing::warn!(%error, "cannot read the active deployment; serving the one held");
                    outage = true;
                }
                (Ok(()), true) => {
                    tracing::info!("reading the active deployment again");
                    outage = false;
                }
                _ => {}
            }
            let wait = tokio::time::sleep(poll);
            tokio::select! {
                _ = stop.changed() => return,
                () = wait => {}
                notified = next_notification(listener.as_mut()) => {
                    if !notified {
                        // The connection broke: reconnect and re-read.
                        listener = None;
                    }
                }
            }
        }
    }
}

async fn listen(db: &PgPool) -> Option<PgListener> {
    let mut listener = PgListener::connect_with(db).await.ok()?;
    listener.listen(production::ACTIVE_CHANNEL).await.ok()?;
    Some(listener)
}

/// Waits for a notification: true when one came, false when the connection
/// was lost. Without a listener it waits forever (the poll wakes us).
async fn next_notification(listener: Option<&mut PgListener>) -> bool {
    match listener {
        Some(listener) => matches!(listener.try_recv().await, Ok(Some(_))),
        None => std::future::pending().await,
    }
}

/// `/readyz` on what this replica serves. Before the first promotion of
/// all, a replica is ready: the gate smoke-tests the first candidate
/// through the same Service end users reach, which sends traffic only to
/// ready pods, so a replica waiting for a promotion to be ready would wait
/// for ever. A replica that cannot tell whether something is active (the
/// database has not answered since it started) is not ready.
#[derive(Debug, Clone)]
pub struct ActiveProbe(pub ActiveDeployment);

impl trizone_http::Probe for ActiveProbe {
    fn name(&self) -> &'static str {
        trizone_api::health::ACTIVE_DEPLOYMENT_CHECK
    }

    fn check(&self) -> BoxFuture<'_, ProbeOutcome> {
        Box::pin(async move {
            match self.0.load() {
                Some(_) => ProbeOutcome::Ready,
                None if self.0.none_promoted.load(Ordering::Relaxed) => ProbeOutcome::Degraded(
                    "no configuration is active in V2 yet: ready for the gate's smoke test of the \
                     first promotion; reviews answer 503 until it is enabled"
                        .into(),
                ),
                None => ProbeOutcome::NotReady(
                    "this replica does not know yet what is active: the database has not \
                     answered since it started"
                        .into(),
                ),
            }
        })
    }
}
