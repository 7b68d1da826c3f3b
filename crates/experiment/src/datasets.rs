//! `/api/v1/datasets`: upload cases as JSON lines, streamed into one
//! transaction in batches, so a large upload needs little memory and a bad
//! line leaves nothing stored.

use std::collections::HashSet;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use trizone_core::{ExpectedFinding, Language};
use trizone_http::auth::Experimenters;
use trizone_http::{ApiError, Authorized, Json, Path, Query};
use trizone_store::StoreError;
use trizone_store::datasets::{self, Dataset, NewCase};
use uuid::Uuid;

use crate::state::AppState;

/// Limits on an upload.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub max_bytes: usize,
    pub max_line_bytes: usize,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_bytes: 256 * 1024 * 1024,
            max_line_bytes: 1024 * 1024,
        }
    }
}

/// Cases written per INSERT.
const BATCH: usize = 500;

/// One line of a dataset (see the README's dataset format).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseLine {
    id: String,
    language: Language,
    path: String,
    code: String,
    #[serde(default)]
    expected_findings: Vec<ExpectedFinding>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The dataset's name.
    pub name: String,
    #[serde(default)]
    pub description: String,
}

fn bad_line(number: usize, message: impl std::fmt::Display) -> ApiError {
    ApiError::Unprocessable {
        message: format!("line {number}: {message}; nothing was stored"),
        field: Some(format!("line {number}")),
        details: Vec::new(),
    }
}

fn parse_case(number: usize, line: &str, seen: &mut HashSet<String>) -> Result<NewCase, ApiError> {
    if let Some(path) = trizone_core::text::json_nul_path(line.as_bytes()) {
        return Err(bad_line(
            number,
            format!("{path} must not contain the NUL character (U+0000)"),
        ));
    }
    let de = &mut serde_json::Deserializer::from_str(line);
    let case: CaseLine = serde_path_to_error::deserialize(de).map_err(|e| {
        // serde_json places the error "at line 1 column N" of this one
        // line; the line is already named, so only the column is kept.
        let inner = e.inner();
        let text = inner.to_string();
        let position = format!(" at line {} column {}", inner.line(), inner.column());
        let message = text.strip_suffix(&position).unwrap_or(&text);
        let column = inner.column();
        match e.path().to_string().as_str() {
            "." => bad_line(number, format_args!("{message} (column {column})")),
            path => bad_line(number, format_args!("{path}: {message} (column {column})")),
        }
    })?;
    for (field, value) in [("id", &case.id), ("path", &case.path)] {
        if value.trim().is_empty()
            || value.chars().count() > 200
            || value.chars().any(char::is_control)
        {
            return Err(bad_line(
                number,
                format!("{field} must be 1 to 200 characters, without control characters"),
            ));
        }
    }
    if case.code.trim().is_empty() {
        return Err(bad_line(number, "code must not be empty"));
    }
    for (i, finding) in case.expected_findings.iter().enumerate() {
        if finding.line_start == 0 || finding.line_end < finding.line_start {
            return Err(bad_line(
                number,
                format!(
                    "expected_findings[{i}]: line_start must be at least 1 and at most line_end"
                ),
            ));
        }
        if finding.category.trim().is_empty() {
            return Err(bad_line(
                number,
                format!("expected_findings[{i}].category must not be empty"),
            ));
        }
    }
    if !seen.insert(case.id.clone()) {
        return Err(bad_line(
            number,
            format!("case id `{}` appears twice", case.id),
        ));
    }
    Ok(NewCase {
        case_id: case.id,
        language: case.language,
        path: case.path,
        code: case.code,
        expected_findings: case.expected_findings,
    })
}

/// Splits a byte stream into numbered lines, enforcing both limits, and
/// hashes every byte it reads.
struct Lines<S> {
    stream: S,
    buffer: Vec<u8>,
    number: usize,
    total: usize,
    limits: UploadLimits,
    hasher: Sha256,
    done: bool,
}

impl<S, E> Lines<S>
where
    S: Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    fn new(stream: S, limits: UploadLimits) -> Self {
        Self {
            stream,
            buffer: Vec::new(),
            number: 0,
            total: 0,
            limits,
            hasher: Sha256::new(),
            done: false,
        }
    }

    async fn next(&mut self) -> Result<Option<(usize, String)>, ApiError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                return self.emit(line).map(Some);
            }
            if self.buffer.len() > self.limits.max_line_bytes {
                return Err(bad_line(
                    self.number + 1,
                    format!(
                        "longer than the limit of {} bytes",
                        self.limits.max_line_bytes
                    ),
                ));
            }
            if self.done {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                let line = std::mem::take(&mut self.buffer);
                return self.emit(line).map(Some);
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => {
                    self.total += chunk.len();
                    if self.total > self.limits.max_bytes {
                        return Err(ApiError::PayloadTooLarge {
                            message: format!(
                                "the dataset is larger than the {} bytes an upload may have",
                                self.limits.max_bytes
                            ),
                            field: None,
                        });
                    }
                    self.hasher.update(&chunk);
                    self.buffer.extend_from_slice(&chunk);
                }
                Some(Err(error)) => {
                    return Err(ApiError::BadRequest {
                        message: format!("the upload broke off: {error}"),
                        field: None,
                    });
                }
                None => self.done = true,
            }
        }
    }

    fn emit(&mut self, mut line: Vec<u8>) -> Result<(usize, String), ApiError> {
        self.number += 1;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.len() > self.limits.max_line_bytes {
            return Err(bad_line(
                self.number,
                format!(
                    "longer than the limit of {} bytes",
                    self.limits.max_line_bytes
                ),
            ));
        }
        let text = String::from_utf8(line).map_err(|_| bad_line(self.number, "not UTF-8"))?;
        Ok((self.number, text))
    }
}

/// Uploads a dataset as JSON lines (`application/x-ndjson`).
#[utoipa::path(post, path = "/api/v1/datasets", tag = "datasets", params(UploadQuery),
    request_body(content = String, content_type = "application/x-ndjson", description = "one case per line"),
    responses((status = 201, body = Dataset), (status = 413, body = trizone_http::error::ErrorBody),
              (status = 429, description = "two uploads already under way with this key", body = trizone_http::error::ErrorBody),
              (status = 422, description = "a bad line, by number; nothing stored", body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    auth: Authorized<Experimenters>,
    Query(query): Query<UploadQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Dataset>), ApiError> {
    let name = query.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
    }
    // Sixteen trickling uploads once held sixteen pooled connections idle
    // in their transactions. A key uploads two at a time; the first batch
    // is read before a connection is taken, so a small upload, or a slow
    // client's first lines, hold none; and the role's
    // idle_in_transaction_session_timeout ends a transaction left waiting.
    let _slot = state.uploads.admit(&auth.caller().key_id)?;
    let mut lines = Lines::new(body.into_data_stream(), state.upload_limits);
    let (mut seen, mut batch, mut count) = (HashSet::new(), Vec::with_capacity(BATCH), 0i32);
    let mut ended = false;
    while !ended && batch.len() < BATCH {
        match lines.next().await? {
            Some((number, line)) if !line.trim().is_empty() => {
                batch.push(parse_case(number, &line, &mut seen)?);
            }
            Some(_) => {}
            None => ended = true,
        }
    }
    if batch.is_empty() {
        return Err(ApiError::invalid("body", "the upload has no cases"));
    }
    let mut tx = state.db.begin().await.map_err(StoreError::from)?;
    let id = datasets::create(&mut *tx, name, &query.description, &auth.caller().principal).await?;
    loop {
        if batch.len() == BATCH || (ended && !batch.is_empty()) {
            datasets::insert_cases(&mut *tx, id, count, &batch).await?;
            count += batch.len() as i32;
            batch.clear();
        }
        if ended {
            break;
        }
        match lines.next().await? {
            Some((number, line)) if !line.trim().is_empty() => {
                batch.push(parse_case(number, &line, &mut seen)?);
            }
            Some(_) => {}
            None => ended = true,
        }
    }
    let hash = hex::encode(lines.hasher.finalize());
    let dataset = datasets::finish(&mut *tx, id, count, &hash).await?;
    tx.commit().await.map_err(StoreError::from)?;
    tracing::info!(dataset = %dataset.id, cases = count, "dataset uploaded");
    Ok((StatusCode::CREATED, Json(dataset)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets", params(PageQuery),
    responses((status = 200, body = Vec<Dataset>),
              (status = 422, description = "A limit or offset out of range", body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<Experimenters>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Vec<Dataset>>, ApiError> {
    let limit = page.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be from 1 to 200"));
    }
    let offset = page.offset.unwrap_or(0).max(0);
    Ok(Json(datasets::list(&state.db, limit, offset).await?))
}

#[utoipa::path(get, path = "/api/v1/datasets/{id}", tag = "datasets",
    params(("id" = Uuid, Path, description = "Dataset id")),
    responses((status = 200, body = Dataset), (status = 404, body = trizone_http::error::ErrorBody)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
) -> Result<Json<Dataset>, ApiError> {
    Ok(Json(datasets::get(&state.db, id).await?))
}
