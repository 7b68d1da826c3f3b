//! Evaluation runs: starting, watching and cancelling them. The work itself
//! is done by [`worker::Worker`] on whichever replica holds the run's lease.

pub mod worker;

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::{Deserialize, Serialize};
use trizone_core::{ExperimentStatus, Mover, RunMetrics};
use trizone_http::auth::{AnyRole, Experimenters};
use trizone_http::{ApiError, Authorized, Json, Path};
use trizone_store::audit::{self, NewEvent};
use trizone_store::runs::{self, Progress, Run};
use trizone_store::{StoreError, datasets, experiments};
use uuid::Uuid;

use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    pub dataset_id: Uuid,
    /// Cases in flight at once (default 8, at most the service's maximum).
    pub concurrency: Option<i32>,
}

/// A run with its progress, and its metrics once finished.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    pub run: Run,
    pub progress: Progress,
    /// Correct cases among those done so far.
    pub running_accuracy: Option<f64>,
    pub metrics: Option<RunMetrics>,
    /// Cost of the cases done so far, scaled to 1,000 reviews.
    pub cost_per_1000_reviews_usd: Option<f64>,
}

#[utoipa::path(post, path = "/api/v1/experiments/{id}/runs", tag = "runs", request_body = StartRun,
    responses((status = 202, body = RunView), (status = 404, body = trizone_http::error::ErrorBody),
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
    let dataset = match datasets::get(&state.db, request.dataset_id).await {
        Err(StoreError::NotFound { .. }) => {
            return Err(ApiError::invalid("dataset_id", "no such dataset"));
        }
        other => other?,
    };
    let mut tx = state.db.begin().await.map_err(StoreError::from)?;
    let experiment = experiments::get(&mut *tx, id).await?;
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
    let run = runs::create(
        &mut *tx,
        id,
        dataset.id,
        concurrency,
        dataset.case_count,
        &auth.caller().key_id,
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
    let details = serde_json::json!({"run_id": run.id, "dataset_id": dataset.id, "cases": dataset.case_count});
    audit::append(
        &mut *tx,
        NewEvent {
            actor: &auth.caller().key_id,
            action: "run.started",
            subject: experiment.fingerprint.as_str(),
            details: &details,
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    let view = RunView {
        run,
        progress: Progress::default(),
        running_accuracy: None,
        metrics: None,
        cost_per_1000_reviews_usd: None,
    };
    Ok((StatusCode::ACCEPTED, Json(view)))
}

async fn view(state: &AppState, id: Uuid) -> Result<RunView, ApiError> {
    let run = runs::get(&state.db, id).await?;
    let progress = runs::progress(&state.db, id).await?;
    let running_accuracy =
        (progress.cases_done > 0).then(|| progress.correct as f64 / progress.cases_done as f64);
    let metrics = if run.status == "finished" {
        runs::metrics(&state.db, id).await?
    } else {
        None
    };
    let cost_per_1000_reviews_usd =
        (progress.cases_done > 0).then(|| progress.cost_usd * 1000.0 / progress.cases_done as f64);
    Ok(RunView {
        run,
        progress,
        running_accuracy,
        metrics,
        cost_per_1000_reviews_usd,
    })
}

#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    responses((status = 200, body = RunView), (status = 404, body = trizone_http::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<AnyRole>,
    Path(id): Path<Uuid>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(view(&state, id).await?))
}

const EVENT_INTERVAL: Duration = Duration::from_millis(500);

/// The run's progress as server-sent events (`progress`, then one `end`).
#[utoipa::path(get, path = "/api/v1/runs/{id}/events", tag = "runs",
    responses((status = 200, content_type = "text/event-stream", description = "progress events"),
              (status = 404, body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    _: Authorized<AnyRole>,
    Path(id): Path<Uuid>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    // Fails now, with a JSON error, if the run does not exist.
    let first = view(&state, id).await?;
    let stream = futures::stream::unfold(
        (state, Some(first), false),
        move |(state, pending, ended)| async move {
            if ended {
                return None;
            }
            let current = match pending {
                Some(current) => current,
                None => {
                    tokio::time::sleep(EVENT_INTERVAL).await;
                    match view(&state, id).await {
                        Ok(current) => current,
                        Err(_) => {
                            return Some((
                                Ok(Event::default()
                                    .event("error")
                                    .data("progress is unavailable")),
                                (state, None, true),
                            ));
                        }
                    }
                }
            };
            let over = !matches!(current.run.status.as_str(), "queued" | "running");
            let name = if over { "end" } else { "progress" };
            let event = Event::default()
                .event(name)
                .json_data(&current)
                .unwrap_or_else(|_| Event::default().event(name));
            Some((Ok(event), (state, None, over)))
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs",
    responses((status = 200, body = RunView), (status = 404, body = trizone_http::error::ErrorBody),
              (status = 409, body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
) -> Result<Json<RunView>, ApiError> {
    let mut tx = state.db.begin().await.map_err(StoreError::from)?;
    let run = runs::get(&mut *tx, id).await?;
    if !runs::cancel(&mut *tx, id).await? {
        return Err(ApiError::Refused {
            code: "run_ended",
            message: format!("run {id} is {} and cannot be cancelled", run.status),
        });
    }
    // Back to where it stood before this run.
    let back = if runs::has_metrics(&mut *tx, run.experiment_id).await? {
        ExperimentStatus::Evaluated
    } else {
        ExperimentStatus::Registered
    };
    experiments::transition(
        &mut tx,
        run.experiment_id,
        ExperimentStatus::Evaluating,
        back,
        Mover::Experiment,
    )
    .await?;
    let experiment = experiments::get(&mut *tx, run.experiment_id).await?;
    let details = serde_json::json!({"run_id": id, "experiment_id": run.experiment_id});
    audit::append(
        &mut *tx,
        NewEvent {
            actor: &auth.caller().key_id,
            action: "run.cancelled",
            subject: experiment.fingerprint.as_str(),
            details: &details,
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(view(&state, id).await?))
}
