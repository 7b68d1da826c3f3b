//! The demo's live traffic: end users reviewing through V2 while the gate
//! rolls a candidate out, and what each step of the rollout did.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Outcome, Zones, say};
use crate::client::text;

/// A round of reviews, one per end user, at most this often: each key
/// stays under V2's rate limit (600 a minute) however fast V2 answers.
const PACE: Duration = Duration::from_millis(110);

/// How long a rollout may take before the demo gives up on it.
const DEADLINE: Duration = Duration::from_secs(180);

/// The end users: each token sends one review per round, the dataset's
/// files in turn.
pub struct Crowd {
    http: reqwest::Client,
    reviews_url: String,
    tokens: Vec<String>,
    files: Vec<Value>,
    next: usize,
}

/// What the end users got during one rollout.
#[derive(Debug, Default)]
struct Answers {
    answered: u64,
    /// Anything but a 201, named by status.
    refused: Vec<u16>,
    by_candidate: u64,
    /// Canary answers that failed and were answered by the stable one.
    failed_over: u64,
}

impl Crowd {
    pub fn new(zones: &Zones, dataset: &str) -> anyhow::Result<Self> {
        let files = dataset
            .lines()
            .map(|line| {
                let case: Value = serde_json::from_str(line)?;
                Ok(json!({"language": case["language"], "path": case["path"], "code": case["code"]}))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            http: zones.http.clone(),
            reviews_url: format!("{}/api/v2/reviews", zones.v2_url),
            tokens: zones.end_users.clone(),
            files,
            next: 0,
        })
    }

    /// How many of the users a canary share of `deployment` takes.
    fn in_canary(&self, deployment: Uuid, share: f64) -> usize {
        self.tokens
            .iter()
            .filter(|token| {
                trizone_core::rollout::in_canary(
                    &trizone_http::auth::key_id(token),
                    deployment.as_bytes(),
                    share,
                )
            })
            .count()
    }

    /// One review from each user, then a pause to keep to the pace.
    async fn round(&mut self, candidate: Uuid, answers: &mut Answers) {
        let started = Instant::now();
        let sends = self.tokens.iter().map(|token| {
            let file = &self.files[self.next % self.files.len()];
            self.next += 1;
            let request = self
                .http
                .post(&self.reviews_url)
                .bearer_auth(token)
                .json(file);
            async move {
                let response = request.send().await.ok()?;
                let status = response.status().as_u16();
                Some((
                    status,
                    response.json::<Value>().await.unwrap_or(Value::Null),
                ))
            }
        });
        for answer in futures::future::join_all(sends).await {
            match answer {
                Some((201, review)) => {
                    answers.answered += 1;
                    if review["deployment"]["id"] == candidate.to_string() {
                        answers.by_candidate += 1;
                    } else if review["fallback"].is_object() {
                        answers.failed_over += 1;
                    }
                }
                Some((status, _)) => answers.refused.push(status),
                None => answers.refused.push(0),
            }
        }
        tokio::time::sleep(PACE.saturating_sub(started.elapsed())).await;
    }
}

/// What goes wrong once a candidate meets real users: its provider fails
/// `rate` of the calls to `model` from the first canary step on.
pub struct Breakage<'a> {
    pub model: &'a str,
    pub profile: &'a Value,
    pub rate: f64,
}

/// Drives end-user traffic while `deployment` of `outcome` rolls out,
/// saying each step as the gate moves it; whether it serves everyone at
/// the end.
pub async fn follow(
    zones: &Zones,
    crowd: &mut Crowd,
    outcome: &Outcome,
    deployment: Uuid,
    breakage: Option<Breakage<'_>>,
) -> anyhow::Result<bool> {
    let deadline = Instant::now() + DEADLINE;
    let mut answers = Answers::default();
    let mut stage: Option<(String, f64)> = None;
    let mut last = Value::Null;
    let mut broken = breakage.is_none();
    loop {
        crowd.round(deployment, &mut answers).await;
        let view = zones.gate.get("/api/gate/rollout").await?;
        let rollout = &view["rollout"];
        if rollout["deployment_id"] != deployment.to_string() {
            break;
        }
        let now = (
            text(&rollout["stage"]),
            rollout["share"].as_f64().unwrap_or(0.0),
        );
        if stage.as_ref() != Some(&now) {
            if stage.is_some() {
                say(&format!("      passed: {}", evidence(&last)))?;
            }
            say(&describe(rollout, crowd, deployment))?;
            if now.0 == "canary"
                && !broken
                && let Some(breakage) = &breakage
            {
                break_model(zones, breakage).await?;
                broken = true;
            }
            stage = Some(now);
        }
        last = rollout.clone();
        if Instant::now() > deadline {
            bail!(
                "the rollout of {} did not end within {} s; `trizone gate rollout status` shows where it is",
                outcome.name,
                DEADLINE.as_secs()
            );
        }
    }
    let status = zones.v2.get("/api/v2/status").await?;
    let everyone = status["active"]["fingerprint"] == outcome.fingerprint.as_str();
    if everyone {
        if stage.is_some() {
            say(&format!("      passed: {}", evidence(&last)))?;
        }
        say(&format!(
            "   v{} serves everyone",
            status["active"]["version"]
        ))?;
    } else {
        say(&format!(
            "   the {} step failed on live traffic; V2 serves v{} alone again",
            stage.map_or_else(|| "first".to_owned(), |(stage, _)| stage),
            status["active"]["version"]
        ))?;
    }
    let mut line = format!(
        "   end users meanwhile: {} reviews answered, {} refused; {} answered by the candidate",
        answers.answered,
        answers.refused.len(),
        answers.by_candidate,
    );
    if answers.failed_over > 0 {
        line.push_str(&format!(
            ", and {} that it failed answered again by the stable one",
            answers.failed_over
        ));
    }
    say(&line)?;
    if !answers.refused.is_empty() {
        bail!(
            "V2 refused end users during the rollout, with statuses {:?}",
            answers.refused
        );
    }
    Ok(everyone)
}

/// The step the rollout has reached, as the demo says it.
fn describe(rollout: &Value, crowd: &Crowd, deployment: Uuid) -> String {
    let version = &rollout["version"];
    match rollout["stage"].as_str() {
        Some("shadow") => format!(
            "   shadow: {:.0}% of requests mirrored to v{version} after the stable one answers",
            rollout["shadow_sample"].as_f64().unwrap_or(0.0) * 100.0
        ),
        _ => {
            let share = rollout["share"].as_f64().unwrap_or(0.0);
            format!(
                "   canary: v{version} answers {share:.0}% of the keys ({} of these {} users)",
                crowd.in_canary(deployment, share),
                crowd.tokens.len()
            )
        }
    }
}

/// The step's evidence when last seen, in a line.
fn evidence(rollout: &Value) -> String {
    let e = &rollout["evidence"];
    let count = |field: &str| e[field].as_u64().unwrap_or(0);
    let mut line = format!(
        "{} requests, {} errors, {} over 3 s",
        count("requests"),
        count("errors"),
        count("slow")
    );
    if count("compared") > 0 {
        line.push_str(&format!(
            ", {:.0}% of answers agreeing with the stable ones",
            100.0 * count("agreed") as f64 / count("compared") as f64
        ));
    }
    line
}

/// Tells the simulator that `breakage.model` now fails its calls.
async fn break_model(zones: &Zones, breakage: &Breakage<'_>) -> anyhow::Result<()> {
    let mut profile = breakage.profile.clone();
    profile["errors"] = json!({"server": breakage.rate});
    let set = zones
        .http
        .put(format!("{}/control/profiles/{}", zones.sim, breakage.model))
        .bearer_auth(&zones.sim_token)
        .json(&profile)
        .send()
        .await
        .context("cannot reach the provider simulator")?;
    if !set.status().is_success() {
        bail!("the simulator refused the new profile: {}", set.status());
    }
    say(&format!(
        "   live traffic is not the dataset: {}'s provider now fails {:.0}% of its calls",
        breakage.model,
        breakage.rate * 100.0
    ))
}
