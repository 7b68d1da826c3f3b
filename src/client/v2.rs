//! `trizone v2`: what V2 serves, and how it is doing against its SLOs.

use std::io::Write;

use clap::Subcommand;
use serde_json::Value;

use super::{Servers, Zone, ZoneName, print, text};

#[derive(Debug, Subcommand)]
pub enum V2Command {
    /// The deployment V2 serves and its SLO compliance over the recent window.
    Status {
        #[arg(long)]
        json: bool,
    },
}

pub async fn v2(servers: &Servers, command: V2Command) -> anyhow::Result<()> {
    let v2 = Zone::new(servers, ZoneName::V2, "end_user")?;
    match command {
        V2Command::Status { json } => {
            let status = v2.get("/api/v2/status").await?;
            print(json, &status, |out| describe(out, &status))
        }
    }
}

fn describe(out: &mut dyn Write, status: &Value) -> std::io::Result<()> {
    let active = &status["active"];
    if active.is_null() {
        writeln!(
            out,
            "V2 serves nothing yet: no configuration has been promoted"
        )?;
    } else {
        writeln!(
            out,
            "V2 serves {} (version {}, fingerprint {}) since {}",
            text(&active["name"]),
            text(&active["version"]),
            text(&active["fingerprint"]),
            text(&active["since"]),
        )?;
    }
    let slo = &status["slo"];
    if !slo.is_null() {
        let ok = |held: &Value| if held == true { "met" } else { "BROKEN" };
        let rate = slo["error_rate"].as_f64().unwrap_or(0.0) * 100.0;
        let p95 = slo["latency_p95_ms"]
            .as_f64()
            .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0} ms"));
        writeln!(
            out,
            "  SLO over {} s ({}): {} requests; error rate {rate:.2}% ({}), p95 {p95} ({})",
            text(&slo["window_seconds"]),
            text(&slo["scope"]),
            text(&slo["requests"]),
            ok(&slo["error_rate_compliant"]),
            ok(&slo["latency_compliant"]),
        )?;
    }
    let satisfaction = &status["satisfaction"];
    if let Some(feedback) = satisfaction["feedback"].as_i64() {
        let mean = satisfaction["mean"].as_f64().map_or_else(
            || "no score yet".to_owned(),
            |m| format!("mean {m:.2} of 5"),
        );
        writeln!(out, "  satisfaction: {feedback} feedback, {mean}")?;
    }
    let rollout = &status["rollout"];
    if rollout.is_object() {
        writeln!(
            out,
            "  rollout: version {} answers {}% of keys, {}% of requests mirrored to it (`trizone gate rollout status`)",
            text(&rollout["version"]),
            text(&rollout["share"]),
            rollout["shadow_sample"].as_f64().unwrap_or(0.0) * 100.0
        )?;
    }
    if status["degraded"] == true {
        writeln!(
            out,
            "  degraded: serving without its database, {} records buffered",
            text(&status["pending_records"])
        )?;
    }
    Ok(())
}
