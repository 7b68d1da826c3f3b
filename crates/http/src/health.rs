//! `/healthz` (the process is up) and `/readyz` (it can do its job: the
//! database answers, plus whatever probes the zone adds).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use futures::future::BoxFuture;
use sqlx::PgPool;
use trizone_api::{CheckReport, HealthReport, HealthStatus};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A zone-specific readiness condition (V2: "it knows what to serve").
pub trait Probe: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn check(&self) -> BoxFuture<'_, ProbeOutcome>;
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    Ready,
    /// Short of its full job but worth sending traffic to: `/readyz`
    /// answers 200 `degraded` with the sentence.
    Degraded(String),
    /// Not ready, and why: `/readyz` answers 503.
    NotReady(String),
}

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Readiness {
    db: PgPool,
    probes: Vec<Arc<dyn Probe>>,
    database_required: bool,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let probes: Vec<_> = self.probes.iter().map(|p| p.name()).collect();
        f.debug_struct("Readiness")
            .field("probes", &probes)
            .finish()
    }
}

impl Readiness {
    pub fn new(db: PgPool) -> Self {
        Self {
            db,
            probes: Vec::new(),
            database_required: true,
        }
    }

    /// For a zone that keeps serving while the database is away (V2, which
    /// is fail-static): `/readyz` then answers 200 with status `degraded`
    /// and the database check's reason, so the orchestrator keeps sending
    /// it traffic instead of taking every replica out at once.
    pub fn database_optional(mut self) -> Self {
        self.database_required = false;
        self
    }

    pub fn with_probe(mut self, probe: impl Probe) -> Self {
        self.probes.push(Arc::new(probe));
        self
    }
}

/// `/healthz` and `/readyz`, open to everyone (probes carry no token).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Readiness: FromRef<S>,
{
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "Up", body = HealthReport)))]
pub async fn healthz() -> Json<HealthReport> {
    Json(HealthReport {
        status: HealthStatus::Ok,
        checks: Vec::new(),
    })
}

/// Whether the service can do its job, each check with its reason.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready, or degraded but worth sending traffic to", body = HealthReport),
        (status = 503, description = "Not ready, and why", body = HealthReport),
    ))]
pub async fn readyz(State(readiness): State<Readiness>) -> impl IntoResponse {
    let database = async {
        match tokio::time::timeout(
            PROBE_TIMEOUT,
            sqlx::query("SELECT 1").execute(&readiness.db),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err("the database is unreachable".to_owned()),
            Err(_) => Err(format!(
                "the database did not answer within {} s",
                PROBE_TIMEOUT.as_secs()
            )),
        }
    };
    let mut checks = vec![report("database", database.await)];
    let mut holding_back = false;
    for probe in &readiness.probes {
        let outcome = tokio::time::timeout(PROBE_TIMEOUT, probe.check())
            .await
            .unwrap_or_else(|_| {
                ProbeOutcome::NotReady(format!(
                    "did not answer within {} s",
                    PROBE_TIMEOUT.as_secs()
                ))
            });
        let blocking = matches!(outcome, ProbeOutcome::NotReady(_));
        let reason = match outcome {
            ProbeOutcome::Ready => Ok(()),
            ProbeOutcome::Degraded(why) | ProbeOutcome::NotReady(why) => Err(why),
        };
        checks.push(report(probe.name(), reason));
        holding_back |= blocking;
    }
    let database_blocks = !checks[0].ok && readiness.database_required;
    let (status, health) = if holding_back || database_blocks {
        (StatusCode::SERVICE_UNAVAILABLE, HealthStatus::NotReady)
    } else if checks.iter().all(|c| c.ok) {
        (StatusCode::OK, HealthStatus::Ready)
    } else {
        (StatusCode::OK, HealthStatus::Degraded)
    };
    (
        status,
        Json(HealthReport {
            status: health,
            checks,
        }),
    )
}

fn report(name: &'static str, outcome: Result<(), String>) -> CheckReport {
    CheckReport {
        name: name.to_owned(),
        ok: outcome.is_ok(),
        reason: outcome.err(),
    }
}
