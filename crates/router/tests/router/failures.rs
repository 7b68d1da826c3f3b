//! Bad answers and bad set-ups are typed errors, never panics or empty reviews.

use trizone_core::Strategy;
use trizone_router::{Credentials, ErrorKind, ModelRouter, ResilienceSettings};
use trizone_sim::Behaviour;

use crate::{Harness, PRIMARY, SECONDARY, input};

/// What a single-model review of each bad answer turns into, on both APIs.
#[tokio::test]
async fn each_kind_of_bad_answer_is_its_own_typed_error() {
    let cases = [
        (
            Behaviour::Malformed,
            ErrorKind::Malformed,
            "answer is not a review",
        ),
        (Behaviour::Garbage, ErrorKind::Malformed, "502 Bad Gateway"),
        (Behaviour::Truncated, ErrorKind::Malformed, "truncated"),
        (
            Behaviour::ErrorBody,
            ErrorKind::Server,
            "overloaded while generating",
        ),
        (
            Behaviour::Server,
            ErrorKind::Server,
            "the simulated model failed",
        ),
    ];
    for (strategy, model) in [
        (Strategy::Primary, PRIMARY),
        (Strategy::Secondary, SECONDARY),
    ] {
        for (behaviour, kind, says) in cases {
            let h = Harness::start().await;
            let mut config = h.config(strategy);
            config.parameters.max_retries = 0;
            h.script(model, &[behaviour]).await;
            let error = h.router.review(&config, input()).await.unwrap_err();
            assert_eq!(error.kind, kind, "{model} {behaviour:?}: {error}");
            assert!(
                error.message.contains(says),
                "{model} {behaviour:?}: {}",
                error.message
            );
        }
    }
}

#[tokio::test]
async fn a_malformed_answer_is_not_retried_but_its_tokens_are_paid_for() {
    let h = Harness::start().await;
    h.script(PRIMARY, &[Behaviour::Malformed]).await;
    let error = h
        .router
        .review(&h.config(Strategy::Primary), input())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Malformed);
    assert_eq!(error.calls[0].attempts, 1);
    assert!(error.calls[0].cost_usd > 0.0);
}

#[tokio::test]
async fn a_200_with_an_error_body_is_retried_like_a_server_error() {
    let h = Harness::start().await;
    h.script(PRIMARY, &[Behaviour::ErrorBody]).await;
    let review = h
        .router
        .review(&h.config(Strategy::Primary), input())
        .await
        .unwrap();
    assert_eq!(review.calls[0].attempts, 2);
}

#[tokio::test]
async fn a_missing_api_key_is_a_configuration_error_and_no_request_is_sent() {
    let h = Harness::start().await;
    let registry = prometheus::Registry::new();
    let router = ModelRouter::new(
        Credentials::new(Some("sk-openai"), None),
        ResilienceSettings::default(),
        &registry,
    )
    .unwrap();
    let error = router
        .review(&h.config(Strategy::Secondary), input())
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Config);
    assert!(
        error.message.contains("ANTHROPIC_API_KEY"),
        "{}",
        error.message
    );
    assert!(!error.message.contains("sk-openai"));
    assert!(h.requests(SECONDARY).await.is_empty());
}

#[tokio::test]
async fn a_strategy_needing_a_secondary_without_one_is_refused() {
    let h = Harness::start().await;
    let mut config = h.config(Strategy::Adaptive);
    config.models.secondary = None;
    // Validation refuses it first...
    assert_eq!(
        config.validate().unwrap_err().field_errors()[0].field,
        "models.secondary"
    );
    // ...and the router refuses it too, should an unvalidated one reach it.
    let error = h.router.review(&config, input()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Config);
    assert!(h.requests(PRIMARY).await.is_empty());
}

#[tokio::test]
async fn an_unreachable_provider_is_a_connect_error() {
    let h = Harness::start().await;
    let mut config = h.config(Strategy::Primary);
    config.models.primary.base_url = Some("http://127.0.0.1:1/v1".into());
    config.parameters.max_retries = 0;
    let error = h.router.review(&config, input()).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Connect);
}
