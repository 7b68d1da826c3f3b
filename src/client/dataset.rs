//! `trizone dataset`: upload and list labelled cases.

use anyhow::Context;
use clap::Subcommand;

use super::{Servers, Zone, ZoneName, list, show, with_query};

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Upload cases as JSON lines.
    Upload {
        file: std::path::PathBuf,
        #[arg(long)]
        name: String,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn dataset(servers: &Servers, command: DatasetCommand) -> anyhow::Result<()> {
    let v1 = Zone::new(servers, ZoneName::V1, "experimenter")?;
    match command {
        DatasetCommand::Upload { file, name, json } => {
            let body =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let path = with_query("/api/v1/datasets", &[("name", Some(&name))]);
            let d = v1.post_raw(&path, "application/x-ndjson", body).await?;
            show(json, &d, "dataset {id} ({name}): {case_count} cases")
        }
        DatasetCommand::List { json } => {
            let page = v1.get("/api/v1/datasets").await?;
            list(json, &page, "", "{id}  {case_count:>6} cases  {name}")
        }
    }
}
