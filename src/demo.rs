//! `trizone demo`: the whole lifecycle in about a minute, against the
//! running platform (or one it starts): three configurations evaluated on
//! the bundled dataset, each run stopping as soon as the gate's judge is
//! certain, one promoted to V2 and serving a review, two quarantined in V3
//! with their reasons, one of those re-evaluated. Then two more pass the
//! gate and meet live traffic step by step: one reaches everyone through
//! shadow and canary, the other fails live and is aborted in its canary
//! while every user is still answered.
//!
//! The configurations differ only in the simulated model they call, so
//! the simulator is told how each model behaves: that is what makes one
//! good, one slow, one inaccurate and one brittle.

mod live;

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::MultiProgress;
use serde_json::{Value, json};

use trizone_api::gate::DecisionRecord;
use trizone_api::reviews::{ReviewFinding, ReviewRequest, ReviewResponse};
use trizone_api::runs::RunView;
use trizone_api::states::Outcome as GateOutcome;
use trizone_api::states::RunStatus;
use trizone_core::{Language, Verdict};

use crate::client::{Refusal, Servers, Zone, ZoneName, follow_run, render, run_bar, text, typed};
use crate::session::Session;
use crate::up::{Platform, Ports, Tokens};

/// The bundled dataset: 1,000 labelled cases in six languages, 400 of them
/// clean. Large enough for the judge to decide on a realistic reviewer
/// (about 450 cases at 97% accuracy), which never needs all of it.
const DATASET: &str = include_str!("../demo/cases.jsonl");

/// The code an end user sends to V2 at the end.
const SAMPLE: &str = "import subprocess\n\ndef archive(name):\n    subprocess.call(\"tar czf \" + name + \".tgz data\", shell=True)\n    return eval(\"len('\" + name + \"')\")\n";

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    servers: Servers,
    /// The provider simulator (default: the session's, else http://127.0.0.1:8090).
    #[arg(long, env = "TRIZONE_SIM_URL")]
    sim_url: Option<String>,
    /// Owner database URL: with it, the demo starts its own platform when
    /// none answers.
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

/// One of the configurations and how its simulated model behaves.
struct Candidate {
    label: &'static str,
    model: &'static str,
    /// The simulator profile of `model`.
    profile: Value,
    /// The share of calls its provider fails once real users meet it.
    fails_live: Option<f64>,
}

fn profile(median: f64, p95: f64, accuracy: f64) -> Value {
    json!({"latency_median_ms": median, "latency_p95_ms": p95, "accuracy": accuracy})
}

/// The three the gate judges first.
fn candidates() -> [Candidate; 3] {
    [
        Candidate {
            label: "good",
            model: "demo-careful-reviewer",
            // Realistic: a good model still gets 3 in 100 wrong.
            profile: profile(30.0, 90.0, 0.97),
            fails_live: None,
        },
        Candidate {
            label: "too slow",
            model: "demo-slow-reviewer",
            profile: profile(3300.0, 4200.0, 1.0),
            fails_live: None,
        },
        Candidate {
            label: "too inaccurate",
            model: "demo-hasty-reviewer",
            profile: profile(30.0, 90.0, 0.7),
            fails_live: None,
        },
    ]
}

/// The two that pass the gate once the first serves, and roll out.
fn newcomers() -> [Candidate; 2] {
    [
        Candidate {
            label: "sharper",
            model: "demo-sharper-reviewer",
            profile: profile(25.0, 80.0, 0.99),
            fails_live: None,
        },
        Candidate {
            label: "brittle",
            model: "demo-brittle-reviewer",
            profile: profile(30.0, 90.0, 0.98),
            // Its provider buckles under real users' traffic.
            fails_live: Some(0.25),
        },
    ]
}

/// What happened to one configuration, for the summary.
struct Outcome {
    name: String,
    model: &'static str,
    fingerprint: String,
    experiment: String,
    run: Value,
    decision: Option<DecisionRecord>,
    /// Failed on live traffic after the gate passed it.
    failed_live: bool,
}

/// Where a configuration is at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Serving,
    /// Served everyone until a newer one took over.
    Replaced,
    Quarantined,
    V1,
}

impl Outcome {
    fn place(&self, serving: &str) -> Place {
        match self.decision.as_ref().map(|d| d.outcome) {
            _ if self.failed_live => Place::Quarantined,
            Some(GateOutcome::Promoting) if self.fingerprint == serving => Place::Serving,
            Some(GateOutcome::Promoting) => Place::Replaced,
            Some(GateOutcome::Quarantined | GateOutcome::Blacklisted) => Place::Quarantined,
            _ => Place::V1,
        }
    }
}

/// The four zones and the simulator, as the demo talks to them.
struct Zones {
    v1: Zone,
    v2: Zone,
    v2_url: String,
    /// Every end user's token, the session's crowd (at least one).
    end_users: Vec<String>,
    v3: Zone,
    gate: Zone,
    /// Admin token, for the re-evaluation V1 only grants admins.
    v1_admin: Zone,
    sim: String,
    /// `trizone up` gives the simulator's control API the admin token.
    sim_token: String,
    http: reqwest::Client,
}

impl Zones {
    fn new(session: &Session) -> anyhow::Result<Self> {
        let zone = |zone: ZoneName, base: &str, role: &str| {
            let token = session.token(role).with_context(|| {
                format!("no {role} token: set TRIZONE_TOKEN_{}", role.to_uppercase())
            })?;
            Zone::at(zone, base, token)
        };
        Ok(Self {
            v1: zone(ZoneName::V1, &session.v1_url, "experimenter")?,
            v2: zone(ZoneName::V2, &session.v2_url, "end_user")?,
            v2_url: session.v2_url.trim_end_matches('/').to_owned(),
            end_users: if session.end_users.is_empty() {
                session
                    .token("end_user")
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            } else {
                session.end_users.clone()
            },
            v3: zone(ZoneName::V3, &session.v3_url, "experimenter")?,
            gate: zone(ZoneName::Gate, &session.gate_url, "admin")?,
            v1_admin: zone(ZoneName::V1, &session.v1_url, "admin")?,
            sim: session.sim_url.trim_end_matches('/').to_owned(),
            sim_token: session
                .token("admin")
                .context("no admin token: set TRIZONE_TOKEN_ADMIN")?
                .to_owned(),
            http: reqwest::Client::new(),
        })
    }
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let saved = Session::load();
    let mut session = Session {
        v1_url: args.servers.url(ZoneName::V1, saved.as_ref()),
        v2_url: args.servers.url(ZoneName::V2, saved.as_ref()),
        v3_url: args.servers.url(ZoneName::V3, saved.as_ref()),
        gate_url: args.servers.url(ZoneName::Gate, saved.as_ref()),
        sim_url: args
            .sim_url
            .clone()
            .or_else(|| saved.as_ref().map(|s| s.sim_url.clone()))
            .unwrap_or_else(|| "http://127.0.0.1:8090".into()),
        tokens: Default::default(),
        end_users: Vec::new(),
    };
    let mut platform = None;
    if !answers(&session.v1_url).await {
        let Some(url) = &args.database_url else {
            bail!(
                "no platform answers at {}: start one with `scripts/run`, or set DATABASE_URL and the demo starts its own",
                session.v1_url
            );
        };
        say(&format!("no platform at {}: starting one", session.v1_url))?;
        crate::cli::migrate_url(url).await?;
        let started = Platform::start(url, &default_ports(), &Tokens::from_env()?).await?;
        session = started.session.clone();
        platform = Some(started);
    } else {
        for role in ["experimenter", "admin", "end_user"] {
            let token = args.servers.token(role, saved.as_ref())?;
            session.tokens.insert(role.to_owned(), token);
        }
        // The session's crowd, when this is its platform's end user.
        session.end_users = saved
            .filter(|s| s.token("end_user") == session.tokens.get("end_user").map(String::as_str))
            .map(|s| s.end_users)
            .unwrap_or_default();
    }
    let started = Instant::now();
    let result = match Zones::new(&session) {
        Ok(zones) => script(&zones).await,
        Err(error) => Err(error),
    };
    let stopped = platform.is_some();
    if let Some(platform) = platform {
        platform.stop().await?;
    }
    let outcomes = result?;
    say(&format!(
        "done in {:.1} s: {} promoted to V2, {} quarantined in V3",
        started.elapsed().as_secs_f64(),
        outcomes.0,
        outcomes.1
    ))?;
    if stopped {
        return Ok(());
    }
    say(
        "see every experiment, case, decision and rollout in the console: run `trizone console` \
         and open http://127.0.0.1:8085/ (sign in with your experimenter or admin token)",
    )
}

fn default_ports() -> Ports {
    Ports {
        host: [127, 0, 0, 1].into(),
        v1_port: 8081,
        v2_port: vec![8082],
        v3_port: 8083,
        gate_port: vec![8084],
        sim_port: 8090,
        schedule: "*/10 * * * * *".into(),
    }
}

async fn answers(base: &str) -> bool {
    let client = reqwest::Client::new();
    matches!(
        client
            .get(format!("{}/healthz", base.trim_end_matches('/')))
            .timeout(Duration::from_secs(2))
            .send()
            .await,
        Ok(response) if response.status().is_success()
    )
}

fn say(line: &str) -> anyhow::Result<()> {
    writeln!(std::io::stdout().lock(), "{line}")?;
    Ok(())
}

/// The lifecycle; how many configurations were promoted and quarantined.
async fn script(zones: &Zones) -> anyhow::Result<(usize, usize)> {
    // A tag per demo makes its configurations new ones: the fingerprint of
    // one already quarantined would be refused at registration.
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let candidates = candidates();
    let newcomers = newcomers();
    let everyone: Vec<&Candidate> = candidates.iter().chain(&newcomers).collect();

    say("1. The simulator learns the dataset and how each model behaves")?;
    simulate(zones, &everyone).await?;

    say("2. An experimenter uploads the dataset and registers five configurations")?;
    let dataset_id = upload(zones, tag).await?;
    let mut outcomes = register(zones, tag, &everyone).await?;
    let mut crowd = live::Crowd::new(zones, DATASET)?;

    say("3. Three evaluations run side by side, each until the judge is certain")?;
    evaluate(zones, &dataset_id, &mut outcomes[..3]).await?;

    say("4. An admin asks the gate to judge them")?;
    judge_all(zones, &mut outcomes[..3]).await?;

    say("5. An end user asks V2 for a review")?;
    let first = &outcomes[0];
    match first.decision.as_ref().and_then(|d| d.deployment_id) {
        Some(deployment) => {
            if !serves_everyone(zones, &first.fingerprint).await? {
                say(&format!(
                    "   another configuration serves already, so {} rolls out beside it first",
                    first.name
                ))?;
                live::follow(zones, &mut crowd, first, deployment, None).await?;
            }
            review_sample(zones, first).await?;
        }
        None => say("   nothing passed, so V2 serves what it served before")?,
    }

    say("6. V3 holds the quarantined ones, with their reasons")?;
    let quarantined: Vec<&Outcome> = outcomes[..3]
        .iter()
        .filter(|o| {
            o.decision
                .as_ref()
                .is_some_and(|d| d.quarantine_record_id.is_some())
        })
        .collect();
    let records = show_records(zones, &quarantined).await?;

    say("7. An admin asks for a re-evaluation of one of them")?;
    let reevaluation = match records.last() {
        Some((outcome, id)) => Some(reevaluate(zones, outcome, id).await?),
        None => None,
    };

    say("8. A sharper one passes the gate and meets live traffic step by step")?;
    roll_out(
        zones,
        &dataset_id,
        &mut crowd,
        &mut outcomes[3],
        &newcomers[0],
    )
    .await?;

    say("9. A brittle one passes offline, then fails on live traffic in its canary")?;
    roll_out(
        zones,
        &dataset_id,
        &mut crowd,
        &mut outcomes[4],
        &newcomers[1],
    )
    .await?;

    say("")?;
    let serving = text(&zones.v2.get("/api/v2/status").await?["active"]["fingerprint"]);
    let places: Vec<Place> = outcomes.iter().map(|o| o.place(&serving)).collect();
    summarize(&outcomes, &places, reevaluation.as_ref())?;
    let count = |wanted: fn(&Place) -> bool| places.iter().filter(|p| wanted(p)).count();
    Ok((
        count(|p| matches!(p, Place::Serving | Place::Replaced)),
        count(|p| *p == Place::Quarantined),
    ))
}

/// Evaluates and judges one newcomer, then follows its rollout while end
/// users review through V2; a quarantine shows its V3 record.
async fn roll_out(
    zones: &Zones,
    dataset_id: &str,
    crowd: &mut live::Crowd,
    outcome: &mut Outcome,
    candidate: &Candidate,
) -> anyhow::Result<()> {
    evaluate(zones, dataset_id, std::slice::from_mut(outcome)).await?;
    judge_all(zones, std::slice::from_mut(outcome)).await?;
    let Some(deployment) = outcome.decision.as_ref().and_then(|d| d.deployment_id) else {
        return Ok(());
    };
    if serves_everyone(zones, &outcome.fingerprint).await? {
        return say("   progressive delivery is off here: it serves everyone at once");
    }
    let breakage = candidate.fails_live.map(|rate| live::Breakage {
        model: candidate.model,
        profile: &candidate.profile,
        rate,
    });
    if live::follow(zones, crowd, outcome, deployment, breakage).await? {
        return Ok(());
    }
    outcome.failed_live = true;
    let records = zones.v3.get("/api/v3/records").await?;
    let id = records["records"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["experiment_id"] == outcome.experiment.as_str())
        .map(|r| text(&r["id"]))
        .context("the rollout failed, but V3 holds no record of it")?;
    show_record(zones, outcome, &id).await
}

/// Uploads the bundled dataset; its id.
async fn upload(zones: &Zones, tag: &str) -> anyhow::Result<String> {
    let path = format!("/api/v1/datasets?name=demo-{tag}");
    let dataset = zones
        .v1
        .post_raw(&path, "application/x-ndjson", DATASET.as_bytes().to_vec())
        .await?;
    let dataset_id = dataset["id"]
        .as_str()
        .context("V1 gave the dataset no id")?;
    say(&format!(
        "   dataset demo-{tag}: {} cases",
        dataset["case_count"]
    ))?;
    Ok(dataset_id.to_owned())
}

/// Registers one configuration per candidate.
async fn register(
    zones: &Zones,
    tag: &str,
    candidates: &[&Candidate],
) -> anyhow::Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    for candidate in candidates {
        let name = format!("demo-{}-{tag}", candidate.label.replace(' ', "-"));
        let body = json!({
            "description": format!("trizone demo: the {} one", candidate.label),
            "configuration": configuration(&name, candidate.model, tag),
        });
        let experiment = zones.v1.post("/api/v1/experiments", &body).await?;
        say(&format!(
            "   {name:<26} {:<22} fingerprint {}",
            candidate.model,
            render("{fingerprint:short}", &experiment)
        ))?;
        outcomes.push(Outcome {
            name,
            model: candidate.model,
            fingerprint: text(&experiment["fingerprint"]),
            experiment: text(&experiment["id"]),
            run: Value::Null,
            decision: None,
            failed_live: false,
        });
    }
    Ok(outcomes)
}

async fn judge_all(zones: &Zones, outcomes: &mut [Outcome]) -> anyhow::Result<()> {
    for outcome in outcomes {
        let decision = judge(zones, &outcome.experiment).await?;
        say(&format!(
            "   {:<26} {:<5} -> {}",
            outcome.name, decision.decision, decision.outcome
        ))?;
        for check in failed_checks(&decision)? {
            say(&format!("      {check}"))?;
        }
        outcome.decision = Some(decision);
    }
    Ok(())
}

/// Has V2, once it serves `promoted`, review the sample file.
async fn review_sample(zones: &Zones, promoted: &Outcome) -> anyhow::Result<()> {
    let request = ReviewRequest {
        language: Language::Python,
        path: Some("archive.py".into()),
        code: SAMPLE.into(),
    };
    let review: ReviewResponse = typed(
        &zones
            .v2
            .post("/api/v2/reviews", &serde_json::to_value(&request)?)
            .await?,
    )?;
    say(&format!(
        "   answered by {} under deployment v{} ({}), in {:.0} ms",
        review.answered_by.first().map_or("nobody", String::as_str),
        review.deployment.version,
        promoted.name,
        review.latency_ms
    ))?;
    let lines: Vec<&str> = SAMPLE.lines().collect();
    for ReviewFinding { finding, .. } in &review.findings {
        let line = finding.line_start;
        say(&format!(
            "   archive.py:{line} [{}] {}",
            finding.severity, finding.message
        ))?;
        if let Some(source) = usize::try_from(line)
            .ok()
            .and_then(|l| lines.get(l.wrapping_sub(1)))
        {
            say(&format!("      {line:>3} | {source}"))?;
        }
    }
    Ok(())
}

/// Shows each quarantined configuration's V3 record; with its id.
async fn show_records<'a>(
    zones: &Zones,
    quarantined: &[&'a Outcome],
) -> anyhow::Result<Vec<(&'a Outcome, String)>> {
    let mut records = Vec::new();
    for outcome in quarantined {
        let id = outcome
            .decision
            .as_ref()
            .and_then(|d| d.quarantine_record_id)
            .context("a quarantined configuration without its record")?
            .to_string();
        show_record(zones, outcome, &id).await?;
        records.push((*outcome, id));
    }
    Ok(records)
}

/// Says why V3 holds `outcome`, from its record `id`.
async fn show_record(zones: &Zones, outcome: &Outcome, id: &str) -> anyhow::Result<()> {
    let record = zones.v3.get(&format!("/api/v3/records/{id}")).await?;
    say(&format!(
        "   record {id}: {} quarantined for {}",
        outcome.name,
        text(&record["reason"])
    ))?;
    for check in record["failed_checks"].as_array().into_iter().flatten() {
        say(&format!("      {}", text(&check["reason"])))?;
    }
    Ok(())
}

/// Brings a quarantined configuration back to V1; the experiment it was
/// and the one it is now.
async fn reevaluate(
    zones: &Zones,
    outcome: &Outcome,
    record_id: &str,
) -> anyhow::Result<(String, Value)> {
    let experiment = zones
        .v1_admin
        .post(
            "/api/v1/reevaluations",
            &json!({"record_id": record_id, "description": "demo: the provider says it is fixed"}),
        )
        .await?;
    say(&format!(
        "   {} is back in V1 as experiment {} ({}), linked to its record",
        outcome.name,
        text(&experiment["id"]),
        text(&experiment["status"])
    ))?;
    Ok((outcome.experiment.clone(), experiment))
}

/// Loads the dataset into the simulator and sets each model's profile.
async fn simulate(zones: &Zones, candidates: &[&Candidate]) -> anyhow::Result<()> {
    let unreachable = || {
        format!(
            "cannot reach the provider simulator at {} (the demo needs it; `trizone up` runs one)",
            zones.sim
        )
    };
    let loaded = zones
        .http
        .put(format!("{}/control/dataset", zones.sim))
        .bearer_auth(&zones.sim_token)
        .body(DATASET)
        .send()
        .await
        .with_context(unreachable)?;
    if !loaded.status().is_success() {
        bail!("the simulator refused the dataset: {}", loaded.status());
    }
    for candidate in candidates {
        let set = zones
            .http
            .put(format!(
                "{}/control/profiles/{}",
                zones.sim, candidate.model
            ))
            .bearer_auth(&zones.sim_token)
            .json(&candidate.profile)
            .send()
            .await
            .with_context(unreachable)?;
        if !set.status().is_success() {
            bail!(
                "the simulator refused the profile of {}: {}",
                candidate.model,
                set.status()
            );
        }
        say(&format!(
            "   {:<22} p95 {:>4.0} ms, accuracy {:.2}",
            candidate.model,
            candidate.profile["latency_p95_ms"].as_f64().unwrap_or(0.0),
            candidate.profile["accuracy"].as_f64().unwrap_or(0.0)
        ))?;
    }
    Ok(())
}

/// A configuration calling `model` on the simulator.
fn configuration(name: &str, model: &str, tag: &str) -> Value {
    json!({
        "name": name,
        "models": {"primary": {
            "provider": crate::up::SIM_OPENAI, "model": model,
            "input_per_mtok": 0.5, "output_per_mtok": 1.5,
        }},
        "strategy": {"kind": "primary"},
        "prompt": {
            "system": format!("You review code for security problems and bugs. Answer with JSON findings. (demo {tag})"),
            "template": "Review {{path}} ({{language}}):\n{{code}}",
        },
        "parameters": {"temperature": 0.0, "max_retries": 0},
    })
}

/// Starts each configuration's run and follows them all until they end.
async fn evaluate(zones: &Zones, dataset_id: &str, outcomes: &mut [Outcome]) -> anyhow::Result<()> {
    let bars = MultiProgress::new();
    let mut runs = Vec::new();
    // Fixed seeds: with the simulator's, each run sees the same cases in the
    // same order every time; only which cases are in flight when the judge
    // decides can vary, by at most the concurrency.
    for (seed, outcome) in outcomes.iter().enumerate() {
        let run = zones
            .v1
            .post(
                &format!("/api/v1/experiments/{}/runs", outcome.experiment),
                &json!({"dataset_id": dataset_id, "concurrency": 16, "seed": seed}),
            )
            .await?;
        let bar = bars.add(run_bar(&outcome.name[..outcome.name.len().min(14)]));
        runs.push((text(&run["id"]), bar));
    }
    let finished = follow_all(zones, &runs).await?;
    for (outcome, view) in outcomes.iter_mut().zip(finished) {
        if typed::<RunView>(&view)?.run.status != RunStatus::Finished {
            bail!(
                "the run of {} ended {}",
                outcome.name,
                text(&view["status"])
            );
        }
        say(&format!(
            "   {:<26} {}",
            outcome.name,
            view["summary"].as_str().unwrap_or("ended")
        ))?;
        outcome.run = view;
    }
    Ok(())
}

async fn follow_all(
    zones: &Zones,
    runs: &[(String, indicatif::ProgressBar)],
) -> anyhow::Result<Vec<Value>> {
    let follows = runs.iter().map(|(id, bar)| async move {
        let view = follow_run(&zones.v1, id, bar).await;
        bar.finish();
        view
    });
    futures::future::try_join_all(follows).await
}

/// Asks the gate for a decision; if the schedule made it first, reads it.
async fn judge(zones: &Zones, experiment: &str) -> anyhow::Result<DecisionRecord> {
    let decision = match crate::client::judge(&zones.gate, experiment).await {
        Ok(decision) => decision,
        Err(error) if Refusal::has_code(&error, "already_decided") => {
            let list = zones
                .gate
                .get(&format!("/api/gate/decisions?experiment_id={experiment}"))
                .await?;
            list["decisions"]
                .get(0)
                .cloned()
                .context("the gate says it decided but lists no decision")?
        }
        Err(error) => return Err(error),
    };
    typed(&decision)
}

/// `name: reason` of each check that failed.
fn failed_checks(decision: &DecisionRecord) -> anyhow::Result<Vec<String>> {
    let verdict: Verdict = typed(&decision.verdict)?;
    Ok(verdict
        .failed_checks()
        .map(|c| format!("{}: {}", c.name.label(), c.reason))
        .collect())
}

/// Whether V2 serves `fingerprint` to everyone, once the saga has
/// smoke-tested it; false when it rolls out beside another instead.
async fn serves_everyone(zones: &Zones, fingerprint: &str) -> anyhow::Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = zones.v2.get("/api/v2/status").await?;
        if status["active"]["fingerprint"] == fingerprint {
            return Ok(true);
        }
        if status["rollout"]["fingerprint"] == fingerprint {
            return Ok(false);
        }
        if Instant::now() > deadline {
            bail!(
                "V2 did not take up the promoted configuration within 30 s; `trizone gate decisions` shows where it is"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn summarize(
    outcomes: &[Outcome],
    places: &[Place],
    reevaluation: Option<&(String, Value)>,
) -> anyhow::Result<()> {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header([
        "configuration",
        "model",
        "cases used",
        "accuracy",
        "p95 ms",
        "errors",
        "gate",
        "now in",
    ]);
    for (outcome, place) in outcomes.iter().zip(places) {
        let metrics = &outcome.run["metrics"];
        let cases = metrics["cases"].as_f64().unwrap_or(0.0);
        let accuracy = metrics["correct"].as_f64().unwrap_or(0.0) / cases.max(1.0);
        let gate = outcome.decision.as_ref();
        let zone = match place {
            Place::Serving => "V2 (serving)".to_owned(),
            Place::Replaced => "V2 (served until replaced)".to_owned(),
            Place::Quarantined if outcome.failed_live => "V3 (quarantined live)".to_owned(),
            Place::Quarantined => {
                let mut zone = "V3 (quarantined)".to_owned();
                if reevaluation.is_some_and(|(of, _)| *of == outcome.experiment) {
                    zone.push_str(", re-evaluation in V1");
                }
                zone
            }
            Place::V1 => "V1".to_owned(),
        };
        table.add_row([
            outcome.name.clone(),
            outcome.model.to_owned(),
            format!("{cases} of {}", text(&outcome.run["cases_total"])),
            format!("{accuracy:.3}"),
            format!("{:.0}", metrics["latency_p95_ms"].as_f64().unwrap_or(0.0)),
            format!("{}/{}", text(&metrics["errors"]), cases),
            gate.map_or("-".to_owned(), |d| d.decision.as_str().to_uppercase()),
            zone,
        ]);
    }
    say(&table.to_string())
}
