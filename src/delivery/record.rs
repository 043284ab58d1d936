//! The bookkeeping around the store that queued and proxied deliveries share: an event stored
//! (or found a duplicate) is counted, an attempt's [`Outcome`] becomes what the store records
//! (the retry schedule of [`super::retry`], read at the clock's now), and is counted, logged and
//! reported the same way whoever made the attempt.
//!
//! It never attempts a delivery nor decides whether one is due: the worker and proxy mode do
//! that, then hand what happened here.

use super::{Outcome, retry};
use crate::clock::now_ms;
use crate::store::{Claim, Inserted, NewEvent, Recorded, Store, StoreError};

/// Stores `event` and counts it: `events_stored_total` when it is new, `duplicates_total` when
/// the store already held it.
pub async fn insert(store: &dyn Store, event: NewEvent) -> Result<Inserted, StoreError> {
    let source = event.source().to_owned();
    let inserted = store.insert(event).await?;
    let metrics = crate::telemetry::metrics::metrics();
    let counter = match inserted {
        Inserted::Stored(_) => &metrics.events_stored,
        Inserted::Duplicate(_) => &metrics.duplicates,
    };
    counter.with_label_values(&[&source]).inc();
    Ok(inserted)
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

/// The `outcome` label of `hookwall_deliveries_total`.
fn label(recorded: &Recorded) -> &'static str {
    match recorded {
        Recorded::Delivered => "delivered",
        Recorded::Retry { .. } => "retry",
        Recorded::Dead { .. } => "dead",
    }
}

/// Counts one attempt of `source`'s delivery to `destination` in `deliveries_total`.
pub fn count(source: &str, destination: &str, recorded: &Recorded) {
    crate::telemetry::metrics::metrics()
        .deliveries
        .with_label_values(&[source, destination, label(recorded)])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_recorded_outcome_has_its_metric_label() {
        assert_eq!(label(&Recorded::Delivered), "delivered");
        let error = String::from("HTTP 503");
        assert_eq!(
            label(&Recorded::Retry {
                at_ms: 1,
                error: error.clone()
            }),
            "retry"
        );
        assert_eq!(label(&Recorded::Dead { error }), "dead");
    }
}
