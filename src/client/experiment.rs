//! `trizone experiment`: register, list, show and withdraw configurations.

use std::io::Write;

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use super::run::show_verdict;
use super::{Servers, Zone, ZoneName, list, print, render, show, text, typed, with_query};

#[derive(Debug, Subcommand)]
pub enum ExperimentCommand {
    /// Register a configuration file (YAML or JSON).
    Register {
        file: std::path::PathBuf,
        /// Default: the name your key is bound to (only an admin registers
        /// for someone else).
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    Withdraw {
        id: String,
    },
    /// The providers a configuration may name (the operator's list).
    Providers {
        #[arg(long)]
        json: bool,
    },
    /// Two configurations on the cases both were evaluated on: the
    /// agreement table, where they differ, and latency and cost side by side.
    Compare {
        a: String,
        b: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn experiment(servers: &Servers, command: ExperimentCommand) -> anyhow::Result<()> {
    let v1 = Zone::new(servers, ZoneName::V1, "experimenter")?;
    match command {
        ExperimentCommand::Register {
            file,
            owner,
            description,
            json,
        } => {
            let raw = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let yaml = file.extension().is_none_or(|e| e != "json");
            let configuration: Value = if yaml {
                yaml_serde::from_str(&raw)
                    .with_context(|| format!("{} is not YAML", file.display()))?
            } else {
                serde_json::from_str(&raw)
                    .with_context(|| format!("{} is not JSON", file.display()))?
            };
            let body =
                json!({"owner": owner, "description": description, "configuration": configuration});
            let e = v1.post("/api/v1/experiments", &body).await?;
            show(
                json,
                &e,
                "experiment {id} ({name}) {status}: fingerprint {fingerprint}",
            )
        }
        ExperimentCommand::Compare { a, b, json } => {
            let answer = v1
                .get(&format!("/api/v1/experiments/{a}/compare/{b}"))
                .await?;
            let compared: trizone_api::experiments::Comparison = typed(&answer)?;
            print(json, &answer, |out| show_comparison(out, &compared))
        }
        ExperimentCommand::Providers { json } => {
            let providers = v1.get("/api/v1/providers").await?;
            print(json, &providers, |out| {
                for provider in providers.as_array().into_iter().flatten() {
                    let models = match provider["models"].as_array() {
                        Some(models) => models.iter().map(text).collect::<Vec<_>>().join(", "),
                        None => "any model".to_owned(),
                    };
                    writeln!(
                        out,
                        "{:<20} {} API: {models}",
                        text(&provider["name"]),
                        text(&provider["api"])
                    )?;
                }
                Ok(())
            })
        }
        ExperimentCommand::List { status, json } => {
            let path = with_query("/api/v1/experiments", &[("status", status.as_deref())]);
            let page = v1.get(&path).await?;
            list(
                json,
                &page,
                "items",
                "{id}  {status:12} {name:30} {fingerprint:short}",
            )
        }
        ExperimentCommand::Show { id, json } => {
            let e = v1.get(&format!("/api/v1/experiments/{id}")).await?;
            print(json, &e, |out| show_experiment(out, &e))
        }
        ExperimentCommand::Withdraw { id } => {
            let e = v1
                .send(
                    v1.http
                        .delete(format!("{}/api/v1/experiments/{id}", v1.base)),
                    "/api/v1/experiments/{id}",
                )
                .await?;
            print(false, &e, |out| writeln!(out, "experiment {id} withdrawn"))
        }
    }
}

/// An experiment as a person reads it: what it is and how its latest run did.
fn show_experiment(out: &mut dyn Write, e: &Value) -> std::io::Result<()> {
    writeln!(
        out,
        "{}",
        render("{name} ({id}) {status}, owner {owner}", e)
    )?;
    writeln!(out, "  fingerprint {}", text(&e["fingerprint"]))?;
    let models = &e["configuration"]["models"];
    for role in ["primary", "secondary"] {
        if models[role].is_object() {
            writeln!(
                out,
                "  {role:<9}   {}/{}",
                text(&models[role]["provider"]),
                text(&models[role]["model"])
            )?;
        }
    }
    writeln!(
        out,
        "  strategy    {}",
        text(&e["configuration"]["strategy"]["kind"])
    )?;
    if let Some(of) = e["reevaluation_of"].as_str() {
        writeln!(out, "  re-evaluation of quarantine record {of}")?;
    }
    let v = &e["verdict"];
    if v["cases"].as_u64().unwrap_or(0) > 0 {
        writeln!(
            out,
            "  evidence    {} cases over every run of this configuration: {}",
            text(&v["cases"]),
            text(&v["decision"]).to_uppercase()
        )?;
        // The next step below says how to continue.
        show_verdict(out, v, None)?;
    }
    let r = &e["readiness"];
    if let Some(decision) = r["decision"].as_str() {
        writeln!(
            out,
            "  gate        last decided {decision} on {} cases, at {}",
            text(&r["decided_on_cases"]),
            text(&r["decided_at"])
        )?;
    }
    if let Some(next) = e["next_step"].as_str() {
        writeln!(out, "  next        {next}")?;
    }
    Ok(())
}

/// The agreement table, then each side's latency and cost.
fn show_comparison(
    out: &mut dyn Write,
    c: &trizone_api::experiments::Comparison,
) -> std::io::Result<()> {
    let shown = trizone_core::text::escape_line;
    let t = &c.agreement;
    writeln!(
        out,
        "A: {} ({})",
        shown(&c.a.name),
        &c.a.fingerprint[..12.min(c.a.fingerprint.len())]
    )?;
    writeln!(
        out,
        "B: {} ({})",
        shown(&c.b.name),
        &c.b.fingerprint[..12.min(c.b.fingerprint.len())]
    )?;
    writeln!(out, "{} cases evaluated for both", c.shared_cases)?;
    writeln!(out, "                 B right   B wrong")?;
    writeln!(
        out,
        "  A right      {:>9} {:>9}",
        t.both_right, t.only_a_right
    )?;
    writeln!(
        out,
        "  A wrong      {:>9} {:>9}",
        t.only_b_right, t.both_wrong
    )?;
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"));
    for (label, side) in [("A", &c.a), ("B", &c.b)] {
        writeln!(
            out,
            "{label}: {} correct, {} errors, p50 {} ms, p95 {} ms, p99 {} ms, ${:.4}",
            side.correct,
            side.errors,
            ms(side.latency_ms.p50),
            ms(side.latency_ms.p95),
            ms(side.latency_ms.p99),
            side.cost_usd
        )?;
    }
    writeln!(out, "{} cases scored differently", c.differing_total)
}
