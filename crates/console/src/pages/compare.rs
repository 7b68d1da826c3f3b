//! `/compare?a=…&b=…`: two configurations on the cases both were evaluated
//! on: the agreement table, the cases where they differ (each one click
//! from its case page), and latency and cost side by side.

use axum::extract::{Query, State};
use axum::response::Html;
use maud::{Markup, html};
use serde::Deserialize;
use trizone_api::experiments::{ComparedSide, Comparison};
use uuid::Uuid;

use super::errors::Failure;
use super::layout::{Section, page};
use super::run::case_url;
use crate::signed_in::SignedIn;
use crate::state::AppState;
use crate::zones::Zone;

#[derive(Debug, Deserialize)]
pub struct Pair {
    a: Uuid,
    b: Uuid,
}

pub async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    Query(pair): Query<Pair>,
) -> Result<Html<String>, Failure> {
    let (a, b) = (pair.a, pair.b);
    let compared: Comparison = state
        .zones
        .get(
            Zone::V1,
            &format!("/api/v1/experiments/{a}/compare/{b}"),
            &who.session.token,
            "experiment",
        )
        .await
        .map_err(|error| {
            Failure::from_zone(&state, &who, &format!("/compare?a={a}&b={b}"), error)
        })?;
    let t = &compared.agreement;
    let body = html! {
        p {
            "A: " a href={ "/experiments/" (a) } { (compared.a.name) }
            " · B: " a href={ "/experiments/" (b) } { (compared.b.name) }
            " · " (compared.shared_cases) " cases evaluated for both."
        }
        table.agreement #agreement {
            caption { "Agreement on the shared cases" }
            thead { tr { td {} th scope="col" { "B right" } th scope="col" { "B wrong" } } }
            tbody {
                tr { th scope="row" { "A right" } td.num #both-right { (t.both_right) } td.num #only-a-right { (t.only_a_right) } }
                tr { th scope="row" { "A wrong" } td.num #only-b-right { (t.only_b_right) } td.num #both-wrong { (t.both_wrong) } }
            }
        }
        h2 { "Latency and cost on the shared cases" }
        table.list #sides {
            caption.visually-hidden { "Each configuration on the shared cases" }
            thead { tr {
                th scope="col" { "" } th scope="col" { "Correct" } th scope="col" { "Errors" }
                th scope="col" { "p50" } th scope="col" { "p95" } th scope="col" { "p99" } th scope="col" { "Cost" }
            } }
            tbody { (side("A", &compared.a)) (side("B", &compared.b)) }
        }
        h2 { "Where they differ" }
        @if compared.differing.is_empty() {
            p { "Nowhere: on every shared case both were right or both were wrong." }
        } @else {
            p { (compared.differing_total) " cases scored differently"
                @if compared.differing_total as usize > compared.differing.len() { "; the first " (compared.differing.len()) " by case id" } "." }
            table.list #differing {
                caption.visually-hidden { "Cases one got right and the other did not" }
                thead { tr { th scope="col" { "Case" } th scope="col" { "A" } th scope="col" { "B" } } }
                tbody {
                    @for d in &compared.differing {
                        tr {
                            td.mono { (d.a_case_id) }
                            td { a href=(case_url(d.a_run, &d.a_case_id)) { @if d.a_correct { "right" } @else { "wrong" } } }
                            td { a href=(case_url(d.b_run, &d.b_case_id)) { @if d.b_correct { "right" } @else { "wrong" } } }
                        }
                    }
                }
            }
        }
    };
    Ok(Html(
        page("Compare", Section::Experiments, Some(&who.session), body).into_string(),
    ))
}

fn side(label: &str, side: &ComparedSide) -> Markup {
    let ms = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.0} ms"));
    html! {
        tr {
            th scope="row" { (label) ": " (side.name) }
            td.num { (side.correct) }
            td.num { (side.errors) }
            td.num { (ms(side.latency_ms.p50)) }
            td.num { (ms(side.latency_ms.p95)) }
            td.num { (ms(side.latency_ms.p99)) }
            td.num { "$" (format!("{:.4}", side.cost_usd)) }
        }
    }
}
