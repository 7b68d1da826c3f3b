//! What `/healthz` and `/readyz` answer, read back by the gate before a
//! promotion.

use serde::{Deserialize, Serialize};

/// V2's readiness check that nothing is active yet: the only one a first
/// promotion may go ahead without, since it is what makes it pass.
pub const ACTIVE_DEPLOYMENT_CHECK: &str = "active_deployment";

/// V2's readiness check that the database takes its records.
pub const RECORDS_CHECK: &str = "records";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// `/healthz`: the process is up.
    Ok,
    Ready,
    /// Serving without something it wants (V2 without its database).
    Degraded,
    NotReady,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthReport {
    pub status: HealthStatus,
    /// Each check: `ok` or why not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckReport {
    pub name: String,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
