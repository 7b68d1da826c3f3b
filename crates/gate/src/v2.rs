//! The gate's client for V2: health before a promotion, and the smoke test
//! of a candidate deployment.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use trizone_api::health::ACTIVE_DEPLOYMENT_CHECK;
use trizone_api::{HealthReport, SmokeReport};
use uuid::Uuid;

use crate::error::GateError;

#[derive(Debug, Clone)]
pub struct V2Client {
    http: reqwest::Client,
    base: String,
    token: SecretString,
}

impl V2Client {
    /// `base` is V2's URL (its Service in a cluster); `token` a `gate` token.
    pub fn new(base: &str, token: SecretString) -> Result<Self, GateError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| GateError::V2 {
                url: base.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    fn error(&self, message: impl std::fmt::Display) -> GateError {
        GateError::V2 {
            url: self.base.clone(),
            message: message.to_string(),
        }
    }

    /// V2 answers and can take a deployment: `/readyz` is 200 (degraded
    /// included), or its only failed check is that nothing is active yet,
    /// which is what the first promotion is for.
    pub async fn check_ready(&self) -> Result<(), GateError> {
        let response = self
            .http
            .get(format!("{}/readyz", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(|e| self.error(format!("unreachable: {e}")))?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let awaits_only_a_promotion =
            serde_json::from_str::<HealthReport>(&body).is_ok_and(|report| {
                report
                    .checks
                    .iter()
                    .all(|c| c.ok || c.name == ACTIVE_DEPLOYMENT_CHECK)
            });
        if awaits_only_a_promotion {
            return Ok(());
        }
        Err(self.error(format!("not ready ({status}): {body}")))
    }

    pub async fn smoke(&self, deployment_id: Uuid) -> Result<SmokeReport, GateError> {
        let response = self
            .http
            .post(format!("{}/internal/smoke/{deployment_id}", self.base))
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| self.error(format!("smoke test not sent: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(self.error(format!("smoke test answered {status}: {body}")));
        }
        response
            .json()
            .await
            .map_err(|e| self.error(format!("smoke report unreadable: {e}")))
    }
}
