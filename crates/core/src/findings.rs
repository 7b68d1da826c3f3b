//! Review findings, and scoring predicted findings against expected ones.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// The router derives the JSON schema providers' structured outputs hold
// models to from this type: its doc comments are what a model reads.
/// One problem a model found in the code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// First line of the problem, counting from 1.
    #[schemars(range(min = 1))]
    pub line_start: u32,
    /// Last line of the problem, at or after `line_start`.
    #[schemars(range(min = 1))]
    pub line_end: u32,
    pub severity: Severity,
    /// A short kind of problem: bug, security, performance, style.
    pub category: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// A finding a dataset case expects. `description` is for scoring reports
/// only and must never reach a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFinding {
    pub line_start: u32,
    pub line_end: u32,
    pub category: String,
    #[serde(default)]
    pub description: String,
}

/// How predicted findings are matched to expected ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MatchPolicy {
    /// Lines of slack on either side of an expected range.
    pub line_tolerance: u32,
    /// Whether a match also needs the same category (case-insensitive).
    pub require_category: bool,
}

impl Default for MatchPolicy {
    fn default() -> Self {
        Self {
            line_tolerance: 2,
            require_category: false,
        }
    }
}

/// The score of one case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaseScore {
    /// Expected findings matched by a prediction.
    pub true_positives: u32,
    /// Predictions that match no expected finding at all.
    pub false_positives: u32,
    /// Expected findings no prediction matched.
    pub false_negatives: u32,
    /// Extra predictions on an already matched expected finding: neither
    /// credited nor penalised, since models often describe one bug twice.
    pub duplicates: u32,
    /// `(predicted index, expected index)` of each match.
    pub matches: Vec<(usize, usize)>,
}

impl CaseScore {
    /// Every expected finding matched and no false positive raised.
    pub fn correct(&self) -> bool {
        self.false_negatives == 0 && self.false_positives == 0
    }
}

impl MatchPolicy {
    fn matches(&self, predicted: &Finding, expected: &ExpectedFinding) -> bool {
        let start = expected
            .line_start
            .min(expected.line_end)
            .saturating_sub(self.line_tolerance);
        let end = expected
            .line_start
            .max(expected.line_end)
            .saturating_add(self.line_tolerance);
        let (p_start, p_end) = (
            predicted.line_start.min(predicted.line_end),
            predicted.line_start.max(predicted.line_end),
        );
        let overlaps = p_start <= end && p_end >= start;
        overlaps
            && (!self.require_category
                || normalize_category(&predicted.category)
                    == normalize_category(&expected.category))
    }
}

/// Longest category kept.
pub const MAX_CATEGORY_CHARS: usize = 64;

/// A category as it is kept and compared: lowercase ASCII letters, digits,
/// `-`, `_` and single spaces, at most [`MAX_CATEGORY_CHARS`]; any other
/// character becomes `-`. A model's category reaches SARIF's rule ids,
/// terminals and CI logs, so it must not carry line breaks, escapes or
/// markup; `unspecified` stands for one with nothing left.
pub fn normalize_category(category: &str) -> String {
    let mut normalized = String::with_capacity(category.len().min(MAX_CATEGORY_CHARS));
    for c in category.trim().chars().take(MAX_CATEGORY_CHARS) {
        let c = match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-' | '_') => c,
            c if c.is_whitespace() => ' ',
            _ => '-',
        };
        if !(c == ' ' && normalized.ends_with(' ')) {
            normalized.push(c);
        }
    }
    let trimmed = normalized.trim_end().len();
    normalized.truncate(trimmed);
    if normalized.is_empty() {
        normalized.push_str("unspecified");
    }
    normalized
}

/// Scores a case with a maximum one-to-one matching, so one broad finding
/// cannot claim several expected ones and the order of findings never
/// changes the score.
pub fn score_case(
    expected: &[ExpectedFinding],
    predicted: &[Finding],
    policy: MatchPolicy,
) -> CaseScore {
    let candidates: Vec<Vec<usize>> = predicted
        .iter()
        .map(|p| {
            (0..expected.len())
                .filter(|&e| policy.matches(p, &expected[e]))
                .collect()
        })
        .collect();
    let mut owner_of_expected: Vec<Option<usize>> = vec![None; expected.len()];
    for p in 0..predicted.len() {
        let mut seen = vec![false; expected.len()];
        augment(p, &candidates, &mut owner_of_expected, &mut seen);
    }
    let matches: Vec<(usize, usize)> = owner_of_expected
        .iter()
        .enumerate()
        .filter_map(|(e, owner)| owner.map(|p| (p, e)))
        .collect();
    let matched = matches.len() as u32;
    let unmatched_predictions = candidates
        .iter()
        .enumerate()
        .filter(|(p, _)| !matches.iter().any(|m| m.0 == *p));
    let (mut duplicates, mut false_positives) = (0, 0);
    for (_, options) in unmatched_predictions {
        if options.is_empty() {
            false_positives += 1;
        } else {
            duplicates += 1;
        }
    }
    CaseScore {
        true_positives: matched,
        false_positives,
        false_negatives: expected.len() as u32 - matched,
        duplicates,
        matches,
    }
}

/// Kuhn's augmenting path: findings per case are few, so O(V·E) is ample.
fn augment(
    p: usize,
    candidates: &[Vec<usize>],
    owner: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    for &e in &candidates[p] {
        if seen[e] {
            continue;
        }
        seen[e] = true;
        if owner[e].is_none_or(|other| augment(other, candidates, owner, seen)) {
            owner[e] = Some(p);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_severity_prints_as_it_is_serialized() {
        for severity in [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ] {
            assert_eq!(
                serde_json::to_string(&severity).unwrap(),
                format!("\"{severity}\"")
            );
        }
    }

    fn expected(start: u32, end: u32) -> ExpectedFinding {
        ExpectedFinding {
            line_start: start,
            line_end: end,
            category: "bug".into(),
            description: String::new(),
        }
    }

    #[test]
    fn categories_are_kept_as_plain_lowercase_words() {
        assert_eq!(normalize_category(" SQL Injection "), "sql injection");
        assert_eq!(normalize_category("null/undefined"), "null-undefined");
        assert_eq!(
            normalize_category("x\n::error title=pwned::\u{1b}[2J"),
            "x --error title-pwned----2j"
        );
        assert_eq!(normalize_category("[a](http://e.x)"), "-a--http---e-x-");
        assert_eq!(normalize_category(" \n "), "unspecified");
        assert_eq!(
            normalize_category(&"a".repeat(500)).len(),
            MAX_CATEGORY_CHARS
        );
    }

    fn found(start: u32, end: u32, category: &str) -> Finding {
        Finding {
            line_start: start,
            line_end: end,
            severity: Severity::High,
            category: category.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn a_clean_case_with_no_findings_is_correct() {
        assert!(score_case(&[], &[], MatchPolicy::default()).correct());
    }

    #[test]
    fn a_finding_on_clean_code_is_a_false_positive() {
        let score = score_case(&[], &[found(3, 3, "style")], MatchPolicy::default());
        assert_eq!((score.false_positives, score.correct()), (1, false));
    }

    #[test]
    fn lines_match_within_the_tolerance_only() {
        let policy = MatchPolicy::default();
        assert_eq!(
            score_case(&[expected(10, 10)], &[found(12, 12, "bug")], policy).true_positives,
            1
        );
        let far = score_case(&[expected(10, 10)], &[found(13, 14, "bug")], policy);
        assert_eq!(
            (far.true_positives, far.false_negatives, far.false_positives),
            (0, 1, 1)
        );
    }

    #[test]
    fn one_broad_finding_cannot_claim_two_expected_ones() {
        let score = score_case(
            &[expected(5, 5), expected(9, 9)],
            &[found(1, 20, "bug")],
            MatchPolicy::default(),
        );
        assert_eq!((score.true_positives, score.false_negatives), (1, 1));
        assert!(!score.correct());
    }

    #[test]
    fn matching_is_maximal_whatever_the_order() {
        // The broad finding could take either; the narrow one only the first.
        let exp = [expected(5, 5), expected(9, 9)];
        let forward = score_case(
            &exp,
            &[found(1, 20, "bug"), found(5, 5, "bug")],
            MatchPolicy::default(),
        );
        let backward = score_case(
            &exp,
            &[found(5, 5, "bug"), found(1, 20, "bug")],
            MatchPolicy::default(),
        );
        assert_eq!(forward.true_positives, 2);
        assert_eq!(backward.true_positives, 2);
        assert!(forward.correct() && backward.correct());
    }

    #[test]
    fn a_second_finding_on_the_same_bug_is_a_duplicate_not_a_false_positive() {
        let score = score_case(
            &[expected(5, 6)],
            &[found(5, 5, "bug"), found(6, 6, "bug")],
            MatchPolicy::default(),
        );
        assert_eq!(
            (
                score.true_positives,
                score.duplicates,
                score.false_positives
            ),
            (1, 1, 0)
        );
        assert!(score.correct());
    }

    #[test]
    fn categories_count_only_when_the_policy_says_so() {
        let strict = MatchPolicy {
            require_category: true,
            ..MatchPolicy::default()
        };
        assert_eq!(
            score_case(&[expected(5, 5)], &[found(5, 5, "Security")], strict).true_positives,
            0
        );
        assert_eq!(
            score_case(&[expected(5, 5)], &[found(5, 5, " BUG ")], strict).true_positives,
            1
        );
        assert_eq!(
            score_case(
                &[expected(5, 5)],
                &[found(5, 5, "Security")],
                MatchPolicy::default()
            )
            .true_positives,
            1
        );
    }
}
