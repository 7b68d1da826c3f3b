//! `/runs/{id}`: a run's progress (refreshing itself while it runs) and
//! its cases, filtered by how they ended, a page at a time.

use axum::extract::{Path, Query, State};
use axum::response::Html;
use maud::{Markup, html};
use serde::Deserialize;
use trizone_api::runs::{CasePage, CaseResult, RunView};
use trizone_api::states::CaseOutcome;
use trizone_core::Language;
use uuid::Uuid;

use super::errors::Failure;
use super::layout::{Section, page};
use super::when;
use crate::signed_in::SignedIn;
use crate::state::AppState;
use crate::zones::Zone;

/// Cases per page.
const PAGE: u32 = 50;

/// Seconds between refreshes of a live run's progress.
const REFRESH_SECONDS: u32 = 2;

#[derive(Debug, Default, Deserialize)]
pub struct CaseFilters {
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    false_positive: Option<String>,
    #[serde(default)]
    false_negative: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    recovered: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

/// A yes/no/any filter as it comes from a form.
fn tri(raw: Option<&str>, name: &str) -> Result<Option<bool>, Failure> {
    match raw.filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some("yes") => Ok(Some(true)),
        Some("no") => Ok(Some(false)),
        Some(other) => Err(Failure::BadRequest(format!(
            "`{other}` is not a value of {name}: yes, no or empty"
        ))),
    }
}

/// The filters, checked.
struct Checked {
    outcome: Option<CaseOutcome>,
    language: Option<Language>,
    false_positive: Option<bool>,
    false_negative: Option<bool>,
    recovered: Option<bool>,
}

/// How a yes/no filter is written: `yes`/`no` in this page's links,
/// `true`/`false` to V1.
type Boolean = fn(bool) -> &'static str;

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

fn true_false(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

impl Checked {
    fn pairs(&self, boolean: Boolean) -> Vec<(&'static str, &'static str)> {
        let mut pairs = Vec::new();
        if let Some(outcome) = self.outcome {
            pairs.push(("outcome", outcome.as_str()));
        }
        if let Some(language) = self.language {
            pairs.push(("language", language.as_str()));
        }
        for (name, value) in [
            ("false_positive", self.false_positive),
            ("false_negative", self.false_negative),
            ("recovered", self.recovered),
        ] {
            if let Some(value) = value {
                pairs.push((name, boolean(value)));
            }
        }
        pairs
    }
}

impl CaseFilters {
    fn check(&self) -> Result<Checked, Failure> {
        let outcome = match self.outcome.as_deref().filter(|o| !o.is_empty()) {
            None => None,
            Some(raw) => Some(
                CaseOutcome::parse(raw)
                    .ok_or_else(|| Failure::BadRequest(format!("`{raw}` is not an outcome")))?,
            ),
        };
        let language = match self.language.as_deref().filter(|l| !l.is_empty()) {
            None => None,
            Some(raw) => Some(
                Language::parse(raw)
                    .ok_or_else(|| Failure::BadRequest(format!("`{raw}` is not a language")))?,
            ),
        };
        Ok(Checked {
            outcome,
            language,
            false_positive: tri(self.false_positive.as_deref(), "false_positive")?,
            false_negative: tri(self.false_negative.as_deref(), "false_negative")?,
            recovered: tri(self.recovered.as_deref(), "recovered")?,
        })
    }
}

fn query(pairs: &[(&str, &str)], extra: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs.iter().chain(extra) {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

pub async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<Uuid>,
    Query(filters): Query<CaseFilters>,
) -> Result<Html<String>, Failure> {
    let checked = filters.check()?;
    let links = checked.pairs(yes_no);
    let here = format!("/runs/{id}?{}", query(&links, &[]));
    let limit = PAGE.to_string();
    let mut v1_extra = vec![("limit", limit.as_str())];
    if let Some(after) = filters.after.as_deref() {
        v1_extra.push(("after", after));
    }
    let (run_path, cases_path) = (
        format!("/api/v1/runs/{id}"),
        format!(
            "/api/v1/runs/{id}/cases?{}",
            query(&checked.pairs(true_false), &v1_extra)
        ),
    );
    let token = &who.session.token;
    let (run, cases) = tokio::join!(
        state
            .zones
            .get::<RunView>(Zone::V1, &run_path, token, "run"),
        state
            .zones
            .get::<CasePage>(Zone::V1, &cases_path, token, "run"),
    );
    let fail = |error| Failure::from_zone(&state, &who, &here, error);
    let run = run.map_err(fail)?;
    let cases = cases.map_err(|error| Failure::from_zone(&state, &who, &here, error))?;
    let body = html! {
        p { "Of " a href={ "/experiments/" (run.run.experiment_id) } { "experiment " (run.run.experiment_id) } "." }
        @if run.is_over() {
            div #progress { (progress(&run)) }
        } @else {
            div #progress data-refresh=(REFRESH_SECONDS) data-src={ "/runs/" (id) "/progress" } aria-live="polite" {
                (progress(&run))
            }
        }
        h2 { "Cases" }
        @if !run.is_over() {
            p.help { "The run is live: its progress above refreshes itself; reload for its newest cases." }
        }
        (filter_form(id, &checked))
        @if cases.cases.is_empty() {
            p { "No case matches." }
        } @else {
            (case_table(id, &cases.cases))
        }
        nav.pager aria-label="Pages" {
            @if filters.after.is_some() {
                a href=(format!("/runs/{id}?{}", query(&links, &[]))) { "← First page" }
            }
            @if let Some(next) = &cases.next_after {
                a rel="next" href=(format!("/runs/{id}?{}", query(&links, &[("after", next.as_str())]))) { "Next page →" }
            }
        }
    };
    let title = format!("Run {}", super::experiments::short(&id.to_string()));
    Ok(Html(
        page(&title, Section::Experiments, Some(&who.session), body).into_string(),
    ))
}

/// The progress block alone, for a live page's refresh.
pub async fn progress_fragment(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, Failure> {
    let run: RunView = state
        .zones
        .get(
            Zone::V1,
            &format!("/api/v1/runs/{id}"),
            &who.session.token,
            "run",
        )
        .await
        .map_err(|error| Failure::from_zone(&state, &who, &format!("/runs/{id}"), error))?;
    Ok(Html(progress(&run).into_string()))
}

fn progress(run: &RunView) -> Markup {
    let p = &run.progress;
    html! {
        dl.summary {
            dt { "Status" } dd #run-status { (run.run.status.as_str())
                @if run.is_over() { span data-final { } } }
            dt { "Cases" } dd { (p.cases_done) " of " (run.run.cases_total) }
            dt { "Correct" } dd { (p.correct) }
            dt { "Errors" } dd { (p.errors) }
            dt { "False positives" } dd { (p.false_positives) }
            dt { "False negatives" } dd { (p.false_negatives) }
            dt { "Cost" } dd { "$" (format!("{:.4}", p.cost_usd)) }
            @if let Some(reason) = run.run.stop_reason {
                dt { "Stopped" } dd #stop-reason { (reason.as_str())
                    @if let Some(unneeded) = run.run.cases_not_needed { ", " (unneeded) " cases not needed" } }
            }
            dt { "Started" } dd { (when(run.run.created_at)) }
        }
    }
}

fn filter_form(id: Uuid, checked: &Checked) -> Markup {
    let tri_select = |name: &str, label: &str, value: Option<bool>| {
        html! {
            label for=(name) { (label) }
            select id=(name) name=(name) {
                option value="" selected[value.is_none()] { "any" }
                option value="yes" selected[value == Some(true)] { "yes" }
                option value="no" selected[value == Some(false)] { "no" }
            }
        }
    };
    html! {
        form.filters method="get" action={ "/runs/" (id) } role="search" {
            label for="outcome" { "Outcome" }
            select #outcome name="outcome" {
                option value="" selected[checked.outcome.is_none()] { "any" }
                @for outcome in CaseOutcome::ALL {
                    option value=(outcome.as_str()) selected[checked.outcome == Some(*outcome)] { (outcome.as_str()) }
                }
            }
            (tri_select("false_positive", "False positive", checked.false_positive))
            (tri_select("false_negative", "False negative", checked.false_negative))
            label for="language" { "Language" }
            select #language name="language" {
                option value="" selected[checked.language.is_none()] { "any" }
                @for language in Language::ALL {
                    option value=(language.as_str()) selected[checked.language == Some(*language)] { (language.as_str()) }
                }
            }
            (tri_select("recovered", "Format recovered", checked.recovered))
            button type="submit" { "Filter" }
        }
    }
}

fn case_table(run: Uuid, cases: &[CaseResult]) -> Markup {
    html! {
        table.list {
            caption.visually-hidden { "The run's cases, by case id" }
            thead { tr {
                th scope="col" { "Case" }
                th scope="col" { "Path" }
                th scope="col" { "Language" }
                th scope="col" { "Outcome" }
                th scope="col" { "False positives" }
                th scope="col" { "False negatives" }
                th scope="col" { "Latency" }
            } }
            tbody {
                @for case in cases {
                    tr {
                        td { a href=(case_url(run, &case.case_id)) { (case.case_id) } }
                        td.mono { (case.path) }
                        td { (case.language.as_str()) }
                        td { span.badge.(case.outcome.as_str()) { (case.outcome.as_str()) } }
                        td.num { (case.false_positives) }
                        td.num { (case.false_negatives) }
                        td.num { @if let Some(ms) = case.latency_ms { (format!("{ms:.0} ms")) } @else { "—" } }
                    }
                }
            }
        }
    }
}

/// A case's page; its id is escaped as one path segment.
pub fn case_url(run: Uuid, case_id: &str) -> String {
    let segment: String = url::form_urlencoded::byte_serialize(case_id.as_bytes()).collect();
    format!("/runs/{run}/cases/{}", segment.replace('+', "%20"))
}
