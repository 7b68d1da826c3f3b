//! The router's added latency per review, against the simulator at zero
//! simulated latency, versus a bare HTTP call with the same request body to
//! the same simulator (the baseline, measured in the same run, rounds
//! interleaved). Concurrency 1 and 64; strategies `primary` and `adaptive`;
//! providers with structured output (a strict JSON schema) and without
//! (`json_object`), each against a bare call sending its own body.
//!
//! `cargo bench -p trizone-router --bench overhead`

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(
    clippy::unwrap_used,
    reason = "a benchmark that cannot set up should stop loudly"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use prometheus::Registry;
use serde_json::json;
use trizone_core::{Configuration, ModelSpec, Models, Parameters, Prompt, ProviderName, Strategy};
use trizone_router::request::{ChatRequest, ReviewInput};
use trizone_router::{Api, ModelRouter, Provider, Providers, ResilienceSettings};
use trizone_sim::{Dataset, RunningSim};

const CODE: &str = "def bitcount(n):\n    count = 0\n    while n:\n        n &= n - 1\n        count += 1\n    return count\n";
const ROUNDS: usize = 9;
/// Reviews per round at each concurrency; the whole run is bounded by this.
const PER_ROUND: usize = 640;
const TIME_LIMIT: Duration = Duration::from_secs(120);

fn config(strategy: Strategy) -> Configuration {
    let model = |provider: &str, name: &str| ModelSpec {
        provider: ProviderName::parse(provider).unwrap(),
        model: name.into(),
        input_per_mtok: 1.0,
        cached_input_per_mtok: None,
        output_per_mtok: 2.0,
    };
    Configuration {
        name: "bench".into(),
        models: Models {
            primary: model("sim-openai", "gpt-sim"),
            secondary: Some(model("sim-anthropic", "claude-sim")),
        },
        strategy,
        prompt: Prompt {
            system: "You are a careful reviewer.".into(),
            template: "Review {{path}}:\n{{code}}".into(),
        },
        parameters: Parameters::default(),
    }
}

fn input() -> ReviewInput<'static> {
    ReviewInput {
        code: CODE,
        language: "python",
        path: "bitcount.py",
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Bare,
    Router(Strategy),
}

/// One way of asking: a router whose providers do or do not ask for
/// structured output, and the bare call sending the same body.
struct Mode {
    name: &'static str,
    router: Arc<ModelRouter>,
    bare: Arc<BareCall>,
}

impl Mode {
    fn new(name: &'static str, sim: &RunningSim, structured_output: bool) -> Self {
        let provider = |name: &str, api: Api, url: &str| {
            Provider::new(name, api, url, "sk-bench")
                .unwrap()
                .with_structured_output(structured_output)
        };
        let providers = Providers::new([
            provider("sim-openai", Api::Openai, &sim.openai_base_url()),
            provider("sim-anthropic", Api::Anthropic, &sim.anthropic_base_url()),
        ])
        .unwrap();
        let router =
            ModelRouter::new(providers, ResilienceSettings::default(), &Registry::new()).unwrap();
        let request = ChatRequest::build(&config(Strategy::Primary), input()).unwrap();
        let response_format = if structured_output {
            json!({"type": "json_schema", "json_schema": {"name": trizone_router::schema::NAME, "schema": trizone_router::schema::review(), "strict": true}})
        } else {
            json!({"type": "json_object"})
        };
        let bare = BareCall {
            http: reqwest::Client::new(),
            url: format!("{}/chat/completions", sim.openai_base_url()),
            body: json!({
                "model": "gpt-sim",
                "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}],
                "temperature": 0.0, "max_completion_tokens": 1024, "response_format": response_format,
            }),
        };
        Self {
            name,
            router: Arc::new(router),
            bare: Arc::new(bare),
        }
    }

    /// One round of `path` in this mode.
    async fn round(&self, path: Path, concurrency: usize, histogram: &mut Histogram<u64>) {
        round(path, concurrency, &self.router, &self.bare, histogram).await;
    }
}

/// Runs `PER_ROUND` requests over `concurrency` tasks; records each latency in µs.
async fn round(
    path: Path,
    concurrency: usize,
    router: &Arc<ModelRouter>,
    bare: &Arc<BareCall>,
    histogram: &mut Histogram<u64>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (router, bare) = (router.clone(), bare.clone());
        let config = match path {
            Path::Router(strategy) => Some(config(strategy)),
            Path::Bare => None,
        };
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(PER_ROUND / concurrency);
            for _ in 0..PER_ROUND / concurrency {
                let started = Instant::now();
                match &config {
                    Some(config) => {
                        router.review(config, input()).await.result.unwrap();
                    }
                    None => bare.call().await,
                }
                latencies.push(started.elapsed().as_micros() as u64);
            }
            latencies
        });
    }
    while let Some(latencies) = tasks.join_next().await {
        for latency in latencies.unwrap() {
            histogram.record(latency.max(1)).unwrap();
        }
    }
}

/// The baseline: one reqwest POST of the body the router sends, the JSON
/// response read into a `serde_json::Value`, nothing else.
struct BareCall {
    http: reqwest::Client,
    url: String,
    body: serde_json::Value,
}

impl BareCall {
    async fn call(&self) {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth("sk-bench")
            .json(&self.body)
            .send()
            .await
            .unwrap();
        let value: serde_json::Value = response.json().await.unwrap();
        assert!(value["choices"][0]["message"]["content"].is_string());
    }
}

/// CPU time this process has used (user + system), from /proc on Linux.
/// The simulator runs in this process too, for both paths alike, so the
/// difference between paths is the router's own CPU.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(Duration::from_millis(ticks * 10))
}

/// p50 and p99 of each round.
#[derive(Default)]
struct Rounds {
    p50: Vec<u64>,
    p99: Vec<u64>,
    cpu: Duration,
    reviews: u64,
}

impl Rounds {
    fn push(&mut self, histogram: &Histogram<u64>) {
        self.p50.push(histogram.value_at_quantile(0.5));
        self.p99.push(histogram.value_at_quantile(0.99));
    }

    fn median_p50(&self) -> u64 {
        median(&self.p50)
    }

    fn median_p99(&self) -> u64 {
        median(&self.p99)
    }

    fn cpu_us_per_review(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.reviews.max(1) as f64
    }
}

fn median(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

#[tokio::main]
async fn main() {
    let sim = RunningSim::start(1, Dataset::default(), 0).await.unwrap();
    let modes = [
        Mode::new("json", &sim, false),
        Mode::new("schema", &sim, true),
    ];
    let started = Instant::now();
    // Warm connections and code paths.
    for mode in &modes {
        for path in [
            Path::Bare,
            Path::Router(Strategy::Primary),
            Path::Router(Strategy::Adaptive),
        ] {
            mode.round(path, 8, &mut Histogram::new(3).unwrap()).await;
        }
    }

    println!(
        "router overhead: {PER_ROUND} reviews per round, {ROUNDS} rounds interleaved, median round, simulator at 0 ms latency"
    );
    println!(
        "all figures in µs; cpu = process CPU per review (the simulator included, alike for both paths)"
    );
    println!(
        "mode: json = json_object and the prompt's contract; schema = strict json_schema / forced tool (structured output)"
    );
    println!(
        "{:<10} {:>4} {:<6} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>6} {:>9} {:>9}",
        "strategy",
        "conc",
        "mode",
        "base p50",
        "base p99",
        "p50",
        "p99",
        "added p50",
        "added p99",
        "ratio",
        "base cpu",
        "cpu"
    );
    let mut structured_ratios = Vec::new();
    for concurrency in [1, 64] {
        for strategy in [Strategy::Primary, Strategy::Adaptive] {
            // Percentiles per round, then the median round: one noisy round
            // on a shared 2-core machine does not decide the figure.
            let mut results: Vec<(Rounds, Rounds)> =
                modes.iter().map(|_| Default::default()).collect();
            for _ in 0..ROUNDS {
                if started.elapsed() > TIME_LIMIT {
                    break;
                }
                for (mode, (base, routed)) in modes.iter().zip(&mut results) {
                    let (mut b, mut r) = (
                        Histogram::<u64>::new(3).unwrap(),
                        Histogram::<u64>::new(3).unwrap(),
                    );
                    let before = cpu_time().unwrap_or_default();
                    mode.round(Path::Bare, concurrency, &mut b).await;
                    let between = cpu_time().unwrap_or_default();
                    mode.round(Path::Router(strategy), concurrency, &mut r)
                        .await;
                    let after = cpu_time().unwrap_or_default();
                    base.push(&b);
                    routed.push(&r);
                    base.cpu += between.saturating_sub(before);
                    routed.cpu += after.saturating_sub(between);
                    base.reviews += PER_ROUND as u64;
                    routed.reviews += PER_ROUND as u64;
                }
            }
            for (mode, (base, routed)) in modes.iter().zip(&results) {
                let (b50, b99) = (base.median_p50(), base.median_p99());
                let (r50, r99) = (routed.median_p50(), routed.median_p99());
                println!(
                    "{:<10} {concurrency:>4} {:<6} {b50:>9} {b99:>9} {r50:>9} {r99:>9} {:>10} {:>10} {:>6.2} {:>9.1} {:>9.1}",
                    strategy.kind(),
                    mode.name,
                    r50 as i64 - b50 as i64,
                    r99 as i64 - b99 as i64,
                    r50 as f64 / b50 as f64,
                    base.cpu_us_per_review(),
                    routed.cpu_us_per_review(),
                );
            }
            // Paired within each round, so the machine's drift between
            // rounds cancels: what the router adds over a bare call with
            // the same body, with a schema minus without.
            let added = |(base, routed): &(Rounds, Rounds)| -> Vec<i64> {
                base.p50
                    .iter()
                    .zip(&routed.p50)
                    .map(|(b, r)| *r as i64 - *b as i64)
                    .collect()
            };
            let (json, schema) = (added(&results[0]), added(&results[1]));
            let mut change: Vec<i64> = schema.iter().zip(&json).map(|(s, j)| s - j).collect();
            change.sort_unstable();
            structured_ratios.push((
                strategy.kind(),
                concurrency,
                results[1].1.median_p50() as f64 / results[0].1.median_p50() as f64,
                change[change.len() / 2],
                (change[0], change[change.len() - 1]),
            ));
        }
    }
    println!(
        "structured output against json_object: router p50 schema / json (the simulator's own schema work included),"
    );
    println!(
        "and the router's added p50 with a schema minus without, paired per round: median [min, max] over rounds, µs"
    );
    for (strategy, concurrency, ratio, change, (low, high)) in structured_ratios {
        println!(
            "  {strategy:<10} conc {concurrency:>3}: {ratio:.3}x; added {change:+} [{low:+}, {high:+}]"
        );
    }
}
