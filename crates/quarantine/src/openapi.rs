//! The V3 OpenAPI document.

use trizone_http::openapi::BearerAuth;
use utoipa::OpenApi;

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(title = "trizone V3 quarantine", description = "The read-only archive of configurations that failed: evidence, impact, re-evaluations, the blacklist."),
    paths(api::records, api::record, api::summary, api::blacklist, api::blacklist_entry),
    components(schemas(trizone_http::error::ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "records", description = "Quarantined configurations and their evidence"),
        (name = "blacklist", description = "Permanently refused configurations")
    )
)]
#[derive(Debug)]
pub struct ApiDoc;
