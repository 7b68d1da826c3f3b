//! The V2 OpenAPI document.

use trizone_http::openapi::BearerAuth;
use utoipa::OpenApi;

use crate::{reviews, smoke, status};

#[derive(OpenApi)]
#[openapi(
    info(title = "trizone V2 stable", description = "Code reviews for end users, served by the configuration the gate promoted."),
    paths(reviews::create, reviews::get, reviews::feedback, status::get, smoke::run),
    components(schemas(trizone_http::error::ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "reviews", description = "Reviews of source files"),
        (name = "status", description = "What V2 serves and its SLO compliance"),
        (name = "internal", description = "Zone-to-zone endpoints (the gate's token)")
    )
)]
#[derive(Debug)]
pub struct ApiDoc;
