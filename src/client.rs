//! The role commands: thin HTTP clients of the zone services, with errors a
//! person can act on (which server, what status, what it said) and `--json`
//! on every read.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use trizone_api::ErrorBody;
use trizone_core::Decision;
use trizone_store::runs::{Run, RunStatus};

use crate::session::Session;

/// What the server wrote, read back as the type it was written from, for a
/// client that acts on it (a state, a decision) rather than printing it.
pub fn typed<T: DeserializeOwned>(value: &Value) -> anyhow::Result<T> {
    T::deserialize(value).with_context(|| {
        format!(
            "the server's answer is not a {} this client reads",
            std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("value")
        )
    })
}

/// Where the services are and who is asking. Each URL and token comes from
/// its flag, else its environment variable, else the session `trizone up`
/// saved, else the local default.
#[derive(Debug, Clone, Args)]
pub struct Servers {
    /// Default: http://127.0.0.1:8081.
    #[arg(long, global = true, env = "TRIZONE_V1_URL")]
    pub v1_url: Option<String>,
    /// Default: http://127.0.0.1:8082.
    #[arg(long, global = true, env = "TRIZONE_V2_URL")]
    pub v2_url: Option<String>,
    /// Default: http://127.0.0.1:8083.
    #[arg(long, global = true, env = "TRIZONE_V3_URL")]
    pub v3_url: Option<String>,
    /// Default: http://127.0.0.1:8084.
    #[arg(long, global = true, env = "TRIZONE_GATE_URL")]
    pub gate_url: Option<String>,
    /// Bearer token (default: TRIZONE_TOKEN_<ROLE> for the role the command needs).
    #[arg(long, global = true, env = "TRIZONE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// The zones a command can talk to.
#[derive(Debug, Clone, Copy)]
pub enum ZoneName {
    V1,
    V2,
    V3,
    Gate,
}

impl ZoneName {
    fn describe(self) -> &'static str {
        match self {
            Self::V1 => "V1",
            Self::V2 => "V2",
            Self::V3 => "V3",
            Self::Gate => "the gate",
        }
    }
}

impl Servers {
    /// Where `zone` is: flag or environment, session, default.
    pub fn url(&self, zone: ZoneName, session: Option<&Session>) -> String {
        let (given, saved, default) = match zone {
            ZoneName::V1 => (&self.v1_url, session.map(|s| &s.v1_url), 8081),
            ZoneName::V2 => (&self.v2_url, session.map(|s| &s.v2_url), 8082),
            ZoneName::V3 => (&self.v3_url, session.map(|s| &s.v3_url), 8083),
            ZoneName::Gate => (&self.gate_url, session.map(|s| &s.gate_url), 8084),
        };
        given
            .clone()
            .or_else(|| saved.cloned())
            .unwrap_or_else(|| format!("http://127.0.0.1:{default}"))
    }

    /// The token for `role`: `--token`, `TRIZONE_TOKEN_<ROLE>`, session.
    pub fn token(&self, role: &str, session: Option<&Session>) -> anyhow::Result<String> {
        let variable = format!("TRIZONE_TOKEN_{}", role.to_uppercase());
        self.token
            .clone()
            .or_else(|| std::env::var(&variable).ok().filter(|t| !t.is_empty()))
            .or_else(|| session.and_then(|s| s.token(role)).map(str::to_owned))
            .with_context(|| {
                format!("no token: pass --token or set {variable} (`trizone up` prints one)")
            })
    }
}

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
}

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

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Evaluate an experiment on a dataset's cases (those not yet
    /// evaluated for its configuration), until the judge is certain.
    Start {
        experiment: String,
        #[arg(long)]
        dataset: String,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Continue an inconclusive experiment: with the cases its last
    /// dataset has left, or with another dataset's. The evidence so far
    /// counts; every case counts once.
    Extend {
        experiment: String,
        /// Another dataset (default: the latest run's).
        #[arg(long)]
        dataset: Option<String>,
        #[command(flatten)]
        options: RunOptions,
    },
    /// Follow a run until it ends, with a progress bar.
    Watch {
        run: String,
        #[arg(long)]
        json: bool,
    },
}

/// How a run goes.
#[derive(Debug, clap::Args)]
pub struct RunOptions {
    #[arg(long)]
    concurrency: Option<u32>,
    /// Evaluate every case instead of stopping once the judge is certain.
    #[arg(long)]
    exhaustive: bool,
    /// Seed of the random case order (default: a random one, recorded).
    #[arg(long)]
    seed: Option<i64>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum GateCommand {
    /// Judge an experiment's latest finished run now.
    Judge {
        experiment: String,
        #[arg(long)]
        json: bool,
    },
    Decisions {
        #[arg(long)]
        experiment: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Blacklist a configuration for good.
    Blacklist {
        fingerprint: String,
        #[arg(long)]
        reason: String,
    },
    /// Roll V2 back to the previous deployment.
    Rollback {
        #[arg(long)]
        reason: String,
    },
}

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

/// One zone, as a command talks to it.
pub struct Zone {
    name: &'static str,
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Zone {
    /// `zone`, asked with the token of `role`.
    pub fn new(servers: &Servers, zone: ZoneName, role: &str) -> anyhow::Result<Self> {
        let session = Session::load();
        let token = servers.token(role, session.as_ref())?;
        Self::at(zone, &servers.url(zone, session.as_ref()), &token)
    }

    /// `zone` at `base`, asked with `token`.
    pub fn at(zone: ZoneName, base: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            name: zone.describe(),
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| {
                format!(
                    "cannot reach {} at {} (is it running? `scripts/run` starts it)",
                    self.name, self.base
                )
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let (message, code) = match ErrorBody::deserialize(&body) {
                Ok(ErrorBody { error }) => (error.message, error.code),
                Err(_) => ("no message".to_owned(), "no code".into()),
            };
            bail!(
                "{} at {} answered {} to {path}: {message} ({code})",
                self.name,
                self.base,
                status.as_u16(),
            );
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)), path)
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(
            self.http.post(format!("{}{path}", self.base)).json(body),
            path,
        )
        .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<Value> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        self.send(request, path).await
    }
}

fn print(
    json: bool,
    value: &Value,
    human: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(value)?)?;
    } else {
        human(&mut out)?;
    }
    Ok(())
}

/// Prints `value` as JSON, or one line per item of `items` (a path into
/// `value`, empty for `value` itself).
fn list(
    json: bool,
    value: &Value,
    items: &str,
    line: impl Fn(&Value) -> String,
) -> anyhow::Result<()> {
    let items = if items.is_empty() {
        value
    } else {
        &value[items]
    };
    print(json, value, |out| {
        for item in items.as_array().into_iter().flatten() {
            writeln!(out, "{}", line(item))?;
        }
        Ok(())
    })
}

/// `path`, with `?key=value` (encoded) when there is a value.
fn with_query(path: &str, key: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => {
            let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
            format!("{path}?{key}={encoded}")
        }
        None => path.to_owned(),
    }
}

pub fn short(fingerprint: &Value) -> String {
    fingerprint
        .as_str()
        .unwrap_or("")
        .chars()
        .take(12)
        .collect()
}

pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
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
            print(json, &e, |out| {
                writeln!(
                    out,
                    "experiment {} ({}) {}: fingerprint {}",
                    text(&e["id"]),
                    text(&e["name"]),
                    text(&e["status"]),
                    text(&e["fingerprint"])
                )
            })
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
            let path = with_query("/api/v1/experiments", "status", status.as_deref());
            let page = v1.get(&path).await?;
            list(json, &page, "items", |e| {
                format!(
                    "{}  {:<12} {:<30} {}",
                    text(&e["id"]),
                    text(&e["status"]),
                    text(&e["name"]),
                    short(&e["fingerprint"])
                )
            })
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
        "{} ({}) {}, owner {}",
        text(&e["name"]),
        text(&e["id"]),
        text(&e["status"]),
        text(&e["owner"])
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

pub async fn dataset(servers: &Servers, command: DatasetCommand) -> anyhow::Result<()> {
    let v1 = Zone::new(servers, ZoneName::V1, "experimenter")?;
    match command {
        DatasetCommand::Upload { file, name, json } => {
            let body =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let path = with_query("/api/v1/datasets", "name", Some(&name));
            let d = v1.post_raw(&path, "application/x-ndjson", body).await?;
            print(json, &d, |out| {
                writeln!(
                    out,
                    "dataset {} ({}): {} cases",
                    text(&d["id"]),
                    text(&d["name"]),
                    text(&d["case_count"])
                )
            })
        }
        DatasetCommand::List { json } => {
            let page = v1.get("/api/v1/datasets").await?;
            list(json, &page, "", |d| {
                format!(
                    "{}  {:>6} cases  {}",
                    text(&d["id"]),
                    text(&d["case_count"]),
                    text(&d["name"])
                )
            })
        }
    }
}

/// Exit code 1 from `run watch` when the run failed or was cancelled, so a
/// script waiting on it knows; 0 once it finished.
pub async fn run(servers: &Servers, command: RunCommand) -> anyhow::Result<ExitCode> {
    let v1 = Zone::new(servers, ZoneName::V1, "experimenter")?;
    match command {
        RunCommand::Start {
            experiment,
            dataset,
            options,
        } => start_run(&v1, &experiment, Some(&dataset), &options)
            .await
            .map(|()| ExitCode::SUCCESS),
        RunCommand::Extend {
            experiment,
            dataset,
            options,
        } => start_run(&v1, &experiment, dataset.as_deref(), &options)
            .await
            .map(|()| ExitCode::SUCCESS),
        RunCommand::Watch { run, json } => {
            let bar = if json {
                ProgressBar::hidden()
            } else {
                run_bar(&run[..run.len().min(8)])
            };
            let view = follow_run(&v1, &run, &bar).await?;
            bar.finish();
            print(json, &view, |out| {
                writeln!(
                    out,
                    "run {run} {}: {} cases, accuracy {}, {} errors, p95 {} ms",
                    text(&view["status"]),
                    text(&view["progress"]["cases_done"]),
                    text(&view["running_accuracy"]),
                    text(&view["progress"]["errors"]),
                    text(&view["metrics"]["latency_p95_ms"])
                )?;
                if let Some(summary) = view["summary"].as_str() {
                    writeln!(out, "  {summary}")?;
                }
                if let Some(error) = view["error"].as_str() {
                    writeln!(out, "  {error}")?;
                }
                Ok(())
            })?;
            Ok(if typed::<Run>(&view)?.status == RunStatus::Finished {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// Starts a run of `experiment` on `dataset` (or its latest run's).
async fn start_run(
    v1: &Zone,
    experiment: &str,
    dataset: Option<&str>,
    options: &RunOptions,
) -> anyhow::Result<()> {
    let mut body = json!({"exhaustive": options.exhaustive});
    if let Some(dataset) = dataset {
        body["dataset_id"] = json!(dataset);
    }
    if let Some(c) = options.concurrency {
        body["concurrency"] = json!(c);
    }
    if let Some(seed) = options.seed {
        body["seed"] = json!(seed);
    }
    let r = v1
        .post(&format!("/api/v1/experiments/{experiment}/runs"), &body)
        .await?;
    print(options.json, &r, |out| {
        writeln!(
            out,
            "run {} {} ({} new cases of dataset {}, seed {}){}",
            text(&r["id"]),
            text(&r["status"]),
            text(&r["cases_total"]),
            text(&r["dataset_id"]),
            text(&r["seed"]),
            if options.exhaustive {
                ", every case"
            } else {
                ", until the judge is certain"
            }
        )
    })
}

/// Each check of a verdict on a line, and for an inconclusive one (when
/// `experiment` is given) how to go on.
fn show_verdict(
    out: &mut dyn Write,
    verdict: &Value,
    experiment: Option<&str>,
) -> std::io::Result<()> {
    for c in verdict["checks"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  {:<16} {:<12} {}",
            text(&c["name"]),
            text(&c["outcome"]),
            text(&c["reason"])
        )?;
    }
    if let Some(experiment) = experiment
        && Decision::deserialize(&verdict["decision"]).ok() == Some(Decision::Inconclusive)
        && verdict["cases"].as_u64().unwrap_or(0) > 0
    {
        let expected = match verdict["additional_cases_needed"].as_u64() {
            Some(more) => format!("about {more} more cases expected to decide"),
            None => "more cases may not settle it".to_owned(),
        };
        writeln!(
            out,
            "  inconclusive after {} cases: {expected}.\n  continue: trizone run extend {experiment}    (or --dataset <another>)",
            text(&verdict["cases"])
        )?;
    }
    Ok(())
}

/// A progress bar for one run, labelled `label`.
pub fn run_bar(label: &str) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix:<14} [{bar:30}] {pos:>4}/{len:<4} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>.");
    ProgressBar::new(0)
        .with_style(style)
        .with_prefix(label.to_owned())
}

/// Follows run `run` on `bar` until it ends; its last view.
pub async fn follow_run(v1: &Zone, run: &str, bar: &ProgressBar) -> anyhow::Result<Value> {
    loop {
        let view = v1.get(&format!("/api/v1/runs/{run}")).await?;
        bar.set_length(view["cases_total"].as_u64().unwrap_or(0));
        bar.set_position(view["progress"]["cases_done"].as_u64().unwrap_or(0));
        let status = typed::<Run>(&view)?.status;
        bar.set_message(match view["running_accuracy"].as_f64() {
            Some(accuracy) => format!("{status}, accuracy {accuracy:.3}"),
            None => status.to_string(),
        });
        if !status.is_active() {
            return Ok(view);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn gate(servers: &Servers, command: GateCommand) -> anyhow::Result<()> {
    let read_role = if matches!(command, GateCommand::Decisions { .. }) {
        "experimenter"
    } else {
        "admin"
    };
    let gate = Zone::new(servers, ZoneName::Gate, read_role)?;
    match command {
        GateCommand::Judge { experiment, json } => {
            let d = gate
                .post(
                    &format!("/api/gate/experiments/{experiment}/judge"),
                    &json!({}),
                )
                .await?;
            print(json, &d, |out| {
                writeln!(
                    out,
                    "{} -> {} (on {} cases pooled from {} runs)",
                    text(&d["decision"]),
                    text(&d["outcome"]),
                    text(&d["verdict"]["cases"]),
                    d["pooled_runs"].as_array().map_or(0, Vec::len)
                )?;
                show_verdict(out, &d["verdict"], Some(&experiment))
            })
        }
        GateCommand::Decisions { experiment, json } => {
            let path = with_query(
                "/api/gate/decisions",
                "experiment_id",
                experiment.as_deref(),
            );
            let page = gate.get(&path).await?;
            list(json, &page, "decisions", |d| {
                format!(
                    "{}  {:<12} {:<12} experiment {}",
                    text(&d["created_at"]),
                    text(&d["decision"]),
                    text(&d["outcome"]),
                    text(&d["experiment_id"])
                )
            })
        }
        GateCommand::Blacklist {
            fingerprint,
            reason,
        } => {
            let e = gate
                .post(
                    "/api/gate/blacklist",
                    &json!({"fingerprint": fingerprint, "reason": reason}),
                )
                .await?;
            print(false, &e, |out| {
                writeln!(
                    out,
                    "blacklisted {}: {}",
                    text(&e["fingerprint"]),
                    text(&e["reason"])
                )
            })
        }
        GateCommand::Rollback { reason } => {
            let r = gate
                .post("/api/gate/rollback", &json!({"reason": reason}))
                .await?;
            print(false, &r, |out| {
                writeln!(
                    out,
                    "V2 rolled back from version {} to {}",
                    text(&r["from"]["version"]),
                    text(&r["to"]["version"])
                )
            })
        }
    }
}

pub async fn quarantine(servers: &Servers, command: QuarantineCommand) -> anyhow::Result<()> {
    let v3 = || Zone::new(servers, ZoneName::V3, "experimenter");
    match command {
        QuarantineCommand::List { reason, json } => {
            let path = with_query("/api/v3/records", "reason", reason.as_deref());
            let page = v3()?.get(&path).await?;
            list(json, &page, "records", |r| {
                format!(
                    "{}  {:<14} {:<30} {}",
                    text(&r["id"]),
                    text(&r["reason"]),
                    text(&r["name"]),
                    short(&r["fingerprint"])
                )
            })
        }
        QuarantineCommand::Show { id, json } => {
            let r = v3()?.get(&format!("/api/v3/records/{id}")).await?;
            print(json, &r, |out| {
                writeln!(
                    out,
                    "{} ({}) quarantined for {}",
                    text(&r["name"]),
                    short(&r["fingerprint"]),
                    text(&r["reason"])
                )?;
                for c in r["failed_checks"].as_array().into_iter().flatten() {
                    // The reason states the value and the bar.
                    writeln!(out, "  {}: {}", text(&c["name"]), text(&c["reason"]))?;
                }
                writeln!(
                    out,
                    "  re-evaluation eligible: {}",
                    text(&r["reevaluation"]["eligible"])
                )
            })
        }
        QuarantineCommand::Summary { json } => {
            let rows = v3()?.get("/api/v3/summary").await?;
            list(json, &rows, "", |s| {
                format!(
                    "week of {}  {:<14} {:<28} {} record(s), {} re-evaluation(s)",
                    text(&s["week"]).get(..10).unwrap_or_default(),
                    text(&s["reason"]),
                    text(&s["primary_model"]),
                    text(&s["records"]),
                    text(&s["reevaluations"])
                )
            })
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
            print(json, &e, |out| {
                writeln!(
                    out,
                    "experiment {} ({}) {}: re-evaluation of record {record}",
                    text(&e["id"]),
                    text(&e["name"]),
                    text(&e["status"])
                )
            })
        }
    }
}

/// The language of `path` by its extension.
fn language_of(path: &std::path::Path) -> Option<&'static str> {
    Some(match path.extension()?.to_str()? {
        "c" | "h" => "c",
        "cc" | "cpp" | "hpp" => "cpp",
        "cs" => "csharp",
        "go" => "go",
        "java" => "java",
        "js" | "mjs" => "javascript",
        "kt" => "kotlin",
        "php" => "php",
        "py" => "python",
        "rb" => "ruby",
        "rs" => "rust",
        "scala" => "scala",
        "sh" => "shell",
        "sql" => "sql",
        "swift" => "swift",
        "ts" => "typescript",
        _ => return None,
    })
}

pub async fn review(
    servers: &Servers,
    file: &std::path::Path,
    language: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let v2 = Zone::new(servers, ZoneName::V2, "end_user")?;
    let code =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let language = language
        .or_else(|| language_of(file).map(str::to_owned))
        .context("cannot tell the language from the file name: pass --language")?;
    let body = json!({"language": language, "code": code, "path": file.display().to_string()});
    let r = v2.post("/api/v2/reviews", &body).await?;
    let lines: Vec<&str> = code.lines().collect();
    print(json, &r, |out| {
        writeln!(
            out,
            "reviewed by {} (deployment v{}, {})",
            r["answered_by"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect::<Vec<_>>()
                .join(" and "),
            text(&r["deployment"]["version"]),
            short(&r["deployment"]["fingerprint"])
        )?;
        for f in r["findings"].as_array().into_iter().flatten() {
            let start = f["line_start"].as_u64().unwrap_or(1);
            let end = f["line_end"].as_u64().unwrap_or(start);
            writeln!(
                out,
                "{}:{start}-{end} [{}] {}: {}",
                file.display(),
                text(&f["severity"]),
                text(&f["category"]),
                text(&f["message"])
            )?;
            for n in start..=end.min(start + 5) {
                if let Some(line) = usize::try_from(n)
                    .ok()
                    .and_then(|n| lines.get(n.wrapping_sub(1)))
                {
                    writeln!(out, "  {n:>4} | {line}")?;
                }
            }
        }
        writeln!(out, "{}", text(&r["summary"]))
    })
}
