//! The order of every check, in one place. Read top to bottom: that is the order a webhook
//! meets them (tower's `ServiceBuilder` runs its layers in the order they are added).
//!
//! Cheap checks come first so a hostile client pays more than the gateway: a refused address
//! costs one lookup, and the body is read only once the request has passed every check that
//! needs no body.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::HeaderValue;
use ipnet::IpNet;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::validate_request::ValidateRequestHeaderLayer;
use tracing::Instrument;

use super::Source;
use super::accept::{Outcome, PayloadCheck, accept};
use super::admission::{Admission, admit};
use super::client_ip::{self, ClientIp, ForwardedHttps};
use super::guards::{Allowlist, MethodAndType, RequireHttps};
use super::rate_limit::{self, Limiter};
use super::verify::{HeaderCredential, Verify};
use crate::config::frontdoor::ClientPrefix;
use crate::delivery::Registry;
use crate::http::problem::{Rejection, RejectionKind, RequestId, fill_request_id};
use crate::store::Store;
use crate::telemetry::sample::{REFUSALS, Verdict};

type SourceService = BoxCloneSyncService<Request, Response, Infallible>;

/// Steps 4–14 for one source.
fn source_stack(
    source: Arc<Source>,
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
) -> (SourceService, Option<Limiter>) {
    let (governor, limiter) = match &source.rate_limit {
        Some(quota) => rate_limit::layer(source.name.clone(), quota, source.client_prefix)
            .map_or((None, None), |(l, h)| (Some(l), Some(h))),
        None => (None, None),
    };
    let accept_source = source.clone();
    let service = ServiceBuilder::new()
        // 4. Plain HTTP is refused before anything else is looked at.
        .option_layer(
            source
                .require_https
                .then(|| ValidateRequestHeaderLayer::custom(RequireHttps)),
        )
        // 5. The allowlist before the rate limit: a refused address never gets a bucket, so a
        //    scan from many addresses cannot grow the limiter's memory.
        .layer(ValidateRequestHeaderLayer::custom(Allowlist(
            source.clone(),
        )))
        // 6. Rate limit before any work that grows with the request (body, HMAC, JSON).
        .option_layer(governor)
        // Meta-style `GET ?hub.challenge` subscription checks, before GET is refused.
        .layer(from_fn_with_state(
            source.clone(),
            super::handshake::subscription,
        ))
        // 7. Method and content type: still headers only.
        .layer(ValidateRequestHeaderLayer::custom(MethodAndType(
            source.clone(),
        )))
        // A credential that is a header (token, Basic, Bearer) is checked before the body is
        // read: a client without it never makes the gateway read or inflate one.
        .layer(ValidateRequestHeaderLayer::custom(HeaderCredential(
            source.clone(),
        )))
        // 8. Read the body under the cap, undo gzip under the same cap (and, for a request not
        //    yet authenticated, under the gzip budget: see `inflate`).
        .layer(from_fn_with_state(source.clone(), super::body::layer))
        // 9–10. Signature and timestamp over the exact bytes: the first expensive step, and the
        //       one that must pass before the payload is parsed at all.
        .layer(ValidateRequestHeaderLayer::custom(Verify(source.clone())))
        // 11. Parse (depth-limited) and validate against the schema: only authenticated bodies.
        .layer(ValidateRequestHeaderLayer::custom(PayloadCheck(
            source.clone(),
        )))
        // Signed handshakes (Slack url_verification, Discord PING, Zoom URL validation) are
        // answered here, authenticated and parsed, and never stored.
        .layer(from_fn_with_state(source.clone(), super::handshake::answer))
        // 12–14. De-duplicate and store in one atomic insert, then answer.
        //        A proxy source then forwards synchronously and answers with the destination's reply.
        .service_fn(move |request: Request| {
            let source = accept_source.clone();
            let store = store.clone();
            let registry = registry.clone();
            async move { Ok::<_, Infallible>(accept(source, store, registry, request).await) }
        });
    (BoxCloneSyncService::new(service), limiter)
}

/// The webhook routes of one loaded config: a path → stack map, swapped whole on reload.
pub struct Routes {
    by_path: HashMap<String, (Arc<str>, SourceService)>,
    limiters: Vec<Limiter>,
}

impl Routes {
    /// The routes of one config generation; `registry` is that generation's destinations.
    pub fn new(
        sources: &[Arc<Source>],
        store: &Arc<dyn Store>,
        registry: &Arc<Registry>,
    ) -> Routes {
        let mut by_path = HashMap::new();
        let mut limiters = Vec::new();
        for source in sources {
            let (service, limiter) = source_stack(source.clone(), store.clone(), registry.clone());
            limiters.extend(limiter);
            by_path.insert(source.path.clone(), (source.name.clone(), service));
        }
        Routes { by_path, limiters }
    }

    pub fn limiters(&self) -> &[Limiter] {
        &self.limiters
    }
}

/// Settings of the public listener that are fixed for the process's life.
#[derive(Clone)]
pub struct Public {
    pub routes: Arc<ArcSwap<Routes>>,
    pub store: Arc<dyn Store>,
    pub trusted_proxies: Arc<[IpNet]>,
    pub max_in_flight: usize,
    pub max_in_flight_per_client: usize,
    pub client_prefix: ClientPrefix,
    pub request_timeout: Duration,
}

/// The whole public listener: health routes, and steps 1–3 in front of the per-source stacks.
pub fn public_router(public: Public) -> axum::Router {
    let hooks = ServiceBuilder::new()
        .layer(from_fn(in_flight))
        // 2. Load shedding: past `max_in_flight` concurrent webhooks, or past
        //    `max_in_flight_per_client` for one client, answer 503 at once instead of queueing
        //    without bound; when all slots are taken, a request stuck on its body makes room.
        .layer(from_fn_with_state(
            Arc::new(Admission::new(
                public.max_in_flight,
                public.max_in_flight_per_client,
                public.client_prefix,
            )),
            admit,
        ))
        // The request timeout bounds a slow body (slowloris after the headers) and everything
        // after it; hyper's header timeout bounds the part before.
        .layer(from_fn_with_state(public.request_timeout, request_timeout))
        // (3. The client IP was resolved by the request log layer, below.)
        // 4–14, chosen by the URL path alone.
        .service(Dispatch {
            routes: public.routes.clone(),
        });
    axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        // Health probes are logged with their client too (a proxy's health check shows as the
        // proxy). They are not shed, timed out or HTTPS-checked: a probe must see the truth.
        .with_state(public.store.clone())
        .fallback_service(hooks)
        // Before anything looks at the request: a head RFC 9112 says to refuse (Content-Length
        // with Transfer-Encoding as seen on the wire, a missing or repeated Host) is 400.
        .layer(from_fn(super::framing::guard))
        // 1. Request id, span and the one log line per request, around everything else; and
        // 3. the client IP from the TCP peer, or from X-Forwarded-For when the peer is trusted,
        //    resolved here (cheap, bounded) so the span carries it from its start.
        .layer(from_fn_with_state(
            public.trusted_proxies.clone(),
            request_log,
        ))
        // A Sentry hub per request, so what one request reports carries only its own tags; none
        // when Sentry is off (`SENTRY_DSN` unset), where it would cost every request for nothing.
        .layer(tower::util::option_layer(sentry_enabled().then(
            sentry::integrations::tower::NewSentryLayer::<Request>::new_from_top,
        )))
}

/// Whether Sentry was started (`telemetry::report::init`, before any router is built).
fn sentry_enabled() -> bool {
    sentry::Hub::current()
        .client()
        .is_some_and(|client| client.is_enabled())
}

/// The source a response belongs to, for metrics; webhook responses without one (unknown
/// path, shed load) are labelled `unknown`.
#[derive(Debug, Clone)]
struct SourceLabel(Arc<str>);

/// The request id, for the Sentry tags of a 5xx answer.
#[derive(Debug, Clone)]
struct RequestIdTag(String);

/// Counts webhook requests in flight, also when the request is cancelled mid-way.
struct InFlight;

impl InFlight {
    fn start() -> InFlight {
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

async fn in_flight(request: Request, next: Next) -> Response {
    let _counted = InFlight::start();
    next.run(request).await
}

/// Picks the source's stack by path; an unknown path is a plain 404.
#[derive(Clone)]
struct Dispatch {
    routes: Arc<ArcSwap<Routes>>,
}

impl Service<Request> for Dispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // In-flight requests keep the routes they started with; a reload swaps in new ones.
        let routes = self.routes.load_full();
        Box::pin(async move {
            match routes.by_path.get(request.uri().path()) {
                Some((name, service)) => {
                    let mut response = service.clone().oneshot(request).await?;
                    response.extensions_mut().insert(SourceLabel(name.clone()));
                    Ok(response)
                }
                None => Ok(
                    Rejection::new(RejectionKind::NotFound, "no source at this path")
                        .into_response(),
                ),
            }
        })
    }
}

async fn request_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            Rejection::new(RejectionKind::RequestTimeout, "request_timeout elapsed").into_response()
        }
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
async fn request_log(
    State(trusted): State<Arc<[IpNet]>>,
    mut request: Request,
    next: Next,
) -> Response {
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
    let span = tracing::info_span!("request", request_id = %line.id);
    let started = Instant::now();
    let response = next.run(request).instrument(span).await;
    finish(response, id, &line, started.elapsed())
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
                Verdict::Log { suppressed } => request_line!(
                    warn,
                    line,
                    source,
                    status,
                    outcome = "rejected",
                    reason,
                    detail = %rejection.detail,
                    latency_ms,
                    suppressed_since_last = suppressed,
                    "request refused"
                ),
                Verdict::Suppress => request_line!(
                    debug,
                    line,
                    source,
                    status,
                    outcome = "rejected",
                    reason,
                    detail = %rejection.detail,
                    latency_ms,
                    "request refused (sampled out)"
                ),
            }
        }
        None => {
            let outcome = response.extensions().get::<Outcome>().map_or("ok", |o| o.0);
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
        None => response.extensions().get::<Outcome>().map_or("ok", |o| o.0),
    };
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

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Ready when the store takes writes (bounded: a hung store is "not ready", not a hung probe).
async fn readyz(State(store): State<Arc<dyn Store>>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), store.ping()).await {
        Ok(Ok(())) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Ok(Err(err)) => not_ready(&err.to_string()),
        Err(_) => not_ready("store ping timed out"),
    }
}

fn not_ready(why: &str) -> Response {
    tracing::warn!(reason = why, "not ready");
    (
        http::StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({"status": "unavailable"})),
    )
        .into_response()
}
