//! `/gate`: the rollout under way (its step, share, the online judge's
//! progress on the step's live traffic; for admins, pause, resume, promote
//! and abort, each confirmed) and the gate's decisions.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use trizone_api::gate::{DecisionPage, RolloutAnswer, RolloutView};

use super::errors::Failure;
use super::layout::{Section, csrf_field, notice, page};
use super::{Paging, decision_badge, when};
use crate::signed_in::{CsrfForm, SignedIn};
use crate::state::AppState;
use crate::zones::Zone;

const PAGE: i64 = 50;

/// Seconds between refreshes of the rollout while one is under way.
const REFRESH_SECONDS: u32 = 3;

pub async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    Query(paging): Query<Paging>,
) -> Result<Html<String>, Failure> {
    let offset = paging.offset();
    let token = &who.session.token;
    let decisions_path = format!("/api/gate/decisions?limit={PAGE}&offset={offset}");
    let (rollout, decisions) = tokio::join!(
        state
            .zones
            .get::<RolloutAnswer>(Zone::Gate, "/api/gate/rollout", token, "rollout"),
        state
            .zones
            .get::<DecisionPage>(Zone::Gate, &decisions_path, token, "decisions"),
    );
    if let Err(error @ crate::zones::ZoneError::Unauthenticated { .. }) = rollout {
        return Err(Failure::from_zone(&state, &who, "/gate", error));
    }
    let body = html! {
        section aria-labelledby="rollout-heading" {
            h2 #rollout-heading { "Rollout" }
            div #rollout data-refresh=(REFRESH_SECONDS) data-src="/gate/rollout" aria-live="polite" {
                @match &rollout {
                    Ok(answer) => (rollout_block(answer.rollout.as_ref(), &who)),
                    Err(error) => (notice("error", &format!("The rollout cannot be shown: {error}."))),
                }
            }
        }
        section aria-labelledby="decisions-heading" {
            h2 #decisions-heading { "Decisions" }
            @match &decisions {
                Ok(page) => (decision_table(page, offset)),
                Err(error) => (notice("error", &format!("The decisions cannot be shown: {error}."))),
            }
        }
    };
    Ok(Html(
        page("Gate", Section::Gate, Some(&who.session), body).into_string(),
    ))
}

/// The rollout block alone, for the live refresh.
pub async fn rollout_fragment(
    State(state): State<AppState>,
    who: SignedIn,
) -> Result<Html<String>, Failure> {
    let answer: RolloutAnswer = state
        .zones
        .get(
            Zone::Gate,
            "/api/gate/rollout",
            &who.session.token,
            "rollout",
        )
        .await
        .map_err(|error| Failure::from_zone(&state, &who, "/gate", error))?;
    Ok(Html(
        rollout_block(answer.rollout.as_ref(), &who).into_string(),
    ))
}

fn rollout_block(rollout: Option<&RolloutView>, who: &SignedIn) -> Markup {
    let Some(r) = rollout else {
        return html! { p #no-rollout { "No candidate is being rolled out." } };
    };
    let needed = r.plan.min_requests;
    let seen = r.evidence.requests;
    html! {
        dl.summary {
            dt { "Candidate" } dd { "version " (r.version) " · " span.mono { (super::experiments::short(&r.fingerprint)) } }
            dt { "Stage" } dd #rollout-stage { (r.stage.as_str()) " (step " (r.step) ")" @if r.paused { " · " strong #rollout-paused { "paused" } } }
            dt { "Share" } dd { (format!("{:.0}", r.share)) "% of users" }
            dt { "Shadow sample" } dd { (format!("{:.0}", r.shadow_sample * 100.0)) "% of requests" }
            dt { "Requests seen" } dd { (seen) " of at least " (needed) }
            dt { "The online judge" } dd #rollout-verdict { (decision_badge(r.verdict.decision)) }
            dt { "Step started" } dd { (when(r.step_started_at)) }
        }
        (progress_bar(seen, needed))
        table.checks {
            caption.visually-hidden { "The online judge's checks on this step" }
            thead { tr { th scope="col" { "Check" } th scope="col" { "Outcome" } th scope="col" { "Why" } } }
            tbody {
                @for check in &r.verdict.checks {
                    tr { th scope="row" { (check.name.label()) } td { (decision_badge(check.outcome)) } td { (check.reason) } }
                }
            }
        }
        @if who.session.is_admin() {
            div.actions {
                @if r.paused {
                    a.button href="/gate/rollout/resume" { "Resume" }
                } @else {
                    a.button href="/gate/rollout/pause" { "Pause" }
                }
                a.button href="/gate/rollout/promote" { "Promote now" }
                a.button.danger href="/gate/rollout/abort" { "Abort" }
            }
        }
    }
}

/// Requests seen against the minimum a step needs, as a labelled bar.
fn progress_bar(seen: u64, needed: u64) -> Markup {
    let share = if needed == 0 {
        1.0
    } else {
        (seen as f64 / needed as f64).min(1.0)
    };
    html! {
        svg.meter viewBox="0 0 400 14" role="img" aria-label=(format!("{seen} of {needed} requests the step needs")) {
            rect.track x="0" y="0" width="400" height="14" {}
            rect.fill x="0" y="0" width=(format!("{:.1}", 400.0 * share)) height="14" {}
        }
    }
}

fn decision_table(page: &DecisionPage, offset: i64) -> Markup {
    html! {
        @if page.decisions.is_empty() {
            p { "No decision yet." }
        } @else {
            table.list {
                caption.visually-hidden { "The gate's decisions, newest first" }
                thead { tr {
                    th scope="col" { "Experiment" }
                    th scope="col" { "Decision" }
                    th scope="col" { "Then" }
                    th scope="col" { "By" }
                    th scope="col" { "When" }
                } }
                tbody {
                    @for d in &page.decisions {
                        tr {
                            td { a href={ "/experiments/" (d.experiment_id) } { span.mono { (super::experiments::short(&d.fingerprint)) } } }
                            td { (decision_badge(d.decision)) }
                            td { (d.outcome.as_str()) }
                            td { (d.decided_by) }
                            td { (when(d.created_at)) }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if offset > 0 { a rel="prev" href=(format!("/gate?offset={}", (offset - PAGE).max(0))) { "← Newer" } }
            @if let Some(next) = page.next_offset { a rel="next" href=(format!("/gate?offset={next}")) { "Older →" } }
        }
    }
}

/// An admin's move on the rollout.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Move {
    Pause,
    Resume,
    Promote,
    Abort,
}

impl Move {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Promote => "promote",
            Self::Abort => "abort",
        }
    }

    fn consequence(self) -> &'static str {
        match self {
            Self::Pause => {
                "The rollout stays at its step, whatever the traffic says, until it is resumed."
            }
            Self::Resume => {
                "The online judge moves the rollout on again as the step's evidence allows."
            }
            Self::Promote => "The candidate serves everyone now, skipping the steps left.",
            Self::Abort => {
                "The candidate stops serving; V2 serves the stable configuration alone. The candidate stays in V1."
            }
        }
    }
}

/// Asks before a move: what it does, and a button to do it.
pub async fn confirm(who: SignedIn, Path(action): Path<Move>) -> Result<Html<String>, Failure> {
    if !who.session.is_admin() {
        return Err(Failure::Forbidden("only admins move a rollout".into()));
    }
    let body = html! {
        p { (action.consequence()) }
        form.action method="post" action={ "/gate/rollout/" (action.as_str()) } {
            (csrf_field(&who.session))
            button type="submit" autofocus { "Yes, " (action.as_str()) " the rollout" }
            " " a href="/gate" { "Cancel" }
        }
    };
    let title = format!("{} the rollout?", capitalized(action.as_str()));
    Ok(Html(
        page(&title, Section::Gate, Some(&who.session), body).into_string(),
    ))
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Makes the move with the person's own token: the gate decides whether
/// their role may.
pub async fn act(
    State(state): State<AppState>,
    who: SignedIn,
    Path(action): Path<Move>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = who.check_form(&form.csrf) {
        return refused.into_response();
    }
    let done = state
        .zones
        .post::<RolloutAnswer, _>(
            Zone::Gate,
            &format!("/api/gate/rollout/{}", action.as_str()),
            &who.session.token,
            &serde_json::json!({}),
            "rollout",
        )
        .await;
    match done {
        Ok(_) => Redirect::to("/gate").into_response(),
        Err(error) => Failure::from_zone(&state, &who, "/gate", error).into_response(),
    }
}
