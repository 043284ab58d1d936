//! The delivery worker: claims due deliveries with a lease, attempts each on its destination
//! (within the destination's concurrency limit), and records the outcome the retry policy
//! decides. At shutdown it stops claiming, lets attempts in flight finish (bounded), and gives
//! back the claims it still holds.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Outcome, Registry, retry};
use crate::store::{Claim, Recorded, Store, now_ms};

/// Attempts in flight at once, across destinations (each destination also has its own limit).
const MAX_IN_FLIGHT: usize = 64;
/// Under load, claims are made for at least this many free slots ...
const CLAIM_BATCH: usize = MAX_IN_FLIGHT / 4;
/// ... or after waiting this long for them.
const GATHER: Duration = Duration::from_millis(10);
/// How often an idle worker looks for due work.
const POLL: Duration = Duration::from_millis(100);

pub struct Worker {
    pub store: Arc<dyn Store>,
    pub registry: Arc<ArcSwap<Registry>>,
    /// This worker's identity on its claims.
    pub owner: String,
    /// How long a claim is held (`storage.lease`): longer than any attempt can take (timeout
    /// plus the wait for a destination slot); after it, another worker may take the delivery
    /// over.
    pub lease: Duration,
    pub shutdown_timeout: Duration,
}

impl Worker {
    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let mut tasks = JoinSet::new();
        loop {
            if *stop.borrow() {
                break;
            }
            while tasks.len() >= MAX_IN_FLIGHT {
                tasks.join_next().await;
            }
            // Claim in batches: a claim per finished attempt would cost a store round trip
            // (and on SQLite a place in a commit) per delivery under load. Wait briefly for
            // more slots to free up; never long, so a lone due delivery is not held back.
            if MAX_IN_FLIGHT - tasks.len() < CLAIM_BATCH {
                let _ = tokio::time::timeout(GATHER, async {
                    while MAX_IN_FLIGHT - tasks.len() < CLAIM_BATCH
                        && tasks.join_next().await.is_some()
                    {}
                })
                .await;
            }
            let free = MAX_IN_FLIGHT - tasks.len();
            let claims = match this.store.claim(&this.owner, free, this.lease).await {
                Ok(claims) => claims,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot claim deliveries; retrying");
                    Vec::new()
                }
            };
            if claims.is_empty() {
                tokio::select! {
                    _ = stop.changed() => {},
                    () = tokio::time::sleep(POLL) => {},
                }
                continue;
            }
            for claim in claims {
                let this = this.clone();
                tasks.spawn(async move { this.attempt(claim).await });
            }
            // Reap finished attempts without waiting.
            while tasks.try_join_next().is_some() {}
        }
        let drained = tokio::time::timeout(this.shutdown_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                in_flight = tasks.len(),
                "deliveries still running at shutdown_timeout; releasing them"
            );
            tasks.abort_all();
        }
        match this.store.release(&this.owner).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "released claimed deliveries"),
            Err(err) => {
                tracing::warn!(error = %err, "cannot release claims; they lapse with their lease")
            }
        }
    }

    async fn attempt(&self, claim: Claim) {
        let registry = self.registry.load_full();
        let outcome = match registry.get(&claim.source, &claim.destination) {
            None => Outcome::Dead {
                error: format!("destination {} is no longer configured", claim.destination),
            },
            Some(slot) => {
                // The permit is held for the attempt: this is the per-destination concurrency limit.
                let _permit = slot.permits.acquire().await;
                match self.store.get(claim.event_id).await {
                    Ok(Some(event)) => {
                        let started = std::time::Instant::now();
                        let outcome = slot.destination.deliver(&event).await;
                        crate::telemetry::metrics::metrics()
                            .delivery_duration
                            .with_label_values(&[&claim.destination])
                            .observe(started.elapsed().as_secs_f64());
                        outcome
                    }
                    Ok(None) => Outcome::Dead {
                        error: "event no longer stored".into(),
                    },
                    Err(err) => {
                        tracing::warn!(error = %err, event_id = %claim.event_id, "cannot read event; its claim will lapse");
                        return;
                    }
                }
            }
        };
        let retry = registry
            .get(&claim.source, &claim.destination)
            .map(|slot| slot.retry)
            .unwrap_or_default();
        let attempt = claim.attempts.saturating_add(1);
        let recorded = retry::decide(
            &retry,
            attempt,
            claim.budget_from_ms,
            now_ms(),
            outcome,
            fastrand::f64(),
        );
        let metrics = crate::telemetry::metrics::metrics();
        let label = match &recorded {
            Recorded::Delivered => "delivered",
            Recorded::Retry { .. } => "retry",
            Recorded::Dead { .. } => "dead",
        };
        metrics
            .deliveries
            .with_label_values(&[&claim.source, &claim.destination, label])
            .inc();
        if !matches!(recorded, Recorded::Retry { .. }) {
            metrics.delivery_attempts.observe(f64::from(attempt));
        }
        match &recorded {
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
        match self.store.record(&self.owner, &claim, recorded).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(event_id = %claim.event_id, "claim was taken over before the outcome was recorded")
            }
            Err(err) => {
                tracing::warn!(error = %err, event_id = %claim.event_id, "cannot record outcome; the claim will lapse and retry")
            }
        }
    }
}
