//! Merging two models' findings for the ensemble strategy.

use trizone_core::{Finding, Merge};

use crate::outcome::ReviewFinding;

/// Two findings describe the same problem when their line ranges overlap
/// and their categories agree (case-insensitively).
fn same_problem(a: &Finding, b: &Finding) -> bool {
    a.line_start <= b.line_end
        && b.line_start <= a.line_end
        && a.category.trim().eq_ignore_ascii_case(b.category.trim())
}

/// Union keeps every finding, with `agreement` 2 where both models raised
/// it (the higher severity wins); intersection keeps only those.
pub fn merge(first: Vec<Finding>, second: Vec<Finding>, how: Merge) -> Vec<ReviewFinding> {
    let mut second: Vec<Option<Finding>> = second.into_iter().map(Some).collect();
    let mut merged = Vec::new();
    for mut finding in first {
        let partner = second
            .iter_mut()
            .find(|other| other.as_ref().is_some_and(|o| same_problem(&finding, o)));
        match partner.and_then(Option::take) {
            Some(other) => {
                finding.severity = finding.severity.max(other.severity);
                merged.push(ReviewFinding {
                    finding,
                    agreement: 2,
                });
            }
            None if how == Merge::Union => merged.push(ReviewFinding {
                finding,
                agreement: 1,
            }),
            None => {}
        }
    }
    if how == Merge::Union {
        merged.extend(second.into_iter().flatten().map(|finding| ReviewFinding {
            finding,
            agreement: 1,
        }));
    }
    merged.sort_by_key(|f| (f.finding.line_start, f.finding.line_end));
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use trizone_core::Severity;

    fn finding(start: u32, category: &str, severity: Severity) -> Finding {
        Finding {
            line_start: start,
            line_end: start,
            severity,
            category: category.into(),
            message: format!("at {start}"),
        }
    }

    #[test]
    fn union_counts_agreement_and_keeps_the_higher_severity() {
        let merged = merge(
            vec![
                finding(3, "bug", Severity::Low),
                finding(9, "style", Severity::Info),
            ],
            vec![
                finding(3, "Bug", Severity::High),
                finding(20, "security", Severity::Critical),
            ],
            Merge::Union,
        );
        let summary: Vec<_> = merged
            .iter()
            .map(|f| (f.finding.line_start, f.agreement, f.finding.severity))
            .collect();
        assert_eq!(
            summary,
            [
                (3, 2, Severity::High),
                (9, 1, Severity::Info),
                (20, 1, Severity::Critical)
            ]
        );
    }

    #[test]
    fn intersection_keeps_only_what_both_raised() {
        let merged = merge(
            vec![
                finding(3, "bug", Severity::Low),
                finding(9, "style", Severity::Info),
            ],
            vec![
                finding(3, "bug", Severity::Low),
                finding(9, "bug", Severity::Low),
            ],
            Merge::Intersection,
        );
        assert_eq!(merged.len(), 1);
        assert_eq!((merged[0].finding.line_start, merged[0].agreement), (3, 2));
    }
}
