//! The second security review's findings against V2: what one end user
//! can send must not stop V2's records, grow its metrics or steer its
//! feedback, and what is kept must be what the database can hold.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use trizone_stable::config::RecordSettings;
use trizone_stable::records::Record;
use trizone_store::reviews::{FeedbackRecord, ReviewRecord};
use uuid::Uuid;

use crate::{END_USER, OTHER_USER, Options, SCRAPER, TestApp, error_of, metric, python_file};

async fn review_id(app: &TestApp) -> Uuid {
    let response = app.review(END_USER, &python_file()).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().parse().unwrap()
}

async fn stored_reviews(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM production.code_reviews")
        .fetch_one(&app.owner)
        .await
        .unwrap()
}

async fn post_feedback(
    app: &TestApp,
    token: &str,
    review: Uuid,
    body: &Value,
) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v2/reviews/{review}/feedback")))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_nul_from_an_end_user_is_refused_naming_its_field(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    app.promote(0.0).await;
    let review = review_id(&app).await;
    let refused = post_feedback(
        &app,
        END_USER,
        review,
        &json!({"satisfaction": 5, "comment": "nul\u{0}byte"}),
    )
    .await;
    let error = error_of(refused, 422).await;
    assert_eq!(error["field"], "comment", "{error}");
    let escape = post_feedback(
        &app,
        END_USER,
        review,
        &json!({"satisfaction": 5, "comment": "clears \u{1b}[2J the screen"}),
    )
    .await;
    assert_eq!(error_of(escape, 422).await["field"], "comment");
    let mut file = python_file();
    file["code"] = json!("x = 1\u{0}\n");
    assert_eq!(
        error_of(app.review(END_USER, &file).await, 422).await["field"],
        "code"
    );
    let fine = post_feedback(
        &app,
        END_USER,
        review,
        &json!({"satisfaction": 5, "comment": "two\nlines\tand a tab"}),
    )
    .await;
    assert_eq!(fine.status(), 201);
    app.finish().await;
}

/// Rows the database cannot hold reach the writer (as a model's answer
/// could, before answers were cleaned): each costs only itself, and every
/// review after them is stored.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn records_the_database_refuses_are_set_aside_and_later_reviews_are_stored(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    app.promote(0.0).await;
    let first = review_id(&app).await;
    app.wait_until_written().await;
    let stored = trizone_store::reviews::get(&app.owner, first)
        .await
        .unwrap();
    let mut poisoned = stored.review.clone();
    poisoned.id = Uuid::now_v7();
    poisoned.summary = "a summary with a nul\u{0}".into();
    let pushed = [
        Record::Review(Box::new(ReviewRecord {
            review: poisoned,
            code_bytes: 10,
            code_sha256: "0".repeat(64),
            cost_usd: 0.0,
            requested_by: stored.requested_by.clone(),
        })),
        Record::Feedback(FeedbackRecord {
            feedback_id: Uuid::new_v4(),
            review_id: first,
            score: 5,
            comment: "nul\u{0}byte".into(),
            author: stored.requested_by.clone(),
            created_at: chrono::Utc::now(),
        }),
    ];
    for record in pushed {
        app.state.recorder.push(record).unwrap();
    }
    for _ in 0..3 {
        review_id(&app).await;
    }
    app.wait_until_written().await;
    assert_eq!(stored_reviews(&app).await, 4);
    let scraped = app.metrics().await;
    assert_eq!(
        metric(&scraped, "v2_records_dropped_total{reason=\"rejected\"}"),
        Some(2.0)
    );
    assert_eq!(metric(&scraped, "v2_database_available"), Some(1.0));
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    app.finish().await;
}

/// A database that answers but refuses every write (here, a table renamed
/// away as a botched upgrade might) makes the replica not ready, naming the
/// records check, and the records wait until it takes them again.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_database_refusing_every_write_makes_the_replica_not_ready_and_loses_nothing(
    owner: PgPool,
) {
    let options = Options {
        records: RecordSettings {
            flush_ms: 50,
            refused_writes_seconds: 1,
            ..RecordSettings::default()
        },
        ..Options::default()
    };
    let app = TestApp::spawn_with(owner, options).await;
    app.promote(0.0).await;
    sqlx::query("ALTER TABLE production.code_reviews RENAME TO code_reviews_away")
        .execute(&app.owner)
        .await
        .unwrap();
    for _ in 0..3 {
        review_id(&app).await;
    }
    let mut report = Value::Null;
    for _ in 0..200 {
        let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
        if ready.status() == 503 {
            report = ready.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let records = report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|check| check["name"] == "records"))
        .unwrap_or_else(|| panic!("no failing records check in {report}"));
    assert!(
        records["reason"]
            .as_str()
            .unwrap()
            .contains("refused every write"),
        "{records}"
    );
    sqlx::query("ALTER TABLE production.code_reviews_away RENAME TO code_reviews")
        .execute(&app.owner)
        .await
        .unwrap();
    app.wait_until_written().await;
    assert_eq!(stored_reviews(&app).await, 3);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn each_key_has_one_say_per_review_and_feedback_is_rate_limited(owner: PgPool) {
    let options = Options {
        limits: trizone_stable::config::ServiceLimits {
            rate_per_minute: std::num::NonZeroU32::new(60).unwrap(),
            rate_burst: std::num::NonZeroU32::new(5).unwrap(),
            ..Default::default()
        },
        ..Options::default()
    };
    let app = TestApp::spawn_with(owner, options).await;
    app.promote(0.0).await;
    let review = review_id(&app).await;
    let first = post_feedback(&app, END_USER, review, &json!({"satisfaction": 0})).await;
    assert_eq!(first.status(), 201);
    let second = post_feedback(&app, END_USER, review, &json!({"satisfaction": 1})).await;
    assert_eq!(second.status(), 200, "a second feedback replaces the first");
    app.wait_until_written().await;
    let third = post_feedback(&app, END_USER, review, &json!({"satisfaction": 2})).await;
    assert_eq!(third.status(), 200);
    // One review and three feedbacks took four of the five in the burst.
    let fourth = post_feedback(&app, END_USER, review, &json!({"satisfaction": 3})).await;
    assert_eq!(fourth.status(), 200);
    let limited = post_feedback(&app, END_USER, review, &json!({"satisfaction": 5})).await;
    assert_eq!(error_of(limited, 429).await["code"], "rate_limited");
    // The other key's review is its own, and its say is its own.
    let other = app.review(OTHER_USER, &python_file()).await;
    let other: Value = other.json().await.unwrap();
    let other: Uuid = other["id"].as_str().unwrap().parse().unwrap();
    let theirs = post_feedback(&app, OTHER_USER, other, &json!({"satisfaction": 5})).await;
    assert_eq!(theirs.status(), 201);
    app.wait_until_written().await;
    let kept: Vec<(i16,)> =
        sqlx::query_as("SELECT score FROM production.review_feedback WHERE review_id = $1")
            .bind(review)
            .fetch_all(&app.owner)
            .await
            .unwrap();
    assert_eq!(kept, vec![(3,)]);
    assert_eq!(
        app.status().await["satisfaction"],
        json!({"feedback": 2, "mean": 4.0})
    );
    let scraped = app.metrics().await;
    let version = app.status().await["active"]["version"].clone();
    let count = format!("v2_feedback_score_count{{version=\"{version}\"}}");
    assert_eq!(metric(&scraped, &count), Some(2.0), "{scraped}");
    app.finish().await;
}

fn limited(burst: u32) -> Options {
    Options {
        limits: trizone_stable::config::ServiceLimits {
            rate_per_minute: std::num::NonZeroU32::new(60).unwrap(),
            rate_burst: std::num::NonZeroU32::new(burst).unwrap(),
            diff_lines: 20_000,
            ..Default::default()
        },
        ..Options::default()
    }
}

/// A diff that adds nothing still costs V2 its bytes to read: it is
/// charged by size, before it is read, and a diff with more lines than
/// the limit is refused before it is read at all.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_diff_is_charged_by_its_size_before_it_is_read(owner: PgPool) {
    let app = TestApp::spawn_with(owner, limited(3)).await;
    app.promote(0.0).await;
    // 120,000 bytes of context lines: two units of 64 KiB begun, of a
    // burst of three.
    let context = " x = 1\n".repeat(120_000 / 7);
    let lines = context.lines().count();
    let diff = format!("--- a/app.py\n+++ b/app.py\n@@ -1,{lines} +1,{lines} @@\n{context}");
    let first = app.review_diff(diff.clone(), None).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["skipped"][0]["reason"], "nothing_added", "{first}");
    let second = app.review_diff(diff, None).await;
    assert_eq!(error_of(second, 429).await["code"], "rate_limited");

    let app2 = TestApp::spawn_with(app.owner.clone(), limited(60)).await;
    let blank = "\n".repeat(30_000);
    let diff = format!("--- a/app.py\n+++ b/app.py\n@@ -1,30000 +1,30000 @@\n{blank}");
    let error = error_of(app2.review_diff(diff, None).await, 422).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("at most 20000 are read"),
        "{error}"
    );
    app2.finish().await;
    app.finish().await;
}

/// Paths are answered, printed and written into SARIF: one from a diff,
/// reviewed or skipped, or from a file review, must stay a path inside
/// the repository, without anything a terminal or a CI log would obey.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn paths_outside_the_repository_or_with_control_characters_are_refused(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    app.promote(0.0).await;
    let binary = "diff --git \"a/x\\n::error title=pwned::owned\\033[2J.png\" \"b/x\\n::error title=pwned::owned\\033[2J.png\"\n\
                  index 1..2 100644\n\
                  Binary files \"a/x\\n::error title=pwned::owned\\033[2J.png\" and \"b/x\\n::error title=pwned::owned\\033[2J.png\" differ\n";
    let error = error_of(app.review_diff(binary, None).await, 422).await;
    assert_eq!(error["field"], "files[0].path", "{error}");
    for path in [
        "//evil.example/steal.py",
        "../../../../etc/passwd.py",
        "/etc/cron.d/x.py",
        "a/../../b.py",
    ] {
        let mut file = python_file();
        file["path"] = json!(path);
        let error = error_of(app.review(END_USER, &file).await, 422).await;
        assert_eq!(error["field"], "path", "{path}: {error}");
        let diff = format!("--- a/{path}\n+++ b/{path}\n@@ -0,0 +1,1 @@\n+x = 1\n");
        let error = error_of(app.review_diff(diff, None).await, 422).await;
        assert_eq!(error["field"], "files[0].path", "{path}: {error}");
    }
    app.finish().await;
}

/// Prometheus' token reads `/metrics` and nothing else.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_scraper_reads_metrics_and_nothing_else(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    assert_eq!(app.get("/metrics", SCRAPER).await.status(), 200);
    for path in ["/api/v2/status", "/openapi.json"] {
        let error = error_of(app.get(path, SCRAPER).await, 403).await;
        assert_eq!(error["code"], "forbidden", "{path}");
        assert_eq!(app.get(path, END_USER).await.status(), 200, "{path}");
    }
    app.finish().await;
}
