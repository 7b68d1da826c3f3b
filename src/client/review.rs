//! `trizone review`: a file or a diff reviewed by V2, findings against
//! their lines, and SARIF for the tools that read it.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use trizone_core::text::escape_line as shown;

use anyhow::Context;
use clap::{ArgGroup, Args};
use trizone_api::reviews::{DiffReviewResponse, ReviewFinding, ReviewRequest, ReviewResponse};
use trizone_api::sarif::SarifLog;
use trizone_core::Language;

use super::{Servers, Zone, ZoneName, print, typed};

/// `trizone review`: one file, or a unified diff.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("input").required(true).args(["file", "diff"])))]
pub struct ReviewArgs {
    #[command(flatten)]
    servers: Servers,
    /// The file to review.
    file: Option<PathBuf>,
    /// Review a unified diff instead (`-` reads it from standard input,
    /// as in `git diff | trizone review --diff -`): each changed file, with
    /// findings on the lines the diff adds.
    #[arg(long, value_name = "DIFF", conflicts_with = "language")]
    diff: Option<PathBuf>,
    /// Default: from the file's extension.
    #[arg(long)]
    language: Option<Language>,
    /// Also write the findings as SARIF 2.1.0 to this file, for code
    /// scanning and editors.
    #[arg(long, value_name = "FILE")]
    sarif: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub async fn review(args: ReviewArgs) -> anyhow::Result<()> {
    let v2 = Zone::new(&args.servers, ZoneName::V2, "end_user")?;
    match (&args.file, &args.diff) {
        (_, Some(diff)) => review_diff(&v2, diff, &args).await,
        (Some(file), None) => review_file(&v2, file, &args).await,
        // clap requires one of the two.
        (None, None) => anyhow::bail!("name a file to review, or pass --diff"),
    }
}

async fn review_file(v2: &Zone, file: &Path, args: &ReviewArgs) -> anyhow::Result<()> {
    let code =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let language = args
        .language
        .or_else(|| Language::of_path(&file.to_string_lossy()))
        .context("cannot tell the language from the file name: pass --language")?;
    let request = ReviewRequest {
        language,
        code,
        path: Some(repository_path(
            file,
            std::env::current_dir().ok().as_deref(),
        )),
    };
    let answer = v2
        .post("/api/v2/reviews", &serde_json::to_value(&request)?)
        .await?;
    let review: ReviewResponse = typed(&answer)?;
    if let Some(out) = &args.sarif {
        write_sarif(
            out,
            &SarifLog::of(&review.deployment, std::slice::from_ref(&review), &[]),
        )?;
    }
    print(args.json, &answer, |out| {
        show(out, file, &request.code, &review)
    })
}

async fn review_diff(v2: &Zone, diff: &Path, args: &ReviewArgs) -> anyhow::Result<()> {
    let text = if diff == Path::new("-") {
        let mut text = Vec::new();
        std::io::stdin()
            .read_to_end(&mut text)
            .context("cannot read the diff from standard input")?;
        text
    } else {
        std::fs::read(diff).with_context(|| format!("cannot read {}", diff.display()))?
    };
    let answer = v2.post_raw("/api/v2/reviews", "text/x-diff", text).await?;
    let reviewed: DiffReviewResponse = typed(&answer)?;
    if let Some(out) = &args.sarif {
        write_sarif(
            out,
            &SarifLog::of(&reviewed.deployment, &reviewed.files, &reviewed.skipped),
        )?;
    }
    print(args.json, &answer, |out| show_diff(out, &reviewed))
}

fn write_sarif(path: &Path, log: &SarifLog) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(log)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// The path V2 is told, which ends up in SARIF: relative to the working
/// directory (the repository's root, as a rule), since V2 keeps paths
/// inside the repository; a file elsewhere is named by its file name.
fn repository_path(file: &Path, cwd: Option<&Path>) -> String {
    let relative = cwd
        .and_then(|cwd| file.strip_prefix(cwd).ok())
        .unwrap_or(file);
    let inside = relative
        .components()
        .all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
    let kept: PathBuf = if inside {
        relative
            .components()
            .filter(|part| matches!(part, Component::Normal(_)))
            .collect()
    } else {
        file.file_name().map(PathBuf::from).unwrap_or_default()
    };
    kept.to_string_lossy().into_owned()
}

/// Each finding as `path:lines [severity] category: message`, then what
/// was not reviewed.
fn show_diff(out: &mut dyn Write, reviewed: &DiffReviewResponse) -> std::io::Result<()> {
    let findings: usize = reviewed.files.iter().map(|f| f.findings.len()).sum();
    let mut answered_by: Vec<&str> = reviewed
        .files
        .iter()
        .flat_map(|f| f.answered_by.iter().map(String::as_str))
        .collect();
    answered_by.sort_unstable();
    answered_by.dedup();
    writeln!(
        out,
        "{} files reviewed by {} (deployment v{}): {findings} findings on added lines",
        reviewed.files.len(),
        if answered_by.is_empty() {
            "no model".to_owned()
        } else {
            shown(&answered_by.join(" and ")).into_owned()
        },
        reviewed.deployment.version,
    )?;
    for file in &reviewed.files {
        let path = shown(file.path.as_deref().unwrap_or("-"));
        if let Some(kind) = file.error_kind {
            writeln!(out, "{path}: not reviewed, no model answered ({kind})")?;
        }
        for ReviewFinding { finding, .. } in &file.findings {
            writeln!(
                out,
                "{path}:{}-{} [{}] {}: {}",
                finding.line_start,
                finding.line_end,
                finding.severity,
                shown(&finding.category),
                shown(&finding.message)
            )?;
        }
    }
    for skipped in &reviewed.skipped {
        writeln!(
            out,
            "skipped {} ({})",
            shown(&skipped.path),
            skipped.reason.as_str()
        )?;
    }
    Ok(())
}

/// Who answered, then each finding with the lines it is about.
fn show(
    out: &mut dyn Write,
    file: &Path,
    code: &str,
    review: &ReviewResponse,
) -> std::io::Result<()> {
    writeln!(
        out,
        "reviewed by {} (deployment v{}, {})",
        shown(&review.answered_by.join(" and ")),
        review.deployment.version,
        review
            .deployment
            .fingerprint
            .get(..12)
            .unwrap_or(&review.deployment.fingerprint)
    )?;
    let lines: Vec<&str> = code.lines().collect();
    for ReviewFinding { finding, .. } in &review.findings {
        let (start, end) = (finding.line_start, finding.line_end.max(finding.line_start));
        writeln!(
            out,
            "{}:{start}-{end} [{}] {}: {}",
            shown(&file.display().to_string()),
            finding.severity,
            shown(&finding.category),
            shown(&finding.message)
        )?;
        for n in start..=end.min(start + 5) {
            if let Some(line) = usize::try_from(n)
                .ok()
                .and_then(|n| lines.get(n.wrapping_sub(1)))
            {
                writeln!(out, "  {n:>4} | {}", shown(line))?;
            }
        }
    }
    writeln!(out, "{}", shown(&review.summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_named_as_a_path_inside_the_repository() {
        let repo = Path::new("/work/repo");
        let name = |file: &str| repository_path(Path::new(file), Some(repo));
        assert_eq!(name("/work/repo/src/app.py"), "src/app.py");
        assert_eq!(name("./src/app.py"), "src/app.py");
        assert_eq!(name("src/app.py"), "src/app.py");
        assert_eq!(name("/tmp/elsewhere/calc.py"), "calc.py");
        assert_eq!(name("../other/calc.py"), "calc.py");
    }

    /// What a steered model or a crafted diff may hold reaches the terminal
    /// (and a CI log) escaped: no line of its own, no escape sequence.
    #[test]
    fn hostile_text_in_a_review_prints_on_its_own_line_escaped() {
        let answer: DiffReviewResponse = serde_json::from_value(serde_json::json!({
            "deployment": {"id": uuid::Uuid::nil(), "version": 3, "fingerprint": "f".repeat(64)},
            "files": [{
                "id": uuid::Uuid::nil(),
                "deployment": {"id": uuid::Uuid::nil(), "version": 3, "fingerprint": "f".repeat(64)},
                "language": "python", "path": "app.py", "outcome": "ok", "error_kind": null,
                "findings": [{"line_start": 1, "line_end": 1, "severity": "high",
                              "category": "bug\n::error title=pwned::owned",
                              "message": "clear \u{1b}[2J \u{1b}]8;;http://e.x\u{7}link", "agreement": 1}],
                "summary": "s\r::warning::x", "answered_by": ["sim/model"],
                "latency_ms": 1.0, "created_at": "2026-12-08T00:00:00Z"
            }],
            "skipped": [{"path": "x\n::error title=pwned::owned\u{1b}[2J.png", "reason": "binary"}],
            "latency_ms": 1.0
        }))
        .unwrap();
        let mut out = Vec::new();
        show_diff(&mut out, &answer).unwrap();
        let printed = String::from_utf8(out).unwrap();
        assert!(!printed.contains('\u{1b}'), "{printed}");
        assert!(
            printed.lines().all(|line| !line.starts_with("::")),
            "{printed}"
        );
        assert!(
            printed.contains("bug\\n::error title=pwned::owned"),
            "{printed}"
        );
        assert!(
            printed.contains("x\\n::error title=pwned::owned\\u{1b}[2J.png"),
            "{printed}"
        );
    }
}
