//! The dashboards and alert rules against a real Prometheus (Debian's
//! `prometheus`, which `scripts/test` installs) scraping `trizone up`
//! through a demo: every panel query and every rule expression must parse
//! and run, and the panels an operator looks at first must show data.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;

use crate::cli::database_url;
use crate::up::{Shape, Up};

fn monitoring() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("k8s/monitoring")
}

/// (where, PromQL) of every panel target in every dashboard.
fn panel_queries() -> Vec<(String, String)> {
    fn walk(dashboard: &str, panels: &[Value], out: &mut Vec<(String, String)>) {
        for panel in panels {
            walk(
                dashboard,
                panel["panels"].as_array().map_or(&[], Vec::as_slice),
                out,
            );
            for target in panel["targets"].as_array().into_iter().flatten() {
                let title = panel["title"].as_str().unwrap();
                out.push((
                    format!("{dashboard} / {title}"),
                    target["expr"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    let mut queries = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(monitoring().join("dashboards"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    for file in files {
        let dashboard: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        let uid = dashboard["uid"].as_str().unwrap();
        walk(uid, dashboard["panels"].as_array().unwrap(), &mut queries);
    }
    queries
}

/// (rule name, PromQL) of every alerting and recording rule.
fn rule_expressions() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(monitoring().join("rules/trizone.rules.yaml")).unwrap();
    let rules: Value = yaml_serde::from_str(&text).unwrap();
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|group| group["rules"].as_array().unwrap())
        .map(|rule| {
            let name = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
            (name.to_owned(), rule["expr"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Prometheus on a free loopback port, scraping each zone every second with
/// the service token and evaluating the rules every second.
struct Prometheus {
    url: String,
    process: tokio::process::Child,
    dir: PathBuf,
}

impl Prometheus {
    async fn start(up: &Up) -> Self {
        let dir = std::env::temp_dir().join(format!("trizone-prometheus-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let job = |name: &str, url: &str| {
            format!(
                "  - job_name: {name}\n    authorization: {{credentials: e2e-scraper-token-0c6b2d91}}\n    static_configs: [{{targets: ['{}']}}]\n",
                url.trim_start_matches("http://")
            )
        };
        let config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: ['{}']\nscrape_configs:\n{}{}{}{}",
            monitoring().join("rules/trizone.rules.yaml").display(),
            job("trizone-v1", &up.v1),
            job("trizone-v2", &up.v2[0]),
            job("trizone-v3", &up.v3),
            job("trizone-gate", &up.gate[0]),
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let binary = std::env::var("PROMETHEUS").unwrap_or_else(|_| "prometheus".into());
        let process = tokio::process::Command::new(&binary)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `{binary}` ({e}): install Debian's prometheus package (scripts/test does) or set PROMETHEUS")
            });
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !client
            .get(format!("{url}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            assert!(Instant::now() < deadline, "Prometheus never became ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Self { url, process, dir }
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        reqwest::Client::new()
            .get(format!("{}/api/v1/{path}", self.url))
            .query(query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until every target has been scraped successfully.
    async fn await_targets(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let targets = self.api("targets", &[]).await;
            let active = targets["data"]["activeTargets"].as_array().unwrap();
            if active.len() == 4 && active.iter().all(|t| t["health"] == "up") {
                return;
            }
            assert!(Instant::now() < deadline, "targets not up: {targets}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The number of series `expr` returns now; panics naming `what` if
    /// Prometheus cannot parse or run it.
    async fn series(&self, what: &str, expr: &str) -> usize {
        let answer = self.api("query", &[("query", expr)]).await;
        assert_eq!(answer["status"], "success", "{what}: {expr}: {answer}");
        match &answer["data"]["result"] {
            Value::Array(series) => series.len(),
            // A scalar or a string is one value.
            _ => 1,
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.process.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[sqlx::test(migrations = false)]
async fn every_panel_and_rule_runs_in_prometheus_and_the_key_panels_show_the_demo(pool: PgPool) {
    let url = database_url(&pool).await;
    let up = Up::start(&url, Shape::default()).await;
    let prometheus = Prometheus::start(&up).await;
    prometheus.await_targets().await;

    let demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_trizone"))
        .arg("demo")
        .env("TRIZONE_SESSION_FILE", &up.session)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .output()
        .await
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    // V3 refreshes its record gauges every 15 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut by_reason: Vec<String> = Vec::new();
    while by_reason != ["accuracy=1", "canary=1", "latency=1"] {
        assert!(
            Instant::now() < deadline,
            "V3's records never showed: {by_reason:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let records = prometheus
            .api("query", &[("query", "max by (reason) (v3_records) > 0")])
            .await;
        let mut seen: Vec<String> = records["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}={}",
                    s["metric"]["reason"].as_str().unwrap(),
                    s["value"][1].as_str().unwrap()
                )
            })
            .collect();
        seen.sort();
        by_reason = seen;
    }

    // V1 refreshes each experiment's latest-run gauges every 15 s too.
    let deadline = Instant::now() + Duration::from_secs(30);
    while prometheus
        .series("V1's gauges", "v1_experiment_accuracy")
        .await
        == 0
    {
        assert!(
            Instant::now() < deadline,
            "V1's per-experiment gauges never showed"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    let panels = panel_queries();
    assert!(panels.len() >= 30, "{}", panels.len());
    let mut returned = std::collections::HashMap::new();
    for (what, expr) in &panels {
        let series = prometheus.series(what, expr).await;
        *returned.entry(what.clone()).or_insert(0) += series;
    }
    for (name, expr) in rule_expressions() {
        prometheus.series(&name, &expr).await;
    }
    for panel in [
        "trizone-v1-experiments / Experiments: latest run",
        "trizone-v1-experiments / Accuracy by experiment",
        "trizone-v2-slo / Promotions and rollbacks",
        "trizone-v2-slo / Reviews by status",
        "trizone-v2-slo / Active deployment",
        "trizone-v2-slo / Reviews by role",
        "trizone-v2-slo / Canary answers failed over",
        "trizone-v3-quarantine / Records by reason",
        "trizone-v3-quarantine / Quarantines and blacklistings",
        "trizone-versions / Requests per zone",
        "trizone-versions / Stable, canary and shadow side by side",
        "trizone-versions / Rollout steps",
    ] {
        assert!(
            returned.get(panel).is_some_and(|n| *n > 0),
            "{panel} shows no series: {returned:?}"
        );
    }
    // Prometheus evaluated every rule without an error.
    let groups = prometheus.api("rules", &[]).await;
    for group in groups["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(rule["health"], "ok", "{rule}");
        }
    }
}
