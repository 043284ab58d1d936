//! Step 1 of SPEC section 1, and what the operator sees of every request: the request id
//! (`x-request-id`, kept or made), the span, the one log line per request (sampled for bursts
//! of refusals), the request metrics of SPEC section 7 and the Sentry report of a 5xx answer.
//! Step 3, the client IP, is resolved here too, so the span and the line carry it from the
//! start.
//!
//! It observes and never decides: nothing here refuses a request for what it contains (a
//! request without a peer address, which the listener never serves, is the one exception).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use ipnet::IpNet;
use tracing::Instrument;

use super::accept::RequestOutcome;
use super::client_ip::{self, ClientIp, ForwardedHttps};
use super::trail::{self, Answered, RequestSpan};
use crate::http::problem::{Rejection, RejectionKind, RequestId, fill_request_id};
use crate::telemetry::sample::{REFUSALS, Verdict};

/// Whether Sentry was started (`telemetry::report::init`, before any router is built).
pub(super) fn sentry_enabled() -> bool {
    sentry::Hub::current()
        .client()
        .is_some_and(|client| client.is_enabled())
}

/// The source a response belongs to, for metrics; webhook responses without one (unknown
/// path, shed load) are labelled `unknown`.
#[derive(Debug, Clone)]
pub(super) struct SourceLabel(pub(super) Arc<str>);

/// The request id, for the Sentry tags of a 5xx answer.
#[derive(Debug, Clone)]
struct RequestIdTag(String);

/// Counts webhook requests in flight, also when the request is cancelled mid-way: held from
/// the start of a webhook's handling to its end.
pub(super) struct InFlight;

impl InFlight {
    pub(super) fn start() -> InFlight {
        crate::telemetry::metrics::metrics()
            .in_flight_requests
            .inc();
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        crate::telemetry::metrics::metrics()
            .in_flight_requests
            .dec();
    }
}

/// A client-sent request id is kept when it is short and printable; otherwise one is made.
fn request_id(request: &Request) -> HeaderValue {
    request
        .headers()
        .get("x-request-id")
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| {
            // A hyphenated UUID is ASCII and always a valid header value.
            HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
                .unwrap_or(HeaderValue::from_static("-"))
        })
}

/// The client's address, or `None` for a connection served without its peer address (never
/// the case for the listener, which serves with `ConnectInfo`).
fn resolve_client(request: &mut Request, trusted: &[IpNet]) -> Option<IpAddr> {
    let ConnectInfo(peer) = *request.extensions().get::<ConnectInfo<SocketAddr>>()?;
    let client = client_ip::resolve(peer.ip(), request.headers(), trusted);
    let https = client_ip::forwarded_https(peer.ip(), request.headers(), trusted);
    let extensions = request.extensions_mut();
    extensions.insert(ClientIp(client));
    if let Some(https) = https {
        extensions.insert(ForwardedHttps(https));
    }
    Some(client)
}

/// What the request's log line says about the request itself.
struct RequestLine {
    id: String,
    method: http::Method,
    path: String,
    client: Option<IpAddr>,
}

// The span (for whatever is logged while the request is handled) gets its field when it
// opens: with the JSON log format, recording a field later re-parses and rewrites the span's
// stored fields. The request's own line is written outside the span with all its fields, for
// the same reason: a JSON line inside a span re-parses the span's fields to print them.
pub(super) async fn request_log(
    State(trusted): State<Arc<[IpNet]>>,
    mut request: Request,
    next: Next,
) -> Response {
    // Only read when traces are on: the request span starts here.
    let started_at = crate::telemetry::traces::enabled().then(SystemTime::now);
    let id = request_id(&request);
    // An extension, not a request header: inserting a header into the parsed map grows (and
    // rehashes) it on most requests.
    request.extensions_mut().insert(RequestId(id.clone()));
    let line = RequestLine {
        id: id.to_str().unwrap_or("-").to_owned(),
        method: request.method().clone(),
        path: request.uri().path().to_owned(),
        client: resolve_client(&mut request, &trusted),
    };
    if line.client.is_none() {
        // Every connection is served with its peer address; without one, refuse.
        let response = Rejection::new(RejectionKind::IpDenied, "no peer address").into_response();
        return finish(response, id, &line, Duration::ZERO);
    }
    // Lines logged while the request is handled carry its id, which joins them to the
    // request's own line (method, path, client and outcome are there, written once).
    let traced = started_at.and_then(|at| start_trace(&request, &trusted, at));
    if let Some(traced) = &traced {
        traced.attach(&mut request);
    }
    let span = tracing::info_span!("request", request_id = %line.id);
    let started = Instant::now();
    let response = next.run(request).instrument(span).await;
    if let Some(traced) = traced {
        end_trace(traced, &response, &line);
    }
    finish(response, id, &line, started.elapsed())
}

/// The request span of a webhook (health probes are not traced: they would be most of the
/// traces and say nothing), continuing the incoming `traceparent` only from a trusted proxy.
fn start_trace(request: &Request, trusted: &[IpNet], at: SystemTime) -> Option<RequestSpan> {
    if matches!(request.uri().path(), "/healthz" | "/readyz") {
        return None;
    }
    let ConnectInfo(peer) = *request.extensions().get::<ConnectInfo<SocketAddr>>()?;
    let peer_trusted = client_ip::peer_is_trusted(peer.ip(), trusted);
    trail::start(request.headers(), peer_trusted, at)
}

fn end_trace(traced: RequestSpan, response: &Response, line: &RequestLine) {
    let extensions = response.extensions();
    let outcome = match (
        extensions.get::<Rejection>(),
        extensions.get::<RequestOutcome>(),
    ) {
        (Some(_), _) => "rejected",
        (None, Some(outcome)) => outcome.0,
        (None, None) => "ok",
    };
    traced.end(
        response,
        &Answered {
            method: &line.method,
            path: &line.path,
            client: line.client,
            request_id: &line.id,
            source: extensions.get::<SourceLabel>().map(|s| &*s.0),
            outcome,
        },
    );
}

/// The request's log line at `$level`: the request's own fields, then `$rest` (the outcome's
/// fields and the message).
macro_rules! request_line {
    ($level:ident, $line:expr, $source:expr, $($rest:tt)+) => {
        tracing::$level!(
            request_id = %$line.id,
            method = %$line.method,
            path = %$line.path,
            client_ip = $line.client.map(tracing::field::display),
            source = $source,
            $($rest)+
        )
    };
}

/// A refusal's line at `$level`: the request's fields, the refusal's (status, reason, the
/// private detail, latency: the tuple), then `$rest` (what the sampling adds, and the message).
macro_rules! refusal_line {
    ($level:ident, ($line:expr, $source:expr, $status:expr, $rejection:expr, $latency_ms:expr), $($rest:tt)+) => {
        request_line!(
            $level,
            $line,
            $source,
            status = $status,
            outcome = "rejected",
            reason = $rejection.kind.reason(),
            detail = %$rejection.detail,
            latency_ms = $latency_ms,
            $($rest)+
        )
    };
}

/// Counts the response, writes its log line and sets its request id.
fn finish(
    mut response: Response,
    id: HeaderValue,
    line: &RequestLine,
    elapsed: Duration,
) -> Response {
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    response
        .extensions_mut()
        .insert(RequestIdTag(line.id.clone()));
    count(&response, elapsed);
    let source = response.extensions().get::<SourceLabel>().map(|s| &*s.0);
    match response.extensions().get::<Rejection>() {
        Some(rejection) => {
            let reason = rejection.kind.reason();
            // A burst of refusals (a scan, a provider retrying with a wrong secret) is sampled:
            // the rest are counted in metrics, and the next logged line says how many were cut.
            match REFUSALS.check(source.unwrap_or("unknown"), reason, Instant::now()) {
                Verdict::Log {
                    suppressed: suppressed_since_last,
                } => {
                    refusal_line!(
                        warn,
                        (line, source, status, rejection, latency_ms),
                        suppressed_since_last,
                        "request refused"
                    )
                }
                Verdict::Suppress => {
                    refusal_line!(
                        debug,
                        (line, source, status, rejection, latency_ms),
                        "request refused (sampled out)"
                    )
                }
            }
        }
        None => {
            let outcome = response
                .extensions()
                .get::<RequestOutcome>()
                .map_or("ok", |o| o.0);
            request_line!(
                info,
                line,
                source,
                status,
                outcome,
                latency_ms,
                "request handled"
            );
        }
    }
    let close = response
        .extensions()
        .get::<Rejection>()
        .is_some_and(|r| r.kind.leaves_body_unread());
    let mut response = fill_request_id(response, &line.id);
    response.headers_mut().insert("x-request-id", id);
    if close {
        response
            .headers_mut()
            .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// `requests_total`, `request_duration_seconds` and `rejections_total` for webhook routes (a
/// response from the health routes has neither a source nor a rejection and is not counted).
fn count(response: &Response, elapsed: Duration) {
    let source = response.extensions().get::<SourceLabel>();
    let rejection = response.extensions().get::<Rejection>();
    if source.is_none() && rejection.is_none() {
        return;
    }
    let source = source.map_or("unknown", |s| &s.0);
    let metrics = crate::telemetry::metrics::metrics();
    let outcome = match rejection {
        Some(rejection) => {
            metrics
                .rejections
                .with_label_values(&[source, rejection.kind.reason()])
                .inc();
            "rejected"
        }
        None => response
            .extensions()
            .get::<RequestOutcome>()
            .map_or("ok", |o| o.0),
    };
    crate::telemetry::activity::record(source, outcome, rejection.map(|r| r.kind.reason()));
    let status = response.status();
    if status.is_server_error() {
        let reason = rejection.map_or("handler", |r| r.kind.reason());
        let request_id = response
            .extensions()
            .get::<RequestIdTag>()
            .map_or("-", |id| id.0.as_str());
        crate::telemetry::report::capture(
            &format!("webhook answered {}: {reason}", status.as_u16()),
            sentry::Level::Error,
            &[
                ("source", source),
                ("status", status.as_str()),
                ("reason", reason),
                ("request_id", request_id),
            ],
        );
    }
    metrics
        .requests
        .with_label_values(&[source, outcome, status.as_str()])
        .inc();
    metrics
        .request_duration
        .with_label_values(&[source])
        .observe(elapsed.as_secs_f64());
}
