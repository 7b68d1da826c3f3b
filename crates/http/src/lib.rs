//! Shared HTTP plumbing for every trizone service: one JSON error type,
//! bearer-token auth with roles, `/healthz` and `/readyz`, Prometheus
//! metrics, the common tower layers, OpenAPI helpers, logging and serving.

pub mod auth;
pub mod error;
pub mod extract;
#[cfg(feature = "store")]
pub mod health;
pub mod layers;
pub mod metrics;
pub mod openapi;
pub mod secret;
pub mod serve;
pub mod telemetry;
pub mod zone;

pub use auth::{AuthArgs, Authorized, Caller, KeyStore, Role};
pub use error::ApiError;
pub use extract::{Json, Path, Query};
#[cfg(feature = "store")]
pub use health::{Probe, ProbeOutcome, Readiness};
pub use metrics::HttpMetrics;
