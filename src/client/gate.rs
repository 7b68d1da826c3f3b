//! `trizone gate`: judge, list decisions, blacklist and roll back.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Subcommand;
use serde_json::{Value, json};

use super::run::show_verdict;
use trizone_api::gate::DecisionRecord;
use trizone_core::Verdict;

use super::{Refusal, Servers, Zone, ZoneName, decisions, print, show, text, typed, with_query};

#[derive(Debug, Subcommand)]
pub enum GateCommand {
    /// Judge an experiment's latest finished run now.
    Judge {
        experiment: String,
        #[arg(long)]
        json: bool,
    },
    /// The gate's decisions, newest first, each with why.
    Decisions {
        #[arg(long)]
        experiment: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One decision: every check's value, bar, evidence and reason.
    Decision {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Blacklist a configuration for good (`blacklist FINGERPRINT
    /// --reason WHY`), or list the blacklist (`blacklist list`).
    Blacklist(BlacklistArgs),
    /// Roll V2 back to the previous deployment.
    Rollback {
        #[arg(long)]
        reason: String,
    },
    /// The candidate being rolled out beside what V2 serves (shadow, then
    /// canary steps): its status, an admin's moves, and the plan.
    Rollout {
        #[command(subcommand)]
        command: super::rollout::RolloutCommand,
    },
    /// Wait for the gate's verdict on an experiment, then exit on it: 0
    /// promoted, 1 failed or quarantined, 3 inconclusive or timed out, 2
    /// for any other error. For CI: no promotion unless the gate says so.
    Wait {
        experiment: String,
        /// Give up after this many seconds (exit 3).
        #[arg(long, default_value_t = 1800)]
        timeout: u64,
        /// Also write the verdict as JUnit XML, a test case per check.
        #[arg(long)]
        junit: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BlacklistArgs {
    #[command(subcommand)]
    list: Option<BlacklistCommand>,
    /// The configuration's fingerprint.
    fingerprint: Option<String>,
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Debug, Subcommand)]
enum BlacklistCommand {
    /// Every blacklisted fingerprint, newest first, with why.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn gate(servers: &Servers, command: GateCommand) -> anyhow::Result<ExitCode> {
    let reads_only = match &command {
        GateCommand::Decisions { .. } | GateCommand::Decision { .. } | GateCommand::Wait { .. } => {
            true
        }
        GateCommand::Rollout { command } => !command.writes(),
        _ => false,
    };
    let read_role = if reads_only { "experimenter" } else { "admin" };
    let gate = Zone::new(servers, ZoneName::Gate, read_role)?;
    let done = match command {
        GateCommand::Judge { experiment, json } => {
            let d = judge(&gate, &experiment).await?;
            let record: DecisionRecord = typed(&d)?;
            print(json, &d, |out| {
                writeln!(
                    out,
                    "{} -> {} (on {} cases pooled from {} runs)",
                    record.decision,
                    record.outcome,
                    text(&record.verdict["cases"]),
                    record.pooled_runs.as_ref().map_or(0, Vec::len)
                )?;
                show_verdict(out, &record.verdict, Some(&experiment))
            })
        }
        GateCommand::Decisions { experiment, json } => {
            let path = with_query(
                "/api/gate/decisions",
                &[("experiment_id", experiment.as_deref())],
            );
            let page = gate.get(&path).await?;
            let records: Vec<DecisionRecord> = typed(&page["decisions"])?;
            print(json, &page, |out| {
                for record in &records {
                    let why = typed::<Verdict>(&record.verdict)
                        .map(|v| decisions::why(&v))
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "{}  {:<12} {:<12} experiment {}  {why}",
                        record.created_at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
                        record.decision.as_str(),
                        record.outcome.as_str(),
                        record.experiment_id,
                    )?;
                }
                Ok(())
            })
        }
        GateCommand::Decision { id, json } => {
            let d = gate.get(&format!("/api/gate/decisions/{id}")).await?;
            let record: DecisionRecord = typed(&d)?;
            let verdict: Verdict = typed(&record.verdict)?;
            print(json, &d, |out| decisions::describe(out, &record, &verdict))
        }
        GateCommand::Blacklist(BlacklistArgs {
            list: Some(BlacklistCommand::List { json }),
            ..
        }) => {
            let v3 = Zone::new(servers, ZoneName::V3, "admin")?;
            let entries = v3.get("/api/v3/blacklist?limit=200").await?;
            super::list(
                json,
                &entries,
                "",
                "{created_at}  {fingerprint}  by {blacklisted_by}: {reason}",
            )
        }
        GateCommand::Blacklist(BlacklistArgs {
            list: None,
            fingerprint,
            reason,
        }) => {
            let (Some(fingerprint), Some(reason)) = (fingerprint, reason) else {
                anyhow::bail!(
                    "name the fingerprint and --reason to blacklist it, or `trizone gate blacklist list`"
                );
            };
            let e = gate
                .post(
                    "/api/gate/blacklist",
                    &json!({"fingerprint": fingerprint, "reason": reason}),
                )
                .await?;
            show(false, &e, "blacklisted {fingerprint}: {reason}")
        }
        GateCommand::Rollback { reason } => {
            let r = gate
                .post("/api/gate/rollback", &json!({"reason": reason}))
                .await?;
            show(
                false,
                &r,
                "V2 rolled back from version {from.version} to {to.version}",
            )
        }
        GateCommand::Rollout { command } => super::rollout::rollout(&gate, command).await,
        GateCommand::Wait {
            experiment,
            timeout,
            junit,
        } => {
            let v1 = Zone::new(servers, ZoneName::V1, "experimenter")?;
            let timeout = Duration::from_secs(timeout);
            return super::wait::wait(&v1, &gate, &experiment, timeout, junit.as_deref()).await;
        }
    };
    done.map(|()| ExitCode::SUCCESS)
}

/// Asks the gate to judge `experiment` now. The gate's own schedule may be
/// judging the same run at that moment (409 `being_judged`): that lasts
/// milliseconds, so the request is repeated for up to 10 s.
pub async fn judge(gate: &Zone, experiment: &str) -> anyhow::Result<Value> {
    let path = format!("/api/gate/experiments/{experiment}/judge");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match gate.post(&path, &json!({})).await {
            Err(error)
                if Refusal::has_code(&error, "being_judged") && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            answer => return answer,
        }
    }
}
