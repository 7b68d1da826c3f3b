//! The control API: change profiles, scripts and the dataset while running.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::dataset::Dataset;
use crate::profile::{Behaviour, Profile};
use crate::state::{ModelStats, SimState};

fn bad_request(message: String) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": {"code": "invalid", "message": message}})),
    )
        .into_response()
}

pub async fn list_profiles(State(state): State<Arc<SimState>>) -> Json<serde_json::Value> {
    let (default, profiles) = state.profiles();
    Json(json!({"default": default, "models": profiles}))
}

/// `PUT /control/profiles/{model}`; `*` is every model without its own.
pub async fn put_profile(
    State(state): State<Arc<SimState>>,
    Path(model): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let profile: Profile = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return bad_request(format!("not a profile: {e}")),
    };
    if let Err(problems) = profile.validate() {
        return bad_request(problems);
    }
    state.set_profile(&model, profile.clone());
    Json(profile).into_response()
}

pub async fn delete_profile(
    State(state): State<Arc<SimState>>,
    Path(model): Path<String>,
) -> StatusCode {
    state.remove_profile(&model);
    StatusCode::NO_CONTENT
}

/// `PUT /control/scripts/{model}`: the next requests behave like this, in order.
pub async fn put_script(
    State(state): State<Arc<SimState>>,
    Path(model): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    match serde_json::from_slice::<Vec<Behaviour>>(&body) {
        Ok(script) => {
            state.set_script(&model, script);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(format!("not a list of behaviours: {e}")),
    }
}

/// `PUT /control/dataset`: JSON lines of cases with expected findings.
pub async fn put_dataset(State(state): State<Arc<SimState>>, body: String) -> Response {
    match Dataset::parse(&body) {
        Ok(dataset) => {
            let cases = dataset.len();
            state.set_dataset(dataset);
            Json(json!({"cases": cases})).into_response()
        }
        Err(e) => bad_request(e),
    }
}

pub async fn stats(State(state): State<Arc<SimState>>) -> Json<HashMap<String, ModelStats>> {
    Json(state.stats())
}

pub async fn reset(State(state): State<Arc<SimState>>) -> StatusCode {
    state.reset();
    StatusCode::NO_CONTENT
}
