//! Reviews of unified diffs, and reviews written as SARIF: what a review
//! client (a CI job, code scanning, an editor) sends and reads.

use std::collections::BTreeSet;

use serde_json::Value;
use sqlx::PgPool;
use trizone_stable::config::ServiceLimits;

use crate::{END_USER, Options, TestApp, error_of, python_file};

/// Three reviewable files, each with a smell the simulator flags on a
/// context line (which must not be reported) and on added lines (which
/// must, numbered as in the new file), and three files that cannot be
/// reviewed: a binary, an unknown language and a deletion.
const PULL_REQUEST: &str = r#"diff --git a/app/calc.py b/app/calc.py
index 1111111..2222222 100644
--- a/app/calc.py
+++ b/app/calc.py
@@ -40,7 +40,8 @@ def calc(e):
 def legacy(e):
     return eval(e)
 
 def run(cmd):
-    subprocess.run(cmd)
+    os.system(cmd)
+    # TODO: quote cmd
 
 def done():
diff --git a/lib/util.rs b/lib/util.rs
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/lib/util.rs
@@ -0,0 +1,3 @@
+pub fn port(raw: &str) -> u16 {
+    raw.parse().unwrap()
+}
diff --git a/web/login.js b/web/login.js
index 4444444..5555555 100644
--- a/web/login.js
+++ b/web/login.js
@@ -1,3 +1,3 @@
 // password rules live in rules.js
-const retries = 3;
+const retries = 5;
 export { retries };
@@ -20,2 +20,3 @@ function login(user) {
   const token = fetchToken(user);
+  localStorage.setItem("password", user.password);
   return token;
diff --git a/logo.png b/logo.png
index 6666666..7777777 100644
Binary files a/logo.png and b/logo.png differ
diff --git a/docs/guide.md b/docs/guide.md
index 8888888..9999999 100644
--- a/docs/guide.md
+++ b/docs/guide.md
@@ -1 +1,2 @@
 # Guide
+Never eval( user input.
diff --git a/old.py b/old.py
deleted file mode 100644
index aaaaaaa..0000000
--- a/old.py
+++ /dev/null
@@ -1 +0,0 @@
-eval(x)
"#;

/// (path, line) of every finding the pull request's added lines hold.
fn expected_findings() -> BTreeSet<(String, u64)> {
    [
        ("app/calc.py", 44),
        ("app/calc.py", 45),
        ("lib/util.rs", 2),
        ("web/login.js", 21),
    ]
    .into_iter()
    .map(|(path, line)| (path.to_owned(), line))
    .collect()
}

impl TestApp {
    pub(crate) async fn review_diff(
        &self,
        diff: impl Into<reqwest::Body>,
        accept: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url("/api/v2/reviews"))
            .bearer_auth(END_USER)
            .header("content-type", "text/x-diff")
            .body(diff);
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        request.send().await.unwrap()
    }
}

/// The official SARIF 2.1.0 schema, which `scripts/test` fetches.
fn sarif_validator() -> jsonschema::Validator {
    let path = std::env::var("SARIF_SCHEMA").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/tools/sarif-schema-2.1.0.json"
        )
        .into()
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read the SARIF schema at {path} ({e}): scripts/test fetches it, or set SARIF_SCHEMA")
    });
    // The published schema's language pattern has a stray `]`: a literal
    // to ECMA-262, an error to Rust's regex engines. Escaped, it means
    // exactly what it meant (and trizone writes no `language`).
    const STRAY: &str = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert_eq!(text.matches(STRAY).count(), 2, "the schema changed");
    let text = text.replace(STRAY, r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$""#);
    let schema: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        schema["$id"],
        "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"
    );
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid_sarif(validator: &jsonschema::Validator, log: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "invalid SARIF:\n{}\n{log:#}",
        errors.join("\n")
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_diff_is_reviewed_file_by_file_with_findings_on_its_added_lines_only(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let deployment = app.promote(0.0).await;

    let response = app.review_diff(PULL_REQUEST, None).await;
    assert_eq!(response.status(), 201);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["deployment"]["version"], deployment.version);
    let files = answer["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["app/calc.py", "lib/util.rs", "web/login.js"]);
    let languages: Vec<&str> = files
        .iter()
        .map(|f| f["language"].as_str().unwrap())
        .collect();
    assert_eq!(languages, ["python", "rust", "javascript"]);
    let found: BTreeSet<(String, u64)> = files
        .iter()
        .flat_map(|file| {
            file["findings"].as_array().unwrap().iter().map(|finding| {
                (
                    file["path"].as_str().unwrap().to_owned(),
                    finding["line_start"].as_u64().unwrap(),
                )
            })
        })
        .collect();
    assert_eq!(found, expected_findings());
    let skipped: Vec<(&str, &str)> = answer["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap(), s["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("logo.png", "binary"),
            ("docs/guide.md", "unknown_language"),
            ("old.py", "deleted")
        ]
    );

    // Each file is a review of its own, kept as the user got it.
    for file in files {
        let path = format!("/api/v2/reviews/{}", file["id"].as_str().unwrap());
        let read: Value = app.get(&path, END_USER).await.json().await.unwrap();
        assert_eq!(read["findings"], file["findings"], "{path}");
    }

    // A diff of a binary file alone is answered, with nothing reviewed.
    let binary = "diff --git a/a.png b/a.png\nBinary files a/a.png and b/a.png differ\n";
    let response = app.review_diff(binary, None).await;
    assert_eq!(response.status(), 201);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["files"], serde_json::json!([]));
    assert_eq!(answer["skipped"][0]["reason"], "binary");
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn sarif_answers_validate_against_the_official_schema(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    app.promote(0.0).await;
    let validator = sarif_validator();

    let response = app
        .review_diff(PULL_REQUEST, Some("application/sarif+json"))
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["content-type"], "application/sarif+json");
    let log: Value = response.json().await.unwrap();
    assert_valid_sarif(&validator, &log);
    // The schema does check: a level SARIF has no name for is refused.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&broken));
    let run = &log["runs"][0];
    let located: BTreeSet<(String, u64)> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| {
            let location = &result["locations"][0]["physicalLocation"];
            (
                location["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                location["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(located, expected_findings());
    // Every result's rule is the one its index names.
    for result in run["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            run["tool"]["driver"]["rules"][index]["id"],
            result["ruleId"]
        );
    }
    let notes: Vec<&str> = run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(notes, ["logo.png", "docs/guide.md", "old.py"]);
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);

    // One file, asked for as SARIF when reviewed and when read back.
    let response = app
        .client
        .post(app.url("/api/v2/reviews"))
        .bearer_auth(END_USER)
        .header("accept", "application/sarif+json")
        .json(&python_file())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let log: Value = response.json().await.unwrap();
    assert_valid_sarif(&validator, &log);
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "security");
    assert_eq!(result["level"], "error");
    assert_eq!(
        result["locations"][0]["physicalLocation"]["region"]["startLine"],
        2
    );
    let read: Value = app
        .client
        .get(app.url(&location))
        .bearer_auth(END_USER)
        .header("accept", "application/sarif+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read, log);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_bad_diff_or_one_past_a_limit_is_refused_naming_what_is_wrong(owner: PgPool) {
    let limits = ServiceLimits {
        diff_bytes: 4096,
        diff_files: 3,
        diff_hunks: 4,
        code_bytes: 64,
        ..ServiceLimits::default()
    };
    let app = TestApp::spawn_with(
        owner,
        Options {
            limits,
            ..Options::default()
        },
    )
    .await;
    app.promote(0.0).await;
    let file = |name: &str, hunks: usize| {
        let mut diff = format!("--- a/{name}\n+++ b/{name}\n");
        for h in 0..hunks {
            diff.push_str(&format!("@@ -{0} +{0} @@\n-a\n+b\n", 10 * h + 1));
        }
        diff
    };

    let cases: Vec<(String, u16, &str, &str)> = vec![
        (
            "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n a\n?b\n".into(),
            422,
            "diff",
            "line 5",
        ),
        ("just some text\n".into(), 422, "diff", "line 1"),
        (
            (1..=4).map(|i| file(&format!("f{i}.py"), 1)).collect(),
            422,
            "files",
            "4 files",
        ),
        (file("a.py", 5), 422, "hunks", "5 hunks"),
        (file("a.py", 1) + &"+".repeat(5000), 413, "diff", "bytes"),
        (
            format!(
                "--- a/big.py\n+++ b/big.py\n@@ -0,0 +1 @@\n+{}\n",
                "x".repeat(100)
            ),
            413,
            "files[0]",
            "big.py",
        ),
    ];
    for (diff, status, field, says) in cases {
        let error = error_of(app.review_diff(diff.clone(), None).await, status).await;
        assert_eq!(error["field"], field, "{diff:.80}: {error}");
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{diff:.80}: {error}"
        );
    }

    let not_utf8 = b"--- a/x.py\n+++ b/x.py\n@@ -0,0 +1 @@\n+\xff\n".to_vec();
    let error = error_of(app.review_diff(not_utf8, None).await, 422).await;
    assert_eq!(error["field"], "diff");
    assert!(
        error["message"].as_str().unwrap().contains("line 4"),
        "{error}"
    );

    let error = error_of(
        app.review_diff(file("a.py", 1), Some("text/html")).await,
        406,
    )
    .await;
    assert_eq!(error["code"], "not_acceptable");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("application/json") && message.contains("application/sarif+json"),
        "{message}"
    );

    let response = app
        .client
        .post(app.url("/api/v2/reviews"))
        .bearer_auth(END_USER)
        .header("content-type", "text/plain")
        .body(file("a.py", 1))
        .send()
        .await
        .unwrap();
    let error = error_of(response, 415).await;
    assert!(
        error["message"].as_str().unwrap().contains("text/x-diff"),
        "{error}"
    );
    app.finish().await;
}
