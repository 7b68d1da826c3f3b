//! `POST /api/v1/reevaluations`: an admin brings a quarantined
//! configuration back for another evaluation. V1 fetches the record from V3
//! over HTTP (it has no grant on V3's tables beyond the blacklist), checks
//! it is eligible, not blacklisted and not already being re-evaluated, and
//! registers its configuration as a new experiment linked to the record.
//! V3 unreachable means nothing is registered.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use trizone_api::quarantine::RecordView;
use trizone_core::{Configuration, Fingerprint};
use trizone_http::auth::Admins;
use trizone_http::{ApiError, Authorized, Json};
use trizone_store::audit::{self, AuditAction, NewEvent};
use trizone_store::{StoreError, experiments, quarantine};
use uuid::Uuid;

use crate::experiments::ExperimentView;
use crate::state::AppState;

/// V1's client for V3's archive.
#[derive(Debug, Clone)]
pub struct V3Client {
    http: reqwest::Client,
    base: String,
    token: SecretString,
}

/// What V1 needs of a record: the configuration to register again, as V3
/// archived it, and whose it was.
#[derive(Debug)]
struct Archived {
    view: RecordView,
    configuration: Configuration,
}

impl V3Client {
    pub fn new(base: &str, token: SecretString) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .timeout(Duration::from_secs(10))
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    async fn record(&self, id: Uuid) -> Result<Archived, ApiError> {
        let unavailable = |why: String| ApiError::Unavailable {
            message: format!(
                "V3 at {} cannot be read ({why}); nothing was registered",
                self.base
            ),
        };
        let response = self
            .http
            .get(format!("{}/api/v3/records/{id}", self.base))
            .bearer_auth(self.token.expose_secret())
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        match response.status() {
            StatusCode::OK => {
                let view: RecordView = response
                    .json()
                    .await
                    .map_err(|e| unavailable(format!("its answer is unreadable: {e}")))?;
                let configuration = Configuration::deserialize(&view.record.configuration)
                    .map_err(|e| unavailable(format!("its configuration is unreadable: {e}")))?;
                Ok(Archived {
                    view,
                    configuration,
                })
            }
            StatusCode::NOT_FOUND => Err(ApiError::NotFound {
                entity: "quarantine record",
                id: id.to_string(),
            }),
            status => Err(unavailable(format!("it answered {status}"))),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReevaluationRequest {
    /// The quarantine record to re-evaluate.
    pub record_id: Uuid,
    /// Who owns the new experiment (default: the record's owner).
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// Registers a quarantined configuration again, linked to its record.
#[utoipa::path(
    post, path = "/api/v1/reevaluations", tag = "experiments",
    request_body = ReevaluationRequest,
    responses(
        (status = 201, description = "The new experiment, linked to the record", body = ExperimentView),
        (status = 404, description = "No such record", body = trizone_http::error::ErrorBody),
        (status = 409, description = "`blacklisted` (with the reason), `not_eligible` or `reevaluation_open`", body = trizone_http::error::ErrorBody),
        (status = 503, description = "V3 cannot be read: nothing registered", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    auth: Authorized<Admins>,
    State(state): State<AppState>,
    Json(request): Json<ReevaluationRequest>,
) -> Result<(StatusCode, Json<ExperimentView>), ApiError> {
    if let Some(owner) = &request.owner {
        ApiError::check_prose("owner", owner, 200)?;
    }
    if let Some(description) = &request.description {
        ApiError::check_prose("description", description, 10_000)?;
    }
    let v3 = state.v3.as_ref().ok_or_else(|| ApiError::Unavailable {
        message:
            "V3 is not configured (TRIZONE_V1_V3_URL and an experimentation token); nothing was registered"
                .into(),
    })?;
    let Archived {
        view,
        configuration,
    } = v3.record(request.record_id).await?;
    let fingerprint = Fingerprint::parse(&view.record.summary.fingerprint)
        .map_err(|e| ApiError::internal(std::io::Error::other(e)))?;
    // V1's own read of the blacklist, in case V3's answer is older.
    if let Some(entry) = quarantine::blacklist_entry(&state.db, &fingerprint).await? {
        return Err(blacklisted(&fingerprint, &entry.reason));
    }
    if let Some(entry) = &view.reevaluation.blacklisted {
        return Err(blacklisted(&fingerprint, &entry.reason));
    }
    if !view.reevaluation.eligible {
        return Err(ApiError::Refused {
            code: "not_eligible",
            message: format!(
                "quarantine record {} is not eligible for re-evaluation",
                request.record_id
            ),
        });
    }
    let owner = request
        .owner
        .as_deref()
        .unwrap_or(&view.record.summary.owner)
        .trim();
    if owner.is_empty() || owner.chars().count() > 200 {
        return Err(ApiError::invalid("owner", "must be 1 to 200 characters"));
    }
    if let Some(open) = experiments::open_reevaluation(&state.db, request.record_id).await? {
        return Err(open_refusal(request.record_id, Some(open)));
    }
    let mut tx = state.db.begin().await.map_err(StoreError::from)?;
    let description = request
        .description
        .unwrap_or_else(|| format!("re-evaluation of quarantine record {}", request.record_id));
    let new = experiments::NewExperiment {
        owner,
        description: &description,
        configuration: &configuration,
        reevaluation_of: Some(request.record_id),
    };
    let experiment = match experiments::insert(&mut *tx, new).await {
        Ok(experiment) => experiment,
        // The same configuration is live again (a concurrent re-evaluation
        // of this record, or of another record of it).
        Err(StoreError::Conflict { .. }) => return Err(open_refusal(request.record_id, None)),
        Err(error) => return Err(error.into()),
    };
    audit::append(
        &mut *tx,
        NewEvent {
            actor: &auth.caller().actor().to_string(),
            action: AuditAction::ReevaluationRegistered,
            subject: fingerprint.as_str(),
            details: &serde_json::json!({"experiment_id": experiment.id, "record_id": request.record_id}),
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    state.metrics.registration("reevaluation");
    tracing::info!(experiment = %experiment.id, record = %request.record_id, "re-evaluation registered");
    Ok((StatusCode::CREATED, Json(experiment.into())))
}

fn blacklisted(fingerprint: &Fingerprint, reason: &str) -> ApiError {
    ApiError::Refused {
        code: "blacklisted",
        message: format!("configuration {fingerprint} is blacklisted: {reason}"),
    }
}

fn open_refusal(record: Uuid, experiment: Option<Uuid>) -> ApiError {
    ApiError::Refused {
        code: "reevaluation_open",
        message: match experiment {
            Some(id) => format!("record {record} is already being re-evaluated as experiment {id}"),
            None => format!("record {record}'s configuration is already registered and live"),
        },
    }
}
