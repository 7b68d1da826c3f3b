//! `/quarantine`: V3's records and the blacklist; `/quarantine/{id}`: one
//! record's reason, evidence, impact, re-evaluation history and audit
//! trail. Admins can ask V1 to re-evaluate a record, and the gate to
//! blacklist its configuration, each with a reason.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use trizone_api::audit::ChainReport;
use trizone_api::experiments::ExperimentView;
use trizone_api::quarantine::{BlacklistEntry, RecordPage, RecordView};
use uuid::Uuid;

use super::errors::Failure;
use super::layout::{Section, csrf_field, notice, page};
use super::{Paging, status_badge, when};
use crate::signed_in::SignedIn;
use crate::state::AppState;
use crate::zones::Zone;

const PAGE: i64 = 50;

pub async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    Query(paging): Query<Paging>,
) -> Result<Html<String>, Failure> {
    let offset = paging.offset();
    let token = &who.session.token;
    let records_path = format!("/api/v3/records?limit={PAGE}&offset={offset}");
    let (records, blacklist) = tokio::join!(
        state
            .zones
            .get::<RecordPage>(Zone::V3, &records_path, token, "records"),
        state
            .zones
            .get::<Vec<BlacklistEntry>>(Zone::V3, "/api/v3/blacklist", token, "blacklist"),
    );
    let records = records.map_err(|error| {
        Failure::from_zone(&state, &who, &format!("/quarantine?offset={offset}"), error)
    })?;
    let body = html! {
        @if records.records.is_empty() {
            p { "Nothing is quarantined." }
        } @else {
            table.list #records {
                caption.visually-hidden { "Quarantine records, newest first" }
                thead { tr {
                    th scope="col" { "Configuration" }
                    th scope="col" { "Owner" }
                    th scope="col" { "Reason" }
                    th scope="col" { "Model" }
                    th scope="col" { "Re-evaluable" }
                    th scope="col" { "When" }
                } }
                tbody {
                    @for r in &records.records {
                        tr {
                            td { a href={ "/quarantine/" (r.id) } { (r.name) } }
                            td { (r.owner) }
                            td { span.badge.fail { (r.reason) } }
                            td { (r.primary_model) }
                            td { @if r.reevaluation_eligible { "yes" } @else { "no" } }
                            td { (when(r.created_at)) }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if offset > 0 { a rel="prev" href=(format!("/quarantine?offset={}", (offset - PAGE).max(0))) { "← Newer" } }
            @if let Some(next) = records.next_offset { a rel="next" href=(format!("/quarantine?offset={next}")) { "Older →" } }
        }
        h2 { "Blacklist" }
        @match &blacklist {
            Ok(entries) if entries.is_empty() => p { "Nothing is blacklisted." },
            Ok(entries) => (blacklist_table(entries)),
            Err(error) => (notice("error", &format!("The blacklist cannot be shown: {error}."))),
        }
    };
    Ok(Html(
        page("Quarantine", Section::Quarantine, Some(&who.session), body).into_string(),
    ))
}

fn blacklist_table(entries: &[BlacklistEntry]) -> Markup {
    html! {
        table.list #blacklist {
            caption.visually-hidden { "Blacklisted configurations" }
            thead { tr { th scope="col" { "Fingerprint" } th scope="col" { "Reason" } th scope="col" { "By" } th scope="col" { "When" } } }
            tbody {
                @for e in entries {
                    tr {
                        td.mono title=(e.fingerprint) { (super::experiments::short(&e.fingerprint)) }
                        td { (e.reason) }
                        td { (e.blacklisted_by) }
                        td { (when(e.created_at)) }
                    }
                }
            }
        }
    }
}

/// One record, read with the person's token.
async fn record(
    state: &AppState,
    who: &SignedIn,
    id: Uuid,
) -> Result<RecordView, crate::zones::ZoneError> {
    state
        .zones
        .get(
            Zone::V3,
            &format!("/api/v3/records/{id}"),
            &who.session.token,
            "quarantine record",
        )
        .await
}

pub async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, Failure> {
    let view = record(&state, &who, id)
        .await
        .map_err(|error| Failure::from_zone(&state, &who, &format!("/quarantine/{id}"), error))?;
    let record = &view.record;
    let summary = &record.summary;
    let reevaluation = &view.reevaluation;
    let body = html! {
        dl.summary {
            dt { "Reason" } dd #record-reason { span.badge.fail { (summary.reason) } }
            dt { "Experiment" } dd { a href={ "/experiments/" (summary.experiment_id) } { (summary.experiment_id) } }
            dt { "Owner" } dd { (summary.owner) }
            dt { "Fingerprint" } dd.mono { (summary.fingerprint) }
            dt { "Decided by" } dd { (summary.decided_by) }
            dt { "When" } dd { (when(summary.created_at)) }
            dt { "Re-evaluable" } dd { @if reevaluation.eligible { "yes" } @else { "no" } }
            @if let Some(entry) = &reevaluation.blacklisted {
                dt { "Blacklisted" } dd { (entry.reason) " (" (entry.blacklisted_by) ")" }
            }
        }
        h2 { "Failed checks" }
        pre.yaml tabindex="0" aria-label="The failed checks" { code { (pretty(&record.failed_checks)) } }
        @if let Some(metrics) = &record.metrics {
            h2 { "Metrics at failure" }
            pre.yaml tabindex="0" aria-label="The metrics at failure" { code { (pretty(metrics)) } }
        }
        h2 { "Impact" }
        pre.yaml tabindex="0" aria-label="The impact" { code { (pretty(&record.impact)) } }
        h2 { "Re-evaluations" }
        @if reevaluation.history.is_empty() {
            p { "None yet." }
        } @else {
            table.list #reevaluations {
                caption.visually-hidden { "Experiments registered from this record" }
                thead { tr { th scope="col" { "Experiment" } th scope="col" { "Status" } th scope="col" { "Owner" } th scope="col" { "When" } } }
                tbody {
                    @for r in &reevaluation.history {
                        tr {
                            td { a href={ "/experiments/" (r.experiment_id) } { (r.experiment_id) } }
                            td { (status_badge(r.status)) }
                            td { (r.owner) }
                            td { (when(r.created_at)) }
                        }
                    }
                }
            }
        }
        @if who.session.is_admin() {
            (admin_forms(&view, &who))
        }
        h2 { "Audit trail" }
        p #chain { (chain(&view.audit.chain)) }
        table.list #audit {
            caption.visually-hidden { "Audit events about this configuration, oldest first" }
            thead { tr { th scope="col" { "#" } th scope="col" { "Action" } th scope="col" { "By" } th scope="col" { "When" } } }
            tbody {
                @for event in &view.audit.events {
                    tr {
                        td.num { (event.seq) }
                        td { (event.action) }
                        td { (event.actor) }
                        td { (when(event.occurred_at)) }
                    }
                }
            }
        }
    };
    let title = format!("Quarantined: {}", summary.name);
    Ok(Html(
        page(&title, Section::Quarantine, Some(&who.session), body).into_string(),
    ))
}

fn admin_forms(view: &RecordView, who: &SignedIn) -> Markup {
    let id = view.record.summary.id;
    html! {
        h2 { "Actions" }
        @if view.reevaluation.eligible && !view.reevaluation.open {
            form.action #reevaluate method="post" action={ "/quarantine/" (id) "/reevaluate" } {
                (csrf_field(&who.session))
                label for="reevaluate-description" { "Why re-evaluate it" }
                input #reevaluate-description type="text" name="reason" required maxlength="2000";
                button type="submit" { "Request re-evaluation" }
            }
        }
        @if view.reevaluation.blacklisted.is_none() {
            form.action #blacklist-form method="post" action={ "/quarantine/" (id) "/blacklist" } {
                (csrf_field(&who.session))
                label for="blacklist-reason" { "Why blacklist it, for good" }
                input #blacklist-reason type="text" name="reason" required maxlength="2000";
                button.danger type="submit" { "Blacklist" }
            }
        }
    }
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn chain(report: &ChainReport) -> String {
    match report {
        ChainReport::Intact { events, .. } => {
            format!("The audit chain verifies: {events} events, each against its neighbours.")
        }
        ChainReport::Broken { seq, .. } => {
            format!("The audit chain is broken at event {seq}: an event was altered or removed.")
        }
    }
}

#[derive(Deserialize)]
pub struct ReasonForm {
    csrf: String,
    reason: String,
}

impl std::fmt::Debug for ReasonForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReasonForm")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// Asks V1 to register the record's configuration again, with the
/// person's token: V1 and V3 decide whether it may.
pub async fn reevaluate(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<Uuid>,
    Form(form): Form<ReasonForm>,
) -> Response {
    if let Err(refused) = who.check_form(&form.csrf) {
        return refused.into_response();
    }
    let body = serde_json::json!({"record_id": id, "description": form.reason});
    let registered = state
        .zones
        .post::<ExperimentView, _>(
            Zone::V1,
            "/api/v1/reevaluations",
            &who.session.token,
            &body,
            "quarantine record",
        )
        .await;
    match registered {
        Ok(experiment) => Redirect::to(&format!("/experiments/{}", experiment.id)).into_response(),
        Err(error) => {
            Failure::from_zone(&state, &who, &format!("/quarantine/{id}"), error).into_response()
        }
    }
}

/// Asks the gate to blacklist the record's configuration.
pub async fn blacklist(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<Uuid>,
    Form(form): Form<ReasonForm>,
) -> Response {
    if let Err(refused) = who.check_form(&form.csrf) {
        return refused.into_response();
    }
    let target = format!("/quarantine/{id}");
    let view = match record(&state, &who, id).await {
        Ok(view) => view,
        Err(error) => return Failure::from_zone(&state, &who, &target, error).into_response(),
    };
    let body =
        serde_json::json!({"fingerprint": view.record.summary.fingerprint, "reason": form.reason});
    let done = state
        .zones
        .post::<serde_json::Value, _>(
            Zone::Gate,
            "/api/gate/blacklist",
            &who.session.token,
            &body,
            "configuration",
        )
        .await;
    match done {
        Ok(_) => Redirect::to(&target).into_response(),
        Err(error) => Failure::from_zone(&state, &who, &target, error).into_response(),
    }
}
