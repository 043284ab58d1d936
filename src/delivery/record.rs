//! The bookkeeping around the store that queued and proxied deliveries share: an event stored
//! (or found a duplicate) is counted, an attempt's [`Outcome`] becomes what the store records
//! (the retry schedule of [`super::retry`], read at the clock's now), and is counted, logged and
//! reported the same way whoever made the attempt.
//!
//! It never attempts a delivery nor decides whether one is due: the worker and proxy mode do
//! that, then hand what happened here.

use super::{Outcome, retry};
use crate::clock::now_ms;
use crate::store::{Claim, Inserted, NewEvent, Recorded, Store, StoreError, Timing};

/// Times one attempt for the attempt history: started when the destination is called.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    started_at_ms: i64,
    started: std::time::Instant,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch {
            started_at_ms: now_ms(),
            started: std::time::Instant::now(),
        }
    }

    /// How long since the start.
    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    /// The attempt's line in the history, ended now.
    pub fn timing(&self) -> Timing {
        Timing {
            started_at_ms: self.started_at_ms,
            duration_ms: i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
        }
    }
}

/// Stores `event` and counts it: `events_stored_total` when it is new, `duplicates_total` when
/// the store already held it.
pub async fn insert(store: &dyn Store, event: NewEvent) -> Result<Inserted, StoreError> {
    let source = event.source().to_owned();
    let inserted = store.insert(event).await?;
    count_inserted(&source, &inserted);
    Ok(inserted)
}

/// Counts an insert's result in `events_stored_total` or `duplicates_total` of `source`.
pub fn count_inserted(source: &str, inserted: &Inserted) {
    let metrics = crate::telemetry::metrics::metrics();
    let counter = match inserted {
        Inserted::Stored(_) => &metrics.events_stored,
        Inserted::Duplicate(_) => &metrics.duplicates,
    };
    counter.with_label_values(&[source]).inc();
}

/// What the store records after the attempt that `claim` was for: the retry policy's verdict
/// at now, with a fresh jitter draw.
pub fn scheduled(policy: &crate::config::Retry, claim: &Claim, outcome: Outcome) -> Recorded {
    retry::decide(
        policy,
        claim.attempts.saturating_add(1),
        claim.budget_from_ms,
        now_ms(),
        outcome,
        fastrand::f64(),
    )
}

/// Counts one attempt of `source`'s delivery to `destination` in `deliveries_total`.
pub fn count(source: &str, destination: &str, recorded: &Recorded) {
    crate::telemetry::metrics::metrics()
        .deliveries
        .with_label_values(&[source, destination, recorded.outcome()])
        .inc();
}

/// What the worker does besides counting: the attempts a finished delivery took
/// (`delivery_attempts`), its log line, and a dead delivery's report to Sentry.
pub fn report(claim: &Claim, recorded: &Recorded) {
    let attempt = claim.attempts.saturating_add(1);
    if !matches!(recorded, Recorded::Retry { .. }) {
        crate::telemetry::metrics::metrics()
            .delivery_attempts
            .observe(f64::from(attempt));
    }
    match recorded {
        Recorded::Delivered => {
            tracing::info!(event_id = %claim.event_id, destination = %claim.destination, attempt, "delivered")
        }
        Recorded::Retry { error, at_ms } => tracing::warn!(
            event_id = %claim.event_id, destination = %claim.destination, attempt, error = %error,
            retry_in_ms = at_ms - now_ms(), "delivery failed; will retry"
        ),
        Recorded::Dead { error } => {
            crate::telemetry::report::capture(
                &format!("delivery dead: {error}"),
                sentry::Level::Error,
                &[
                    ("source", &claim.source),
                    ("destination", &claim.destination),
                    ("event_id", &claim.event_id.to_string()),
                ],
            );
            tracing::error!(
                event_id = %claim.event_id, destination = %claim.destination, attempt, error = %error,
                "delivery dead; replay it from the dead-letter queue"
            );
        }
    }
}
