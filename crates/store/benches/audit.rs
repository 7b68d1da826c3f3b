//! What the audit hash chain costs: appends through `audit.append_event`
//! against a plain INSERT of the same row (the baseline, measured in the
//! same run), with 1 and 8 concurrent writers, and verification speed.
//!
//! `cargo bench -p trizone-store --bench audit` with `DATABASE_URL` naming a
//! server where it may create (and then drops) a scratch database.

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that cannot set up should stop loudly"
)]

use std::str::FromStr;
use std::time::Instant;

use serde_json::json;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};
use trizone_store::DbRole;
use trizone_store::audit::{self, AuditAction, NewEvent};

const EVENTS_PER_ROUND: usize = 2_000;
const ROUNDS: usize = 5;
const READS: usize = 21;

#[derive(Clone, Copy)]
enum Writer {
    Chained,
    PlainInsert,
}

async fn write(pool: &PgPool, writer: Writer, subject: &str, details: &serde_json::Value) {
    match writer {
        Writer::Chained => {
            audit::append(
                pool,
                NewEvent {
                    actor: "bench",
                    // The gate appends only its own `gate.*` actions.
                    action: AuditAction::Decided,
                    subject,
                    details,
                },
            )
            .await
            .unwrap();
        }
        Writer::PlainInsert => {
            sqlx::query(
                "INSERT INTO bench_plain_log (occurred_at, db_role, actor, action, subject, details)
                 VALUES (clock_timestamp(), session_user, 'bench', 'gate.bench', $1, $2)",
            )
            .bind(subject)
            .bind(details)
            .execute(pool)
            .await
            .unwrap();
        }
    }
}

/// Events per second for one round of `EVENTS_PER_ROUND` events spread over
/// `writers` concurrent tasks.
async fn round(pool: &PgPool, writer: Writer, writers: usize) -> f64 {
    let details = json!({"deployment": "d-42", "checks": [{"name": "accuracy", "value": 0.97}]});
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..writers {
        let (pool, details) = (pool.clone(), details.clone());
        tasks.spawn(async move {
            for _ in 0..EVENTS_PER_ROUND / writers {
                write(&pool, writer, &format!("writer-{w}"), &details).await;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    EVENTS_PER_ROUND as f64 / started.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let server = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| panic!("set DATABASE_URL to a PostgreSQL server"));
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&format!("trizone_bench_{}", std::process::id()));
    let scratch = url.to_string();
    Postgres::create_database(&scratch).await.unwrap();
    let owner = PgPoolOptions::new()
        .max_connections(10)
        .connect(&scratch)
        .await
        .unwrap();
    trizone_store::migrate(&mut owner.acquire().await.unwrap())
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE bench_plain_log (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             occurred_at timestamptz NOT NULL, db_role text NOT NULL, actor text NOT NULL,
             action text NOT NULL, subject text NOT NULL, details jsonb NOT NULL);
         GRANT INSERT ON bench_plain_log TO trizone_gate;",
    )
    .execute(&owner)
    .await
    .unwrap();
    let options = PgConnectOptions::from_str(&scratch).unwrap();
    let gate = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options.username(DbRole::Gate.name()))
        .await
        .unwrap();

    println!(
        "audit append: {EVENTS_PER_ROUND} events per round, median of {ROUNDS} rounds, each event its own transaction"
    );
    println!(
        "{:<8} {:>16} {:>16} {:>8}",
        "writers", "plain INSERT/s", "chained/s", "ratio"
    );
    for writers in [1, 8] {
        let (mut plain, mut chained) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            // Interleaved, so drift in machine load hits both alike.
            plain.push(round(&gate, Writer::PlainInsert, writers).await);
            chained.push(round(&gate, Writer::Chained, writers).await);
        }
        let (plain, chained) = (median(plain), median(chained));
        println!(
            "{writers:<8} {plain:>16.0} {chained:>16.0} {:>8.2}",
            chained / plain
        );
    }

    let mut conn = owner.acquire().await.unwrap();
    let mut timings = Vec::new();
    let mut events = 0;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        match audit::verify(&mut conn).await.unwrap() {
            audit::ChainReport::Intact { events: n, .. } => events = n,
            broken => panic!("the benchmark's chain is broken: {broken:?}"),
        }
        timings.push(started.elapsed());
    }
    timings.sort();
    let verify_time = timings[timings.len() / 2];
    println!(
        "audit verify: {events} events in {:.1} ms (median of {ROUNDS}), {:.0} events/s",
        verify_time.as_secs_f64() * 1e3,
        events as f64 / verify_time.as_secs_f64()
    );

    // What a V3 record read pays for the chain: the whole walk (as every
    // read did before) against the verifier, which walks only the events
    // since its last read plus the record's own, with one event appended
    // between reads as a busy platform would.
    let verifier = audit::ChainVerifier::default();
    verifier.verify(&mut conn, "subject-0").await.unwrap();
    let (mut full, mut incremental) = (Vec::new(), Vec::new());
    for _ in 0..READS {
        write(&gate, Writer::Chained, "subject-0", &json!({"read": true})).await;
        let started = Instant::now();
        let report = verifier.verify(&mut conn, "subject-0").await.unwrap();
        incremental.push(started.elapsed());
        assert!(
            matches!(report, audit::ChainReport::Intact { .. }),
            "{report:?}"
        );
        let started = Instant::now();
        audit::verify(&mut conn).await.unwrap();
        full.push(started.elapsed());
    }
    let (full, incremental) = (median_duration(full), median_duration(incremental));
    println!(
        "V3 record read, chain check at {} events (median of {READS}): whole chain {:.2} ms, since the last read {:.2} ms ({:.0}x less)",
        events + READS as i64,
        full.as_secs_f64() * 1e3,
        incremental.as_secs_f64() * 1e3,
        full.as_secs_f64() / incremental.as_secs_f64()
    );

    drop(conn);
    owner.close().await;
    gate.close().await;
    Postgres::force_drop_database(&scratch).await.unwrap();
}

fn median_duration(mut timings: Vec<std::time::Duration>) -> std::time::Duration {
    timings.sort();
    timings[timings.len() / 2]
}
