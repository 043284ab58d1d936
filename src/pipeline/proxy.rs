//! `mode = "proxy"` sources: store the event, forward it at once, and answer the provider with
//! the destination's reply (for providers that need a reply body: Slack commands, TwiML).
//!
//! The event is stored first with its proxied delivery already claimed by this request, so no
//! worker races it; if the process dies mid-forward, the claim lapses and a worker delivers the
//! event later (at-least-once, as for queued sources). The outcome is recorded like a worker's:
//! a 2xx reply is `delivered`; anything else is `dead` at once, since the provider has the
//! failure in hand and retries on its own. A retried duplicate is forwarded again under the
//! same `webhook-id`, so the provider still gets a real answer; its outcome is logged only.
//! Only the reply's status, `content-type` and body (at most 1 MiB) are passed back. Keep the
//! destination's `timeout` under `server.request_timeout`, which bounds the whole request.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header;

use super::Proxy;
use crate::clock::now_ms;
use crate::delivery::{Outcome, Registry, Reply};
use crate::http::problem::{Rejection, RejectionKind};
use crate::store::{Claim, Hold, Inserted, NewEvent, Recorded, Store, StoredEvent};

/// Margin over the destination timeout before a worker may take a proxied delivery over.
const HOLD_MARGIN: Duration = Duration::from_secs(60);

pub async fn forward(
    proxy: &Proxy,
    store: &Arc<dyn Store>,
    registry: &Registry,
    mut event: NewEvent,
) -> Response {
    let Some(slot) = registry.get(&event.source, &proxy.destination) else {
        return Rejection::new(
            RejectionKind::DestinationFailed,
            format!("proxy destination {} is not configured", proxy.destination),
        )
        .into_response();
    };
    let owner = format!("proxy:{}", event.id);
    let hold_for = proxy.timeout.saturating_add(HOLD_MARGIN);
    event.hold = Some(Hold {
        destination: proxy.destination.clone(),
        owner: owner.clone(),
        until_ms: now_ms().saturating_add(i64::try_from(hold_for.as_millis()).unwrap_or(i64::MAX)),
    });
    let metrics = crate::telemetry::metrics::metrics();
    let (id, fresh) = match store.insert(event.clone()).await {
        Ok(Inserted::Stored(id)) => {
            metrics
                .events_stored
                .with_label_values(&[&event.source])
                .inc();
            (id, true)
        }
        Ok(Inserted::Duplicate(id)) => {
            metrics.duplicates.with_label_values(&[&event.source]).inc();
            (id, false)
        }
        Err(err) => {
            return Rejection::new(RejectionKind::StoreUnavailable, err.to_string())
                .into_response();
        }
    };
    let stored = as_stored(&event, id);
    let exchanged = slot.destination.exchange(&stored).await;
    let (response, outcome) = match exchanged {
        Some(Ok(reply)) => {
            let outcome = match &reply.outcome {
                Outcome::Delivered => Recorded::Delivered,
                Outcome::Retry { error, .. } | Outcome::Dead { error } => Recorded::Dead {
                    error: format!("proxy: {error}, returned to the provider"),
                },
            };
            (reply_response(reply), outcome)
        }
        Some(Err(error)) => (
            Rejection::new(RejectionKind::DestinationFailed, error.clone()).into_response(),
            Recorded::Dead {
                error: format!("proxy: {error}"),
            },
        ),
        None => (
            Rejection::new(
                RejectionKind::DestinationFailed,
                "the proxy destination cannot answer synchronously",
            )
            .into_response(),
            Recorded::Dead {
                error: "proxy: destination cannot answer".into(),
            },
        ),
    };
    let label = match outcome {
        Recorded::Delivered => "delivered",
        Recorded::Retry { .. } => "retry",
        Recorded::Dead { .. } => "dead",
    };
    metrics
        .deliveries
        .with_label_values(&[&event.source, &proxy.destination, label])
        .inc();
    if fresh {
        let claim = Claim {
            event_id: id,
            source: stored.source.clone(),
            destination: proxy.destination.clone(),
            attempts: 0,
            budget_from_ms: stored.received_at_ms,
        };
        if let Err(err) = store.record(&owner, &claim, outcome).await {
            // The hold lapses and a worker delivers the event again: at-least-once.
            tracing::warn!(error = %err, event_id = %id, "cannot record the proxied delivery");
        }
    } else {
        tracing::info!(event_id = %id, status = response.status().as_u16(), "duplicate forwarded again in proxy mode");
    }
    response
}

fn reply_response(reply: Reply) -> Response {
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = reply.status;
    response
        .extensions_mut()
        .insert(super::accept::Outcome("proxied"));
    if let Some(content_type) = reply.content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

/// The event as a destination sees it, without a read back from the store.
fn as_stored(event: &NewEvent, id: uuid::Uuid) -> StoredEvent {
    StoredEvent {
        id: id.to_string(),
        source: event.source.clone(),
        dedup_key: event.dedup_key.clone(),
        received_at_ms: event.received_at_ms,
        client_ip: event.client_ip.to_string(),
        request_id: event.request_id.clone(),
        content_type: event.content_type.clone(),
        headers: event.headers.clone(),
        body: Some(event.body.to_vec()),
        status: "pending".into(),
        attempts: 0,
        next_attempt_at_ms: event.received_at_ms,
        last_error: None,
    }
}
