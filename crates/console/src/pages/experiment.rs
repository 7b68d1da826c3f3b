//! `/experiments/{id}`: one experiment, its configuration as registered,
//! its runs, and for each check the judge's evidence drawn case by case.
//! An inconclusive experiment's owner (or an admin) can extend it here.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use trizone_api::experiments::{EvidencePath, ExperimentPage, ExperimentView};
use trizone_api::gate::DecisionPage;
use trizone_api::runs::RunView;
use trizone_core::{Check, Decision, Verdict};
use uuid::Uuid;

use super::errors::Failure;
use super::layout::{Section, csrf_field, notice, page};
use super::{decision_badge, status_badge, when};
use crate::charts;
use crate::signed_in::{CsrfForm, SignedIn};
use crate::state::AppState;
use crate::zones::Zone;

/// Points each chart is drawn from.
const CHART_POINTS: u32 = 200;

pub async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<Uuid>,
) -> Result<Html<String>, Failure> {
    let target = format!("/experiments/{id}");
    let token = &who.session.token;
    let zones = &state.zones;
    let (one, runs, path) = (
        format!("/api/v1/experiments/{id}"),
        format!("/api/v1/experiments/{id}/runs"),
        format!("/api/v1/experiments/{id}/evidence?points={CHART_POINTS}"),
    );
    let serving = "/api/v1/experiments?status=promoted&limit=50";
    let decided = format!("/api/gate/decisions?experiment_id={id}&limit=20");
    let (experiment, runs, path, promoted, decisions) = tokio::join!(
        zones.get::<ExperimentView>(Zone::V1, &one, token, "experiment"),
        zones.get::<Vec<RunView>>(Zone::V1, &runs, token, "experiment"),
        zones.get::<EvidencePath>(Zone::V1, &path, token, "experiment"),
        zones.get::<ExperimentPage>(Zone::V1, serving, token, "experiment list"),
        zones.get::<DecisionPage>(Zone::Gate, &decided, token, "decisions"),
    );
    let experiment = experiment.map_err(|e| Failure::from_zone(&state, &who, &target, e))?;
    let may_extend = who.session.is_admin() || who.session.me.principal == experiment.owner;
    let body = html! {
        (summary(&experiment))
        @if let Some(verdict) = &experiment.verdict {
            section aria-labelledby="verdict-heading" {
                h2 #verdict-heading { "The judge's evidence" }
                (verdict_summary(&experiment, verdict, may_extend, &who))
                (checks_table(verdict))
                @match &path {
                    Ok(path) => (charts_for(verdict, path)),
                    Err(error) => (notice("warning", &format!("The charts cannot be drawn: {error}."))),
                }
            }
        }
        @if let Ok(promoted) = &promoted {
            (compare_form(&experiment, promoted))
        }
        section aria-labelledby="decisions-heading" {
            h2 #decisions-heading { "The gate's decisions" }
            @match &decisions {
                Ok(page) if page.decisions.is_empty() => p { "The gate has not judged it yet." },
                Ok(page) => (decisions_table(page)),
                Err(error) => (notice("warning", &format!("The decisions cannot be shown: {error}."))),
            }
        }
        section aria-labelledby="runs-heading" {
            h2 #runs-heading { "Runs" }
            @match &runs {
                Ok(runs) if runs.is_empty() => p {
                    @if experiment.verdict.as_ref().is_some_and(|v| v.cases > 0) {
                        "No run of this experiment yet: its evidence comes from runs of the same configuration, which pool."
                    } @else {
                        "Not evaluated yet."
                    }
                },
                Ok(runs) => (runs_table(runs)),
                Err(error) => (notice("warning", &format!("The runs cannot be shown: {error}."))),
            }
        }
        section aria-labelledby="configuration-heading" {
            h2 #configuration-heading { "Configuration, as registered" }
            pre.yaml tabindex="0" aria-label="The configuration in YAML" { code { (yaml(&experiment)) } }
        }
    };
    Ok(Html(
        page(
            &experiment.name,
            Section::Experiments,
            Some(&who.session),
            body,
        )
        .into_string(),
    ))
}

/// Compare with another configuration, the promoted ones first offered.
fn compare_form(experiment: &ExperimentView, promoted: &ExperimentPage) -> Markup {
    let others: Vec<&ExperimentView> = promoted
        .items
        .iter()
        .filter(|e| e.id != experiment.id)
        .collect();
    html! {
        @if !others.is_empty() {
            form.action #compare method="get" action="/compare" {
                input type="hidden" name="a" value=(experiment.id);
                label for="compare-with" { "Compare with" }
                select #compare-with name="b" {
                    @for other in &others {
                        option value=(other.id) { (other.name) " (promoted)" }
                    }
                }
                button type="submit" { "Compare" }
            }
        }
    }
}

fn summary(experiment: &ExperimentView) -> Markup {
    html! {
        dl.summary {
            dt { "Status" } dd { (status_badge(experiment.status)) }
            dt { "Owner" } dd { (experiment.owner) }
            dt { "Fingerprint" } dd.mono { (experiment.fingerprint) }
            dt { "Registered" } dd { (when(experiment.created_at)) }
            @if !experiment.description.is_empty() {
                dt { "Description" } dd { (experiment.description) }
            }
            @if let Some(record) = experiment.reevaluation_of {
                dt { "Re-evaluates" } dd { a href={ "/quarantine/" (record) } { "quarantine record " (record) } }
            }
        }
    }
}

fn verdict_summary(
    experiment: &ExperimentView,
    verdict: &Verdict,
    may_extend: bool,
    who: &SignedIn,
) -> Markup {
    html! {
        p.verdict {
            (decision_badge(verdict.decision)) " on " (verdict.cases) " pooled cases."
            @if let Some(more) = verdict.additional_cases_needed {
                " The judge expects about " strong { (more) } " more cases to decide."
            }
        }
        @if let Some(next) = &experiment.next_step {
            p.help { (next) }
        }
        @if verdict.decision == Decision::Inconclusive && verdict.cases > 0 && may_extend {
            form.action method="post" action={ "/experiments/" (experiment.id) "/extend" } {
                (csrf_field(&who.session))
                button type="submit" { "Extend: evaluate more cases" }
            }
        }
    }
}

fn checks_table(verdict: &Verdict) -> Markup {
    html! {
        table.checks {
            caption.visually-hidden { "Each check of the verdict" }
            thead { tr {
                th scope="col" { "Check" }
                th scope="col" { "Outcome" }
                th scope="col" { "Value" }
                th scope="col" { "Bar" }
                th scope="col" { "Why" }
            } }
            tbody {
                @for check in &verdict.checks {
                    tr {
                        th scope="row" { (check.name.label()) }
                        td { (decision_badge(check.outcome)) }
                        td.num { @if let Some(value) = check.value { (format_value(value)) } @else { "—" } }
                        td.num { (format_value(check.threshold)) }
                        td { (check.reason) }
                    }
                }
            }
        }
    }
}

fn format_value(value: f64) -> String {
    if value.abs() >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

fn charts_for(verdict: &Verdict, path: &EvidencePath) -> Markup {
    html! {
        @for check in verdict.checks.iter().filter(|c| c.test.is_some()) {
            @let id = check.name.as_str();
            @let tests: Vec<_> = path.points.iter().filter_map(|p| {
                p.tests.iter().find(|t| t.check == check.name).map(|t| (p.cases, &t.test))
            }).collect();
            @if let (Some(test), false) = (check.test.as_ref(), tests.is_empty()) {
                figure.chart-pair {
                    (charts::log_ratio(
                        &format!("{id}-ratio"),
                        check.name.label(),
                        &tests.iter().map(|(n, t)| (*n, t.log_ratio)).collect::<Vec<_>>(),
                        test.pass_at,
                        test.fail_at,
                    ))
                    (charts::range(
                        &format!("{id}-range"),
                        check.name.label(),
                        &tests.iter().map(|(n, t)| (*n, t.range, t.rate)).collect::<Vec<_>>(),
                        rate_bar(check, test),
                    ))
                    figcaption {
                        (check.name.label()) ": the test tells a rate of "
                        (format!("{:.3}", test.bad)) " from " (format!("{:.3}", test.good))
                        "; it stands at " (format!("{:.2}", test.log_ratio)) "."
                    }
                }
            }
        }
    }
}

/// The rate a check's range is read against: its threshold when that is a
/// rate (accuracy, error rate); for latency, whose threshold is in
/// milliseconds, midway between the two shares of slow answers its test
/// tells apart.
fn rate_bar(check: &Check, test: &trizone_core::TestState) -> f64 {
    if (0.0..=1.0).contains(&check.threshold) {
        check.threshold
    } else {
        (test.bad + test.good) / 2.0
    }
}

fn decisions_table(page: &DecisionPage) -> Markup {
    html! {
        table.list #decisions {
            caption.visually-hidden { "The gate's decisions on this experiment, newest first" }
            thead { tr { th scope="col" { "Decision" } th scope="col" { "Then" } th scope="col" { "By" } th scope="col" { "When" } } }
            tbody {
                @for d in &page.decisions {
                    tr {
                        td { (decision_badge(d.decision)) }
                        td { (d.outcome.as_str()) }
                        td { (d.decided_by) }
                        td { (when(d.created_at)) }
                    }
                }
            }
        }
    }
}

fn runs_table(runs: &[RunView]) -> Markup {
    html! {
        table.list {
            caption.visually-hidden { "Runs of this experiment, newest first" }
            thead { tr {
                th scope="col" { "Run" }
                th scope="col" { "Status" }
                th scope="col" { "Cases" }
                th scope="col" { "Correct" }
                th scope="col" { "Errors" }
                th scope="col" { "Started" }
            } }
            tbody {
                @for run in runs {
                    tr {
                        td { a href={ "/runs/" (run.run.id) } { (super::experiments::short(&run.run.id.to_string())) } }
                        td { (run.run.status.as_str()) }
                        td.num { (run.progress.cases_done) " / " (run.run.cases_total) }
                        td.num { (run.progress.correct) }
                        td.num { (run.progress.errors) }
                        td { (when(run.run.created_at)) }
                    }
                }
            }
        }
    }
}

fn yaml(experiment: &ExperimentView) -> String {
    yaml_serde::to_string(&experiment.configuration)
        .unwrap_or_else(|_| "(the configuration cannot be shown as YAML)".to_owned())
}

/// Continues an inconclusive experiment on the cases it has not used.
pub async fn extend(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<Uuid>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = who.check_form(&form.csrf) {
        return refused.into_response();
    }
    let started = state
        .zones
        .post::<RunView, _>(
            Zone::V1,
            &format!("/api/v1/experiments/{id}/runs"),
            &who.session.token,
            &serde_json::json!({}),
            "experiment",
        )
        .await;
    match started {
        Ok(run) => Redirect::to(&format!("/runs/{}", run.run.id)).into_response(),
        Err(error) => {
            Failure::from_zone(&state, &who, &format!("/experiments/{id}"), error).into_response()
        }
    }
}
