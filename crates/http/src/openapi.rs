//! OpenAPI helpers: the bearer security scheme, the shared error schema, and
//! serving a document at `/openapi.json`.

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use utoipa::Modify;

use crate::auth::AnyRole;
use crate::{Authorized, KeyStore};
use utoipa::openapi::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

/// Adds the `bearer` security scheme every non-health endpoint uses.
#[derive(Debug, Clone, Copy)]
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
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
        get(move |_: Authorized<AnyRole>| async move { axum::Json(doc.as_ref().clone()) }),
    )
}
