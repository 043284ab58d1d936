//! The trace of one request (SPEC section 14): the request span, and one child span per step of
//! `pipeline::stack::STEPS` that the request reached (named by `StepKind::name`), with
//! `hookwall.outcome` = `pass` | `fail` and, on the step that refused, `hookwall.reason` = the
//! `rejections_total` reason. This module knows steps by name only, so that the stack can
//! import it without a loop.
//!
//! The steps are timed by checkpoints rather than by wrapping each step: a [`Checkpoint`] stands
//! in the stack just before each step, and reaching it means the step before it passed. So the
//! request carries only the open step and when it opened ([`Trail`]); at a checkpoint that step
//! is closed as passed and the next opened; when the answer comes back to the request log, the
//! step still open is the one that answered: failed if the answer is a refusal (whatever layer
//! wrote it: a request timeout fails the step it cut short), passed otherwise. Each step span is
//! made when it closes, with the times recorded.
//!
//! An incoming `traceparent` is continued only when the TCP peer is a trusted proxy; from
//! anyone else it is ignored and the request starts a new trace, with no link to it.
//!
//! Only a sampled request gets a [`Trail`] (and its steps, and its context stored with its
//! event); with traces off, none of this runs and the checkpoints are not in the stacks.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, Method, Request};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt as _, TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::Span;
use tower_http::validate_request::{ValidateRequest, ValidateRequestHeaderLayer};

use crate::http::problem::Rejection;
use crate::http::traceparent::TraceParent;
use crate::telemetry::traces::{self, span_context, traceparent};

/// The parent a request's span continues: the `traceparent` a trusted proxy sent (one header,
/// well-formed), or none.
fn incoming(headers: &HeaderMap, peer_trusted: bool) -> Option<TraceParent> {
    if !peer_trusted {
        return None;
    }
    let mut values = headers.get_all("traceparent").iter();
    match (values.next(), values.next()) {
        (Some(value), None) => TraceParent::parse(value.as_bytes()),
        // Two `traceparent` headers are no parent at all (W3C Trace Context, 3.2).
        _ => None,
    }
}

/// The request span, held by the request log from the request's start to its answer.
pub struct RequestSpan {
    span: Span,
    trail: Option<Trail>,
}

/// Starts the request span (`None` when traces are off) at `started`; its first step, the
/// client address, opens with it.
pub fn start(headers: &HeaderMap, peer_trusted: bool, started: SystemTime) -> Option<RequestSpan> {
    let tracer = traces::tracer()?;
    let parent = match incoming(headers, peer_trusted) {
        Some(parent) => Context::new().with_remote_span_context(span_context(&parent, true)),
        None => Context::new(),
    };
    let span = tracer
        .span_builder("request")
        .with_kind(SpanKind::Server)
        .with_start_time(started)
        .start_with_context(tracer, &parent);
    let context = span.span_context();
    let trail = context.is_sampled().then(|| {
        Trail(Arc::new(Inner {
            // The children's parent is this (local) span.
            parent: Context::new().with_remote_span_context(SpanContext::new(
                context.trace_id(),
                context.span_id(),
                context.trace_flags(),
                false,
                TraceState::default(),
            )),
            traceparent: traceparent(context),
            // The first step, the client address (`StepKind::ClientIp`), opens with the request.
            open: Mutex::new(Some(("client_ip", started))),
        }))
    });
    Some(RequestSpan { span, trail })
}

/// What the request span says of the request and its answer.
pub struct Answered<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub client: Option<IpAddr>,
    pub request_id: &'a str,
    /// The source whose route answered, if any.
    pub source: Option<&'a str>,
    /// The `requests_total` outcome (`accepted`, `duplicate`, `rejected`, …).
    pub outcome: &'a str,
}

impl RequestSpan {
    /// Puts the trail in `request`, for the checkpoints and for the event's stored context.
    pub fn attach(&self, request: &mut Request<Body>) {
        if let Some(trail) = &self.trail {
            request.extensions_mut().insert(trail.clone());
        }
    }

    /// Closes the open step and the request span, as `response` tells.
    pub fn end(mut self, response: &Response, answered: &Answered<'_>) {
        let now = SystemTime::now();
        let rejection = response.extensions().get::<Rejection>();
        if let Some(trail) = &self.trail {
            trail.close(rejection, now);
        }
        if !self.span.is_recording() {
            return;
        }
        let status = response.status();
        let span = &mut self.span;
        if let Some(source) = answered.source {
            // The route, not the raw path: a bounded name (`POST /hooks/github`).
            span.update_name(format!("{} {}", answered.method, answered.path));
            span.set_attribute(KeyValue::new("http.route", answered.path.to_owned()));
            span.set_attribute(KeyValue::new("hookwall.source", source.to_owned()));
        }
        span.set_attribute(KeyValue::new(
            "http.request.method",
            answered.method.as_str().to_owned(),
        ));
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status.as_u16()),
        ));
        if let Some(client) = answered.client {
            span.set_attribute(KeyValue::new("client.address", client.to_string()));
        }
        span.set_attribute(KeyValue::new(
            "hookwall.request_id",
            answered.request_id.to_owned(),
        ));
        span.set_attribute(KeyValue::new(
            "hookwall.result",
            answered.outcome.to_owned(),
        ));
        match rejection {
            Some(rejection) => {
                span.set_attribute(KeyValue::new("hookwall.outcome", "fail"));
                span.set_attribute(KeyValue::new("hookwall.reason", rejection.kind.reason()));
            }
            None => span.set_attribute(KeyValue::new("hookwall.outcome", "pass")),
        }
        if status.is_server_error() {
            span.set_status(Status::error(format!("answered {}", status.as_u16())));
        }
        span.end_with_timestamp(now);
    }
}

/// The request's open step, shared by the checkpoints and the request log.
#[derive(Clone)]
pub struct Trail(Arc<Inner>);

struct Inner {
    /// The request span, as the parent of every step span.
    parent: Context,
    traceparent: TraceParent,
    /// The step reached last, and when.
    open: Mutex<Option<(&'static str, SystemTime)>>,
}

impl Trail {
    /// The request span's `traceparent`: what the stored event keeps for its deliveries' links.
    pub fn traceparent(&self) -> TraceParent {
        self.0.traceparent
    }

    /// The step before `step` passed; `step` starts now.
    fn enter(&self, step: &'static str) {
        let now = SystemTime::now();
        let passed = self
            .0
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace((step, now));
        if let Some((passed, since)) = passed {
            self.step_span(passed, since, now, None);
        }
    }

    /// The open step answered: refused with `rejection`, or passed.
    fn close(&self, rejection: Option<&Rejection>, now: SystemTime) {
        let open = self
            .0
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((step, since)) = open {
            self.step_span(step, since, now, rejection);
        }
    }

    fn step_span(
        &self,
        step: &'static str,
        since: SystemTime,
        until: SystemTime,
        rejection: Option<&Rejection>,
    ) {
        let Some(tracer) = traces::tracer() else {
            return;
        };
        let mut span = tracer
            .span_builder(step)
            .with_start_time(since)
            .start_with_context(tracer, &self.0.parent);
        match rejection {
            Some(rejection) => {
                span.set_attribute(KeyValue::new("hookwall.outcome", "fail"));
                span.set_attribute(KeyValue::new("hookwall.reason", rejection.kind.reason()));
            }
            None => span.set_attribute(KeyValue::new("hookwall.outcome", "pass")),
        }
        span.end_with_timestamp(until);
    }
}

/// Marks that `request` reached the step named `step` (nothing when it is not traced).
pub fn enter(request: &Request<Body>, step: &'static str) {
    if traces::enabled()
        && let Some(trail) = request.extensions().get::<Trail>()
    {
        trail.enter(step);
    }
}

/// The checkpoint before a step of a source's stack, as a layer: the step's span name
/// (`StepKind::name`).
#[derive(Clone, Copy)]
pub struct Checkpoint(pub &'static str);

impl ValidateRequest<Body> for Checkpoint {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<Body>) -> Result<(), Response> {
        enter(request, self.0);
        Ok(())
    }
}

/// The checkpoint layer before the step named `step`, or `None` when traces are off (the stack
/// is then built without it and costs nothing more).
pub fn checkpoint(step: &'static str) -> Option<ValidateRequestHeaderLayer<Checkpoint>> {
    traces::enabled().then(|| ValidateRequestHeaderLayer::custom(Checkpoint(step)))
}
