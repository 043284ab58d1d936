//! Sampling of repeated log lines: a burst of refused requests (a scan, a misconfigured
//! provider retrying with the wrong secret) must not flood the log.
//!
//! Per (source, reason), the first [`BURST`] refusals in each [`WINDOW`] are logged; the rest
//! are counted, and the first line of the next window says how many were left out. Memory is
//! bounded: sources are configured names (or `unknown`) and reasons a fixed set.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(10);
pub const BURST: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log this one; `suppressed` lines of this kind were left out since the last one logged.
    Log {
        suppressed: u64,
    },
    Suppress,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    logged: u32,
    suppressed: u64,
}

#[derive(Debug, Default)]
pub struct Sampler {
    windows: Mutex<HashMap<(String, &'static str), Window>>,
}

impl Sampler {
    pub fn check(&self, source: &str, reason: &'static str, now: Instant) -> Verdict {
        // A poisoned lock only means another thread panicked mid-update; the counts stay usable.
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let window = windows
            .entry((source.to_owned(), reason))
            .or_insert(Window {
                started: now,
                logged: 0,
                suppressed: 0,
            });
        if now.saturating_duration_since(window.started) >= WINDOW {
            window.started = now;
            window.logged = 0;
        }
        if window.logged < BURST {
            window.logged += 1;
            let suppressed = std::mem::take(&mut window.suppressed);
            Verdict::Log { suppressed }
        } else {
            window.suppressed += 1;
            Verdict::Suppress
        }
    }
}

/// The process's sampler for refused-request lines.
pub static REFUSALS: LazyLock<Sampler> = LazyLock::new(Sampler::default);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_cut_after_the_limit_and_the_next_window_reports_what_was_left_out() {
        let sampler = Sampler::default();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(
                sampler.check("gh", "bad_signature", t0),
                Verdict::Log { suppressed: 0 }
            );
        }
        for _ in 0..500 {
            assert_eq!(sampler.check("gh", "bad_signature", t0), Verdict::Suppress);
        }
        // Another reason or source has its own budget.
        assert_eq!(
            sampler.check("gh", "ip_denied", t0),
            Verdict::Log { suppressed: 0 }
        );
        assert_eq!(
            sampler.check("stripe", "bad_signature", t0),
            Verdict::Log { suppressed: 0 }
        );
        assert_eq!(
            sampler.check("gh", "bad_signature", t0 + WINDOW),
            Verdict::Log { suppressed: 500 }
        );
        assert_eq!(
            sampler.check("gh", "bad_signature", t0 + WINDOW),
            Verdict::Log { suppressed: 0 }
        );
    }
}
