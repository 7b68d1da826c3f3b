//! Dataset uploads: streamed JSON lines, all or nothing.

use serde_json::{Value, json};
use sqlx::PgPool;
use trizone_experiment::datasets::UploadLimits;

use crate::{END_USER, EXPERIMENTER, TestApp, error_of};

fn line(id: &str, findings: Value) -> String {
    json!({"id": id, "language": "python", "path": format!("src/{id}.py"), "code": "x = 1\ny = x / 0\n", "expected_findings": findings})
        .to_string()
}

async fn upload(app: &TestApp, name: &str, body: String) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/datasets?name={name}")))
        .bearer_auth(EXPERIMENTER)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn stored(app: &TestApp) -> (i64, i64) {
    let datasets: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments_v1.datasets")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    let cases: i64 = sqlx::query_scalar("SELECT count(*) FROM experiments_v1.dataset_cases")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    (datasets, cases)
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_dataset_uploads_and_reads_back(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let bug = json!([{"line_start": 2, "line_end": 2, "category": "bug", "description": "division by zero"}]);
    let body = format!(
        "{}\n\n{}\r\n{}",
        line("a", bug),
        line("b", json!([])),
        line("c", json!([]))
    );
    let response = upload(&app, "smoke", body).await;
    assert_eq!(response.status(), 201);
    let dataset: Value = response.json().await.unwrap();
    assert_eq!(dataset["case_count"], 3);
    assert_eq!(dataset["content_sha256"].as_str().unwrap().len(), 64);
    let id = dataset["id"].as_str().unwrap();
    let read: Value = app
        .get(&format!("/api/v1/datasets/{id}"), EXPERIMENTER)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["name"], "smoke");
    let listed: Value = app
        .get("/api/v1/datasets", EXPERIMENTER)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let cases = trizone_store::datasets::cases(&app.owner, id.parse().unwrap())
        .await
        .unwrap();
    let ids: Vec<_> = cases.iter().map(|c| c.case_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(
        cases[0].expected_findings[0].description,
        "division by zero"
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_bad_line_is_named_and_nothing_of_the_upload_is_stored(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    // More than one batch goes in before the bad line is reached.
    let mut lines: Vec<String> = (0..1_200)
        .map(|i| line(&format!("case-{i}"), json!([])))
        .collect();
    lines.push("{\"id\": \"broken\", ".to_owned());
    let error = error_of(upload(&app, "broken", lines.join("\n")).await, 422).await;
    assert_eq!(error["field"], "line 1201");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("nothing was stored"),
        "{error}"
    );
    assert_eq!(stored(&app).await, (0, 0));
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn each_kind_of_bad_line_is_reported_by_number(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let good = line("a", json!([]));
    let cases = [
        (
            format!("{good}\n{}", line("a", json!([]))),
            "line 2",
            "appears twice",
        ),
        (
            format!(
                "{good}\n{{\"id\": \"b\", \"language\": \"python\", \"path\": \"p\", \"code\": \"x\", \"expected\": []}}"
            ),
            "line 2",
            "unknown field `expected`",
        ),
        (
            line(
                "a",
                json!([{"line_start": 5, "line_end": 2, "category": "bug"}]),
            ),
            "line 1",
            "line_start",
        ),
        (
            format!(
                "{good}\n{}",
                line("b", json!([{"line_start": 1, "line_end": 1}]))
            ),
            "line 2",
            "category",
        ),
        (
            format!(
                "{good}\n{{\"id\": \"b\", \"language\": \"python\", \"path\": \"p\", \"code\": \"  \"}}"
            ),
            "line 2",
            "code must not be empty",
        ),
        (
            format!(
                "{good}\n{{\"id\": \"b\", \"language\": \"cobol\", \"path\": \"p\", \"code\": \"x\"}}"
            ),
            "line 2",
            "language: unknown variant `cobol`, expected one of `c`, `cpp`",
        ),
        (
            format!(
                "{good}\n{{\"id\": \"b\", \"language\": \"python\", \"path\": \"p\", \"code\": \"x\\u0000\"}}"
            ),
            "line 2",
            "code must not contain the NUL character",
        ),
        (
            format!(
                "{good}\n{{\"id\": \"b\", \"language\": \"python\", \"path\": \"a\\nb\", \"code\": \"x\"}}"
            ),
            "line 2",
            "without control characters",
        ),
    ];
    for (body, field, says) in cases {
        let error = error_of(upload(&app, "bad", body).await, 422).await;
        assert_eq!(error["field"], field, "{error}");
        assert!(error["message"].as_str().unwrap().contains(says), "{error}");
    }
    assert_eq!(stored(&app).await, (0, 0));
    let error = error_of(upload(&app, "empty", "\n\n".into()).await, 422).await;
    assert!(
        error["message"].as_str().unwrap().contains("no cases"),
        "{error}"
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_line_over_the_limit_is_refused_by_number(owner: PgPool) {
    let app = TestApp::spawn_with(
        owner,
        UploadLimits {
            max_bytes: 1 << 20,
            max_line_bytes: 512,
        },
    )
    .await;
    let long = json!({"id": "long", "language": "python", "path": "p.py", "code": "x".repeat(600)})
        .to_string();
    let error = error_of(
        upload(&app, "long", format!("{}\n{long}\n", line("a", json!([])))).await,
        422,
    )
    .await;
    assert_eq!(error["field"], "line 2");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("limit of 512 bytes"),
        "{error}"
    );
    // And the whole upload over its own limit is 413.
    let many: Vec<String> = (0..12_000)
        .map(|i| line(&format!("c{i}"), json!([])))
        .collect();
    let error = error_of(upload(&app, "big", many.join("\n")).await, 413).await;
    assert_eq!(error["code"], "payload_too_large");
    assert_eq!(stored(&app).await, (0, 0));
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn uploading_needs_a_name_and_an_experimenter(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let response = app
        .client
        .post(app.url("/api/v1/datasets"))
        .bearer_auth(EXPERIMENTER)
        .body(line("a", json!([])))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response, 400).await["code"], "bad_request");
    let response = app
        .client
        .post(app.url("/api/v1/datasets?name=x"))
        .bearer_auth(END_USER)
        .body(line("a", json!([])))
        .send()
        .await
        .unwrap();
    error_of(response, 403).await;
    error_of(
        app.get(
            "/api/v1/datasets/00000000-0000-0000-0000-000000000000",
            EXPERIMENTER,
        )
        .await,
        404,
    )
    .await;
    app.finish().await;
}

/// Starts an upload that sends its headers and one case, then waits.
async fn trickling_upload(app: &TestApp, token: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let first = format!("{}\n", line("slow", json!([])));
    let request = format!(
        "POST /api/v1/datasets?name=slow HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n",
        first.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// Sixteen trickling uploads held sixteen pooled connections idle in their
/// transactions, and every V1 request then got 503.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn trickling_uploads_hold_no_connection_and_a_key_has_two_at_a_time(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let _slow = [
        trickling_upload(&app, EXPERIMENTER).await,
        trickling_upload(&app, EXPERIMENTER).await,
    ];
    // Both are admitted and reading (bounded wait for the server to see them).
    let mut third = None;
    for _ in 0..100 {
        let response = upload(&app, "third", line("c", json!([]))).await;
        if response.status() == 429 {
            third = Some(response);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let third = third.expect("a third upload from the same key was admitted");
    assert_eq!(error_of(third, 429).await["code"], "rate_limited");
    let idle: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE usename = 'trizone_experiment' AND state = 'idle in transaction'
           AND datname = current_database()",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(idle, 0, "a trickling upload holds a transaction open");
    // Other keys, and every other request, are served meanwhile.
    let admin = app
        .client
        .post(app.url("/api/v1/datasets?name=admins"))
        .bearer_auth(crate::ADMIN)
        .body(line("d", json!([])))
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 201);
    app.finish().await;
}
