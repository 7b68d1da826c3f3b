//! `trizone quarantine`: read V3's records and ask for re-evaluations.

use clap::Subcommand;
use serde_json::json;

use trizone_api::quarantine::RecordView;

use super::{Servers, Zone, ZoneName, list, print, show, text, typed, with_query};

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    List {
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    Summary {
        #[arg(long)]
        json: bool,
    },
    /// Register a quarantined configuration again, linked to its record (admins).
    Reevaluate {
        record: String,
        /// Default: the record's owner.
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn quarantine(servers: &Servers, command: QuarantineCommand) -> anyhow::Result<()> {
    let v3 = || Zone::new(servers, ZoneName::V3, "experimenter");
    match command {
        QuarantineCommand::List { reason, json } => {
            let path = with_query("/api/v3/records", &[("reason", reason.as_deref())]);
            let page = v3()?.get(&path).await?;
            list(
                json,
                &page,
                "records",
                "{id}  {reason:14} {name:30} {fingerprint:short}",
            )
        }
        QuarantineCommand::Show { id, json } => {
            let r = v3()?.get(&format!("/api/v3/records/{id}")).await?;
            let view: RecordView = typed(&r)?;
            let summary = &view.record.summary;
            print(json, &r, |out| {
                writeln!(
                    out,
                    "{} ({}) quarantined for {}",
                    summary.name,
                    summary
                        .fingerprint
                        .get(..12)
                        .unwrap_or(&summary.fingerprint),
                    summary.reason
                )?;
                for c in view.record.failed_checks.as_array().into_iter().flatten() {
                    // The reason states the value and the bar.
                    writeln!(out, "  {}: {}", text(&c["name"]), text(&c["reason"]))?;
                }
                let eligible = view.reevaluation.eligible;
                writeln!(out, "  re-evaluation eligible: {eligible}")
            })
        }
        QuarantineCommand::Summary { json } => {
            let rows = v3()?.get("/api/v3/summary").await?;
            list(
                json,
                &rows,
                "",
                "week of {week:date}  {reason:14} {primary_model:28} {records} record(s), {reevaluations} re-evaluation(s)",
            )
        }
        QuarantineCommand::Reevaluate {
            record,
            owner,
            description,
            json,
        } => {
            // V1 registers it, after reading the record from V3 itself.
            let v1 = Zone::new(servers, ZoneName::V1, "admin")?;
            let body = json!({"record_id": record, "owner": owner, "description": description});
            let e = v1.post("/api/v1/reevaluations", &body).await?;
            let template = format!(
                "experiment {{id}} ({{name}}) {{status}}: re-evaluation of record {record}"
            );
            show(json, &e, &template)
        }
    }
}
