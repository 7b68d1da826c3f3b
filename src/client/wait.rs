//! `trizone gate wait`: a CI step that waits for the gate's verdict on an
//! experiment's evidence and exits on it, optionally writing the verdict's
//! checks as JUnit XML so CI systems show them natively.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, Event};
use serde_json::Value;
use tokio::time::Instant;
use trizone_api::experiments::Readiness;
use trizone_core::{Decision, ExperimentStatus};

use super::{Zone, text, typed};

/// How often the experiment is asked about.
const POLL: Duration = Duration::from_millis(500);

/// Where waiting ended, and the exit code that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Passed and serving in V2.
    Promoted,
    /// Failed: quarantined, or blacklisted.
    Failed,
    /// The gate judged all the evidence and could not decide.
    Inconclusive,
    /// The experiment was withdrawn: no verdict will come.
    Withdrawn,
}

impl Settled {
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Self::Promoted => 0,
            Self::Failed => 1,
            Self::Withdrawn => 2,
            Self::Inconclusive => 3,
        })
    }
}

/// Whether `readiness` is where waiting ends. A pass waits on for the
/// promotion to land; a decision that rests on fewer cases than the
/// evidence now holds is not the verdict on it yet.
pub fn settled(readiness: &Readiness) -> Option<Settled> {
    let judged_all = readiness.decided_on_cases == Some(readiness.cases);
    match readiness.status {
        ExperimentStatus::Promoted => Some(Settled::Promoted),
        ExperimentStatus::Quarantined | ExperimentStatus::Blacklisted => Some(Settled::Failed),
        ExperimentStatus::Withdrawn => Some(Settled::Withdrawn),
        ExperimentStatus::Evaluated
            if judged_all && readiness.decision == Some(Decision::Inconclusive) =>
        {
            Some(Settled::Inconclusive)
        }
        _ => None,
    }
}

/// Waits up to `timeout` for `experiment`'s verdict; prints it, writes
/// `junit` if asked, and returns the exit code: 0 promoted, 1 failed or
/// quarantined, 3 inconclusive or timed out (errors are 2, from `main`).
pub async fn wait(
    v1: &Zone,
    gate: &Zone,
    experiment: &str,
    timeout: Duration,
    junit: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let deadline = Instant::now() + timeout;
    let path = format!("/api/v1/experiments/{experiment}");
    loop {
        let readiness: Readiness = typed(&v1.get(&path).await?["readiness"])
            .with_context(|| format!("V1 shows no readiness for experiment {experiment}"))?;
        if let Some(settled) = settled(&readiness) {
            let decision = match readiness.decision_id {
                Some(id) => Some(gate.get(&format!("/api/gate/decisions/{id}")).await?),
                None => None,
            };
            report(&readiness, decision.as_ref(), Some(settled), junit)?;
            return Ok(settled.exit_code());
        }
        if Instant::now() + POLL > deadline {
            report(&readiness, None, None, junit)?;
            return Ok(Settled::Inconclusive.exit_code());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Prints the outcome and each check, and writes the JUnit file.
fn report(
    readiness: &Readiness,
    decision: Option<&Value>,
    settled: Option<Settled>,
    junit: Option<&Path>,
) -> anyhow::Result<()> {
    let checks = decision
        .map(|d| {
            d["verdict"]["checks"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .unwrap_or_default();
    let headline = match settled {
        Some(Settled::Promoted) => "promoted: serving in V2".to_owned(),
        Some(Settled::Failed) => format!("failed: {}", readiness.status),
        Some(Settled::Inconclusive) => format!(
            "inconclusive after {} cases{}",
            readiness.cases,
            readiness
                .additional_cases_needed
                .map(|n| format!("; about {n} more expected to decide"))
                .unwrap_or_default()
        ),
        Some(Settled::Withdrawn) => "withdrawn: no verdict will come".to_owned(),
        // Under progressive delivery a pass serves everyone only once its
        // rollout's live steps pass: `trizone gate rollout status` says where.
        None if readiness.decision == Some(Decision::Pass) => {
            "timed out: passed the gate, not yet serving everyone (rolling out on live traffic)"
                .to_owned()
        }
        None => format!("timed out: still {}", readiness.status),
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} ({}): {headline}",
        readiness.name, readiness.experiment_id
    )?;
    for check in &checks {
        writeln!(
            out,
            "  {:<16} {:<12} {}",
            text(&check["name"]),
            text(&check["outcome"]),
            text(&check["reason"])
        )?;
    }
    if let Some(path) = junit {
        let xml = junit_xml(readiness, &checks, &headline)?;
        std::fs::write(path, xml).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// One test case per check: a failing check fails, an undecided one is
/// skipped. Without a verdict (timed out), one skipped case says why.
pub fn junit_xml(
    readiness: &Readiness,
    checks: &[Value],
    headline: &str,
) -> anyhow::Result<Vec<u8>> {
    let outcome = |c: &Value| c["outcome"].as_str().unwrap_or_default().to_owned();
    let failures = checks.iter().filter(|c| outcome(c) == "fail").count();
    let skipped = if checks.is_empty() {
        1
    } else {
        checks
            .iter()
            .filter(|c| outcome(c) == "inconclusive")
            .count()
    };
    let tests = checks.len().max(1);
    let suite = format!(
        "trizone gate: {} ({})",
        readiness.name, readiness.fingerprint
    );
    let class = format!("trizone.gate.{}", readiness.experiment_id);
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("testsuite")
        .with_attributes([
            ("name", suite.as_str()),
            ("tests", &tests.to_string()),
            ("failures", &failures.to_string()),
            ("errors", "0"),
            ("skipped", &skipped.to_string()),
        ])
        .write_inner_content(|w| {
            if checks.is_empty() {
                w.create_element("testcase")
                    .with_attributes([("classname", class.as_str()), ("name", "verdict")])
                    .write_inner_content(|w| {
                        w.create_element("skipped")
                            .with_attribute(("message", headline))
                            .write_empty()
                            .map(|_| ())
                    })?;
            }
            for check in checks {
                let name = text(&check["name"]);
                let reason = text(&check["reason"]);
                let case = w
                    .create_element("testcase")
                    .with_attributes([("classname", class.as_str()), ("name", name.as_str())]);
                match outcome(check).as_str() {
                    "fail" => case.write_inner_content(|w| {
                        w.create_element("failure")
                            .with_attributes([("message", reason.as_str()), ("type", "fail")])
                            .write_empty()
                            .map(|_| ())
                    })?,
                    "inconclusive" => case.write_inner_content(|w| {
                        w.create_element("skipped")
                            .with_attribute(("message", reason.as_str()))
                            .write_empty()
                            .map(|_| ())
                    })?,
                    _ => case.write_empty()?,
                };
            }
            w.create_element("system-out")
                .write_text_content(quick_xml::events::BytesText::new(headline))
                .map(|_| ())
        })?;
    let mut xml = writer.into_inner();
    xml.push(b'\n');
    Ok(xml)
}

#[cfg(test)]
mod tests {
    use quick_xml::Reader;
    use quick_xml::events::Event;
    use serde_json::json;

    use super::*;

    fn readiness(
        status: ExperimentStatus,
        decision: Option<Decision>,
        decided_on: i64,
    ) -> Readiness {
        serde_json::from_value(json!({
            "experiment_id": "5b4a127c-df9a-4791-ac21-e647692a2666", "name": "r", "owner": "o",
            "fingerprint": "f", "status": status, "cases": 150, "accuracy": 1.0, "error_rate": 0.0,
            "latency_p95_ms": 10.0, "cost_usd": 0.1, "satisfaction": null,
            "decision_id": null, "decision": decision, "decided_on_cases": decided_on,
            "additional_cases_needed": 76, "decided_at": null, "ready": false,
        }))
        .unwrap()
    }

    #[test]
    fn waiting_ends_on_a_verdict_about_all_the_evidence() {
        use ExperimentStatus::*;
        let cases = [
            (
                readiness(Promoted, Some(Decision::Pass), 150),
                Some(Settled::Promoted),
            ),
            (
                readiness(Quarantined, Some(Decision::Fail), 150),
                Some(Settled::Failed),
            ),
            (readiness(Blacklisted, None, 0), Some(Settled::Failed)),
            (
                readiness(Evaluated, Some(Decision::Inconclusive), 150),
                Some(Settled::Inconclusive),
            ),
            // A pass is not the end until V2 serves it.
            (readiness(Evaluated, Some(Decision::Pass), 150), None),
            // A verdict on fewer cases than the evidence holds is stale.
            (
                readiness(Evaluated, Some(Decision::Inconclusive), 100),
                None,
            ),
            (
                readiness(Evaluating, Some(Decision::Inconclusive), 100),
                None,
            ),
            (readiness(Registered, None, 0), None),
        ];
        for (readiness, expected) in cases {
            assert_eq!(settled(&readiness), expected, "{readiness:?}");
        }
    }

    /// (test cases, failures, skipped) as a JUnit reader counts them.
    fn counted(xml: &[u8]) -> (usize, usize, usize) {
        let mut reader = Reader::from_reader(xml);
        let (mut cases, mut failures, mut skipped) = (0, 0, 0);
        let mut buffer = Vec::new();
        loop {
            match reader.read_event_into(&mut buffer).unwrap() {
                Event::Eof => return (cases, failures, skipped),
                Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                    "testcase" => cases += 1,
                    "failure" => failures += 1,
                    "skipped" => skipped += 1,
                    _ => {}
                },
                _ => {}
            }
            buffer.clear();
        }
    }

    #[test]
    fn each_check_is_a_test_case_and_reasons_are_escaped() {
        let checks = vec![
            json!({"name": "accuracy", "outcome": "fail", "reason": "accuracy 90% < 95% & \"plausibly\" <93%"}),
            json!({"name": "error_rate", "outcome": "inconclusive", "reason": "not yet decided"}),
            json!({"name": "latency_p95", "outcome": "pass", "reason": "p95 8 ms"}),
        ];
        let r = readiness(ExperimentStatus::Quarantined, Some(Decision::Fail), 150);
        let xml = junit_xml(&r, &checks, "failed: quarantined").unwrap();
        assert_eq!(counted(&xml), (3, 1, 1));
        let text = String::from_utf8(xml).unwrap();
        assert!(text.contains("&amp;") && text.contains("&lt;93%"), "{text}");
        let none = junit_xml(&r, &[], "timed out: still evaluating").unwrap();
        assert_eq!(counted(&none), (1, 0, 1));
    }
}
