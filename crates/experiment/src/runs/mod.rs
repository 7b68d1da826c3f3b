//! Evaluation runs: starting, watching and cancelling them. The work itself
//! is done by [`worker::Worker`] on whichever replica holds the run's lease.

pub mod cases;
pub mod ending;
pub mod order;
pub mod streams;
pub mod worker;

use std::convert::Infallible;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use sqlx::PgConnection;
use trizone_core::{ExperimentStatus, Mover, Verdict};
use trizone_http::auth::Experimenters;
use trizone_http::{ApiError, Authorized, Caller, Json, Path};
use trizone_store::audit::{self, AuditAction, NewEvent};
use trizone_store::datasets::Dataset;
use trizone_store::experiments::Experiment;
use trizone_store::runs::{self, NewRun, Progress, Run, RunStatus, StopReason};
use trizone_store::{StoreError, datasets, evidence, experiments};
use uuid::Uuid;

use crate::state::AppState;
use ending::Ended;
pub use trizone_api::runs::RunView;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// The dataset whose cases, those not yet evaluated for this
    /// configuration, the run may use. Absent: the dataset of the
    /// experiment's latest run, which continues with the cases it did not
    /// use (`trizone run extend`).
    pub dataset_id: Option<Uuid>,
    /// Cases in flight at once (default 8, at most the service's maximum).
    pub concurrency: Option<i32>,
    /// Evaluate every case instead of stopping once the judge has decided
    /// (default false), for the full metrics.
    pub exhaustive: Option<bool>,
    /// Seed of the random case order (default: drawn at random). Recorded
    /// with the run.
    pub seed: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/experiments/{id}/runs", tag = "runs",
    params(("id" = Uuid, Path, description = "Experiment id")), request_body = StartRun,
    responses((status = 202, body = RunView), (status = 403, description = "not the owner's nor an admin's", body = trizone_http::error::ErrorBody),
              (status = 404, body = trizone_http::error::ErrorBody),
              (status = 409, body = trizone_http::error::ErrorBody), (status = 422, body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn start(
    State(state): State<AppState>,
    auth: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
    Json(request): Json<StartRun>,
) -> Result<(StatusCode, Json<RunView>), ApiError> {
    let concurrency = request.concurrency.unwrap_or(8);
    if !(1..=state.max_concurrency).contains(&concurrency) {
        return Err(ApiError::invalid(
            "concurrency",
            format!("must be from 1 to {}", state.max_concurrency),
        ));
    }
    let mut tx = state.db.begin().await.map_err(StoreError::from)?;
    let caller = auth.caller();
    let (experiment, dataset, new_cases) =
        startable(&state, &mut tx, caller, id, request.dataset_id).await?;
    let run = runs::create(
        &mut *tx,
        NewRun {
            experiment_id: id,
            dataset_id: dataset.id,
            concurrency,
            cases_total: i32::try_from(new_cases).unwrap_or(i32::MAX),
            requested_by: &caller.key_id,
            seed: request.seed.unwrap_or_else(rand::random),
            exhaustive: request.exhaustive.unwrap_or(false),
        },
    )
    .await?;
    experiments::transition(
        &mut tx,
        id,
        experiment.status,
        ExperimentStatus::Evaluating,
        Mover::Experiment,
    )
    .await?;
    let details = serde_json::json!({
        "run_id": run.id, "dataset_id": dataset.id, "cases": run.cases_total,
        "dataset_cases": dataset.case_count, "seed": run.seed, "exhaustive": run.exhaustive,
    });
    audit::append(
        &mut *tx,
        NewEvent {
            actor: &caller.actor().to_string(),
            action: AuditAction::RunStarted,
            subject: experiment.fingerprint.as_str(),
            details: &details,
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok((StatusCode::ACCEPTED, Json(RunView::started(run))))
}

/// The experiment, the dataset to evaluate it on and how many of its cases
/// are new evidence, or why no run can start. In the run's transaction, in
/// this order: an experiment that cannot be evaluated at all is refused
/// first (nothing in the request would fix that), then the request's
/// dataset, then a run already under way.
async fn startable(
    state: &AppState,
    tx: &mut PgConnection,
    caller: &Caller,
    id: Uuid,
    dataset_id: Option<Uuid>,
) -> Result<(Experiment, Dataset, i64), ApiError> {
    let experiment = experiments::get(&mut *tx, id).await?;
    crate::experiments::check_owner(caller, &experiment)?;
    if let Some(why) = not_evaluable_because(experiment.status) {
        return Err(ApiError::Refused {
            code: "not_evaluable",
            message: format!("experiment {id} is {}: {why}", experiment.status),
        });
    }
    // Every case would fail, and the failures would count against the
    // configuration: refuse instead, saying what the operator removed.
    if let Some(unknown) = state.catalog.check(&experiment.configuration).first() {
        return Err(ApiError::Refused {
            code: "provider_unavailable",
            message: format!("experiment {id} cannot be evaluated: {unknown}"),
        });
    }
    let dataset_id = match dataset_id {
        Some(dataset_id) => dataset_id,
        None => runs::latest_dataset(&mut *tx, id).await?.ok_or_else(|| {
            ApiError::invalid(
                "dataset_id",
                "required: the experiment has no earlier run whose dataset could be continued",
            )
        })?,
    };
    let dataset = match datasets::get(&mut *tx, dataset_id).await {
        Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::invalid("dataset_id", "no such dataset"));
        }
        other => other?,
    };
    if let Some(active) = runs::active_for(&mut *tx, id).await? {
        return Err(ApiError::Refused {
            code: "run_in_progress",
            message: format!("experiment {id} is already being evaluated by run {active}"),
        });
    }
    if experiment.status.mover_to(ExperimentStatus::Evaluating) != Some(Mover::Experiment) {
        return Err(ApiError::Refused {
            code: "not_evaluable",
            message: format!(
                "experiment {id} is {} and cannot be evaluated",
                experiment.status
            ),
        });
    }
    let new_cases =
        evidence::new_cases(&mut *tx, dataset.id, experiment.fingerprint.as_str()).await?;
    if new_cases == 0 {
        return Err(ApiError::Refused {
            code: "no_new_cases",
            message: format!(
                "every one of the {} cases of dataset {} was already evaluated for this configuration \
                 (fingerprint {}), so it adds no evidence; continue with a dataset of other cases",
                dataset.case_count, dataset.id, experiment.fingerprint
            ),
        });
    }
    Ok((experiment, dataset, new_cases))
}

/// Why an experiment in `status` cannot be evaluated, if it cannot.
fn not_evaluable_because(status: ExperimentStatus) -> Option<&'static str> {
    match status {
        ExperimentStatus::Registered
        | ExperimentStatus::Evaluating
        | ExperimentStatus::Evaluated => None,
        ExperimentStatus::Promoted => Some(
            "the gate promoted it to V2, so its evidence is decided; register a changed configuration to try another",
        ),
        ExperimentStatus::Quarantined => Some(
            "the gate quarantined it in V3; an admin can ask for a re-evaluation (trizone quarantine reevaluate)",
        ),
        ExperimentStatus::Blacklisted => {
            Some("it is blacklisted for good and is never evaluated again")
        }
        ExperimentStatus::Withdrawn => Some(
            "its owner withdrew it; registering the configuration again continues its evidence",
        ),
    }
}

/// "decided after 412 of 1,000 cases: pass", or how far it got.
fn summary(run: &Run, progress: &Progress, verdict: Option<&Verdict>) -> Option<String> {
    let decision = verdict.map(|v| v.decision.as_str());
    let pooled = verdict
        .filter(|v| v.cases > u64::try_from(progress.cases_done).unwrap_or(0))
        .map(|v| format!(" (pooled with earlier runs: {} cases)", v.cases))
        .unwrap_or_default();
    match (run.stop_reason, decision) {
        (Some(StopReason::Decided), Some(decision)) => Some(format!(
            "decided after {} of {} cases: {decision}{pooled}; {} cases not needed",
            progress.cases_done,
            run.cases_total,
            run.cases_not_needed.unwrap_or(0)
        )),
        (Some(_), Some(decision)) => Some(format!(
            "used all {} cases: {decision}{pooled}",
            progress.cases_done
        )),
        _ => None,
    }
}

async fn view(state: &AppState, id: Uuid) -> Result<RunView, ApiError> {
    let run = runs::get(&state.db, id).await?;
    let progress = runs::progress(&state.db, id).await?;
    let running_accuracy =
        (progress.cases_done > 0).then(|| progress.correct as f64 / progress.cases_done as f64);
    let metrics = if run.status == RunStatus::Finished {
        runs::metrics(&state.db, id).await?
    } else {
        None
    };
    let cost_per_1000_reviews_usd =
        (progress.cases_done > 0).then(|| progress.cost_usd * 1000.0 / progress.cases_done as f64);
    let verdict = runs::verdict(&state.db, id).await?;
    let summary = summary(&run, &progress, verdict.as_ref());
    Ok(RunView {
        cases_url: RunView::cases_url(run.id),
        run,
        progress,
        running_accuracy,
        metrics,
        cost_per_1000_reviews_usd,
        verdict,
        summary,
    })
}

/// An experiment's runs, newest first, each with its progress.
#[utoipa::path(get, path = "/api/v1/experiments/{id}/runs", tag = "runs",
    params(("id" = Uuid, Path, description = "Experiment id")),
    responses((status = 200, body = Vec<RunView>), (status = 404, body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
) -> Result<Json<Vec<RunView>>, ApiError> {
    // Fails with a 404 naming the experiment when there is none.
    experiments::get(&state.db, id).await?;
    let mut views = Vec::new();
    for run in runs::for_experiment(&state.db, id, 100).await? {
        views.push(view(&state, run.id).await?);
    }
    Ok(Json(views))
}

#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 404, body = trizone_http::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(view(&state, id).await?))
}

/// The run's progress as server-sent events: `progress`, then one `end`; or
/// `expired` when the stream has lasted its time, `closing` when the service
/// stops (reconnect after either). A few streams per key at once (429 past
/// that); every watcher of a run shares one poller.
#[utoipa::path(get, path = "/api/v1/runs/{id}/events", tag = "runs",
    params(("id" = Uuid, Path, description = "Run id")),
    responses((status = 200, content_type = "text/event-stream", description = "progress events"),
              (status = 404, body = trizone_http::error::ErrorBody),
              (status = 429, description = "too many streams open with this key", body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    auth: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Fails now, with a JSON error, if the run does not exist.
    let first = view(&state, id).await?;
    let stream = state
        .streams
        .events(&state, &auth.caller().key_id, id, first)?;
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs",
    params(("id" = Uuid, Path, description = "Run id")),
    responses((status = 200, body = RunView), (status = 403, description = "not the owner's nor an admin's", body = trizone_http::error::ErrorBody),
              (status = 404, body = trizone_http::error::ErrorBody), (status = 409, body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
) -> Result<Json<RunView>, ApiError> {
    let mut tx = state.db.begin().await.map_err(StoreError::from)?;
    let run = runs::get(&mut *tx, id).await?;
    crate::experiments::check_owner(
        auth.caller(),
        &experiments::get(&mut *tx, run.experiment_id).await?,
    )?;
    if !runs::cancel(&mut *tx, id).await? {
        return Err(ApiError::Refused {
            code: "run_ended",
            message: format!("run {id} is {} and cannot be cancelled", run.status),
        });
    }
    ending::put_experiment_back(
        &mut tx,
        id,
        run.experiment_id,
        auth.caller().actor(),
        Ended::Cancelled,
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(view(&state, id).await?))
}
