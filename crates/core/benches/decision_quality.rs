//! How good the gate's decisions are: the real sequential judge against the
//! fixed-size Wilson judge it replaced, over simulated case outcomes.
//!
//! For each true accuracy (error rate 0, every answer fast) and dataset
//! size, 10,000 trials each: how often the configuration is promoted,
//! failed or left inconclusive, and how many cases it took. A run is
//! modelled as V1's worker runs it: cases in a random order, `CONCURRENCY`
//! in flight, the judge asked after every recorded case, and once it has
//! decided the cases already in flight still count. Then an adversarial
//! experimenter, who re-runs an inconclusive configuration up to ten times
//! on fresh cases; the sequential judge pools them, the old one judges each
//! run alone.
//!
//! `cargo bench -p trizone-core --bench decision_quality` (`TRIALS=1000`
//! for a quick look).

#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trizone_core::{Decision, Evidence, Judge, Thresholds};

const ACCURACIES: [f64; 7] = [0.93, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99];
const DATASETS: [u64; 3] = [300, 1_000, 2_000];
/// V1's default run concurrency.
const CONCURRENCY: u64 = 8;
const RERUNS: usize = 10;

/// One case's outcome at the true accuracy; errors and slow answers never
/// happen in these trials, so the error and latency checks are judged too
/// but only ever pass.
fn case(rng: &mut ChaCha8Rng, accuracy: f64) -> bool {
    rng.random::<f64>() < accuracy
}

/// One run through the sequential judge, continuing `pooled`: returns the
/// decision after the run and how many new cases it used.
fn sequential_run(
    judge: &Judge,
    pooled: &mut Evidence,
    dataset: u64,
    accuracy: f64,
    rng: &mut ChaCha8Rng,
) -> (Decision, u64) {
    let mut used = 0;
    while used < dataset {
        *pooled = pooled.with_case(case(rng, accuracy), false, false, 0.0);
        used += 1;
        if judge.decision(pooled).is_decided() {
            // The worker stops sending cases; those in flight still land.
            let in_flight = (CONCURRENCY - 1).min(dataset - used);
            for _ in 0..in_flight {
                *pooled = pooled.with_case(case(rng, accuracy), false, false, 0.0);
            }
            used += in_flight;
            if judge.decision(pooled).is_decided() {
                break;
            }
        }
    }
    (judge.decision(pooled), used)
}

/// The judge this platform used before: one-sided Wilson bounds at 95% on
/// one run of the whole dataset, at least 100 cases. Latency and errors are
/// clean in these trials, so accuracy decides.
fn wilson_run(dataset: u64, accuracy: f64, rng: &mut ChaCha8Rng) -> (Decision, u64) {
    let correct = (0..dataset).filter(|_| case(rng, accuracy)).count() as f64;
    let (n, z, bar) = (dataset as f64, 1.644_853_626_951_472_2_f64, 0.95);
    let p = correct / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let (lower, upper) = (
        (centre - spread) / (1.0 + z2 / n),
        (centre + spread) / (1.0 + z2 / n),
    );
    let decision = if lower >= bar {
        Decision::Pass
    } else if upper < bar {
        Decision::Fail
    } else {
        Decision::Inconclusive
    };
    (decision, dataset)
}

#[derive(Default)]
struct Tally {
    promoted: u64,
    failed: u64,
    inconclusive: u64,
    cases: Vec<u64>,
}

impl Tally {
    fn add(&mut self, decision: Decision, cases: u64) {
        match decision {
            Decision::Pass => self.promoted += 1,
            Decision::Fail => self.failed += 1,
            Decision::Inconclusive => self.inconclusive += 1,
        }
        self.cases.push(cases);
    }

    fn share(&self, count: u64) -> f64 {
        count as f64 / self.cases.len() as f64
    }

    fn promoted_share(&self) -> f64 {
        self.share(self.promoted)
    }

    fn mean_cases(&self) -> f64 {
        self.cases.iter().sum::<u64>() as f64 / self.cases.len() as f64
    }

    fn p90_cases(&mut self) -> u64 {
        self.cases.sort_unstable();
        let index = (self.cases.len() * 9).div_ceil(10).saturating_sub(1);
        self.cases.get(index).copied().unwrap_or(0)
    }

    fn row(&mut self) -> String {
        format!(
            "{:>8.1}% {:>6.1}% {:>6.1}% {:>6.0} {:>5}",
            100.0 * self.share(self.promoted),
            100.0 * self.share(self.failed),
            100.0 * self.share(self.inconclusive),
            self.mean_cases(),
            self.p90_cases()
        )
    }
}

fn main() {
    let trials: u64 = std::env::var("TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(10_000);
    let thresholds = Thresholds::default();
    let judge = Judge::new(&thresholds, None);
    println!(
        "decision quality: {trials} trials per point; bar accuracy ≥ {}, error rate ≤ {}, p95 ≤ {} ms; \
         indifference {}, risk {}, quarantine_risk {}, min_sample_size {}",
        thresholds.min_accuracy,
        thresholds.max_error_rate,
        thresholds.max_p95_latency_ms,
        thresholds.indifference,
        thresholds.risk,
        thresholds.quarantine_risk,
        thresholds.min_sample_size
    );
    println!();
    println!("one run per trial; cases = cases evaluated");
    println!(
        "{:>7} {:>8} | {:^36} | {:^36}",
        "dataset", "accuracy", "sequential (this judge)", "fixed-size Wilson (before)"
    );
    println!(
        "{:>7} {:>8} | {:>9} {:>7} {:>7} {:>6} {:>5} | {:>9} {:>7} {:>7} {:>6} {:>5}",
        "",
        "",
        "promoted",
        "failed",
        "incon.",
        "mean",
        "p90",
        "promoted",
        "failed",
        "incon.",
        "mean",
        "p90"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(0x0074_7269_7a6f_6e65);
    let mut targets = Vec::new();
    for dataset in DATASETS {
        for accuracy in ACCURACIES {
            let (mut sequential, mut wilson) = (Tally::default(), Tally::default());
            for _ in 0..trials {
                let mut pooled = Evidence::default();
                let (decision, used) =
                    sequential_run(&judge, &mut pooled, dataset, accuracy, &mut rng);
                sequential.add(decision, used);
                let (decision, used) = wilson_run(dataset, accuracy, &mut rng);
                wilson.add(decision, used);
            }
            let promoted = sequential.promoted_share();
            let mean = sequential.mean_cases();
            println!(
                "{dataset:>7} {accuracy:>8.2} | {} | {}",
                sequential.row(),
                wilson.row()
            );
            if dataset == 1_000 && accuracy == 0.97 {
                targets.push(format!(
                    "0.97 on 1,000 cases: {:.1}% promoted (target ≥ 90%), {mean:.0} cases on average (target ≤ 450): {}",
                    100.0 * promoted,
                    verdict(promoted >= 0.9 && mean <= 450.0)
                ));
            }
            if dataset == 1_000 && accuracy == 0.99 {
                targets.push(format!(
                    "0.99 on 1,000 cases: decided on {mean:.0} cases on average (target ≤ 250): {}",
                    verdict(mean <= 250.0)
                ));
            }
            if dataset == 1_000 && accuracy == 0.93 {
                targets.push(format!(
                    "0.93 on 1,000 cases: {:.1}% failed, on {mean:.0} cases on average (target ≤ 150): {}",
                    100.0 * sequential.share(sequential.failed),
                    verdict(mean <= 150.0)
                ));
            }
        }
    }

    println!();
    println!(
        "adversarial: re-run while inconclusive, up to {RERUNS} re-runs on fresh cases; cases = all runs' cases"
    );
    println!(
        "{:>7} {:>8} | {:^36} | {:^36}",
        "dataset", "accuracy", "sequential, pooled", "fixed-size Wilson, each run alone"
    );
    for dataset in [300, 1_000] {
        for accuracy in [0.93, 0.94, 0.95] {
            let (mut sequential, mut wilson) = (Tally::default(), Tally::default());
            for _ in 0..trials {
                let mut pooled = Evidence::default();
                let (mut decision, mut total) = (Decision::Inconclusive, 0);
                for _ in 0..=RERUNS {
                    let (now, used) =
                        sequential_run(&judge, &mut pooled, dataset, accuracy, &mut rng);
                    (decision, total) = (now, total + used);
                    if decision.is_decided() {
                        break;
                    }
                }
                sequential.add(decision, total);
                let (mut decision, mut total) = (Decision::Inconclusive, 0);
                for _ in 0..=RERUNS {
                    let (now, used) = wilson_run(dataset, accuracy, &mut rng);
                    (decision, total) = (now, total + used);
                    if decision.is_decided() {
                        break;
                    }
                }
                wilson.add(decision, total);
            }
            if accuracy == 0.94 {
                targets.push(format!(
                    "0.94 with up to {RERUNS} re-runs of {dataset} cases: {:.2}% promoted (target ≤ 1%), {:.2}% before: {}",
                    100.0 * sequential.promoted_share(),
                    100.0 * wilson.promoted_share(),
                    verdict(sequential.promoted_share() <= 0.01)
                ));
            }
            println!(
                "{dataset:>7} {accuracy:>8.2} | {} | {}",
                sequential.row(),
                wilson.row()
            );
        }
    }

    println!();
    println!("targets");
    for target in targets {
        println!("  {target}");
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}
