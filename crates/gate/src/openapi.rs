//! The gate's OpenAPI document.

use trizone_http::openapi::BearerAuth;
use utoipa::OpenApi;

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(title = "trizone gate", description = "Judges configurations, promotes them to V2, quarantines them to V3, blacklists, rolls V2 back."),
    paths(
        api::judge, api::decisions, api::decision, api::blacklist, api::rollback, api::audit,
        api::rollout, api::rollout_pause, api::rollout_resume, api::rollout_promote,
        api::rollout_abort, api::rollout_plan, api::set_rollout_plan
    ),
    components(schemas(trizone_http::error::ErrorBody)),
    modifiers(&BearerAuth),
    tags((name = "gate", description = "Decisions and moves between zones"))
)]
#[derive(Debug)]
pub struct ApiDoc;
