//! OpenAPI helpers: the bearer security scheme, the shared error schema, and
//! serving a document at `/openapi.json`.

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use utoipa::Modify;

use crate::auth::People;
use crate::{Authorized, KeyStore};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};

/// Adds the `bearer` security scheme every non-health endpoint uses.
#[derive(Debug, Clone, Copy)]
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        // Every operation that needs a token may be refused for it, by the
        // shared auth extractor, before its handler runs: document both
        // answers on each, with the shared error body.
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                if operation.security.as_ref().is_none_or(Vec::is_empty) {
                    continue;
                }
                for (status, description) in [
                    ("401", "No token, or one this service does not know"),
                    ("403", "The token's role may not do this"),
                ] {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description));
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token of role end_user, experimenter, admin or service",
                    ))
                    .build(),
            ),
        );
    }
}

/// A response carrying the shared JSON error envelope.
fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// `GET /openapi.json` for any valid token, serving `doc` as it was built
/// at start-up.
pub fn routes<S>(doc: OpenApi) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    KeyStore: FromRef<S>,
{
    let doc = std::sync::Arc::new(doc);
    Router::new().route(
        "/openapi.json",
        get(move |_: Authorized<People>| async move { axum::Json(doc.as_ref().clone()) }),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "The service's OpenAPI document", body = Object)),
    security(("bearer" = [])))]
#[expect(
    dead_code,
    reason = "documents the route `routes` serves with a closure"
)]
fn openapi_json() {}

/// The routes every service serves besides its own.
#[cfg(feature = "store")]
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        crate::health::healthz,
        crate::health::readyz,
        crate::metrics::handler,
        openapi_json
    ),
    components(schemas(
        trizone_api::HealthReport,
        trizone_api::HealthStatus,
        trizone_api::CheckReport,
        crate::error::ErrorBody
    ))
)]
struct SharedRoutes;

/// `doc` with the routes every service serves (health, metrics, this
/// document), and the answers every secured operation may give.
#[cfg(feature = "store")]
pub fn complete(mut doc: OpenApi) -> OpenApi {
    doc.merge(<SharedRoutes as utoipa::OpenApi>::openapi());
    BearerAuth.modify(&mut doc);
    doc
}
