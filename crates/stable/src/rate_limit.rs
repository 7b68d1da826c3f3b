//! The per-key rate limit on reviews (GCRA, from `governor`). Limits are
//! per replica: the platform's budget divided by the replica count.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use trizone_http::ApiError;

#[derive(Clone)]
pub struct RateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").finish_non_exhaustive()
    }
}

impl RateLimit {
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::dashmap(quota)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one review from `key`'s budget, or says when to come back.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        self.check_n(key, NonZeroU32::MIN)
    }

    /// Takes `n` reviews from `key`'s budget at once, or none. More than
    /// the burst can never pass: that is a 422 on the diff's files, not a
    /// wait.
    pub fn check_n(&self, key: &str, n: NonZeroU32) -> Result<(), ApiError> {
        match self.limiter.check_key_n(&key.to_owned(), n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err(ApiError::RateLimited {
                    retry_after_s: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                })
            }
            Err(_) => Err(ApiError::invalid(
                "files",
                format!("{n} files are more reviews than one key may ask for at once"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_beyond_its_burst_is_told_when_to_retry_and_others_are_not_affected() {
        let limit = RateLimit::new(NonZeroU32::new(60).unwrap(), NonZeroU32::new(2).unwrap());
        assert!(limit.check("a").is_ok());
        assert!(limit.check("a").is_ok());
        match limit.check("a") {
            Err(ApiError::RateLimited { retry_after_s }) => assert_eq!(retry_after_s, 1),
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert!(limit.check("b").is_ok());
        // Two at once fit b's burst only once; three never do.
        let two = NonZeroU32::new(2).unwrap();
        assert!(limit.check_n("c", two).is_ok());
        assert!(matches!(
            limit.check_n("c", two),
            Err(ApiError::RateLimited { .. })
        ));
        let three = NonZeroU32::new(3).unwrap();
        assert!(matches!(
            limit.check_n("d", three),
            Err(ApiError::Unprocessable { .. })
        ));
    }
}
