//! `mode = "proxy"` deliveries: store the event, forward it at once, and hand the destination's
//! reply back for the provider (for providers that need a reply body: Slack commands, TwiML).
//!
//! The event is stored first with its proxied delivery already claimed by this request, so no
//! worker races it; if the process dies mid-forward, the claim lapses and a worker delivers the
//! event later (at-least-once, as for queued sources). The outcome is recorded like a worker's
//! ([`super::record`]): a 2xx reply is `delivered`; anything else is `dead` at once, since the
//! provider has the failure in hand and retries on its own. A retried duplicate is forwarded
//! again under the same `webhook-id`, so the provider still gets a real answer; its outcome is
//! logged only. Only the reply's status, `content-type` and body (at most 1 MiB) are passed
//! back. Keep the destination's `timeout` under `server.request_timeout`, which bounds the whole
//! request.
//!
//! It answers with a [`Reply`] or a [`Rejection`]; turning either into the provider's response
//! is the pipeline's business (`pipeline::accept`), and nothing here knows the pipeline.

use std::time::Duration;

use super::trace::AttemptSpan;
use super::{Attempt, Outcome, Registry, Reply, record};
use crate::clock::now_ms;
use crate::http::problem::{Rejection, RejectionKind};
use crate::store::{Claim, Hold, Inserted, NewEvent, Recorded, Store, StoredEvent};

/// Margin over the destination timeout before a worker may take a proxied delivery over.
const HOLD_MARGIN: Duration = Duration::from_secs(60);

/// Stores `event` with its delivery to `destination` claimed by this request, forwards it
/// (within `timeout`, the destination's own), and records the outcome.
pub async fn forward(
    store: &dyn Store,
    registry: &Registry,
    destination: &str,
    timeout: Duration,
    event: NewEvent,
) -> Result<Reply, Rejection> {
    let Some(slot) = registry.get(event.source(), destination) else {
        return Err(Rejection::new(
            RejectionKind::DestinationFailed,
            format!("proxy destination {destination} is not configured"),
        ));
    };
    let owner = format!("proxy:{}", event.id());
    let hold_for = timeout.saturating_add(HOLD_MARGIN);
    let event = event.with_hold(Hold {
        destination: destination.to_owned(),
        owner: owner.clone(),
        until_ms: now_ms().saturating_add(i64::try_from(hold_for.as_millis()).unwrap_or(i64::MAX)),
    });
    let (id, fresh) = match record::insert(store, event.clone()).await {
        Ok(Inserted::Stored(id)) => (id, true),
        Ok(Inserted::Duplicate(id)) => (id, false),
        Err(err) => {
            return Err(Rejection::new(
                RejectionKind::StoreUnavailable,
                err.to_string(),
            ));
        }
    };
    let stored = StoredEvent::unattempted(&event, id);
    let stopwatch = record::Stopwatch::start();
    // The proxied attempt is a delivery attempt like a worker's: its own trace, linked to the
    // request's (SPEC section 14).
    let span = AttemptSpan::start(&stored, destination, 1);
    let attempt = Attempt {
        trace: span.traceparent(),
        ..Attempt::default()
    };
    let exchanged = slot.destination.exchange(&stored, &attempt).await;
    span.end(&match &exchanged {
        Some(Ok(reply)) => reply.outcome.clone(),
        Some(Err(error)) => Outcome::Dead {
            error: error.clone(),
        },
        None => Outcome::Dead {
            error: "destination cannot answer".into(),
        },
    });
    let (answer, recorded) = match exchanged {
        Some(Ok(reply)) => {
            let recorded = match &reply.outcome {
                Outcome::Delivered => Recorded::Delivered,
                Outcome::Retry { error, .. } | Outcome::Dead { error } => Recorded::Dead {
                    error: format!("proxy: {error}, returned to the provider"),
                },
            };
            (Ok(reply), recorded)
        }
        Some(Err(error)) => (
            Err(Rejection::new(
                RejectionKind::DestinationFailed,
                error.clone(),
            )),
            Recorded::Dead {
                error: format!("proxy: {error}"),
            },
        ),
        None => (
            Err(Rejection::new(
                RejectionKind::DestinationFailed,
                "the proxy destination cannot answer synchronously",
            )),
            Recorded::Dead {
                error: "proxy: destination cannot answer".into(),
            },
        ),
    };
    record::count(event.source(), destination, &recorded);
    if fresh {
        let claim = Claim {
            event_id: id,
            source: stored.source.clone(),
            destination: destination.to_owned(),
            attempts: 0,
            budget_from_ms: stored.received_at_ms,
            replays: 0,
        };
        if let Err(err) = store
            .record(&owner, &claim, recorded, stopwatch.timing())
            .await
        {
            // The hold lapses and a worker delivers the event again: at-least-once.
            tracing::warn!(error = %err, event_id = %id, "cannot record the proxied delivery");
        }
    } else {
        let status = match &answer {
            Ok(reply) => reply.status,
            Err(rejection) => rejection.kind.status(),
        };
        tracing::info!(event_id = %id, status = status.as_u16(), "duplicate forwarded again in proxy mode");
    }
    answer
}
