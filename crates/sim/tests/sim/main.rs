//! The simulator over HTTP, as its clients see it.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

use serde_json::{Value, json};
use trizone_sim::{Dataset, RunningSim};

const DATASET: &str = r#"{"id": "a", "code": "x = 1\ny = x / 0\n", "expected_findings": [{"line_start": 2, "line_end": 2, "category": "bug"}]}"#;

async fn sim(seed: u64) -> RunningSim {
    RunningSim::start(seed, Dataset::parse(DATASET).unwrap(), 0)
        .await
        .unwrap()
}

async fn chat(sim: &RunningSim, model: &str, content: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", sim.openai_base_url()))
        .bearer_auth("sk-anything")
        .json(&json!({"model": model, "messages": [{"role": "user", "content": content}]}))
        .send()
        .await
        .unwrap()
}

async fn put(sim: &RunningSim, path: &str, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .put(format!("http://{}{path}", sim.address))
        .bearer_auth(&sim.control_token)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn answer(sim: &RunningSim, content: &str) -> String {
    let body: Value = chat(sim, "m", content).await.json().await.unwrap();
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_same_seed_gives_the_same_answers_and_another_seed_does_not() {
    let prompts: Vec<String> = (0..24)
        .map(|i| format!("case {i}\nx = 1\ny = x / 0\n"))
        .collect();
    let mut runs = Vec::new();
    for seed in [1, 1, 2] {
        let sim = sim(seed).await;
        put(&sim, "/control/profiles/m", r#"{"accuracy": 0.5}"#).await;
        let mut answers = Vec::new();
        for prompt in &prompts {
            answers.push(answer(&sim, prompt).await);
        }
        runs.push(answers);
    }
    assert_eq!(runs[0], runs[1]);
    assert_ne!(runs[0], runs[2]);
}

#[tokio::test]
async fn a_known_case_is_answered_with_its_expected_findings_at_full_accuracy() {
    let sim = sim(1).await;
    let review: Value =
        serde_json::from_str(&answer(&sim, "Review:\nx = 1\ny = x / 0\n").await).unwrap();
    assert_eq!(review["findings"][0]["line_start"], 2);
    assert_eq!(review["findings"][0]["category"], "bug");
    assert_eq!(review["findings"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn both_apis_refuse_a_request_without_a_key_in_their_own_error_shape() {
    let sim = sim(1).await;
    let client = reqwest::Client::new();
    let openai = client
        .post(format!("{}/chat/completions", sim.openai_base_url()))
        .json(&json!({"model": "m", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(openai.status(), 401);
    assert_eq!(
        openai.json::<Value>().await.unwrap()["error"]["type"],
        "authentication_error"
    );
    let anthropic = client
        .post(format!("{}/v1/messages", sim.anthropic_base_url()))
        .json(&json!({"model": "m", "max_tokens": 10, "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(anthropic.status(), 401);
    let body: Value = anthropic.json().await.unwrap();
    assert_eq!(
        (body["type"].as_str(), body["error"]["type"].as_str()),
        (Some("error"), Some("authentication_error"))
    );
}

#[tokio::test]
async fn a_rate_limit_carries_retry_after() {
    let sim = sim(1).await;
    put(
        &sim,
        "/control/profiles/m",
        r#"{"errors": {"rate_limited": 1.0}, "retry_after_s": 2}"#,
    )
    .await;
    let response = chat(&sim, "m", "hello").await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "2");
}

#[tokio::test]
async fn bad_control_input_is_refused_naming_what_is_wrong() {
    let sim = sim(1).await;
    let response = put(
        &sim,
        "/control/profiles/m",
        r#"{"errors": {"server": 2.0}}"#,
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("errors.server"));
    let response = put(&sim, "/control/profiles/m", r#"{"acuracy": 0.5}"#).await;
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("unknown field `acuracy`")
    );
    let response = put(
        &sim,
        "/control/dataset",
        "{\"id\": \"a\", \"code\": \"x\"}\nnot json\n",
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("line 2"));
    let response = put(&sim, "/control/scripts/m", r#"["explode"]"#).await;
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn a_profile_changed_mid_run_takes_effect_on_the_next_request() {
    let sim = sim(1).await;
    assert_eq!(chat(&sim, "m", "hello").await.status(), 200);
    put(
        &sim,
        "/control/profiles/m",
        r#"{"errors": {"server": 1.0}}"#,
    )
    .await;
    assert_eq!(chat(&sim, "m", "hello").await.status(), 500);
    // Other models keep the default profile.
    assert_eq!(chat(&sim, "other", "hello").await.status(), 200);
}

#[tokio::test]
async fn the_messages_api_takes_an_x_api_key_or_a_bearer_token() {
    let sim = sim(1).await;
    let body =
        json!({"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    let url = format!("{}/v1/messages", sim.anthropic_base_url());
    let client = reqwest::Client::new();
    let with_key = client
        .post(&url)
        .header("x-api-key", "sk-ant")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(with_key.status(), 200);
    let with_bearer = client
        .post(&url)
        .bearer_auth("sk-ant")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(with_bearer.status(), 200);
    let answer: Value = with_bearer.json().await.unwrap();
    assert_eq!(answer["content"][0]["type"], "text");
    assert!(answer["usage"]["input_tokens"].as_u64().unwrap() > 0);
}

/// Anyone who could change a profile could fake a configuration's accuracy
/// into promotion, or force rollbacks: `/control` takes the control token.
#[tokio::test]
async fn the_control_api_needs_its_token() {
    let sim = RunningSim::start(1, Dataset::default(), 0).await.unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://{}/control/profiles/m", sim.address);
    for request in [
        client.put(&url).body(r#"{"accuracy": 1.0}"#),
        client
            .put(&url)
            .bearer_auth("a-guess")
            .body(r#"{"accuracy": 1.0}"#),
        client.get(format!("http://{}/control/stats", sim.address)),
    ] {
        assert_eq!(request.send().await.unwrap().status(), 401);
    }
    assert!(
        put(&sim, "/control/profiles/m", r#"{"accuracy": 1.0}"#)
            .await
            .status()
            .is_success()
    );
    // The provider API itself stays open, as a provider's is to its key holders.
    assert_eq!(chat(&sim, "m", "hi").await.status(), 200);
}
