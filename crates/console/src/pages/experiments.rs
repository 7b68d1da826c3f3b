//! `/experiments`: every experiment, newest first, a page at a time, with
//! its owner, status, fingerprint and the gate's last verdict.

use axum::extract::{Query, State};
use axum::response::Html;
use maud::{Markup, html};
use serde::Deserialize;
use trizone_api::experiments::{ExperimentPage, ExperimentView};
use trizone_core::ExperimentStatus;

use super::errors::Failure;
use super::layout::{Section, page};
use super::{decision_badge, status_badge, when};
use crate::signed_in::SignedIn;
use crate::state::AppState;
use crate::zones::Zone;

/// Rows per page.
pub const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    offset: Option<i64>,
}

impl Filters {
    fn status(&self) -> Result<Option<ExperimentStatus>, Failure> {
        match self.status.as_deref().filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(raw) => ExperimentStatus::parse(raw)
                .map(Some)
                .ok_or_else(|| Failure::BadRequest(format!("`{raw}` is not a status"))),
        }
    }

    fn owner(&self) -> Option<&str> {
        self.owner
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty())
    }

    /// This list's URL at `offset`, keeping the filters.
    fn url(&self, status: Option<ExperimentStatus>, offset: i64) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(status) = status {
            query.append_pair("status", status.as_str());
        }
        if let Some(owner) = self.owner() {
            query.append_pair("owner", owner);
        }
        if offset > 0 {
            query.append_pair("offset", &offset.to_string());
        }
        let query = query.finish();
        if query.is_empty() {
            "/experiments".into()
        } else {
            format!("/experiments?{query}")
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    Query(filters): Query<Filters>,
) -> Result<Html<String>, Failure> {
    let status = filters.status()?;
    let offset = filters.offset.unwrap_or(0).max(0);
    let path = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("limit", &PAGE.to_string());
        query.append_pair("offset", &offset.to_string());
        if let Some(status) = status {
            query.append_pair("status", status.as_str());
        }
        if let Some(owner) = filters.owner() {
            query.append_pair("owner", owner);
        }
        format!("/api/v1/experiments?{}", query.finish())
    };
    let listed: ExperimentPage = state
        .zones
        .get(Zone::V1, &path, &who.session.token, "experiment list")
        .await
        .map_err(|error| Failure::from_zone(&state, &who, &filters.url(status, offset), error))?;
    let body = html! {
        (filter_form(status, filters.owner()))
        @if listed.items.is_empty() {
            p { "No experiment matches." }
        } @else {
            table.list {
                caption.visually-hidden { "Experiments, newest first" }
                thead { tr {
                    th scope="col" { "Experiment" }
                    th scope="col" { "Owner" }
                    th scope="col" { "Status" }
                    th scope="col" { "Fingerprint" }
                    th scope="col" { "Last verdict" }
                    th scope="col" { "Cases" }
                    th scope="col" { "Registered" }
                } }
                tbody {
                    @for experiment in &listed.items { (row(experiment)) }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if offset > 0 {
                a rel="prev" href=(filters.url(status, (offset - PAGE).max(0))) { "← Newer" }
            }
            @if let Some(next) = listed.next_offset {
                a rel="next" href=(filters.url(status, next)) { "Older →" }
            }
        }
    };
    Ok(Html(
        page(
            "Experiments",
            Section::Experiments,
            Some(&who.session),
            body,
        )
        .into_string(),
    ))
}

fn filter_form(status: Option<ExperimentStatus>, owner: Option<&str>) -> Markup {
    html! {
        form.filters method="get" action="/experiments" role="search" {
            label for="status" { "Status" }
            select #status name="status" {
                option value="" selected[status.is_none()] { "any" }
                @for candidate in ExperimentStatus::ALL {
                    option value=(candidate.as_str()) selected[status == Some(candidate)] {
                        (candidate.as_str())
                    }
                }
            }
            label for="owner" { "Owner" }
            input #owner type="text" name="owner" value=(owner.unwrap_or_default());
            button type="submit" { "Filter" }
        }
    }
}

fn row(experiment: &ExperimentView) -> Markup {
    let decision = experiment.last_decision.as_ref();
    html! {
        tr {
            td { a href={ "/experiments/" (experiment.id) } { (experiment.name) } }
            td { (experiment.owner) }
            td { (status_badge(experiment.status)) }
            td.mono title=(experiment.fingerprint) { (short(&experiment.fingerprint)) }
            td { @if let Some(d) = decision { (decision_badge(d.decision)) } @else { "—" } }
            td.num { @if let Some(cases) = decision.and_then(|d| d.cases) { (cases) } @else { "—" } }
            td { (when(experiment.created_at)) }
        }
    }
}

/// The first 12 hexadecimal digits of a fingerprint, as the CLI shows it.
pub fn short(fingerprint: &str) -> &str {
    fingerprint.get(..12).unwrap_or(fingerprint)
}
