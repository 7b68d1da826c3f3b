//! Fallback, retries, deadlines, Retry-After and circuit breaking.

use std::time::Duration;

use serde_json::json;
use trizone_core::Strategy;
use trizone_router::{ErrorKind, ResilienceSettings};
use trizone_sim::Behaviour;

use crate::{Harness, Outcome, PRIMARY, SECONDARY, input};

#[tokio::test]
async fn adaptive_falls_back_when_the_primary_returns_500s() {
    let h = Harness::start().await;
    h.profile(PRIMARY, json!({"errors": {"server": 1.0}})).await;
    let review = h
        .router
        .review(&h.config(Strategy::Adaptive), input())
        .await
        .answered();
    assert_eq!(review.answered_by, ["sim-anthropic/claude-sim"]);
    let fallback = review.fallback.clone().expect("a fallback is recorded");
    assert_eq!(
        (fallback.from.as_str(), fallback.reason),
        ("sim-openai/gpt-sim", ErrorKind::Server)
    );
    assert!(
        fallback.message.contains("the simulated model failed"),
        "{}",
        fallback.message
    );
    // One attempt plus max_retries (2), then the fallback.
    assert_eq!(review.calls[0].attempts, 3);
    assert_eq!(h.requests(PRIMARY).await.len(), 3);
}

#[tokio::test]
async fn adaptive_falls_back_when_the_primary_hangs_past_the_deadline() {
    let h = Harness::start().await;
    h.profile(PRIMARY, json!({"errors": {"hang": 1.0}, "hang_ms": 60_000}))
        .await;
    let mut config = h.config(Strategy::Adaptive);
    config.parameters.timeout_ms = 300;
    let review = h.router.review(&config, input()).await.answered();
    assert_eq!(review.answered_by, ["sim-anthropic/claude-sim"]);
    assert_eq!(review.fallback.as_ref().unwrap().reason, ErrorKind::Timeout);
    // A hang is not retried past the deadline: one attempt took all of it.
    assert_eq!(review.calls[0].attempts, 1);
}

#[tokio::test]
async fn the_circuit_opens_fails_fast_and_half_opens_to_probe() {
    let h = Harness::start().await;
    h.profile(PRIMARY, json!({"errors": {"server": 1.0}})).await;
    let mut config = h.config(Strategy::Adaptive);
    config.parameters.max_retries = 0;
    let circuit = [("provider", "sim-openai"), ("model", PRIMARY)];
    // Three consecutive failures open the circuit.
    for _ in 0..3 {
        let review = h.router.review(&config, input()).await.answered();
        assert_eq!(review.fallback.as_ref().unwrap().reason, ErrorKind::Server);
    }
    assert_eq!(h.metric("router_circuit_open", &circuit), 1.0);
    // While open, the primary is not called at all.
    let review = h.router.review(&config, input()).await.answered();
    assert_eq!(
        review.fallback.as_ref().unwrap().reason,
        ErrorKind::CircuitOpen
    );
    assert_eq!(review.calls[0].attempts, 1);
    assert_eq!(h.requests(PRIMARY).await.len(), 3);
    // The provider recovers; after the open period one call probes and closes it.
    h.profile(PRIMARY, json!({})).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let review = h.router.review(&config, input()).await.answered();
    assert_eq!(review.answered_by, ["sim-openai/gpt-sim"]);
    assert_eq!(review.fallback, None);
    assert_eq!(h.metric("router_circuit_open", &circuit), 0.0);
    assert_eq!(h.requests(PRIMARY).await.len(), 4);
}

#[tokio::test]
async fn a_failed_probe_opens_the_circuit_again() {
    let h = Harness::start().await;
    h.profile(PRIMARY, json!({"errors": {"server": 1.0}})).await;
    let mut config = h.config(Strategy::Primary);
    config.parameters.max_retries = 0;
    for _ in 0..3 {
        h.router.review(&config, input()).await.failed();
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    // The probe fails...
    assert_eq!(
        h.router.review(&config, input()).await.failed().kind,
        ErrorKind::Server
    );
    // ...so the next call is refused without reaching the provider.
    assert_eq!(
        h.router.review(&config, input()).await.failed().kind,
        ErrorKind::CircuitOpen
    );
    assert_eq!(h.requests(PRIMARY).await.len(), 4);
}

#[tokio::test]
async fn retries_stop_at_the_deadline_not_at_the_retry_budget() {
    // Backoff from 100 ms doubling: 100 + 200 + 400 ms already exceeds a 500 ms deadline.
    let h = Harness::with(
        ResilienceSettings {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            breaker_failures: 100,
            ..ResilienceSettings::default()
        },
        true,
    )
    .await;
    h.profile(PRIMARY, json!({"errors": {"server": 1.0}})).await;
    let mut config = h.config(Strategy::Primary);
    config.parameters.timeout_ms = 500;
    config.parameters.max_retries = 10;
    let error = h.router.review(&config, input()).await.failed();
    let attempts = error.calls[0].attempts;
    assert!((2..=4).contains(&attempts), "{attempts} attempts");
    assert_eq!(h.requests(PRIMARY).await.len(), attempts as usize);
}

#[tokio::test]
async fn retry_after_is_waited_for_then_the_call_succeeds() {
    let h = Harness::start().await;
    h.profile(PRIMARY, json!({"retry_after_s": 0.3})).await;
    h.script(PRIMARY, &[Behaviour::RateLimited]).await;
    let review = h
        .router
        .review(&h.config(Strategy::Primary), input())
        .await
        .answered();
    assert_eq!(review.calls[0].attempts, 2);
    let times = h.requests(PRIMARY).await;
    // The backoff alone would retry after 20–80 ms; the provider asked for 300.
    assert!(
        times[1] - times[0] >= 300.0,
        "retried after {} ms",
        times[1] - times[0]
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_deadline_is_not_waited_for() {
    let h = Harness::start().await;
    h.profile(
        PRIMARY,
        json!({"errors": {"rate_limited": 1.0}, "retry_after_s": 30}),
    )
    .await;
    let error = h
        .router
        .review(&h.config(Strategy::Primary), input())
        .await
        .failed();
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.calls[0].attempts, 1);
}

#[tokio::test]
async fn the_secondary_keeps_its_own_circuit() {
    let h = Harness::start().await;
    h.profile(SECONDARY, json!({"errors": {"server": 1.0}}))
        .await;
    let mut config = h.config(Strategy::Secondary);
    config.parameters.max_retries = 0;
    for _ in 0..4 {
        h.router.review(&config, input()).await.failed();
    }
    assert_eq!(
        h.metric("router_circuit_open", &[("model", SECONDARY)]),
        1.0
    );
    // The primary's circuit is untouched.
    assert!(
        h.router
            .review(&h.config(Strategy::Primary), input())
            .await
            .result
            .is_ok()
    );
}
