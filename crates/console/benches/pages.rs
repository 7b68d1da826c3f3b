//! Server time of the console's heaviest pages with a platform's worth of
//! data: 10,000 experiments, 100,000 evaluated cases (100 runs of 1,000).
//! Each page is asked for in turn, one request at a time, after a warm-up;
//! beside it, the V1 calls the page makes, timed the same way, as the
//! baseline the console's own work adds to. Medians and p95, milliseconds.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p trizone-console --bench pages`

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that cannot set up should stop loudly"
)]

use std::time::Instant;

use reqwest::header::COOKIE;
use sqlx::migrate::MigrateDatabase;
use sqlx::{PgPool, Postgres};
use trizone_console::{AppState, Shared, ZoneUrls, Zones};
use trizone_core::{Configuration, Format};
use trizone_http::layers::Limits;
use trizone_http::{KeyStore, Role};
use trizone_router::{Api, ProviderInfo};
use trizone_store::{DbRole, experiments};
use trizone_testkit::Measured;

const EXPERIMENTS: usize = 10_000;
const EVALUATED: usize = 100;
const CASES_PER_RUN: i64 = 1_000;
const WARM_UP: usize = 20;
const REQUESTS: usize = 200;
const TOKEN: &str = "bench-experimenter-token-4c1e9a";

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds of each of `REQUESTS` GETs of `url` (after a warm-up).
async fn time(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Vec<f64> {
    let get = || {
        let mut request = client.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    };
    for _ in 0..WARM_UP {
        let response = get().send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        response.bytes().await.unwrap();
    }
    let mut took = Vec::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let response = get().send().await.unwrap();
        response.bytes().await.unwrap();
        took.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    took
}

#[tokio::main]
async fn main() {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| panic!("set DATABASE_URL to a PostgreSQL server"));
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&format!("trizone_bench_console_{}", std::process::id()));
    let scratch = url.to_string();
    Postgres::create_database(&scratch).await.unwrap();
    let owner = PgPool::connect(&scratch).await.unwrap();
    trizone_store::migrate(&mut owner.acquire().await.unwrap())
        .await
        .unwrap();

    let seeding = Instant::now();
    let yaml = |i: usize| {
        format!(
            "name: bench-{i}\nmodels:\n  primary: {{ provider: openai, model: gpt-4o, input_per_mtok: 1, output_per_mtok: 2 }}\nstrategy: {{ kind: primary }}\nprompt:\n  system: Review.\n  template: \"{{{{path}}}}:\\n{{{{code}}}}\"\nparameters: {{ temperature: {} }}\n",
            i as f64 / EXPERIMENTS as f64
        )
    };
    let mut evaluated = Vec::new();
    let mut run = None;
    for i in 0..EXPERIMENTS {
        let configuration = Configuration::parse(&yaml(i), Format::Yaml).unwrap();
        let experiment = experiments::insert(
            &owner,
            experiments::NewExperiment {
                owner: if i % 2 == 0 { "alice" } else { "bob" },
                description: "",
                configuration: &configuration,
                reevaluation_of: None,
            },
        )
        .await
        .unwrap();
        // The newest ones carry the evidence, so the first page of the
        // list and its experiments are the loaded ones.
        if i >= EXPERIMENTS - EVALUATED {
            let measured = Measured {
                cases: CASES_PER_RUN,
                correct: CASES_PER_RUN * 9 / 10,
                errors: 0,
                p95_ms: 800.0,
            };
            run = Some(trizone_testkit::evaluate(&owner, experiment.id, measured).await);
            evaluated.push(experiment.id);
        }
    }
    sqlx::query("ANALYZE").execute(&owner).await.unwrap();
    let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments_v1.code_analyses")
        .fetch_one(&owner)
        .await
        .unwrap();
    println!(
        "seeded {EXPERIMENTS} experiments and {cases} evaluated cases in {:.0} s",
        seeding.elapsed().as_secs_f64()
    );

    let v1_db = trizone_store::connect_as(&owner.connect_options(), DbRole::Experiment, 8)
        .await
        .unwrap();
    let keys = KeyStore::from_named_tokens([(Role::Experimenter, "alice", TOKEN)]);
    let catalog = trizone_router::Catalog::new([ProviderInfo {
        name: trizone_core::ProviderName::parse("openai").unwrap(),
        api: Api::Openai,
        models: None,
    }]);
    let v1_state = trizone_experiment::state_with(v1_db.clone(), keys, catalog).unwrap();
    let v1 = trizone_testkit::serve(trizone_experiment::router(v1_state, Limits::default())).await;
    let nowhere: url::Url = "http://127.0.0.1:9".parse().unwrap();
    let state = AppState::new(Shared {
        zones: Zones::new(ZoneUrls {
            v1: v1.url().parse().unwrap(),
            v3: nowhere.clone(),
            gate: nowhere,
        })
        .unwrap(),
        sessions: Default::default(),
        secure_cookies: false,
    });
    let console = trizone_testkit::serve(trizone_console::router(state)).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed = client
        .post(format!("{}/signin", console.url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}&next=%2F"))
        .send()
        .await
        .unwrap();
    let cookie = signed.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();

    let experiment = evaluated.last().unwrap();
    let run = run.unwrap();
    let bearer = format!("Bearer {TOKEN}");
    let pages = [
        (
            "experiment list",
            "/experiments".to_owned(),
            vec!["/api/v1/experiments?limit=50&offset=0".to_owned()],
        ),
        (
            "an experiment",
            format!("/experiments/{experiment}"),
            vec![
                format!("/api/v1/experiments/{experiment}"),
                format!("/api/v1/experiments/{experiment}/runs"),
                format!("/api/v1/experiments/{experiment}/evidence?points=200"),
                "/api/v1/experiments?status=promoted&limit=50".to_owned(),
            ],
        ),
        (
            "a run's cases",
            format!("/runs/{run}"),
            vec![
                format!("/api/v1/runs/{run}"),
                format!("/api/v1/runs/{run}/cases?limit=50"),
            ],
        ),
    ];
    println!(
        "{:<16} | {:>9} | {:>9} | {:>9} | {:>14} | {:>14}",
        "page", "p50 ms", "p95 ms", "p99 ms", "V1 calls p50", "V1 calls p95"
    );
    for (name, path, calls) in pages {
        let page = time(
            &client,
            &format!("{}{path}", console.url()),
            &[(COOKIE.as_str(), &cookie)],
        )
        .await;
        // The V1 calls the page makes, one after another (the page makes
        // some of them at once, so this is an upper bound on their share).
        let mut v1_total = vec![0.0; REQUESTS];
        for call in &calls {
            let took = time(
                &client,
                &format!("{}{call}", v1.url()),
                &[("authorization", &bearer)],
            )
            .await;
            for (total, t) in v1_total.iter_mut().zip(&took) {
                *total += t;
            }
        }
        v1_total.sort_by(f64::total_cmp);
        println!(
            "{name:<16} | {:>9.2} | {:>9.2} | {:>9.2} | {:>14.2} | {:>14.2}",
            quantile(&page, 0.5),
            quantile(&page, 0.95),
            quantile(&page, 0.99),
            quantile(&v1_total, 0.5),
            quantile(&v1_total, 0.95),
        );
    }

    console.stop().await;
    v1.stop().await;
    v1_db.close().await;
    owner.close().await;
    Postgres::drop_database(&scratch).await.unwrap();
}
