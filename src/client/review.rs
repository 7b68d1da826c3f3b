//! `trizone review`: a file reviewed by V2, findings against its lines.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use trizone_api::reviews::{ReviewFinding, ReviewRequest, ReviewResponse};
use trizone_core::Language;

use super::{Servers, Zone, ZoneName, print, typed};

pub async fn review(
    servers: &Servers,
    file: &Path,
    language: Option<Language>,
    json: bool,
) -> anyhow::Result<()> {
    let v2 = Zone::new(servers, ZoneName::V2, "end_user")?;
    let code =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let language = language
        .or_else(|| Language::of_path(&file.to_string_lossy()))
        .context("cannot tell the language from the file name: pass --language")?;
    let request = ReviewRequest {
        language,
        code,
        path: Some(file.display().to_string()),
    };
    let answer = v2
        .post("/api/v2/reviews", &serde_json::to_value(&request)?)
        .await?;
    let review: ReviewResponse = typed(&answer)?;
    print(json, &answer, |out| show(out, file, &request.code, &review))
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
        review.answered_by.join(" and "),
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
            file.display(),
            finding.severity,
            finding.category,
            finding.message
        )?;
        for n in start..=end.min(start + 5) {
            if let Some(line) = usize::try_from(n)
                .ok()
                .and_then(|n| lines.get(n.wrapping_sub(1)))
            {
                writeln!(out, "  {n:>4} | {line}")?;
            }
        }
    }
    writeln!(out, "{}", review.summary)
}
