//! `trizone run cases`: a run's per-case results, readable in a terminal
//! or as JSON lines for scripts.

use std::io::Write;

use trizone_api::runs::{CasePage, CaseResult};
use trizone_api::states::CaseOutcome;

use super::{Zone, typed, with_query};

/// How much of a raw answer a terminal shows.
const ANSWER_SHOWN: usize = 240;

/// Every case of `run` (only those wrong or in error, when `failed`), in
/// case id order, printed as `jsonl` or for reading.
pub async fn show(v1: &Zone, run: &str, failed: bool, jsonl: bool) -> anyhow::Result<()> {
    let outcomes: &[Option<CaseOutcome>] = if failed {
        &[Some(CaseOutcome::Wrong), Some(CaseOutcome::Error)]
    } else {
        &[None]
    };
    let mut cases = Vec::new();
    for outcome in outcomes {
        cases.extend(all(v1, run, *outcome).await?);
    }
    cases.sort_by(|a, b| a.case_id.cmp(&b.case_id));
    let mut out = std::io::stdout().lock();
    for case in &cases {
        if jsonl {
            writeln!(out, "{}", serde_json::to_string(case)?)?;
        } else {
            describe(&mut out, case)?;
        }
    }
    if !jsonl {
        writeln!(out, "{} cases", cases.len())?;
    }
    Ok(())
}

/// Every page of the run's cases with `outcome`.
async fn all(
    v1: &Zone,
    run: &str,
    outcome: Option<CaseOutcome>,
) -> anyhow::Result<Vec<CaseResult>> {
    let mut cases = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = with_query(
            &format!("/api/v1/runs/{run}/cases"),
            &[
                ("limit", Some("500")),
                ("outcome", outcome.map(CaseOutcome::as_str)),
                ("after", after.as_deref()),
            ],
        );
        let page: CasePage = typed(&v1.get(&path).await?)?;
        cases.extend(page.cases);
        match page.next_after {
            Some(next) => after = Some(next),
            None => return Ok(cases),
        }
    }
}

/// A case, its findings side by side with what was expected.
fn describe(out: &mut dyn Write, case: &CaseResult) -> std::io::Result<()> {
    let cost = case
        .cost_usd
        .map_or_else(|| "-".to_owned(), |c| format!("${c:.5}"));
    let latency = case
        .latency_ms
        .map_or_else(|| "-".to_owned(), |l| format!("{l:.0} ms"));
    writeln!(
        out,
        "{}  {}  {}  {}  tp {} fp {} fn {}  {latency}  {cost}{}",
        case.case_id,
        case.language,
        case.path,
        case.outcome,
        case.true_positives,
        case.false_positives,
        case.false_negatives,
        case.format_recovery
            .map(|r| format!("  (recovered: {r})"))
            .unwrap_or_default(),
    )?;
    for (i, expected) in case.expected.iter().enumerate() {
        let matched = case.matches.iter().any(|m| m.1 == i);
        writeln!(
            out,
            "  expected {}-{} {}{}{}",
            expected.line_start,
            expected.line_end,
            expected.category,
            if expected.description.is_empty() {
                ""
            } else {
                ": "
            },
            expected.description,
        )?;
        if !matched && case.outcome != CaseOutcome::NotNeeded {
            writeln!(out, "           missed")?;
        }
    }
    for (i, found) in case.found.iter().enumerate() {
        let matched = case.matches.iter().find(|m| m.0 == i);
        writeln!(
            out,
            "  found    {}-{} {} ({}): {}  [{}]",
            found.line_start,
            found.line_end,
            found.category,
            found.severity,
            found.message,
            match matched {
                Some((_, e)) => format!("matches expected {}", e + 1),
                None => "no match".to_owned(),
            }
        )?;
    }
    if let Some(kind) = &case.error_kind {
        writeln!(
            out,
            "  error    {kind}: {}",
            case.error_message.as_deref().unwrap_or("")
        )?;
    }
    if let Some(answer) = &case.answer {
        let shown: String = answer.chars().take(ANSWER_SHOWN).collect();
        let more = if answer.chars().count() > ANSWER_SHOWN {
            " …"
        } else {
            ""
        };
        writeln!(out, "  answer   {}{more}", shown.replace('\n', "\\n"))?;
    }
    Ok(())
}
