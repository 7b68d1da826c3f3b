//! Bad answers and bad set-ups are typed errors, never panics or empty reviews.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use trizone_core::Strategy;
use trizone_router::{
    Api, ErrorKind, FormatRecovery, ModelRouter, Provider, Providers, ResilienceSettings,
};
use trizone_sim::Behaviour;

use crate::{ANTHROPIC_KEY, Harness, OPENAI_KEY, Outcome, PRIMARY, SECONDARY, input, provider};

/// What a single-model review of each bad answer turns into, on both APIs.
#[tokio::test]
async fn each_kind_of_bad_answer_is_its_own_typed_error() {
    let cases = [
        (
            Behaviour::OutOfRange,
            ErrorKind::Malformed,
            "outside the file",
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
            let error = h.router.review(&config, input()).await.failed();
            assert_eq!(error.kind, kind, "{model} {behaviour:?}: {}", error.error);
            assert!(
                error.message.contains(says),
                "{model} {behaviour:?}: {}",
                error.message
            );
        }
    }
}

/// Without structured output, the review object alone in a code fence is
/// read exactly, on both APIs, and the call and the metric say the model
/// needed help.
#[tokio::test]
async fn a_fenced_answer_is_recovered_and_counted() {
    for (strategy, model, provider) in [
        (Strategy::Primary, PRIMARY, "sim-openai"),
        (Strategy::Secondary, SECONDARY, "sim-anthropic"),
    ] {
        let h = Harness::unstructured().await;
        h.script(model, &[Behaviour::Fenced, Behaviour::Answer])
            .await;
        let config = h.config(strategy);
        let fenced = h.router.review(&config, input()).await.answered();
        let plain = h.router.review(&config, input()).await.answered();
        assert_eq!(
            fenced.calls[0].recovered,
            Some(FormatRecovery::Fenced),
            "{model}"
        );
        assert_eq!(fenced.calls[0].attempts, 1, "{model}");
        assert_eq!(plain.calls[0].recovered, None, "{model}");
        // The same answer, fenced or not.
        assert_eq!(fenced.review.findings, plain.review.findings, "{model}");
        assert!(!fenced.review.findings.is_empty(), "{model}");
        let labels = [
            ("provider", provider),
            ("model", model),
            ("recovery", "fenced"),
        ];
        assert_eq!(
            h.metric("router_format_recoveries_total", &labels),
            1.0,
            "{model}"
        );
    }
}

#[tokio::test]
async fn a_malformed_answer_is_not_retried_but_its_tokens_are_paid_for() {
    let h = Harness::start().await;
    h.script(PRIMARY, &[Behaviour::OutOfRange]).await;
    let error = h
        .router
        .review(&h.config(Strategy::Primary), input())
        .await
        .failed();
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
        .answered();
    assert_eq!(review.calls[0].attempts, 2);
}

#[tokio::test]
async fn a_provider_the_operator_did_not_configure_gets_no_request() {
    let h = Harness::start().await;
    let registry = prometheus::Registry::new();
    let only_openai = Providers::new([Provider::new(
        "sim-openai",
        Api::Openai,
        &h.sim.openai_base_url(),
        OPENAI_KEY,
    )
    .unwrap()])
    .unwrap();
    let router = ModelRouter::new(only_openai, ResilienceSettings::default(), &registry).unwrap();
    let error = router
        .review(&h.config(Strategy::Secondary), input())
        .await
        .failed();
    assert_eq!(error.kind, ErrorKind::Config);
    assert!(
        error.message.contains("`sim-anthropic` is not a provider")
            && error.message.contains("`sim-openai`"),
        "{}",
        error.message
    );
    assert!(!error.message.contains(OPENAI_KEY));
    assert!(h.requests(SECONDARY).await.is_empty());
}

/// Answers every request with a redirect to `to`.
async fn redirecting_to(to: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0; 8192];
            let _ = stream.read(&mut buffer).await;
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    format!("http://{address}")
}

/// A host nobody configured, recording what reaches it.
async fn collector() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (seen, heard) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = vec![0; 65536];
            let read = stream.read(&mut buffer).await.unwrap_or(0);
            let _ = seen.send(String::from_utf8_lossy(&buffer[..read]).into_owned());
            let _ = stream
                .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    (format!("http://{address}"), heard)
}

#[tokio::test]
async fn a_redirect_never_takes_a_key_to_a_host_the_operator_did_not_configure() {
    let h = Harness::start().await;
    let (elsewhere, mut heard) = collector().await;
    let openai = redirecting_to(format!("{elsewhere}/v1/chat/completions")).await;
    let anthropic = redirecting_to(format!("{elsewhere}/v1/messages")).await;
    let providers = Providers::new([
        Provider::new(
            "sim-openai",
            Api::Openai,
            &format!("{openai}/v1"),
            OPENAI_KEY,
        )
        .unwrap(),
        Provider::new("sim-anthropic", Api::Anthropic, &anthropic, ANTHROPIC_KEY).unwrap(),
    ])
    .unwrap();
    let registry = prometheus::Registry::new();
    let router = ModelRouter::new(providers, ResilienceSettings::default(), &registry).unwrap();
    for strategy in [Strategy::Primary, Strategy::Secondary] {
        let mut config = h.config(strategy);
        config.parameters.max_retries = 0;
        let error = router.review(&config, input()).await.failed();
        assert_eq!(
            error.kind,
            ErrorKind::Client,
            "{strategy:?}: {}",
            error.error
        );
        assert!(error.message.contains("307"), "{}", error.message);
    }
    // Nothing reached the other host, let alone a key.
    assert!(heard.try_recv().is_err());
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
    let error = h.router.review(&config, input()).await.failed();
    assert_eq!(error.kind, ErrorKind::Config);
    assert!(h.requests(PRIMARY).await.is_empty());
}

#[tokio::test]
async fn an_unreachable_provider_is_a_connect_error() {
    let h = Harness::start().await;
    let registry = prometheus::Registry::new();
    let down =
        Providers::new([
            Provider::new("down", Api::Openai, "http://127.0.0.1:1/v1", OPENAI_KEY).unwrap(),
        ])
        .unwrap();
    let router = ModelRouter::new(down, ResilienceSettings::default(), &registry).unwrap();
    let mut config = h.config(Strategy::Primary);
    config.models.primary.provider = provider("down");
    config.parameters.max_retries = 0;
    let error = router.review(&config, input()).await.failed();
    assert_eq!(error.kind, ErrorKind::Connect);
}
