//! `GET /api/v1/providers`: the providers a configuration may name.

use axum::extract::State;
use trizone_http::auth::Experimenters;
use trizone_http::{Authorized, Json};
use trizone_router::ProviderInfo;

use crate::state::AppState;

/// The operator's providers, by name and API, in name order. Their
/// endpoints and keys are the operator's and are not shown.
#[utoipa::path(get, path = "/api/v1/providers", tag = "experiments",
    responses((status = 200, body = Vec<ProviderInfo>)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _auth: Authorized<Experimenters>,
) -> Json<Vec<ProviderInfo>> {
    Json(state.catalog.infos().to_vec())
}
