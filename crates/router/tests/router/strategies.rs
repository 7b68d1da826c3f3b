//! Each strategy, the ensemble merge, cost accounting.

use trizone_core::{Merge, Strategy};
use trizone_router::ErrorKind;
use trizone_sim::Behaviour;

use crate::{Harness, Outcome, PRIMARY, SECONDARY, accurate, input};

#[tokio::test]
async fn primary_answers_with_the_primary_model_and_finds_the_known_bug() {
    let h = Harness::start().await;
    let review = h
        .router
        .review(&h.config(Strategy::Primary), input())
        .await
        .answered();
    assert_eq!(review.answered_by, ["sim-openai/gpt-sim"]);
    assert_eq!(review.calls.len(), 1);
    assert_eq!(review.calls[0].attempts, 1);
    let lines: Vec<_> = review
        .findings
        .iter()
        .map(|f| (f.finding.line_start, f.finding.category.as_str()))
        .collect();
    assert_eq!(lines, [(3, "bug")]);
    assert_eq!(h.requests(SECONDARY).await.len(), 0);
}

#[tokio::test]
async fn secondary_answers_through_the_anthropic_api() {
    let h = Harness::start().await;
    let review = h
        .router
        .review(&h.config(Strategy::Secondary), input())
        .await
        .answered();
    assert_eq!(review.answered_by, ["sim-anthropic/claude-sim"]);
    assert_eq!(h.requests(PRIMARY).await.len(), 0);
    assert_eq!(h.requests(SECONDARY).await.len(), 1);
}

#[tokio::test]
async fn adaptive_uses_the_primary_when_it_is_healthy() {
    let h = Harness::start().await;
    let review = h
        .router
        .review(&h.config(Strategy::Adaptive), input())
        .await
        .answered();
    assert_eq!(review.answered_by, ["sim-openai/gpt-sim"]);
    assert_eq!(review.fallback, None);
}

#[tokio::test]
async fn cost_is_the_token_counts_at_each_models_prices() {
    let h = Harness::start().await;
    let review = h
        .router
        .review(&h.ensemble(Merge::Union), input())
        .await
        .answered();
    let prices = [(2.5, 10.0), (15.0, 75.0)];
    for (call, (input_price, output_price)) in review.calls.iter().zip(prices) {
        assert!(call.input_tokens > 0 && call.output_tokens > 0, "{call:?}");
        let expected = (call.input_tokens as f64 * input_price
            + call.output_tokens as f64 * output_price)
            / 1e6;
        assert!((call.cost_usd - expected).abs() < 1e-12, "{call:?}");
    }
    assert!(
        (review.usage.cost_usd - review.calls.iter().map(|c| c.cost_usd).sum::<f64>()).abs()
            < 1e-12
    );
    assert_eq!(
        review.usage.input_tokens,
        review.calls.iter().map(|c| c.input_tokens).sum::<u64>()
    );
}

#[tokio::test]
async fn ensemble_union_counts_agreement_and_keeps_lone_findings() {
    let h = Harness::start().await;
    // The secondary always errs on this case: it misses the bug or invents one.
    h.profile(SECONDARY, accurate(0.0)).await;
    let review = h
        .router
        .review(&h.ensemble(Merge::Union), input())
        .await
        .answered();
    assert_eq!(
        review.answered_by,
        ["sim-openai/gpt-sim", "sim-anthropic/claude-sim"]
    );
    let bug = review.findings.iter().find(|f| f.finding.line_start == 3);
    let invented = review.findings.iter().find(|f| f.finding.line_start != 3);
    match (bug, invented) {
        // Secondary invented a finding: the bug has both votes, the invention one.
        (Some(bug), Some(invented)) => assert_eq!((bug.agreement, invented.agreement), (2, 1)),
        // Secondary missed the bug: only the primary's vote.
        (Some(bug), None) => assert_eq!(bug.agreement, 1),
        other => panic!("the primary's finding is missing: {other:?}"),
    }
}

#[tokio::test]
async fn ensemble_intersection_keeps_only_what_both_found() {
    let h = Harness::start().await;
    let review = h
        .router
        .review(&h.ensemble(Merge::Intersection), input())
        .await
        .answered();
    assert_eq!(review.findings.len(), 1);
    assert_eq!(
        (
            review.findings[0].finding.line_start,
            review.findings[0].agreement
        ),
        (3, 2)
    );
}

#[tokio::test]
async fn ensemble_survives_one_side_failing_and_says_so() {
    let h = Harness::start().await;
    h.script(SECONDARY, &[Behaviour::Garbage]).await;
    let review = h
        .router
        .review(&h.ensemble(Merge::Union), input())
        .await
        .answered();
    assert_eq!(review.answered_by, ["sim-openai/gpt-sim"]);
    let degraded = review
        .degraded
        .clone()
        .expect("the failed side is reported");
    assert_eq!(
        (degraded.from.as_str(), degraded.reason),
        ("sim-anthropic/claude-sim", ErrorKind::Malformed)
    );
    assert_eq!(review.findings.len(), 1);
}

#[tokio::test]
async fn ensemble_fails_only_when_both_sides_fail() {
    let h = Harness::start().await;
    h.script(PRIMARY, &[Behaviour::Truncated]).await;
    h.script(SECONDARY, &[Behaviour::Truncated]).await;
    let error = h
        .router
        .review(&h.ensemble(Merge::Union), input())
        .await
        .failed();
    assert_eq!(error.kind, ErrorKind::Malformed);
    assert_eq!(error.calls.len(), 2);
    assert!(
        error.message.contains("sim-openai/gpt-sim")
            && error.message.contains("sim-anthropic/claude-sim"),
        "{}",
        error.message
    );
}

#[tokio::test]
async fn calls_are_counted_by_outcome_in_the_metrics() {
    let h = Harness::start().await;
    h.script(PRIMARY, &[Behaviour::Truncated]).await;
    h.router
        .review(&h.config(Strategy::Adaptive), input())
        .await
        .answered();
    let primary = [("provider", "sim-openai"), ("model", PRIMARY)];
    assert_eq!(
        h.metric(
            "router_provider_requests_total",
            &[primary[0], primary[1], ("outcome", "malformed")]
        ),
        1.0
    );
    assert_eq!(
        h.metric(
            "router_provider_requests_total",
            &[("model", SECONDARY), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        h.metric("router_fallbacks_total", &[("reason", "malformed")]),
        1.0
    );
}

#[tokio::test]
async fn an_ensemble_that_fails_takes_as_long_as_its_slower_side_not_both() {
    let h = Harness::start().await;
    // Both sides hang until the deadline, side by side.
    h.script(PRIMARY, &[Behaviour::Hang]).await;
    h.script(SECONDARY, &[Behaviour::Hang]).await;
    let mut config = h.ensemble(Merge::Union);
    config.parameters.timeout_ms = 400;
    config.parameters.max_retries = 0;
    let error = h.router.review(&config, input()).await.failed();
    assert_eq!(error.kind, ErrorKind::Timeout);
    let calls: Vec<f64> = error.calls.iter().map(|c| c.latency_ms).collect();
    assert_eq!(calls.len(), 2);
    // The review's latency is its wall time: at least its slower call's,
    // and short of the two added up (what V1 and the smoke test reported).
    let slower = calls.iter().copied().fold(0.0, f64::max);
    let added: f64 = calls.iter().sum();
    assert!(
        error.usage.latency_ms >= slower && error.usage.latency_ms < added,
        "review {} ms, calls {calls:?}",
        error.usage.latency_ms
    );
    // And it waited on providers for its slower call, not both.
    assert_eq!(error.usage.provider_wait_ms, slower);
}

#[tokio::test]
async fn a_fallback_waited_on_both_models_one_after_the_other() {
    let h = Harness::start().await;
    h.script(PRIMARY, &[Behaviour::Server]).await;
    let mut config = h.config(Strategy::Adaptive);
    config.parameters.max_retries = 0;
    let review = h.router.review(&config, input()).await.answered();
    assert!(review.fallback.is_some());
    let calls: Vec<f64> = review.calls.iter().map(|c| c.latency_ms).collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(review.usage.provider_wait_ms, calls.iter().sum::<f64>());
    assert!(review.usage.latency_ms >= review.usage.provider_wait_ms);
    assert_eq!(
        review.usage.cost_usd,
        review.calls.iter().map(|c| c.cost_usd).sum::<f64>()
    );
}
