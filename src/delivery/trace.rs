//! The span of one delivery attempt (SPEC section 14). Each attempt starts a trace of its own
//! (retries are hours apart, and one request's event may go to several destinations), linked to
//! the request span that stored the event (its `traceparent` is kept with the event). The
//! attempt's own `traceparent` goes out with the message (`Attempt::trace`), so the handler's
//! span is the attempt span's child.
//!
//! With traces off every function here is a no-op and no message carries a `traceparent`.

use opentelemetry::trace::{Link, Span as _, SpanKind, Status, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Span;

use super::Outcome;
use crate::http::traceparent::TraceParent;
use crate::store::StoredEvent;
use crate::telemetry::traces::{self, span_context, traceparent};

/// An attempt's span, open while the destination is called.
pub struct AttemptSpan(Option<Span>);

impl AttemptSpan {
    /// Starts the span of attempt number `attempt` (1 for the first) to deliver `event` to
    /// `destination`.
    pub fn start(event: &StoredEvent, destination: &str, attempt: u32) -> AttemptSpan {
        let Some(tracer) = traces::tracer() else {
            return AttemptSpan(None);
        };
        let stored_by = event
            .trace_context
            .as_deref()
            .and_then(|value| TraceParent::parse(value.as_bytes()));
        let mut builder = tracer
            .span_builder(format!("deliver {destination}"))
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("hookwall.source", event.source.clone()),
                KeyValue::new("hookwall.destination", destination.to_owned()),
                KeyValue::new("hookwall.event_id", event.id.clone()),
                KeyValue::new("hookwall.attempt", i64::from(attempt)),
            ]);
        if let Some(request) = stored_by {
            builder = builder.with_links(vec![Link::with_context(span_context(&request, false))]);
        }
        // An empty context: a new trace, whatever span is current.
        AttemptSpan(Some(builder.start_with_context(tracer, &Context::new())))
    }

    /// What the attempt's message carries as its `traceparent`.
    pub fn traceparent(&self) -> Option<TraceParent> {
        self.0.as_ref().map(|span| traceparent(span.span_context()))
    }

    /// Ends the span with the attempt's outcome.
    pub fn end(self, outcome: &Outcome) {
        let Some(mut span) = self.0 else {
            return;
        };
        let (name, error) = match outcome {
            Outcome::Delivered => ("delivered", None),
            Outcome::Retry { error, .. } => ("retry", Some(error)),
            Outcome::Dead { error } => ("dead", Some(error)),
        };
        span.set_attribute(KeyValue::new("hookwall.outcome", name));
        if let Some(error) = error {
            span.set_status(Status::error(error.clone()));
        }
        span.end();
    }
}
