//! `POST /api/v1/experiments`: register a configuration, idempotently.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use trizone_core::{Configuration, ExperimentStatus, Fingerprint, Format, parse_document};
use trizone_http::auth::Experimenters;
use trizone_http::{ApiError, Authorized, Caller, Json};
use trizone_store::audit::{self, AuditAction, NewEvent};
use trizone_store::experiments::Experiment;
use trizone_store::{StoreError, experiments, quarantine};

use crate::experiments::ExperimentView;
use crate::state::AppState;

/// What an experimenter posts, as JSON or YAML.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Who owns the experiment: the principal the caller's key is bound to,
    /// when left out. Only an admin registers on behalf of someone else.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub description: String,
    pub configuration: Configuration,
}

fn body_format(headers: &HeaderMap) -> Result<Format, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    match essence {
        "application/json" => Ok(Format::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(Format::Yaml),
        _ => Err(ApiError::UnsupportedMediaType {
            message: "send the registration as `application/json` or `application/yaml`".into(),
        }),
    }
}

/// Where registrations are parsed: off the async runtime, a few at a time,
/// so a costly document delays other registrations and never the zone.
#[derive(Debug, Clone)]
pub struct Parsing {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    /// Largest YAML registration, in bytes.
    pub yaml_bytes: usize,
}

impl Parsing {
    pub fn new(at_once: usize, yaml_bytes: usize) -> Self {
        Self {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(at_once.max(1))),
            yaml_bytes,
        }
    }

    /// The request in `body`, parsed and its configuration validated.
    async fn parse(&self, body: Bytes, format: Format) -> Result<RegisterRequest, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::Unavailable {
                message: "the service is stopping".into(),
            })?;
        tokio::task::spawn_blocking(move || {
            let text = std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest {
                message: "the body is not UTF-8".into(),
                field: None,
            })?;
            let request: RegisterRequest = parse_document(text, format)?;
            request
                .configuration
                .validate()
                .map_err(|e| e.nested_in("configuration"))?;
            check_text(&request)?;
            Ok(request)
        })
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?
    }
}

/// Longest description kept.
const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// Refuses text that cannot be kept: a NUL anywhere in the configuration
/// (JSON or YAML can both carry one, as `\u0000` or `\0`), and control
/// characters in the prose around it.
fn check_text(request: &RegisterRequest) -> Result<(), ApiError> {
    ApiError::check_prose("description", &request.description, MAX_DESCRIPTION_CHARS)?;
    if let Some(owner) = &request.owner {
        ApiError::check_prose("owner", owner, 200)?;
    }
    let configuration = serde_json::to_value(&request.configuration).map_err(ApiError::internal)?;
    match trizone_core::text::value_nul_path(&configuration) {
        Some(path) => Err(ApiError::invalid(
            format!("configuration.{path}"),
            "must not contain the NUL character (U+0000)",
        )),
        None => Ok(()),
    }
}

impl Default for Parsing {
    fn default() -> Self {
        Self::new(2, 256 * 1024)
    }
}

/// Registers a configuration: 201 when new, 200 with the existing live
/// experiment when the same configuration is already registered.
#[utoipa::path(
    post, path = "/api/v1/experiments", tag = "experiments",
    request_body(content = RegisterRequest, content_type = "application/json", description = "or the same document as application/yaml"),
    responses(
        (status = 201, description = "registered", body = ExperimentView),
        (status = 200, description = "already registered: the existing experiment", body = ExperimentView),
        (status = 403, description = "an `owner` other than the caller's, from a non-admin", body = trizone_http::error::ErrorBody),
        (status = 409, description = "blacklisted or quarantined", body = trizone_http::error::ErrorBody),
        (status = 422, description = "invalid, naming the field", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn register(
    State(state): State<AppState>,
    auth: Authorized<Experimenters>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<ExperimentView>), ApiError> {
    let format = body_format(&headers)?;
    if format == Format::Yaml && body.len() > state.parsing.yaml_bytes {
        return Err(ApiError::PayloadTooLarge {
            message: format!(
                "a YAML registration is at most {} bytes (JSON may be larger)",
                state.parsing.yaml_bytes
            ),
            field: None,
        });
    }
    let request = state
        .parsing
        .parse(body, format)
        .await
        .inspect_err(|_| state.metrics.registration("invalid"))?;
    let registered = register_request(&state, auth.caller(), request).await?;
    let (status, experiment) = match registered {
        Registered::Created(experiment) => (StatusCode::CREATED, experiment),
        Registered::Existing(experiment) => (StatusCode::OK, experiment),
    };
    Ok((status, Json(experiment.into())))
}

/// What registering did.
#[derive(Debug)]
pub enum Registered {
    Created(Experiment),
    /// The same configuration is already live: that experiment.
    Existing(Experiment),
}

/// Registers a parsed request for `caller`, unless its configuration is
/// blacklisted, quarantined or already registered.
pub async fn register_request(
    state: &AppState,
    caller: &Caller,
    request: RegisterRequest,
) -> Result<Registered, ApiError> {
    let unknown = state.catalog.check(&request.configuration);
    if !unknown.is_empty() {
        state.metrics.registration("invalid");
        return Err(trizone_core::Error::Invalid(unknown)
            .nested_in("configuration")
            .into());
    }
    let owner = owner_of(state, caller, request.owner.as_deref())?;
    let fingerprint = request.configuration.fingerprint();
    if let Some(existing) = known(state, &fingerprint).await? {
        state.metrics.registration("existing");
        return Ok(Registered::Existing(existing));
    }
    let registered = insert(state, caller, owner, &request, &fingerprint).await?;
    match &registered {
        Registered::Created(experiment) => {
            state.metrics.registration("created");
            tracing::info!(experiment = %experiment.id, %fingerprint, "experiment registered");
        }
        Registered::Existing(_) => state.metrics.registration("existing"),
    }
    Ok(registered)
}

/// Who the experiment belongs to: the caller, unless an admin names
/// someone else.
fn owner_of<'a>(
    state: &AppState,
    caller: &'a Caller,
    requested: Option<&'a str>,
) -> Result<&'a str, ApiError> {
    match requested.map(str::trim) {
        None => Ok(caller.principal.as_str()),
        Some(owner) if owner.is_empty() || owner.chars().count() > 200 => {
            state.metrics.registration("invalid");
            Err(ApiError::invalid("owner", "must be 1 to 200 characters"))
        }
        Some(owner) if !caller.may_change(owner) => Err(ApiError::NotYours {
            message: format!(
                "your key registers as `{}`: leave `owner` out, or ask an admin to register for `{owner}`",
                caller.principal
            ),
        }),
        Some(owner) => Ok(owner),
    }
}

/// The live experiment of `fingerprint`, if there is one; a refusal if
/// the configuration is blacklisted or quarantined.
async fn known(
    state: &AppState,
    fingerprint: &Fingerprint,
) -> Result<Option<Experiment>, ApiError> {
    // A refusal is counted under its code.
    let refuse = |code: &'static str, message: String| {
        state.metrics.registration(code);
        ApiError::Refused { code, message }
    };
    if let Some(entry) = quarantine::blacklist_entry(&state.db, fingerprint).await? {
        let reason = entry.reason;
        return Err(refuse(
            "blacklisted",
            format!("configuration {fingerprint} is blacklisted: {reason}"),
        ));
    }
    if let Some(existing) = experiments::find_live(&state.db, fingerprint).await? {
        return Ok(Some(existing));
    }
    if let Some(quarantined) =
        experiments::find_with_status(&state.db, fingerprint, ExperimentStatus::Quarantined).await?
    {
        let id = quarantined.id;
        return Err(refuse(
            "quarantined",
            format!(
                "configuration {fingerprint} was quarantined as experiment {id}; an admin can request its re-evaluation"
            ),
        ));
    }
    Ok(None)
}

/// Stores the experiment and its audit event in one transaction.
async fn insert(
    state: &AppState,
    caller: &Caller,
    owner: &str,
    request: &RegisterRequest,
    fingerprint: &Fingerprint,
) -> Result<Registered, ApiError> {
    let mut tx = state.db.begin().await.map_err(StoreError::from)?;
    let new = experiments::NewExperiment {
        owner,
        description: &request.description,
        configuration: &request.configuration,
        reevaluation_of: None,
    };
    let experiment = match experiments::insert(&mut *tx, new).await {
        Ok(experiment) => experiment,
        // Registered concurrently by another request: answer with that one.
        Err(StoreError::Conflict { .. }) => {
            drop(tx);
            let existing = experiments::find_live(&state.db, fingerprint)
                .await?
                .ok_or_else(|| ApiError::Conflict {
                    message: "registered concurrently; retry".into(),
                })?;
            return Ok(Registered::Existing(existing));
        }
        Err(error) => return Err(error.into()),
    };
    let details = serde_json::json!({"experiment_id": experiment.id, "name": experiment.name, "owner": experiment.owner});
    audit::append(
        &mut *tx,
        NewEvent {
            actor: &caller.actor().to_string(),
            action: AuditAction::ExperimentRegistered,
            subject: fingerprint.as_str(),
            details: &details,
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Registered::Created(experiment))
}
