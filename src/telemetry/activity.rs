//! What the operator console's overview counts: webhook answers per source and outcome, per
//! minute over the last hour and per quarter hour over the last day, in memory, for this
//! process since its start (SPEC section 11; docs/console.md says so to the reader).
//!
//! The webhook path pays one lock-free lookup and one compare-and-swap per resolution per answer
//! ([`record`], called from `pipeline::observe`): no lock, no allocation, except the first answer
//! of a source never seen before, which registers it. Each counter is one `AtomicU64` holding
//! the bucket it counts (high 32 bits) and the count (low 32 bits), so moving to a new minute
//! and counting in it is one atomic step: no count is lost or carried across a bucket boundary.
//!
//! Bounded like the metrics' labels: the source is a configured name or `unknown`, at most
//! [`MAX_SOURCES`] of them (later ones are not counted); outcomes are the fixed [`OUTCOMES`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use arc_swap::ArcSwap;

/// What an answer counts as: `accepted`, `duplicate`, then each refusal reason of
/// `RejectionKind::reason`, then `other` (handshakes, proxied answers). Received is their sum.
pub const OUTCOMES: &[&str] = &[
    "accepted",
    "duplicate",
    "not_found",
    "overloaded",
    "https_required",
    "ip_denied",
    "rate_limited",
    "bad_payload",
    "too_large",
    "timeout",
    "bad_signature",
    "stale_timestamp",
    "schema_invalid",
    "store_unavailable",
    "destination_failed",
    "other",
];
/// Index of `other` in [`OUTCOMES`].
const OTHER: usize = OUTCOMES.len() - 1;
/// The most sources counted; a reload that adds sources past it leaves the newest uncounted.
pub const MAX_SOURCES: usize = 1024;

/// One resolution of the ring: `slots` buckets of `width_minutes` each.
struct Ring {
    width_minutes: u64,
    slots: usize,
    /// `slots × OUTCOMES.len()` tagged counters (bucket number << 32 | count).
    cells: Box<[AtomicU64]>,
}

impl Ring {
    fn new(width_minutes: u64, slots: usize) -> Ring {
        Ring {
            width_minutes,
            slots,
            cells: (0..slots * OUTCOMES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        }
    }

    fn bucket(&self, minute: u64) -> u64 {
        minute / self.width_minutes
    }

    fn cell(&self, bucket: u64, outcome: usize) -> &AtomicU64 {
        // `bucket % slots` < slots and `outcome` < OUTCOMES.len(): always in bounds.
        let slot = (bucket % self.slots as u64) as usize;
        &self.cells[slot * OUTCOMES.len() + outcome]
    }

    fn add(&self, minute: u64, outcome: usize) {
        let bucket = self.bucket(minute) & 0xffff_ffff;
        let cell = self.cell(bucket, outcome);
        // A bucket tag that is not this bucket's is an old bucket of this slot: start it at 1.
        let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |packed| {
            Some(if packed >> 32 == bucket {
                packed.saturating_add(1)
            } else {
                (bucket << 32) | 1
            })
        });
    }

    /// The count of `outcome` in `bucket` (0 when the slot holds another bucket).
    fn get(&self, bucket: u64, outcome: usize) -> u64 {
        let bucket = bucket & 0xffff_ffff;
        let packed = self.cell(bucket, outcome).load(Ordering::Relaxed);
        if packed >> 32 == bucket {
            packed & 0xffff_ffff
        } else {
            0
        }
    }
}

/// One source's counters.
struct SourceActivity {
    /// 60 one-minute buckets: the last hour, and the chart.
    minutes: Ring,
    /// 97 quarter-hour buckets: the last 24 hours (the current quarter is partial).
    quarters: Ring,
}

impl SourceActivity {
    fn new() -> SourceActivity {
        SourceActivity {
            minutes: Ring::new(1, 60),
            quarters: Ring::new(15, 97),
        }
    }
}

/// Counts per outcome, indexed like [`OUTCOMES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts(pub Vec<u64>);

impl Counts {
    fn zero() -> Counts {
        Counts(vec![0; OUTCOMES.len()])
    }

    /// Every answer counted.
    pub fn received(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The count of the outcome named `name` (0 for a name not in [`OUTCOMES`]).
    pub fn of(&self, name: &str) -> u64 {
        OUTCOMES
            .iter()
            .position(|o| *o == name)
            .map_or(0, |i| self.0[i])
    }

    /// Refusals: every outcome but `accepted`, `duplicate` and `other`.
    pub fn refused(&self) -> u64 {
        self.0[2..OTHER].iter().sum()
    }

    /// The refusal reasons with a count above zero.
    pub fn refusals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        OUTCOMES[2..OTHER]
            .iter()
            .zip(&self.0[2..OTHER])
            .filter(|(_, n)| **n > 0)
            .map(|(name, n)| (*name, *n))
    }
}

/// One source's activity as the overview shows it.
#[derive(Debug, Clone)]
pub struct Summary {
    pub last_hour: Counts,
    pub last_day: Counts,
    /// Answers per minute, oldest first, the current minute last (60 values).
    pub per_minute: Vec<u64>,
}

/// Every source's counters.
pub struct Activity {
    sources: ArcSwap<HashMap<Arc<str>, Arc<SourceActivity>>>,
    /// Serialises registrations (the first answer of a new source), never taken to count.
    registering: Mutex<()>,
}

/// The process's activity counters.
pub static ACTIVITY: LazyLock<Activity> = LazyLock::new(Activity::new);

/// Counts one webhook answer of `source` (`outcome` is `RequestOutcome`'s, `reason` the
/// refusal's when there is one) at the wall clock's current minute.
pub fn record(source: &str, outcome: &str, reason: Option<&str>) {
    ACTIVITY.record_at(source, outcome, reason, crate::clock::now_ms());
}

impl Activity {
    pub fn new() -> Activity {
        Activity {
            sources: ArcSwap::from_pointee(HashMap::new()),
            registering: Mutex::new(()),
        }
    }

    /// [`record`] at `now_ms` (unix milliseconds).
    pub fn record_at(&self, source: &str, outcome: &str, reason: Option<&str>, now_ms: i64) {
        let index = match reason {
            Some(reason) => OUTCOMES[2..OTHER]
                .iter()
                .position(|o| *o == reason)
                .map_or(OTHER, |i| i + 2),
            None => match outcome {
                "accepted" => 0,
                "duplicate" => 1,
                _ => OTHER,
            },
        };
        let minute = minute_of(now_ms);
        // The guard borrows the current map: no reference count is touched on this path.
        let sources = self.sources.load();
        if let Some(counters) = sources.get(source) {
            counters.minutes.add(minute, index);
            counters.quarters.add(minute, index);
        } else if let Some(counters) = self.register(source) {
            counters.minutes.add(minute, index);
            counters.quarters.add(minute, index);
        }
    }

    /// Adds `source` (once; at most [`MAX_SOURCES`]).
    fn register(&self, source: &str) -> Option<Arc<SourceActivity>> {
        // A poisoned lock only means another registration panicked; the map is still whole.
        let _one_at_a_time = self
            .registering
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = self.sources.load_full();
        if let Some(counters) = current.get(source) {
            return Some(counters.clone());
        }
        if current.len() >= MAX_SOURCES {
            return None;
        }
        let mut next = (*current).clone();
        let counters = Arc::new(SourceActivity::new());
        next.insert(Arc::from(source), counters.clone());
        self.sources.store(Arc::new(next));
        Some(counters)
    }

    /// `source`'s counts as of `now_ms`; all zero for a source that has had no answer.
    pub fn summary(&self, source: &str, now_ms: i64) -> Summary {
        let minute = minute_of(now_ms);
        let Some(counters) = self.sources.load().get(source).cloned() else {
            return Summary {
                last_hour: Counts::zero(),
                last_day: Counts::zero(),
                per_minute: vec![0; 60],
            };
        };
        let mut last_hour = Counts::zero();
        let mut per_minute = Vec::with_capacity(60);
        for back in (0..60u64).rev() {
            let mut total = 0;
            let Some(m) = minute.checked_sub(back) else {
                per_minute.push(0);
                continue;
            };
            for (outcome, sum) in last_hour.0.iter_mut().enumerate() {
                let n = counters.minutes.get(m, outcome);
                *sum += n;
                total += n;
            }
            per_minute.push(total);
        }
        let mut last_day = Counts::zero();
        let quarter = counters.quarters.bucket(minute);
        for q in quarter.saturating_sub(96)..=quarter {
            for (outcome, sum) in last_day.0.iter_mut().enumerate() {
                *sum += counters.quarters.get(q, outcome);
            }
        }
        Summary {
            last_hour,
            last_day,
            per_minute,
        }
    }
}

impl Default for Activity {
    fn default() -> Self {
        Activity::new()
    }
}

fn minute_of(now_ms: i64) -> u64 {
    u64::try_from(now_ms.max(0)).unwrap_or(0) / 60_000
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: i64 = 60_000;
    /// A whole hour, so the quarter-hour arithmetic below is plain.
    const T0: i64 = 1_795_428_000_000;

    #[test]
    fn counts_fall_into_the_last_hour_and_the_last_day_by_outcome() {
        let activity = Activity::new();
        activity.record_at("github", "accepted", None, T0);
        activity.record_at("github", "accepted", None, T0 + MINUTE);
        activity.record_at("github", "duplicate", None, T0 + MINUTE);
        activity.record_at("github", "rejected", Some("bad_signature"), T0 + 2 * MINUTE);
        activity.record_at("stripe", "accepted", None, T0);

        let summary = activity.summary("github", T0 + 2 * MINUTE);
        assert_eq!(summary.last_hour.received(), 4);
        assert_eq!(summary.last_hour.of("accepted"), 2);
        assert_eq!(summary.last_hour.of("duplicate"), 1);
        assert_eq!(summary.last_hour.refused(), 1);
        assert_eq!(
            summary.last_hour.refusals().collect::<Vec<_>>(),
            vec![("bad_signature", 1)]
        );
        assert_eq!(summary.last_day, summary.last_hour);
        assert_eq!(summary.per_minute.len(), 60);
        assert_eq!(&summary.per_minute[57..], &[1, 2, 1]);
    }

    #[test]
    fn an_hour_later_the_hour_is_empty_and_the_day_still_counts() {
        let activity = Activity::new();
        activity.record_at("s", "accepted", None, T0);
        let later = activity.summary("s", T0 + 61 * MINUTE);
        assert_eq!(later.last_hour.received(), 0);
        assert!(later.per_minute.iter().all(|n| *n == 0));
        assert_eq!(later.last_day.received(), 1);
        let next_day = activity.summary("s", T0 + 25 * 60 * MINUTE);
        assert_eq!(next_day.last_day.received(), 0);
    }

    #[test]
    fn a_slot_reused_a_day_later_starts_again_from_one() {
        let activity = Activity::new();
        for _ in 0..5 {
            activity.record_at("s", "accepted", None, T0);
        }
        // 97 quarter hours later the quarter ring's slot of T0 is reused.
        let later = T0 + 97 * 15 * MINUTE;
        activity.record_at("s", "accepted", None, later);
        let summary = activity.summary("s", later);
        assert_eq!(summary.last_hour.received(), 1);
        assert_eq!(summary.last_day.received(), 1);
    }

    #[test]
    fn unknown_reasons_and_other_outcomes_count_as_other_and_sources_are_bounded() {
        let activity = Activity::new();
        activity.record_at("s", "handshake", None, T0);
        activity.record_at("s", "rejected", Some("something_new"), T0);
        assert_eq!(activity.summary("s", T0).last_hour.of("other"), 2);
        for i in 0..MAX_SOURCES + 5 {
            activity.record_at(&format!("s{i}"), "accepted", None, T0);
        }
        assert_eq!(activity.sources.load().len(), MAX_SOURCES);
        assert_eq!(activity.summary("never", T0).last_hour.received(), 0);
    }
}
