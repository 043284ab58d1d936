//! The retry policy of SPEC section 3, as a pure function of the attempt and the clock.
//!
//! Delays grow exponentially from `initial`, capped at `max`, with full jitter (a uniform draw
//! in `[0, cap]`) so a downstream outage does not end in a synchronized stampede. A destination's
//! `Retry-After` is a floor. A delivery is dead once it has made `max_attempts` attempts or the
//! next attempt would fall after `max_age` since the event was received (or last replayed).

use std::time::Duration;

use super::Outcome;
use crate::config::Retry;
use crate::store::Recorded;

/// Decides what to record after attempt number `attempt` (1 for the first) ended in `outcome`.
/// `jitter` is a uniform draw in `[0, 1)`; the caller passes randomness in so this stays pure.
pub fn decide(
    policy: &Retry,
    attempt: u32,
    received_at_ms: i64,
    now_ms: i64,
    outcome: Outcome,
    jitter: f64,
) -> Recorded {
    let (error, retry_after) = match outcome {
        Outcome::Delivered => return Recorded::Delivered,
        Outcome::Dead { error } => return Recorded::Dead { error },
        Outcome::Retry { error, retry_after } => (error, retry_after),
    };
    if attempt >= policy.max_attempts {
        return Recorded::Dead {
            error: format!("{error} (gave up after {attempt} attempts)"),
        };
    }
    let delay = backoff(policy, attempt, jitter).max(retry_after.unwrap_or(Duration::ZERO));
    let at_ms = now_ms.saturating_add(millis(delay));
    let deadline = received_at_ms.saturating_add(millis(policy.max_age));
    if at_ms > deadline {
        return Recorded::Dead {
            error: format!("{error} (max_age reached)"),
        };
    }
    Recorded::Retry { at_ms, error }
}

/// Full-jitter backoff after attempt number `attempt`: uniform in `[0, min(max, initial·2^(n-1))]`.
pub fn backoff(policy: &Retry, attempt: u32, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(63);
    let cap = policy
        .initial
        .checked_mul(1u32.checked_shl(exponent.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(policy.max)
        .min(policy.max);
    cap.mul_f64(jitter.clamp(0.0, 1.0))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Retry {
        Retry {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(600),
            max_attempts: 5,
            max_age: Duration::from_secs(3600),
        }
    }

    fn retry(after: Option<u64>) -> Outcome {
        Outcome::Retry {
            error: "HTTP 503".into(),
            retry_after: after.map(Duration::from_secs),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_scales_within_it() {
        let p = policy();
        assert_eq!(backoff(&p, 1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(&p, 2, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(&p, 5, 1.0), Duration::from_secs(16));
        assert_eq!(backoff(&p, 20, 1.0), Duration::from_secs(600));
        assert_eq!(backoff(&p, 1000, 1.0), Duration::from_secs(600));
        assert_eq!(backoff(&p, 5, 0.0), Duration::ZERO);
        assert_eq!(backoff(&p, 5, 0.5), Duration::from_secs(8));
    }

    #[test]
    fn a_transient_failure_is_retried_later_and_dead_after_max_attempts() {
        let p = policy();
        assert_eq!(
            decide(&p, 1, 0, 1000, retry(None), 1.0),
            Recorded::Retry {
                at_ms: 2000,
                error: "HTTP 503".into()
            }
        );
        assert!(matches!(
            decide(&p, 5, 0, 1000, retry(None), 1.0),
            Recorded::Dead { .. }
        ));
    }

    #[test]
    fn retry_after_is_a_floor_for_the_next_attempt() {
        let p = policy();
        assert_eq!(
            decide(&p, 1, 0, 1000, retry(Some(30)), 0.0),
            Recorded::Retry {
                at_ms: 31_000,
                error: "HTTP 503".into()
            }
        );
    }

    #[test]
    fn a_retry_past_max_age_is_dead() {
        let p = policy();
        assert!(matches!(
            decide(&p, 1, 0, 3_599_500, retry(None), 1.0),
            Recorded::Dead { .. }
        ));
        assert!(matches!(
            decide(&p, 1, 0, 1000, retry(Some(7200)), 0.0),
            Recorded::Dead { .. }
        ));
    }

    #[test]
    fn delivered_and_dead_outcomes_pass_through() {
        let p = policy();
        assert_eq!(
            decide(&p, 1, 0, 0, Outcome::Delivered, 0.5),
            Recorded::Delivered
        );
        assert_eq!(
            decide(
                &p,
                1,
                0,
                0,
                Outcome::Dead {
                    error: "HTTP 400".into()
                },
                0.5
            ),
            Recorded::Dead {
                error: "HTTP 400".into()
            }
        );
    }
}
