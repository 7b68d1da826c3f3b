//! The console's pages, one module per resource.

pub mod case;
pub mod compare;
pub mod errors;
pub mod experiment;
pub mod experiments;
pub mod gate;
pub mod layout;
pub mod quarantine;
pub mod run;
pub mod signin;

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use trizone_core::{Decision, ExperimentStatus};

/// A status as a labelled badge (its colour is decoration; the word says it).
pub fn status_badge(status: ExperimentStatus) -> Markup {
    html! { span.badge.(status.as_str()) { (status.as_str()) } }
}

pub fn decision_badge(decision: Decision) -> Markup {
    html! { span.badge.(decision.as_str()) { (decision.as_str()) } }
}

/// A moment as UTC text, with the machine-readable form beside it.
pub fn when(at: DateTime<Utc>) -> Markup {
    html! { time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M UTC")) } }
}

/// `?offset=` of a paged list.
#[derive(Debug, Default, Deserialize)]
pub struct Paging {
    #[serde(default)]
    offset: Option<i64>,
}

impl Paging {
    pub fn offset(&self) -> i64 {
        self.offset.unwrap_or(0).max(0)
    }
}
