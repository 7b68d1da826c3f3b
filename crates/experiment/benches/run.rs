//! An evaluation run of 1,000 cases at concurrency 64 against the simulator
//! at a fixed 20 ms latency: wall time against the bound
//! cases × latency / concurrency, and peak memory.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p trizone-experiment --bench run`

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that cannot set up should stop loudly"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::migrate::MigrateDatabase;
use sqlx::{PgPool, Postgres};
use trizone_core::{Configuration, ExperimentStatus, Format, Mover};
use trizone_experiment::runs::worker::WorkerSettings;
use trizone_http::KeyStore;
use trizone_router::{ModelRouter, ResilienceSettings};
use trizone_sim::{Dataset, Profile, RunningSim};
use trizone_store::datasets::{self, NewCase};
use trizone_store::{DbRole, experiments, runs};
use uuid::Uuid;

const CASES: usize = 1_000;
const CONCURRENCY: i32 = 64;
const LATENCY_MS: f64 = 20.0;
const ROUNDS: usize = 3;

/// Peak resident memory of this process (the simulator included), from /proc.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU this process has used (user + system), from /proc; USER_HZ is 100.
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 * 10.0)
}

async fn wait_finished(db: &PgPool, id: Uuid) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if runs::get(db, id).await.unwrap().status == runs::RunStatus::Finished {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("run {id} did not finish in 120 s");
}

#[tokio::main]
async fn main() {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| panic!("set DATABASE_URL to a PostgreSQL server"));
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&format!("trizone_bench_run_{}", std::process::id()));
    let scratch = url.to_string();
    Postgres::create_database(&scratch).await.unwrap();
    let owner = PgPool::connect(&scratch).await.unwrap();
    trizone_store::migrate(&mut owner.acquire().await.unwrap())
        .await
        .unwrap();
    let db = trizone_store::connect_as(&owner.connect_options(), DbRole::Experiment, 16)
        .await
        .unwrap();

    let sim = RunningSim::start(1, Dataset::default(), 0).await.unwrap();
    sim.state.set_profile(
        "*",
        Profile {
            latency_median_ms: LATENCY_MS,
            latency_p95_ms: LATENCY_MS,
            ..Profile::default()
        },
    );
    let yaml = "name: bench\nmodels:\n  primary: { provider: sim-openai, model: gpt-sim, input_per_mtok: 1, output_per_mtok: 2 }\nstrategy: { kind: primary }\nprompt:\n  system: Review.\n  template: \"{{path}}:\\n{{code}}\"\nparameters: { timeout_ms: 10000, max_retries: 0 }\n";
    let config = Configuration::parse(yaml, Format::Yaml).unwrap();
    let experiment = experiments::insert(
        &db,
        experiments::NewExperiment {
            owner: "bench",
            description: "",
            configuration: &config,
            reevaluation_of: None,
        },
    )
    .await
    .unwrap();
    let providers = trizone_testkit::sim_providers(sim.address);
    let state =
        trizone_experiment::state_with(db.clone(), KeyStore::default(), providers.catalog())
            .unwrap();
    let router = Arc::new(
        ModelRouter::new(
            providers,
            ResilienceSettings::default(),
            &prometheus::Registry::new(),
        )
        .unwrap(),
    );
    let settings = WorkerSettings {
        poll: Duration::from_millis(5),
        ..WorkerSettings::new("bench")
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(trizone_experiment::worker(&state, router, settings).run(stopped));

    let bound_ms = CASES as f64 * LATENCY_MS / f64::from(CONCURRENCY);
    let (mut walls, mut cpus) = (Vec::new(), Vec::new());
    let mut from = ExperimentStatus::Registered;
    for round in 0..ROUNDS {
        // Each round brings new cases: a case already evaluated for the
        // configuration would add no evidence and not be sent again.
        let dataset_id = new_dataset(&db, round).await;
        let mut conn = db.acquire().await.unwrap();
        experiments::transition(
            &mut conn,
            experiment.id,
            from,
            ExperimentStatus::Evaluating,
            Mover::Experiment,
        )
        .await
        .unwrap();
        from = ExperimentStatus::Evaluated;
        let (started, cpu_before) = (Instant::now(), cpu_ms().unwrap_or_default());
        // Exhaustive: this measures throughput, not when the judge decides.
        let run = runs::create(
            &db,
            runs::NewRun {
                experiment_id: experiment.id,
                dataset_id,
                concurrency: CONCURRENCY,
                cases_total: i32::try_from(CASES).unwrap(),
                requested_by: "bench",
                seed: i64::try_from(round).unwrap(),
                exhaustive: true,
            },
        )
        .await
        .unwrap();
        wait_finished(&db, run.id).await;
        walls.push(started.elapsed().as_secs_f64() * 1000.0);
        cpus.push(cpu_ms().unwrap_or_default() - cpu_before);
        let metrics = runs::metrics(&db, run.id).await.unwrap().unwrap();
        assert_eq!(metrics.cases, CASES as u64);
    }
    walls.sort_by(f64::total_cmp);
    let median = walls[walls.len() / 2];
    println!(
        "evaluation run: {CASES} cases, concurrency {CONCURRENCY}, simulator at {LATENCY_MS} ms, median of {ROUNDS} runs"
    );
    println!("bound (cases × latency / concurrency): {bound_ms:.1} ms");
    println!(
        "wall time: median {median:.1} ms (runs: {})",
        walls
            .iter()
            .map(|w| format!("{w:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "ratio to bound: {:.2} ({:+.0}%)",
        median / bound_ms,
        (median / bound_ms - 1.0) * 100.0
    );
    cpus.sort_by(f64::total_cmp);
    let cpu = cpus[cpus.len() / 2];
    println!(
        "process CPU during a run: median {cpu:.0} ms ({:.0} µs per case); on 2 cores the CPU alone needs at least {:.0} ms of wall time",
        cpu * 1000.0 / CASES as f64,
        cpu / 2.0
    );
    println!(
        "peak RSS of the process (worker, simulator, benchmark): {:.1} MiB",
        peak_rss_mib().unwrap_or(f64::NAN)
    );

    let _ = stop.send(true);
    worker.await.unwrap();
    db.close().await;
    owner.close().await;
    Postgres::force_drop_database(&scratch).await.unwrap();
}

/// A dataset of `CASES` cases of its own for round `round`.
async fn new_dataset(db: &PgPool, round: usize) -> Uuid {
    let dataset_id = datasets::create(db, "bench", "", "bench").await.unwrap();
    let cases: Vec<NewCase> = (0..CASES)
        .map(|i| NewCase {
            case_id: format!("c{i}"),
            language: trizone_core::Language::Python,
            path: format!("m{i}.py"),
            code: format!("x = {round}_{i}\nprint(x)\n"),
            expected_findings: Vec::new(),
        })
        .collect();
    for (i, chunk) in cases.chunks(500).enumerate() {
        datasets::insert_cases(db, dataset_id, i32::try_from(i * 500).unwrap(), chunk)
            .await
            .unwrap();
    }
    datasets::finish(db, dataset_id, i32::try_from(CASES).unwrap(), "bench")
        .await
        .unwrap();
    dataset_id
}
