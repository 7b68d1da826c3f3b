//! Domain types and pure logic of trizone; no I/O.
//!
//! A [`Configuration`] is what experimenters register; its [`Fingerprint`]
//! identifies it across zones. Runs produce [`RunMetrics`]; the cases of every
//! run of one configuration pool into its [`Evidence`], which the gate
//! [`judge`]s sequentially against [`Thresholds`] into a [`Verdict`]. Findings are scored
//! with [`score_case`]; experiments move through [`ExperimentStatus`].

pub mod config;
pub mod error;
pub mod evidence;
pub mod findings;
pub mod fingerprint;
pub mod judge;
pub mod language;
pub mod lifecycle;
pub mod metrics;
pub mod online;
pub mod prompt;
pub mod provider;
pub mod rollout;
pub mod sequential;
pub mod slo;
pub mod text;
pub mod thresholds;

pub use config::{
    Configuration, Format, Merge, ModelSpec, Models, Parameters, Prompt, Strategy, parse_document,
};
pub use error::{Error, FieldError};
pub use evidence::Evidence;
pub use findings::{CaseScore, ExpectedFinding, Finding, MatchPolicy, Severity, score_case};
pub use fingerprint::{Fingerprint, canonical_json, case_key};
pub use judge::{Baseline, Check, CheckName, Decision, Judge, TestState, Verdict, judge};
pub use language::Language;
pub use lifecycle::{ExperimentStatus, Mover};
pub use metrics::RunMetrics;
pub use online::{StepEvidence, StepJudge};
pub use provider::ProviderName;
pub use rollout::{RolloutPlan, Stage};
pub use sequential::Direction;
pub use slo::{Breaches, Slo};
pub use thresholds::Thresholds;
