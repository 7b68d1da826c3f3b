//! Crash injection for the saga's recovery tests, compiled only with the
//! `faults` feature, which only the gate's own tests enable: a production
//! build has no way to make a promotion stop half-way.

use std::sync::{Arc, Mutex, PoisonError};

use crate::error::GateError;

/// The point after which a test can make the gate "die".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// V2 answered ready; nothing written yet.
    HealthChecked,
    /// `smoke_testing` is stored; the smoke test has not been sent.
    SmokeStarted,
    /// `smoke_passed` is stored.
    SmokePassed,
    /// The enabling transaction committed (a direct promotion, or a
    /// rollout's last step).
    Enabled,
    /// The transaction that starts a rollout (shadowing or canary) committed.
    RolloutStarted,
    /// A rollout step passed and the next one's transaction committed.
    StepPassed,
    /// A rollout step failed and the abort's transaction committed.
    StepFailed,
}

/// Crash injection for tests: the saga fails right after the step, as if
/// the process died there.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<Option<Step>>>);

impl Faults {
    pub fn crash_after(&self, step: Step) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(step);
    }

    pub(crate) fn check(&self, step: Step) -> Result<(), GateError> {
        let armed = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if armed == Some(step) {
            return Err(GateError::InjectedCrash(step));
        }
        Ok(())
    }
}
