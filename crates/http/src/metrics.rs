//! HTTP metrics in a registry owned by the service (no globals): request
//! counts, durations, in-flight requests and server errors, labelled by the
//! matched route template, never the raw path.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

use crate::auth::Scrapers;
use crate::{ApiError, Authorized};

/// Request metrics of one service, named `<prefix>_requests_total`,
/// `<prefix>_request_duration_seconds`, `<prefix>_active_requests` and
/// `<prefix>_errors_total` (prefix `v1`, `v2`, `v3`, `gate`).
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    active: IntGauge,
    errors: IntCounterVec,
}

/// Buckets around the 3 s SLO, fine enough to see p95 move.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 10.0, 30.0,
];

impl HttpMetrics {
    pub fn new(prefix: &str) -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(format!("{prefix}_requests_total"), "HTTP requests answered"),
            &["method", "route", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                format!("{prefix}_request_duration_seconds"),
                "HTTP request duration",
            )
            .buckets(DURATION_BUCKETS.to_vec()),
            &["method", "route"],
        )?;
        let active = IntGauge::new(
            format!("{prefix}_active_requests"),
            "HTTP requests in flight",
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                format!("{prefix}_errors_total"),
                "HTTP requests answered with a server error",
            ),
            &["method", "route", "status"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(active.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        Ok(Self {
            registry,
            requests,
            duration,
            active,
            errors,
        })
    }

    /// The registry zones add their own metrics to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Prometheus text exposition of every registered metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        String::from_utf8(buffer).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// Middleware recording every request.
pub async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    // Both are cheap to clone (a shared string, a known method).
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    metrics.active.inc();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.active.dec();
    let status = response.status();
    let (method, route) = (
        method_label(&method),
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
    );
    metrics
        .duration
        .with_label_values(&[method, route])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .with_label_values(&[method, route, status.as_str()])
        .inc();
    if status.is_server_error() {
        metrics
            .errors
            .with_label_values(&[method, route, status.as_str()])
            .inc();
    }
    response
}

/// The method as a label: one of HTTP's own, or `other`. Any token is a
/// valid method on the wire, and a label per token let anyone without a
/// key grow `/metrics` without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `GET /metrics`, for a service (or admin) token.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)),
    security(("bearer" = [])))]
pub async fn handler(
    _: Authorized<Scrapers>,
    State(metrics): State<HttpMetrics>,
) -> Result<Response, ApiError> {
    let body = metrics.render().map_err(ApiError::internal)?;
    Ok((
        [(CONTENT_TYPE, TextEncoder::new().format_type().to_owned())],
        body,
    )
        .into_response())
}
