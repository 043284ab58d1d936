//! The wall clock, read in one place: [`now_ms`] (milliseconds) for stored times and retry
//! schedules, [`unix_now`] (seconds) for signatures and their freshness.
//!
//! Only the edges read it: pure code (signature checks, the retry policy) takes `now` as an
//! argument, so it can be tested at any instant. This module imports nothing from the crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch; 0 for a clock set before 1970.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Seconds since the Unix epoch; 0 for a clock set before 1970.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_readings_agree_to_the_second() {
        let (seconds, millis) = (unix_now(), now_ms());
        assert!(
            millis / 1000 - seconds <= 1,
            "{seconds} s against {millis} ms"
        );
        assert!(seconds > 1_700_000_000);
    }
}
