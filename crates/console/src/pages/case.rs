//! `/runs/{id}/cases/{case_id}`: one case's code, with the findings the
//! dataset expects and the ones the model found marked on their lines,
//! which matched which, and the model's answer as it came.

use axum::extract::{Path, State};
use axum::response::Html;
use maud::{Markup, html};
use trizone_api::runs::CaseDetail;
use trizone_core::{ExpectedFinding, Finding};
use uuid::Uuid;

use super::errors::Failure;
use super::layout::{Section, page};
use super::run::case_url;
use crate::signed_in::SignedIn;
use crate::state::AppState;
use crate::zones::Zone;

pub async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    Path((run, case_id)): Path<(Uuid, String)>,
) -> Result<Html<String>, Failure> {
    let segment: String = url::form_urlencoded::byte_serialize(case_id.as_bytes()).collect();
    let path = format!("/api/v1/runs/{run}/cases/{}", segment.replace('+', "%20"));
    let case: CaseDetail = state
        .zones
        .get(Zone::V1, &path, &who.session.token, "case")
        .await
        .map_err(|error| Failure::from_zone(&state, &who, &case_url(run, &case_id), error))?;
    let result = &case.result;
    let body = html! {
        p { "Of " a href={ "/runs/" (run) } { "run " (super::experiments::short(&run.to_string())) } "." }
        dl.summary {
            dt { "Outcome" } dd #case-outcome { span.badge.(result.outcome.as_str()) { (result.outcome.as_str()) } }
            dt { "File" } dd.mono { (result.path) " (" (result.language.as_str()) ")" }
            dt { "Matched" } dd { (result.true_positives) " of " (result.expected.len()) " expected" }
            dt { "False positives" } dd { (result.false_positives) }
            dt { "False negatives" } dd { (result.false_negatives) }
            @if let Some(by) = &result.answered_by { dt { "Answered by" } dd { (by) } }
            @if let Some(ms) = result.latency_ms { dt { "Latency" } dd { (format!("{ms:.0} ms")) } }
            @if let Some(recovery) = result.format_recovery { dt { "Format recovered" } dd { (recovery.as_str()) } }
            @if let Some(kind) = &result.error_kind {
                dt { "Error" } dd { (kind) @if let Some(m) = &result.error_message { ": " (m) } }
            }
        }
        h2 { "Findings" }
        (findings(&result.expected, &result.found, &result.matches))
        h2 { "Code" }
        (code(&case.code, &result.expected, &result.found))
        @if let Some(answer) = &result.answer {
            h2 { "The model's answer, as it came" }
            pre.yaml #raw-answer tabindex="0" aria-label="The model's answer" { code { (answer) } }
        }
    };
    Ok(Html(
        page(
            &format!("Case {case_id}"),
            Section::Experiments,
            Some(&who.session),
            body,
        )
        .into_string(),
    ))
}

fn findings(expected: &[ExpectedFinding], found: &[Finding], matches: &[(usize, usize)]) -> Markup {
    let matched_by = |e: usize| matches.iter().find(|m| m.1 == e).map(|m| m.0);
    let matches_of = |f: usize| matches.iter().find(|m| m.0 == f).map(|m| m.1);
    html! {
        table.list #expected {
            caption { "Expected by the dataset" }
            thead { tr { th scope="col" { "" } th scope="col" { "Lines" } th scope="col" { "Category" } th scope="col" { "Description" } th scope="col" { "Matched by" } } }
            tbody {
                @if expected.is_empty() {
                    tr { td colspan="5" { "None: the dataset expects no finding in this code." } }
                }
                @for (i, e) in expected.iter().enumerate() {
                    tr {
                        th scope="row" { "E" (i + 1) }
                        td { (e.line_start) "–" (e.line_end) }
                        td { (e.category) }
                        td { (e.description) }
                        td { @match matched_by(i) { Some(f) => { "F" (f + 1) }, None => strong { "missed" } } }
                    }
                }
            }
        }
        table.list #found {
            caption { "Found by the model" }
            thead { tr { th scope="col" { "" } th scope="col" { "Lines" } th scope="col" { "Severity" } th scope="col" { "Category" } th scope="col" { "Message" } th scope="col" { "Matches" } } }
            tbody {
                @if found.is_empty() {
                    tr { td colspan="6" { "None." } }
                }
                @for (i, f) in found.iter().enumerate() {
                    tr {
                        th scope="row" { "F" (i + 1) }
                        td { (f.line_start) "–" (f.line_end) }
                        td { (f.severity.as_str()) }
                        td { (f.category) }
                        td { (f.message) }
                        td { @match matches_of(i) { Some(e) => { "E" (e + 1) }, None => strong { "false positive" } } }
                    }
                }
            }
        }
    }
}

/// The code, line by line, each line marked with the findings on it.
fn code(code: &str, expected: &[ExpectedFinding], found: &[Finding]) -> Markup {
    html! {
        table.code {
            caption.visually-hidden { "The case's code, with each line's findings" }
            thead { tr { th scope="col" { "Line" } th scope="col" { "Code" } th scope="col" { "Findings" } } }
            tbody {
                @for (i, text) in code.lines().enumerate() {
                    @let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    @let e: Vec<usize> = expected.iter().enumerate().filter(|(_, f)| (f.line_start..=f.line_end).contains(&n)).map(|(i, _)| i + 1).collect();
                    @let f: Vec<usize> = found.iter().enumerate().filter(|(_, f)| (f.line_start..=f.line_end).contains(&n)).map(|(i, _)| i + 1).collect();
                    tr.expected[!e.is_empty()].found[!f.is_empty()] {
                        td.num { (n) }
                        td { pre { (text) } }
                        td {
                            @for e in &e { span.mark.expected { "E" (e) } " " }
                            @for f in &f { span.mark.found { "F" (f) } " " }
                        }
                    }
                }
            }
        }
    }
}
