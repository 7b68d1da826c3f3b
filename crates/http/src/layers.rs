//! The middleware every service runs behind, in one place so every zone
//! gets the same request ids, logging, limits and error shapes.

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::{ApiError, HttpMetrics, metrics};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest a request may take before it is answered 503.
    pub timeout: Duration,
    /// Largest body a JSON extractor accepts; streaming uploads set their own.
    pub body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            body_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Wraps a service's routes: JSON 404/405, panics as JSON 500, a timeout,
/// a body limit, metrics, request ids, tracing (with the Authorization
/// header redacted) and compression.
pub fn apply(router: Router, metrics: HttpMetrics, limits: Limits) -> Router {
    let timeout_message = format!(
        "the request took longer than {} s",
        limits.timeout.as_secs_f64()
    );
    // One `layer` call for the whole stack: axum boxes the service (and
    // its future) once per call, so each separate call cost every request
    // two more allocations and a dynamic call. Outermost first.
    let stack = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
        ]))
        .map_request(drop_unsafe_request_id)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(make_span))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(limits.body_bytes))
        .layer(HandleErrorLayer::new(move |_: tower::BoxError| {
            let message = timeout_message.clone();
            async move { ApiError::Unavailable { message } }
        }))
        .timeout(limits.timeout)
        // Innermost: a panic becomes a response before metrics see it.
        .layer(CatchPanicLayer::custom(panic_response));
    router
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(stack)
}

/// Keeps a caller's request id only when it is a short token of letters,
/// digits, `-`, `_` and `.`; otherwise a fresh one is made. The id is
/// logged and echoed, and an unbounded one let a caller write what read as
/// another log line.
fn drop_unsafe_request_id<B>(mut request: Request<B>) -> Request<B> {
    let unsafe_id = request
        .headers()
        .get(&REQUEST_ID)
        .is_some_and(|id| !is_safe_request_id(id.as_bytes()));
    if unsafe_id {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

fn is_safe_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// One span per request carrying its id, so every log line of the request
/// can be found by it. The path is logged, never the query or the body.
fn make_span<B>(request: &Request<B>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = %request.uri().path(),
        caller = tracing::field::Empty,
    )
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    // The panic message may hold request data; it is already on stderr.
    ApiError::internal(std::io::Error::other("handler panicked")).into_response()
}

/// A zone's whole service: its `routes`, plus `/metrics`, `/healthz`,
/// `/readyz` and `/openapi.json` (serving `doc`), on `state`, behind the
/// shared layers.
#[cfg(feature = "store")]
pub fn service<S>(
    routes: Router<S>,
    doc: utoipa::openapi::OpenApi,
    state: S,
    limits: Limits,
) -> Router
where
    S: Clone + Send + Sync + 'static,
    crate::KeyStore: axum::extract::FromRef<S>,
    HttpMetrics: axum::extract::FromRef<S>,
    crate::Readiness: axum::extract::FromRef<S>,
{
    let metrics = <HttpMetrics as axum::extract::FromRef<S>>::from_ref(&state);
    let routes = routes
        .route("/metrics", axum::routing::get(metrics::handler))
        .merge(crate::health::routes())
        .merge(crate::openapi::routes(crate::openapi::complete(doc)))
        .with_state(state);
    apply(routes, metrics, limits)
}
