//! `trizone gate rollout`: the candidate the gate is rolling out beside
//! what V2 serves (shadow, then canary steps), and an admin's moves on it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};
use trizone_core::{RolloutPlan, Verdict};

use super::{Zone, print, text, typed};

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// The rollout in progress: its step, share, and the online judge on
    /// the step's live evidence.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Stop judging the rollout; the traffic split stays as it is.
    Pause,
    /// Judge a paused rollout again.
    Resume,
    /// Skip the remaining steps: the candidate serves everyone.
    Promote,
    /// Stop the rollout: the stable configuration serves everyone, and
    /// the candidate stays in V1.
    Abort,
    /// The plan rollouts follow; with FILE (YAML or JSON), set it.
    Plan {
        file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

impl RolloutCommand {
    /// Whether the command changes anything (an admin's), rather than reads.
    pub fn writes(&self) -> bool {
        match self {
            Self::Status { .. } => false,
            Self::Plan { file, .. } => file.is_some(),
            Self::Pause | Self::Resume | Self::Promote | Self::Abort => true,
        }
    }
}

pub async fn rollout(gate: &Zone, command: RolloutCommand) -> anyhow::Result<()> {
    let (action, past) = match command {
        RolloutCommand::Status { json } => {
            let answer = gate.get("/api/gate/rollout").await?;
            return print(json, &answer, |out| describe(out, &answer["rollout"]));
        }
        RolloutCommand::Plan { file, json } => {
            let plan = match file {
                Some(file) => {
                    let plan = read_plan(&file)?;
                    let body = serde_json::to_value(&plan)?;
                    gate.put("/api/gate/rollout/plan", &body).await?
                }
                None => gate.get("/api/gate/rollout/plan").await?,
            };
            let parsed: RolloutPlan = typed(&plan)?;
            return print(json, &plan, |out| {
                let steps: Vec<String> = parsed.steps.iter().map(|s| format!("{s}%")).collect();
                writeln!(
                    out,
                    "{}: shadow {}% of requests, then {}; each step needs {} requests, shadow answers {}% agreeing",
                    if parsed.enabled { "on" } else { "off" },
                    parsed.shadow_sample * 100.0,
                    steps.join(" → "),
                    parsed.min_requests,
                    parsed.min_agreement * 100.0
                )
            });
        }
        RolloutCommand::Pause => ("pause", "paused"),
        RolloutCommand::Resume => ("resume", "resumed"),
        RolloutCommand::Promote => ("promote", "promoted: the candidate serves everyone"),
        RolloutCommand::Abort => ("abort", "aborted: the stable configuration serves everyone"),
    };
    let answer = gate
        .post(&format!("/api/gate/rollout/{action}"), &json!({}))
        .await?;
    print(false, &answer, |out| {
        writeln!(out, "rollout {past}")?;
        if answer["rollout"].is_object() {
            describe(out, &answer["rollout"])?;
        }
        Ok(())
    })
}

fn read_plan(file: &Path) -> anyhow::Result<RolloutPlan> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let is_json = file.extension().is_some_and(|e| e == "json");
    let plan = if is_json {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    } else {
        yaml_serde::from_str(&text).map_err(anyhow::Error::from)
    };
    plan.with_context(|| format!("{} is not a rollout plan", file.display()))
}

/// The rollout, then each check of its current step.
fn describe(out: &mut dyn Write, rollout: &Value) -> std::io::Result<()> {
    if !rollout.is_object() {
        return writeln!(
            out,
            "no rollout in progress: V2 serves the active deployment alone"
        );
    }
    let share = rollout["share"].as_f64().unwrap_or(0.0);
    let traffic = match rollout["stage"].as_str() {
        Some("shadow") => format!(
            "{}% of requests mirrored to it",
            rollout["shadow_sample"].as_f64().unwrap_or(0.0) * 100.0
        ),
        _ => format!("answering {share}% of requests"),
    };
    writeln!(
        out,
        "version {} ({}) in {} beside deployment {}: {traffic}, since {}{}",
        text(&rollout["version"]),
        text(&rollout["fingerprint"]).get(..12).unwrap_or_default(),
        text(&rollout["stage"]),
        text(&rollout["stable_deployment_id"]),
        text(&rollout["step_started_at"]),
        if rollout["paused"] == true {
            " (paused)"
        } else {
            ""
        }
    )?;
    if let Ok(verdict) = typed::<Verdict>(&rollout["verdict"]) {
        writeln!(out, "  step verdict: {}", verdict.decision)?;
        for check in &verdict.checks {
            writeln!(
                out,
                "  {:<22} {:<12} {}",
                check.name.as_str(),
                check.outcome.as_str(),
                check.reason
            )?;
        }
    }
    Ok(())
}
