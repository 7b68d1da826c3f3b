//! The shared plumbing, served for real on 127.0.0.1 and called over HTTP.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

mod auth;
mod errors;
mod health;
mod observability;
mod serving;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, Path};
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use sqlx::PgPool;
use trizone_http::auth::{Admins, AnyRole, Experimenters};
use trizone_http::layers::{self, Limits};
use trizone_http::{ApiError, Authorized, HttpMetrics, Json, KeyStore, Readiness, Role};

pub const ADMIN: &str = "admin-token";
pub const EXPERIMENTER: &str = "experimenter-token";
pub const END_USER: &str = "end-user-token";
pub const SCRAPER: &str = "scraper-token";

#[derive(Clone, FromRef)]
struct TestState {
    keys: KeyStore,
    readiness: Readiness,
    metrics: HttpMetrics,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "fields are read by serde's validation only")]
struct NewItem {
    name: String,
    size: u32,
}

async fn get_item(
    _: Authorized<AnyRole>,
    Path(id): Path<u32>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if id == 0 {
        return Err(ApiError::NotFound {
            entity: "item",
            id: id.to_string(),
        });
    }
    Ok(Json(serde_json::json!({ "id": id })))
}

async fn create_item(
    auth: Authorized<Experimenters>,
    Json(_): Json<NewItem>,
) -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::CREATED,
        Json(serde_json::json!({ "by": auth.caller().role })),
    )
}

async fn admin_only(_: Authorized<Admins>) -> &'static str {
    "ok"
}

async fn panics() -> &'static str {
    panic!("secret detail in a panic")
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::{Modify, OpenApi};
    #[derive(OpenApi)]
    #[openapi(
        info(title = "test"),
        components(schemas(trizone_http::error::ErrorBody))
    )]
    struct Doc;
    let mut doc = Doc::openapi();
    trizone_http::openapi::BearerAuth.modify(&mut doc);
    doc
}

#[derive(Debug)]
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
}

impl TestApp {
    pub async fn spawn(db: PgPool) -> Self {
        trizone_http::telemetry::init_for_test();
        let metrics = HttpMetrics::new("test").unwrap();
        let state = TestState {
            keys: KeyStore::from_tokens([
                (Role::Admin, ADMIN),
                (Role::Experimenter, EXPERIMENTER),
                (Role::EndUser, END_USER),
                (Role::Scraper, SCRAPER),
            ]),
            readiness: Readiness::new(db),
            metrics: metrics.clone(),
        };
        let routes = Router::new()
            .route("/items/{id}", get(get_item))
            .route("/items", post(create_item))
            .route("/admin", get(admin_only))
            .route("/panic", get(panics))
            .route("/slow", get(slow))
            .route("/metrics", get(trizone_http::metrics::handler))
            .merge(trizone_http::health::routes())
            .merge(trizone_http::openapi::routes(openapi()))
            .with_state(state);
        let limits = Limits {
            timeout: Duration::from_millis(300),
            body_bytes: 1024,
        };
        let app = layers::apply(routes, metrics, limits);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(trizone_http::serve::serve(
            listener,
            app,
            std::future::pending(),
        ));
        Self {
            address,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }
}

/// Reads an error response, checking the envelope every error shares.
pub async fn error_body(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    let error = &body["error"];
    assert!(
        error["code"].is_string() && error["message"].is_string(),
        "{body}"
    );
    error.clone()
}
