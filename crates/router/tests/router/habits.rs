//! Each habit of real models, on both wire formats, with structured output
//! on and off, ends as the README's table says.

use trizone_core::Strategy;
use trizone_router::{ErrorKind, FormatRecovery};
use trizone_sim::Behaviour;

use crate::{Harness, Outcome, PRIMARY, SECONDARY, input};

/// How one review should end.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ends {
    /// The known bug, read as is.
    Read,
    /// The known bug, read after undoing this.
    Recovered(FormatRecovery),
    /// No review: this kind, and a message saying this.
    Fails(ErrorKind, &'static str),
}

use Ends::{Fails, Read, Recovered};

const NOT_A_REVIEW: Ends = Fails(ErrorKind::Malformed, "answer is not a review");
const TRUNCATED: Ends = Fails(ErrorKind::Malformed, "truncated at max_tokens");
const EMPTY: Ends = Fails(ErrorKind::Malformed, "the answer is empty");
const OUTSIDE: Ends = Fails(ErrorKind::Malformed, "outside the file, which has 4 lines");
const REFUSED: Ends = Fails(ErrorKind::Refused, "can't help with reviewing this code");

/// (habit, OpenAI off, OpenAI on, Anthropic off, Anthropic on).
const TABLE: [(Behaviour, Ends, Ends, Ends, Ends); 9] = [
    (
        Behaviour::Fenced,
        Recovered(FormatRecovery::Fenced),
        Read,
        Recovered(FormatRecovery::Fenced),
        Read,
    ),
    (Behaviour::Preamble, NOT_A_REVIEW, Read, NOT_A_REVIEW, Read),
    (Behaviour::Malformed, NOT_A_REVIEW, Read, NOT_A_REVIEW, Read),
    // Without a schema, OpenAI's refusal is an apology in the answer;
    // with one, it has a field of its own. Anthropic's is a stop reason.
    (Behaviour::Refusal, NOT_A_REVIEW, REFUSED, REFUSED, REFUSED),
    (
        Behaviour::Truncated,
        TRUNCATED,
        TRUNCATED,
        TRUNCATED,
        TRUNCATED,
    ),
    (Behaviour::Empty, EMPTY, EMPTY, EMPTY, EMPTY),
    (Behaviour::OutOfRange, OUTSIDE, OUTSIDE, OUTSIDE, OUTSIDE),
    // Tool habits need tools: only Anthropic with structured output has them.
    (
        Behaviour::WrongTool,
        Read,
        Read,
        Read,
        Fails(
            ErrorKind::Malformed,
            "called the tool `suggest_refactoring`, not `submit_review`",
        ),
    ),
    // A model that answers in text instead of calling the tool is held to
    // the prompt's contract, which its answer keeps.
    (Behaviour::NoTool, Read, Read, Read, Read),
];

async fn check(structured: bool) {
    let h = if structured {
        Harness::start().await
    } else {
        Harness::unstructured().await
    };
    let expected_findings = {
        let plain = h.router.review(&h.config(Strategy::Primary), input()).await;
        plain.answered().review.findings
    };
    assert_eq!(expected_findings.len(), 1, "the known bug");
    for (habit, openai_off, openai_on, anthropic_off, anthropic_on) in TABLE {
        for (strategy, model, ends) in [
            (
                Strategy::Primary,
                PRIMARY,
                if structured { openai_on } else { openai_off },
            ),
            (
                Strategy::Secondary,
                SECONDARY,
                if structured {
                    anthropic_on
                } else {
                    anthropic_off
                },
            ),
        ] {
            let what = format!("{habit:?} from {model}, structured output {structured}");
            let mut config = h.config(strategy);
            config.parameters.max_retries = 0;
            h.script(model, &[habit]).await;
            let reviewed = h.router.review(&config, input()).await;
            assert_eq!(reviewed.calls[0].attempts, 1, "{what}: never retried");
            // Every answer is paid for, whatever came of it.
            assert!(reviewed.calls[0].cost_usd > 0.0, "{what}");
            match ends {
                Read | Recovered(_) => {
                    let recovered = match ends {
                        Recovered(how) => Some(how),
                        _ => None,
                    };
                    let answered = reviewed.answered();
                    assert_eq!(answered.calls[0].recovered, recovered, "{what}");
                    assert_eq!(answered.review.findings, expected_findings, "{what}");
                }
                Fails(kind, says) => {
                    let failed = reviewed.failed();
                    assert_eq!(failed.kind, kind, "{what}: {}", failed.message);
                    assert!(failed.message.contains(says), "{what}: {}", failed.message);
                }
            }
        }
    }
    // Only unwrapped answers count as recoveries.
    let fenced = f64::from(u8::from(!structured));
    for model in [PRIMARY, SECONDARY] {
        assert_eq!(
            h.metric(
                "router_format_recoveries_total",
                &[("model", model), ("recovery", "fenced")]
            ),
            fenced,
            "{model}"
        );
    }
}

#[tokio::test]
async fn each_habit_ends_as_documented_without_structured_output() {
    check(false).await;
}

#[tokio::test]
async fn each_habit_ends_as_documented_with_structured_output() {
    check(true).await;
}

/// Cached prompt tokens and reasoning tokens come from the provider's
/// `usage`, and cached ones cost what the configuration says they cost.
#[tokio::test]
async fn cached_and_reasoning_tokens_are_counted_and_priced() {
    let h = Harness::start().await;
    let profile = serde_json::json!({"cached_input_share": 0.5, "reasoning_tokens": 40});
    for model in [PRIMARY, SECONDARY] {
        h.profile(model, profile.clone()).await;
    }
    for (strategy, reports_reasoning) in [(Strategy::Primary, true), (Strategy::Secondary, false)] {
        let mut config = h.config(strategy);
        let full_price = h.router.review(&config, input()).await.answered();
        let models = config.models.secondary.as_mut();
        for spec in std::iter::once(&mut config.models.primary).chain(models) {
            spec.cached_input_per_mtok = Some(spec.input_per_mtok / 10.0);
        }
        let discounted = h.router.review(&config, input()).await.answered();
        let call = &discounted.calls[0];
        assert_eq!(call.cached_input_tokens, call.input_tokens / 2, "{call:?}");
        assert!(call.output_tokens > 40, "reasoning is output: {call:?}");
        assert_eq!(
            call.reasoning_tokens,
            if reports_reasoning { 40 } else { 0 }
        );
        let spec = match strategy {
            Strategy::Primary => &config.models.primary,
            _ => config.models.secondary.as_ref().unwrap(),
        };
        let uncached = (call.input_tokens - call.cached_input_tokens) as f64;
        let expected = (uncached * spec.input_per_mtok
            + call.cached_input_tokens as f64 * spec.cached_input_per_mtok.unwrap()
            + call.output_tokens as f64 * spec.output_per_mtok)
            / 1e6;
        assert!((call.cost_usd - expected).abs() < 1e-12, "{call:?}");
        assert!(call.cost_usd < full_price.calls[0].cost_usd);
        assert_eq!(
            discounted.usage.cached_input_tokens,
            call.cached_input_tokens
        );
    }
}
