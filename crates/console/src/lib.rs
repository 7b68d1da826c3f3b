//! trizone's console: a web UI for experimenters and admins, served by
//! `trizone console`. It calls V1, V3 and the gate with the signed-in
//! person's own token, so it can do exactly what that token can. Pages are
//! rendered on the server (maud), charts are SVG drawn on the server, and
//! a few lines of script only refresh live regions: every page reads
//! without JavaScript.

pub mod assets;
pub mod charts;
pub mod pages;
pub mod sessions;
pub mod signed_in;
pub mod state;
pub mod zones;

use std::future::Future;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Redirect;
use axum::routing::{get, post};
use tower_http::set_header::SetResponseHeaderLayer;

pub use state::{AppState, Shared};
pub use zones::{ZoneUrls, Zones};

/// Nothing but this console's own scripts, styles and forms; no frame may
/// hold it, no other origin may serve it anything.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Every console route.
pub fn router(state: AppState) -> Router {
    use pages::{case, compare, errors, experiment, experiments, gate, quarantine, run, signin};
    let header = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
    };
    Router::new()
        .route("/", get(|| async { Redirect::to("/experiments") }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/signin", get(signin::form).post(signin::sign_in))
        .route("/signout", post(signin::sign_out))
        .route("/experiments", get(experiments::list))
        .route("/experiments/{id}", get(experiment::show))
        .route("/experiments/{id}/extend", post(experiment::extend))
        .route("/compare", get(compare::show))
        .route("/runs/{id}", get(run::show))
        .route("/runs/{id}/progress", get(run::progress_fragment))
        .route("/runs/{id}/cases/{case_id}", get(case::show))
        .route("/gate", get(gate::show))
        .route("/gate/rollout", get(gate::rollout_fragment))
        .route("/gate/rollout/{action}", get(gate::confirm).post(gate::act))
        .route("/quarantine", get(quarantine::list))
        .route("/quarantine/{id}", get(quarantine::show))
        .route("/quarantine/{id}/reevaluate", post(quarantine::reevaluate))
        .route("/quarantine/{id}/blacklist", post(quarantine::blacklist))
        .route(assets::STYLESHEET_PATH, get(assets::stylesheet))
        .route(assets::SCRIPT_PATH, get(assets::script))
        .fallback(errors::no_route)
        .with_state(state)
        .layer(header(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header(header::X_FRAME_OPTIONS, "DENY"))
        // Not `no-referrer`: with it, Chromium sends `Origin: null` on the
        // console's own forms, and the same-origin check refuses them.
        .layer(header(header::REFERRER_POLICY, "same-origin"))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// Serves the console on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
