//! `trizone gate wait` as a CI step: it exits 0 once the configuration is
//! promoted, 1 once it is quarantined, 3 when the gate cannot decide or
//! the wait times out, and its JUnit file holds a test case per check.
//! On the way, the daily commands that spare admins and experimenters curl:
//! `gate decisions`, `gate decision`, `gate blacklist list`, `v2 status`,
//! `run cancel`.

use std::path::{Path, PathBuf};
use std::process::Output;

use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::json;
use sqlx::PgPool;

use crate::cli::database_url;
use crate::lifecycle::Api;
use crate::roles::trizone;
use crate::up::{Shape, Up};

/// `n` cases the simulator reviews right, half with an `eval(` to find.
fn cases(n: usize) -> String {
    (0..n)
        .map(|i| {
            let (code, expected) = if i % 2 == 0 {
                (format!("def f{i}(x):\n    return eval(x)\n"), json!([{"line_start": 2, "line_end": 2, "category": "security"}]))
            } else {
                (format!("def g{i}(x):\n    return x + {i}\n"), json!([]))
            };
            json!({"id": format!("w{i}"), "language": "python", "path": format!("w{i}.py"), "code": code, "expected_findings": expected}).to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each test case of a JUnit file, with what it holds (`failure`,
/// `skipped` or nothing).
fn junit(path: &Path) -> Vec<(String, Option<String>)> {
    let xml = std::fs::read(path).unwrap();
    let mut reader = Reader::from_reader(xml.as_slice());
    let (mut cases, mut buffer) = (Vec::new(), Vec::new());
    loop {
        match reader.read_event_into(&mut buffer).unwrap() {
            Event::Eof => return cases,
            Event::Start(e) | Event::Empty(e) => {
                let name = e.name().as_ref().to_owned();
                match name.as_str() {
                    "testcase" => {
                        let case = e.try_get_attribute("name").unwrap().unwrap();
                        cases.push((
                            case.normalized_value(quick_xml::XmlVersion::Explicit1_0)
                                .unwrap()
                                .into_owned(),
                            None,
                        ));
                    }
                    "failure" | "skipped" => cases.last_mut().unwrap().1 = Some(name),
                    _ => {}
                }
            }
            _ => {}
        }
        buffer.clear();
    }
}

/// `trizone gate wait ID --timeout T --junit DIR/FILE`.
async fn gate_wait(up: &Up, dir: &Path, id: &str, timeout: &str, file: &str) -> (Output, PathBuf) {
    let junit = dir.join(file);
    let path = junit.display().to_string();
    let waited = trizone(
        up,
        &["gate", "wait", id, "--timeout", timeout, "--junit", &path],
    )
    .await;
    (waited, junit)
}

#[sqlx::test(migrations = false)]
async fn gate_wait_exits_on_the_verdict_and_writes_junit(pool: PgPool) {
    let url = database_url(&pool).await;
    let up = Up::start(&url, Shape::on_request()).await;
    let api = Api {
        up: &up,
        http: reqwest::Client::new(),
    };
    let dir = std::env::temp_dir().join(format!("trizone-wait-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let many = api.upload("many", cases(300)).await;
    let few = api.upload("few", cases(40)).await;
    api.simulate("e2e-cut", json!({"errors": {"truncated": 1.0}}))
        .await;
    // Not yet evaluated: the wait times out, 3.
    let (status, pending) = api
        .register(&api.configuration("pending", "gpt-idle"))
        .await;
    assert_eq!(status, 201, "{pending}");
    let (waited, file) = gate_wait(
        &up,
        &dir,
        pending["id"].as_str().unwrap(),
        "1",
        "pending.xml",
    )
    .await;
    assert_eq!(waited.status.code(), Some(3), "{waited:?}");
    assert!(String::from_utf8_lossy(&waited.stdout).contains("timed out: still registered"));
    assert_eq!(
        junit(&file),
        [("verdict".to_owned(), Some("skipped".to_owned()))]
    );

    // Every answer right: promoted, 0, every check a passing test case.
    let (passing, decision) = api
        .evaluate(&api.configuration("passing", "gpt-sim"), &many, 0)
        .await;
    assert_eq!(decision["decision"], "pass", "{decision}");
    let (waited, file) =
        gate_wait(&up, &dir, passing["id"].as_str().unwrap(), "60", "pass.xml").await;
    assert_eq!(waited.status.code(), Some(0), "{waited:?}");
    let checks = junit(&file);
    let names: Vec<&str> = checks.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["sample_size", "accuracy", "error_rate", "latency_p95"]
    );
    assert!(checks.iter().all(|(_, held)| held.is_none()), "{checks:?}");

    // Every answer cut off: quarantined, 1, the failing checks failures.
    let (failing, decision) = api
        .evaluate(&api.configuration("failing", "e2e-cut"), &many, 0)
        .await;
    assert_eq!(decision["decision"], "fail", "{decision}");
    let (waited, file) =
        gate_wait(&up, &dir, failing["id"].as_str().unwrap(), "60", "fail.xml").await;
    assert_eq!(waited.status.code(), Some(1), "{waited:?}");
    let checks = junit(&file);
    assert!(
        checks.contains(&("error_rate".to_owned(), Some("failure".to_owned()))),
        "{checks:?}"
    );

    // An admin reads why, decision by decision.
    let failing_id = failing["id"].as_str().unwrap();
    let listed = trizone(&up, &["gate", "decisions", "--experiment", failing_id]).await;
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("fail         quarantined")
            && listed.contains("failed accuracy, error_rate"),
        "{listed}"
    );
    let shown = trizone(&up, &["gate", "decision", decision["id"].as_str().unwrap()]).await;
    assert!(shown.status.success(), "{shown:?}");
    let shown = String::from_utf8_lossy(&shown.stdout);
    for says in [
        "-> quarantined",
        "why         failed accuracy, error_rate",
        "accuracy         fail         value 0.0%, bar ≥ 95.0%",
        "error_rate       fail         value 100.0%, bar ≤ 2.0%",
        "    evidence  rate ",
        "    reason    error rate 100% over ",
    ] {
        assert!(shown.contains(says), "{says:?} in {shown}");
    }

    // The rest of an admin's day needs no curl either.
    let fingerprint = failing["fingerprint"].as_str().unwrap();
    let blacklisted = trizone(
        &up,
        &[
            "gate",
            "blacklist",
            fingerprint,
            "--reason",
            "cut off, always",
        ],
    )
    .await;
    assert!(blacklisted.status.success(), "{blacklisted:?}");
    let listed = trizone(&up, &["gate", "blacklist", "list"]).await;
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains(&format!("{fingerprint}  by admin"))
            && listed.contains(": cut off, always"),
        "{listed}"
    );
    let status = trizone(&up, &["v2", "status"]).await;
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.starts_with("V2 serves passing (version 1, fingerprint"),
        "{status}"
    );
    assert!(status.contains("SLO over"), "{status}");
    assert!(
        status.contains("satisfaction: 0 feedback, no score yet"),
        "{status}"
    );

    // Too few cases to decide: inconclusive, 3, the undecided checks skipped.
    let (unsure, decision) = api
        .evaluate(&api.configuration("unsure", "gpt-unsure"), &few, 0)
        .await;
    assert_eq!(decision["decision"], "inconclusive", "{decision}");
    let (waited, file) = gate_wait(
        &up,
        &dir,
        unsure["id"].as_str().unwrap(),
        "60",
        "unsure.xml",
    )
    .await;
    assert_eq!(waited.status.code(), Some(3), "{waited:?}");
    assert!(String::from_utf8_lossy(&waited.stdout).contains("inconclusive after 40 cases"));
    let checks = junit(&file);
    assert!(
        checks.contains(&("error_rate".to_owned(), Some("skipped".to_owned()))),
        "{checks:?}"
    );

    // A run stopped by hand says where it stopped.
    let (status, slow) = api.register(&api.configuration("slow", "e2e-slow")).await;
    assert_eq!(status, 201, "{slow}");
    api.simulate(
        "e2e-slow",
        json!({"latency_median_ms": 3000.0, "latency_p95_ms": 3000.0}),
    )
    .await;
    let (status, run) = api
        .post(
            &format!(
                "{}/api/v1/experiments/{}/runs",
                up.v1,
                slow["id"].as_str().unwrap()
            ),
            crate::lifecycle::EXPERIMENTER,
            &json!({"dataset_id": few, "concurrency": 1}),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    let run_id = run["id"].as_str().unwrap();
    let cancelled = trizone(&up, &["run", "cancel", run_id]).await;
    let cancelled = String::from_utf8_lossy(&cancelled.stdout);
    assert!(
        cancelled.starts_with(&format!("run {run_id} cancelled after ")),
        "{cancelled}"
    );

    let listed = trizone(&up, &["run", "list", slow["id"].as_str().unwrap()]).await;
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.starts_with(&format!("{run_id}  cancelled  ")),
        "{listed}"
    );

    // An experiment that does not exist is an error, 2.
    let unknown = uuid::Uuid::new_v4().to_string();
    let (waited, _) = gate_wait(&up, &dir, &unknown, "5", "none.xml").await;
    assert_eq!(waited.status.code(), Some(2), "{waited:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
