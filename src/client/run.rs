//! `trizone run`: start, extend and follow evaluation runs.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::{Value, json};
use trizone_api::runs::RunView;
use trizone_api::states::RunStatus;
use trizone_core::Decision;

use super::{Servers, Zone, ZoneName, print, render, text, typed};

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
    /// An experiment's runs, newest first.
    List {
        experiment: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop a queued or running run; the cases it recorded stay evidence.
    Cancel { run: String },
    /// Each case of a run: what it expected, what the model found and how
    /// they matched, its answer, latency and cost.
    Cases {
        run: String,
        /// Only the cases it got wrong or could not review.
        #[arg(long)]
        failed: bool,
        /// One JSON object a line, for scripts.
        #[arg(long)]
        jsonl: bool,
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
        RunCommand::List { experiment, json } => {
            let runs = v1
                .get(&format!("/api/v1/experiments/{experiment}/runs"))
                .await?;
            super::list(
                json,
                &runs,
                "",
                "{id}  {status:>9}  {created_at:date}  {progress.cases_done}/{cases_total} cases  {summary}",
            )?;
            Ok(ExitCode::SUCCESS)
        }
        RunCommand::Cancel { run } => {
            let view = v1
                .post(&format!("/api/v1/runs/{run}/cancel"), &json!({}))
                .await?;
            let line = render("run {id} {status} after {progress.cases_done} cases", &view);
            writeln!(std::io::stdout().lock(), "{line}")?;
            Ok(ExitCode::SUCCESS)
        }
        RunCommand::Cases { run, failed, jsonl } => super::cases::show(&v1, &run, failed, jsonl)
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
                let line = render(
                    "{status}: {progress.cases_done} cases, accuracy {running_accuracy}, {progress.errors} errors, p95 {metrics.latency_p95_ms} ms",
                    &view,
                );
                writeln!(out, "run {run} {line}")?;
                if let Some(summary) = view["summary"].as_str() {
                    writeln!(out, "  {summary}")?;
                }
                let recovered = view["progress"]["format_recoveries"].as_i64().unwrap_or(0);
                if recovered > 0 {
                    writeln!(
                        out,
                        "  {recovered} answers read only after unwrapping a code fence: the model needed help"
                    )?;
                }
                if let Some(error) = view["error"].as_str() {
                    writeln!(out, "  {error}")?;
                }
                Ok(())
            })?;
            Ok(
                if typed::<RunView>(&view)?.run.status == RunStatus::Finished {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                },
            )
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
        let line = render(
            "run {id} {status} ({cases_total} new cases of dataset {dataset_id}, seed {seed})",
            &r,
        );
        let until = if options.exhaustive {
            "every case"
        } else {
            "until the judge is certain"
        };
        writeln!(out, "{line}, {until}")
    })
}

/// Each check of a verdict on a line, and for an inconclusive one (when
/// `experiment` is given) how to go on.
pub(super) fn show_verdict(
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
        let answer = v1.get(&format!("/api/v1/runs/{run}")).await?;
        let view: RunView = typed(&answer)?;
        let total = u64::try_from(view.run.cases_total).unwrap_or(0);
        bar.set_length(total);
        bar.set_position(u64::try_from(view.progress.cases_done).unwrap_or(0));
        let status = view.run.status;
        bar.set_message(match view.running_accuracy {
            Some(accuracy) => format!("{status}, accuracy {accuracy:.3}"),
            None => status.to_string(),
        });
        if view.is_over() {
            return Ok(answer);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
