//! The experiment lifecycle: its states and the transitions between them.
//!
//! The same table is enforced by a trigger on `experiments_v1.experiments`
//! (migration `0002`); a store test checks the two agree.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::Error;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "snake_case")
)]
pub enum ExperimentStatus {
    Registered,
    Evaluating,
    Evaluated,
    Promoted,
    Quarantined,
    Blacklisted,
    Withdrawn,
}

/// Who may make a transition: V1 moves an experiment within V1; only the
/// gate moves it between zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mover {
    Experiment,
    Gate,
}

/// Every allowed transition and who makes it.
pub const TRANSITIONS: &[(ExperimentStatus, ExperimentStatus, Mover)] = {
    use ExperimentStatus::*;
    &[
        (Registered, Evaluating, Mover::Experiment),
        (Registered, Withdrawn, Mover::Experiment),
        (Registered, Blacklisted, Mover::Gate),
        // A run that could not finish (cancelled, every case failed to start).
        (Evaluating, Registered, Mover::Experiment),
        (Evaluating, Evaluated, Mover::Experiment),
        // Another run, e.g. after an inconclusive verdict asked for more cases.
        (Evaluated, Evaluating, Mover::Experiment),
        (Evaluated, Withdrawn, Mover::Experiment),
        (Evaluated, Promoted, Mover::Gate),
        (Evaluated, Quarantined, Mover::Gate),
        (Evaluated, Blacklisted, Mover::Gate),
        // A failed smoke test after PASS, or an SLO breach in production.
        (Promoted, Quarantined, Mover::Gate),
        // Blacklisting a configuration V2 served before (superseded or rolled
        // back): it must never be served again, so it may not stay promoted.
        (Promoted, Blacklisted, Mover::Gate),
        (Quarantined, Blacklisted, Mover::Gate),
    ]
};

impl ExperimentStatus {
    pub const ALL: [Self; 7] = [
        Self::Registered,
        Self::Evaluating,
        Self::Evaluated,
        Self::Promoted,
        Self::Quarantined,
        Self::Blacklisted,
        Self::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "registered",
            Self::Evaluating => "evaluating",
            Self::Evaluated => "evaluated",
            Self::Promoted => "promoted",
            Self::Quarantined => "quarantined",
            Self::Blacklisted => "blacklisted",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Who may move an experiment from `self` to `next`, if anyone.
    pub fn mover_to(self, next: Self) -> Option<Mover> {
        TRANSITIONS
            .iter()
            .find(|(from, to, _)| (*from, *to) == (self, next))
            .map(|t| t.2)
    }

    /// The state after moving to `next`, or why that move is not allowed.
    pub fn transition(self, next: Self, by: Mover) -> Result<Self, Error> {
        match self.mover_to(next) {
            Some(mover) if mover == by => Ok(next),
            _ => Err(Error::Transition {
                from: self,
                to: next,
            }),
        }
    }

    /// Not yet decided by the gate: registered, being evaluated, or
    /// evaluated and waiting for its verdict to be acted on.
    pub fn awaits_decision(self) -> bool {
        matches!(self, Self::Registered | Self::Evaluating | Self::Evaluated)
    }

    /// No transition leaves this state.
    pub fn is_terminal(self) -> bool {
        TRANSITIONS.iter().all(|(from, _, _)| *from != self)
    }

    /// Re-evaluation does not move the experiment: it registers a new one
    /// linked to the quarantine record, which only a quarantined one has.
    pub fn can_be_reevaluated(self) -> bool {
        self == Self::Quarantined
    }
}

impl std::fmt::Display for ExperimentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ExperimentStatus::*;

    #[test]
    fn the_happy_paths_are_allowed_for_their_mover() {
        let path = [
            (Registered, Evaluating, Mover::Experiment),
            (Evaluating, Evaluated, Mover::Experiment),
            (Evaluated, Promoted, Mover::Gate),
        ];
        for (from, to, by) in path {
            assert_eq!(from.transition(to, by).unwrap(), to);
        }
        assert!(Evaluated.transition(Quarantined, Mover::Gate).is_ok());
    }

    #[test]
    fn only_the_gate_moves_between_zones() {
        for to in [Promoted, Quarantined, Blacklisted] {
            assert!(Evaluated.transition(to, Mover::Experiment).is_err(), "{to}");
        }
    }

    #[test]
    fn blacklisted_and_withdrawn_are_terminal() {
        assert!(Blacklisted.is_terminal() && Withdrawn.is_terminal());
        assert!(!Quarantined.is_terminal());
        for to in ExperimentStatus::ALL {
            assert!(Blacklisted.mover_to(to).is_none());
        }
    }

    #[test]
    fn skipping_evaluation_is_refused_with_both_states_named() {
        let error = Registered.transition(Promoted, Mover::Gate).unwrap_err();
        assert_eq!(
            error.to_string(),
            "an experiment cannot go from registered to promoted"
        );
    }

    #[test]
    fn only_quarantined_experiments_can_be_reevaluated() {
        let eligible: Vec<_> = ExperimentStatus::ALL
            .into_iter()
            .filter(|s| s.can_be_reevaluated())
            .collect();
        assert_eq!(eligible, [Quarantined]);
    }

    #[test]
    fn statuses_round_trip_through_text_and_json() {
        for status in ExperimentStatus::ALL {
            assert_eq!(ExperimentStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{status}\"")
            );
        }
    }
}
