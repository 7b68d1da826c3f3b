//! Progressive delivery's plan: how a candidate meets live traffic before
//! it serves everyone. First it shadows (V2 mirrors a sample of requests
//! to it after answering users), then it answers a rising share of
//! requests, one canary step at a time; the last step, 100%, is the
//! promotion itself.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, FieldError};

/// The steps every rollout follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutPlan {
    /// Off: a candidate that passes its smoke test serves everyone at once.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Share of live requests mirrored to the candidate while it shadows,
    /// from 0 to 1; 0 skips the shadow step.
    pub shadow_sample: f64,
    /// Requests each step needs before it can pass, however good they look.
    pub min_requests: u64,
    /// Share of shadow answers that must agree with the stable ones.
    pub min_agreement: f64,
    /// Percent of requests the candidate answers at each canary step:
    /// rising, each in (0, 100], the last exactly 100.
    pub steps: Vec<f64>,
}

fn enabled() -> bool {
    true
}

/// Most canary steps a plan may have.
pub const MAX_STEPS: usize = 10;

impl Default for RolloutPlan {
    /// A fifth of requests shadowed, then a quarter and half of the API
    /// keys before everyone. Shares are taken per key, so the first share
    /// must hold some keys: a quarter of `trizone up`'s 32 end users, or
    /// of a real team's.
    fn default() -> Self {
        Self {
            enabled: true,
            shadow_sample: 0.2,
            min_requests: 20,
            min_agreement: 0.8,
            steps: vec![25.0, 50.0, 100.0],
        }
    }
}

impl RolloutPlan {
    /// Every rule the plan breaks, each naming its field.
    pub fn validate(&self) -> Result<(), Error> {
        let mut errors = Vec::new();
        let share = |value: f64| value.is_finite() && (0.0..=1.0).contains(&value);
        if !share(self.shadow_sample) {
            errors.push(FieldError::new(
                "shadow_sample",
                "must be a share from 0 to 1",
            ));
        }
        if !(share(self.min_agreement) && self.min_agreement > 0.0 && self.min_agreement < 1.0) {
            errors.push(FieldError::new(
                "min_agreement",
                "must be a share above 0 and below 1",
            ));
        }
        if self.min_requests > 1_000_000 {
            errors.push(FieldError::new("min_requests", "must be at most 1000000"));
        }
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            errors.push(FieldError::new(
                "steps",
                format!("must hold 1 to {MAX_STEPS} shares, the last 100"),
            ));
        }
        let mut previous = 0.0;
        for (i, &share) in self.steps.iter().enumerate() {
            if !(share.is_finite() && share > 0.0 && share <= 100.0) {
                errors.push(FieldError::new(
                    format!("steps[{i}]"),
                    "must be a percentage above 0 and at most 100",
                ));
            } else if share <= previous {
                errors.push(FieldError::new(
                    format!("steps[{i}]"),
                    format!("must be above the step before it ({previous})"),
                ));
            }
            previous = share;
        }
        if let Some(&last) = self.steps.last()
            && last != 100.0
        {
            errors.push(FieldError::new(
                format!("steps[{}]", self.steps.len() - 1),
                "the last step must be 100: a rollout ends with the candidate serving everyone",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(errors))
        }
    }

    /// Whether the rollout starts by shadowing.
    pub fn shadows(&self) -> bool {
        self.shadow_sample > 0.0
    }
}

/// Where a rollout is: its step (0 shadowing, then the canary steps from
/// 1) and the share of requests the candidate answers there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stage {
    Shadow {
        sample: f64,
    },
    Canary {
        step: usize,
        share: f64,
    },
    /// The plan's last step: the candidate serves everyone.
    Everyone,
}

impl RolloutPlan {
    /// The stage a rollout is at after passing `passed` steps (the shadow
    /// step counting as one, when the plan shadows).
    pub fn stage(&self, passed: usize) -> Stage {
        let canary = if self.shadows() {
            if passed == 0 {
                return Stage::Shadow {
                    sample: self.shadow_sample,
                };
            }
            passed - 1
        } else {
            passed
        };
        match self.steps.get(canary) {
            Some(&share) if share < 100.0 => Stage::Canary {
                step: canary + 1,
                share,
            },
            _ => Stage::Everyone,
        }
    }
}

/// Whether API key `key` is among the `share` percent that the candidate
/// `deployment` (its id's bytes) answers: a key always lands on the same
/// side for one candidate, and a rising share only ever adds keys.
pub fn in_canary(key: &str, deployment: &[u8], share: f64) -> bool {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(deployment)
        .chain_update(key.as_bytes())
        .finalize();
    let bucket = u16::from_be_bytes([digest[0], digest[1]]) % 10_000;
    f64::from(bucket) < share * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(sample: f64, steps: &[f64]) -> RolloutPlan {
        RolloutPlan {
            enabled: true,
            shadow_sample: sample,
            min_requests: 10,
            min_agreement: 0.8,
            steps: steps.to_vec(),
        }
    }

    fn fields(plan: &RolloutPlan) -> Vec<String> {
        match plan.validate() {
            Ok(()) => Vec::new(),
            Err(Error::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            Err(other) => panic!("{other}"),
        }
    }

    #[test]
    fn a_plan_must_rise_to_100_with_shares_in_range_and_a_sample_in_0_1() {
        assert!(RolloutPlan::default().validate().is_ok());
        assert!(fields(&plan(0.0, &[100.0])).is_empty());
        assert_eq!(fields(&plan(1.5, &[5.0, 100.0])), ["shadow_sample"]);
        assert_eq!(fields(&plan(-0.1, &[100.0])), ["shadow_sample"]);
        assert_eq!(fields(&plan(0.1, &[5.0, 25.0])), ["steps[1]"]);
        assert_eq!(fields(&plan(0.1, &[0.0, 100.0])), ["steps[0]"]);
        assert_eq!(fields(&plan(0.1, &[50.0, 25.0, 100.0])), ["steps[1]"]);
        assert_eq!(fields(&plan(0.1, &[5.0, 150.0])), ["steps[1]", "steps[1]"]);
        assert_eq!(fields(&plan(0.1, &[])), ["steps"]);
    }

    #[test]
    fn stages_go_shadow_then_each_step_then_everyone() {
        let shadowing = plan(0.2, &[5.0, 25.0, 100.0]);
        assert_eq!(shadowing.stage(0), Stage::Shadow { sample: 0.2 });
        assert_eq!(
            shadowing.stage(1),
            Stage::Canary {
                step: 1,
                share: 5.0
            }
        );
        assert_eq!(
            shadowing.stage(2),
            Stage::Canary {
                step: 2,
                share: 25.0
            }
        );
        assert_eq!(shadowing.stage(3), Stage::Everyone);
        let no_shadow = plan(0.0, &[50.0, 100.0]);
        assert_eq!(
            no_shadow.stage(0),
            Stage::Canary {
                step: 1,
                share: 50.0
            }
        );
        assert_eq!(no_shadow.stage(1), Stage::Everyone);
    }

    #[test]
    fn the_canary_share_is_sticky_per_key_and_close_to_its_target() {
        let deployment = 7u128.to_be_bytes();
        let keys: Vec<String> = (0..20_000).map(|i| format!("key-{i}")).collect();
        let inside = |share: f64| {
            keys.iter()
                .filter(|k| in_canary(k, &deployment, share))
                .count()
        };
        // 10% of 20,000 keys: within 1.5 points (about 7 standard errors).
        let ten = inside(10.0);
        assert!((1_700..2_300).contains(&ten), "{ten}");
        // A key in at 10% stays in at 25%, and every key is in at 100%.
        for key in &keys {
            if in_canary(key, &deployment, 10.0) {
                assert!(in_canary(key, &deployment, 25.0));
            }
            assert!(in_canary(key, &deployment, 100.0));
            assert_eq!(
                in_canary(key, &deployment, 10.0),
                in_canary(key, &deployment, 10.0)
            );
        }
    }
}
