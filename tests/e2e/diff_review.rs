//! An end user's pull request: `git diff | trizone review --diff -`, with
//! SARIF for code scanning, and V2's answers held to its OpenAPI document.

use std::path::Path;

use serde_json::Value;
use trizone_testkit::contract::Contract;

use crate::roles::cli;
use crate::up::{TOKENS, Up};

fn token(role: &str) -> &'static str {
    TOKENS
        .iter()
        .find(|(name, _)| *name == format!("TRIZONE_TOKEN_{role}"))
        .map(|(_, token)| *token)
        .unwrap()
}

fn git(repo: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=e2e", "-c", "user.email=e2e@example.com"])
        .args(args)
        .current_dir(repo)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// A repository with a committed file and a change to it, and another file added.
fn pull_request(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("app")).unwrap();
    git(&repo, &["init", "-q"]);
    let before: String = (1..=30).map(|i| format!("x{i} = {i}\n")).collect();
    std::fs::write(
        repo.join("app/calc.py"),
        format!("def legacy(e):\n    return eval(e)\n{before}"),
    )
    .unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "before"]);
    let after = before.replacen("x1 = 1\n", "x1 = 1\nx = eval(input())\n", 1);
    std::fs::write(
        repo.join("app/calc.py"),
        format!("def legacy(e):\n    return eval(e)\n{after}"),
    )
    .unwrap();
    std::fs::write(
        repo.join("app/port.rs"),
        "fn port(raw: &str) -> u16 {\n    raw.parse().unwrap()\n}\n",
    )
    .unwrap();
    git(&repo, &["add", "-N", "app/port.rs"]);
    repo
}

/// Reviews a change the way a developer does before pushing; V2 must
/// already serve a configuration.
pub(crate) async fn an_end_user_reviews_a_pull_request(up: &Up, dir: &Path) {
    let repo = pull_request(dir);
    let sarif = dir.join("review.sarif");
    let output = cli(up, "sh")
        .arg("-c")
        .arg(format!(
            "git diff | '{}' review --diff - --sarif '{}'",
            env!("CARGO_BIN_EXE_trizone"),
            sarif.display()
        ))
        .current_dir(&repo)
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The eval( on line 2 is context the diff shows, not part of the change.
    assert!(
        printed.starts_with(
            "2 files reviewed by sim-openai/gpt-sim (deployment v1): 2 findings on added lines"
        ),
        "{printed}"
    );
    assert!(
        printed.contains("app/calc.py:4-4 [high] security:"),
        "{printed}"
    );
    assert!(printed.contains("app/port.rs:2-2 [low] bug:"), "{printed}");
    assert!(!printed.contains("app/calc.py:2-2"), "{printed}");

    let log: Value = serde_json::from_str(&std::fs::read_to_string(&sarif).unwrap()).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let results: Vec<(&str, u64)> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let location = &r["locations"][0]["physicalLocation"];
            (
                location["artifactLocation"]["uri"].as_str().unwrap(),
                location["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(results, [("app/calc.py", 4), ("app/port.rs", 2)]);

    // What V2 answered, as its own document describes it.
    let diff = std::process::Command::new("git")
        .arg("diff")
        .current_dir(&repo)
        .output()
        .unwrap()
        .stdout;
    let client = reqwest::Client::new();
    let v2 = &up.v2[0];
    let end_user = token("END_USER");
    let mut contract = Contract::fetch(&client, v2, end_user).await;
    let reviews = format!("{v2}/api/v2/reviews");
    let send = |accept: &str, content_type: &str, body: Vec<u8>| {
        client
            .post(&reviews)
            .bearer_auth(end_user)
            .header("accept", accept)
            .header("content-type", content_type)
            .body(body)
    };
    let asked = [
        ("application/json", "text/x-diff", diff.clone(), 201),
        ("application/sarif+json", "text/x-patch", diff.clone(), 201),
        ("text/html", "text/x-diff", diff.clone(), 406),
        ("*/*", "text/x-diff", b"not a diff\n".to_vec(), 422),
        ("*/*", "text/plain", diff, 415),
        (
            "application/sarif+json",
            "application/json",
            br#"{"language": "python", "path": "a.py", "code": "eval(x)\n"}"#.to_vec(),
            201,
        ),
    ];
    for (accept, content_type, body, status) in asked {
        let (answered, body) = contract
            .send("POST", "/api/v2/reviews", send(accept, content_type, body))
            .await;
        assert_eq!(answered, status, "{accept} {content_type}: {body}");
    }
}
