//! The order a run sends its cases in: a permutation of the dataset drawn
//! from the run's seed. Judging a run while it is under way is only sound
//! if the cases seen so far are a random sample of the dataset, not its
//! first rows as uploaded (which may be sorted by difficulty or language).
//! The permutation covers the whole dataset, so a resumed run keeps the
//! order it started with.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use trizone_store::datasets::Case;

/// `pending` (any subset of the cases of a dataset of `dataset_size`) in
/// the order `seed` gives the whole dataset.
pub fn seeded(mut pending: Vec<Case>, dataset_size: usize, seed: i64) -> Vec<Case> {
    // Ordinals are 0..dataset_size; the max guards a count that lags them.
    let size = pending
        .iter()
        .map(|c| usize::try_from(c.ordinal).unwrap_or(0) + 1)
        .max()
        .unwrap_or(0)
        .max(dataset_size);
    let mut positions: Vec<usize> = (0..size).collect();
    positions.shuffle(&mut ChaCha8Rng::seed_from_u64(seed.cast_unsigned()));
    // positions[i] is the ordinal sent i-th; invert it to rank each ordinal.
    let mut rank = vec![0; size];
    for (place, ordinal) in positions.into_iter().enumerate() {
        rank[ordinal] = place;
    }
    pending.sort_by_key(|c| rank[usize::try_from(c.ordinal).unwrap_or(0)]);
    pending
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(ordinals: impl IntoIterator<Item = i32>) -> Vec<Case> {
        ordinals
            .into_iter()
            .map(|ordinal| Case {
                ordinal,
                case_id: format!("case-{ordinal}"),
                language: trizone_core::Language::Python,
                path: "a.py".into(),
                code: String::new(),
                expected_findings: Vec::new(),
                case_key: String::new(),
            })
            .collect()
    }

    fn ordinals(cases: &[Case]) -> Vec<i32> {
        cases.iter().map(|c| c.ordinal).collect()
    }

    #[test]
    fn a_seed_fixes_the_order_and_another_seed_changes_it() {
        let first = ordinals(&seeded(cases(0..200), 200, 7));
        assert_eq!(first, ordinals(&seeded(cases(0..200), 200, 7)));
        assert_ne!(first, ordinals(&seeded(cases(0..200), 200, 8)));
        assert_ne!(first, (0..200).collect::<Vec<_>>(), "not upload order");
        let mut sorted = first.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..200).collect::<Vec<_>>(), "a permutation");
    }

    #[test]
    fn a_resumed_run_keeps_the_order_it_started_with() {
        let full = ordinals(&seeded(cases(0..100), 100, 42));
        // Half done, whichever half: the rest comes in the same relative
        // order, however the store returned it.
        let rest: Vec<i32> = full[50..].to_vec();
        let resumed = ordinals(&seeded(cases(rest.iter().rev().copied()), 100, 42));
        assert_eq!(resumed, rest);
    }
}
