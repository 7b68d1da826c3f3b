//! Reviewing a unified diff: each changed file's hunks are reviewed as one
//! excerpt of the new file, a review of its own, and only findings on
//! lines the diff adds are kept, numbered as in the new file.

use std::num::NonZeroU32;
use std::time::Instant;

use futures::StreamExt;
use trizone_api::reviews::{DiffReviewResponse, ReviewRequest, ReviewResponse, SkippedFile};
use trizone_api::states::SkipReason;
use trizone_core::Language;
use trizone_http::ApiError;

use crate::active::Pick;
use crate::diff::{self, Excerpt, FileDiff, FileKind};
use crate::serving;
use crate::state::AppState;

/// Files reviewed at once: enough to hide the models' latency, few enough
/// that one large diff does not hold every provider connection.
const FILES_AT_ONCE: usize = 8;

/// A changed file V2 will review.
struct ToReview {
    path: String,
    language: Language,
    excerpt: Excerpt,
}

/// Reviews `diff` for `requested_by` with the active configuration; every
/// file's review is recorded. Fails as a single review does only when no
/// file could be reviewed by any model.
pub async fn review(
    state: &AppState,
    diff: String,
    requested_by: &str,
) -> Result<DiffReviewResponse, ApiError> {
    let started = Instant::now();
    let limits = &state.limits;
    if diff.len() > limits.diff_bytes {
        return Err(ApiError::PayloadTooLarge {
            message: format!(
                "diff is {} bytes; at most {} are reviewed",
                diff.len(),
                limits.diff_bytes
            ),
            field: Some("diff".into()),
        });
    }
    // Charged before any work, by size: reading a diff costs V2 in
    // proportion to its bytes whether or not a file of it is reviewed.
    let upfront = charge_for(diff.len(), limits.rate_burst);
    state
        .rate_limit
        .check_n(requested_by, upfront)
        .inspect_err(|_| state.metrics.rate_limited.inc())?;
    let (to_review, skipped) = read(state, diff).await?;
    // Each file reviewed is one review; what the size paid covers some.
    let more = to_review.len().saturating_sub(upfront.get() as usize);
    if let Some(n) = u32::try_from(more).ok().and_then(NonZeroU32::new) {
        state
            .rate_limit
            .check_n(requested_by, n)
            .inspect_err(|_| state.metrics.rate_limited.inc())?;
    }
    let pick = state
        .active
        .pick(requested_by)
        .ok_or_else(crate::reviews::no_deployment)?;
    let reviewed: Vec<(ReviewResponse, Option<ApiError>)> =
        futures::stream::iter(to_review.into_iter().map(|file| {
            let pick = &pick;
            async move { review_file(state, pick, file, requested_by).await }
        }))
        .buffered(FILES_AT_ONCE)
        .collect()
        .await;
    let mut failures = Vec::new();
    let mut reviews = Vec::with_capacity(reviewed.len());
    for (review, failure) in reviewed {
        failures.extend(failure);
        reviews.push(review);
    }
    if !reviews.is_empty() && failures.len() == reviews.len() {
        return Err(failures.swap_remove(0));
    }
    Ok(DiffReviewResponse {
        deployment: pick.serving.deployment_ref(),
        files: reviews,
        skipped,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// Bytes of diff that cost one review of the sender's rate limit.
pub const CHARGE_BYTES: usize = 64 * 1024;

/// Diffs at least this large are read on a blocking thread.
const READ_INLINE_BYTES: usize = 64 * 1024;

/// What reading `bytes` of diff costs: one review per [`CHARGE_BYTES`]
/// begun, at most the burst (a larger diff is refused by its size).
fn charge_for(bytes: usize, burst: NonZeroU32) -> NonZeroU32 {
    let units = u32::try_from(bytes.div_ceil(CHARGE_BYTES)).unwrap_or(u32::MAX);
    NonZeroU32::new(units).unwrap_or(NonZeroU32::MIN).min(burst)
}

/// Parses `diff` and sorts its files, within the limits. A large diff is
/// read on a blocking thread, a few at a time, so that one sender's
/// megabytes never hold the workers every other request needs.
async fn read(
    state: &AppState,
    diff: String,
) -> Result<(Vec<ToReview>, Vec<SkippedFile>), ApiError> {
    let limits = state.limits;
    if diff.len() < READ_INLINE_BYTES {
        return sort_diff(&diff, &limits);
    }
    let _permit = state
        .diff_reading
        .acquire()
        .await
        .map_err(|_| ApiError::Unavailable {
            message: "the service is stopping".into(),
        })?;
    tokio::task::spawn_blocking(move || sort_diff(&diff, &limits))
        .await
        .map_err(ApiError::internal)?
}

fn sort_diff(
    diff: &str,
    limits: &crate::config::ServiceLimits,
) -> Result<(Vec<ToReview>, Vec<SkippedFile>), ApiError> {
    let files = diff::parse(diff, limits.diff_lines)
        .map_err(|error| ApiError::invalid("diff", error.to_string()))?;
    if files.len() > limits.diff_files {
        return Err(ApiError::invalid(
            "files",
            format!(
                "the diff changes {} files; at most {} are reviewed at once",
                files.len(),
                limits.diff_files
            ),
        ));
    }
    let hunks: usize = files.iter().map(|f| f.hunks.len()).sum();
    if hunks > limits.diff_hunks {
        return Err(ApiError::invalid(
            "hunks",
            format!(
                "the diff has {hunks} hunks; at most {} are reviewed at once",
                limits.diff_hunks
            ),
        ));
    }
    sort(files, limits.code_bytes)
}

/// The files to review, and those skipped with the reason.
fn sort(
    files: Vec<FileDiff>,
    code_limit: usize,
) -> Result<(Vec<ToReview>, Vec<SkippedFile>), ApiError> {
    let mut to_review = Vec::new();
    let mut skipped = Vec::new();
    for (i, file) in files.into_iter().enumerate() {
        // A skipped file's path is answered and printed too.
        crate::reviews::check_path(&file.path, &format!("files[{i}].path"))?;
        let reason = match file.kind {
            FileKind::Binary => Some(SkipReason::Binary),
            FileKind::Deleted => Some(SkipReason::Deleted),
            FileKind::Text if file.added_lines() == 0 => Some(SkipReason::NothingAdded),
            FileKind::Text => None,
        };
        let (None, Some(language)) = (reason, Language::of_path(&file.path)) else {
            skipped.push(SkippedFile {
                path: file.path,
                reason: reason.unwrap_or(SkipReason::UnknownLanguage),
            });
            continue;
        };
        let excerpt = file.excerpt();
        if excerpt.code.len() > code_limit {
            return Err(ApiError::PayloadTooLarge {
                message: format!(
                    "the hunks of {} are {} bytes; at most {code_limit} are reviewed per file",
                    file.path,
                    excerpt.code.len()
                ),
                field: Some(format!("files[{i}]")),
            });
        }
        to_review.push(ToReview {
            path: file.path,
            language,
            excerpt,
        });
    }
    Ok((to_review, skipped))
}

/// Reviews one file's excerpt, places its findings on the new file's
/// added lines and records it; the error is the one a single review of it
/// would have answered.
async fn review_file(
    state: &AppState,
    pick: &Pick,
    mut file: ToReview,
    requested_by: &str,
) -> (ReviewResponse, Option<ApiError>) {
    // Placing findings needs the excerpt's line map, not its text.
    let request = ReviewRequest {
        language: file.language,
        code: std::mem::take(&mut file.excerpt.code),
        path: Some(file.path),
    };
    let (role, mut served) = serving::answer(state, pick, request, requested_by).await;
    // Mirrored as reviewed: the candidate is compared on the same excerpt.
    serving::mirror(state, pick, &served);
    if let Ok(review) = &mut served.reviewed.result {
        review.findings.retain_mut(|found| {
            let placed = file
                .excerpt
                .place(found.finding.line_start, found.finding.line_end);
            if let Some((start, end)) = placed {
                (found.finding.line_start, found.finding.line_end) = (start, end);
            }
            placed.is_some()
        });
    }
    serving::record(state, role, served, ReviewResponse::clone)
}
