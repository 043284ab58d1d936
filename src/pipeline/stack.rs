//! The order of every check, in one place: [`STEPS`] names them as SPEC section 1 numbers them,
//! and [`public_router`] (steps 1–3, before routing) and `source_stack` (steps 4–14, one per
//! source) compose them in that order. Both read top to bottom, the order a webhook meets them:
//! each is a `tower::ServiceBuilder`, which runs its layers in the order they are added. The
//! security test endpoint (`admin::dry_run`) walks [`STEPS`] to run the same checks in dry-run.
//!
//! Cheap checks come first so a hostile client pays more than the gateway: a refused address
//! costs one lookup, and the body is read only once the request has passed every check that
//! needs no body.
//!
//! This module composes and never checks anything itself: each step is a function or layer of
//! its own module; what is logged, counted and reported about a request is [`super::observe`].

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use ipnet::IpNet;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::validate_request::ValidateRequestHeaderLayer;

use super::CompiledSource;
use super::accept::{PayloadCheck, accept};
use super::admission::{Admission, admit};
use super::credential::HeaderCredential;
use super::framing::Guard;
use super::guards::{Allowlist, MethodAndType, RequireHttps};
use super::handshake::{SignedHandshake, Subscription};
use super::observe::{self, SourceLabel};
use super::quarantine::Tap;
use super::quarantined::Quarantined;
use super::rate_limit::{self, Limiter};
use super::trail::{self, checkpoint};
use super::verify::Verify;
use crate::config::frontdoor::ClientPrefix;
use crate::delivery::Registry;
use crate::http::problem::{Rejection, RejectionKind};
use crate::store::Store;

/// What a step does; [`STEPS`] gives their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Request id, span, the request's log line and metrics ([`super::observe`]).
    RequestLog,
    /// The client address: the peer, or `X-Forwarded-For` behind a trusted proxy
    /// ([`super::client_ip`], resolved by the request log so the span has it).
    ClientIp,
    /// A head RFC 9112 says to refuse ([`super::framing`]).
    Framing,
    /// Load shedding, per client and in all ([`super::admission`]).
    LoadShedding,
    /// `server.request_timeout` over everything after it.
    RequestTimeout,
    /// `server.require_https` ([`RequireHttps`]).
    Https,
    /// The source's `allow_ips` ([`Allowlist`]).
    Allowlist,
    /// The source's `rate_limit`, per client block ([`super::rate_limit`]).
    RateLimit,
    /// Meta-style `GET ?hub.challenge` subscription checks ([`super::handshake::Subscription`]).
    Subscription,
    /// POST, and a content type the provider sends ([`MethodAndType`]).
    MethodAndType,
    /// A credential that is a header (token, Basic, Bearer), before the body ([`HeaderCredential`]).
    HeaderCredential,
    /// The body under `max_body_bytes`, gzip under the same cap ([`super::body`]).
    Body,
    /// Signature over the exact bytes, and the timestamp's freshness ([`Verify`]).
    Signature,
    /// Depth-limited parse and the source's JSON Schema ([`PayloadCheck`]).
    Payload,
    /// Signed handshakes (Slack, Discord, Zoom), answered and never stored
    /// ([`super::handshake::SignedHandshake`]).
    SignedHandshake,
    /// De-duplication, the durable store and the answer ([`accept`]; a proxy source forwards
    /// through `delivery::proxy`).
    Accept,
}

impl StepKind {
    /// The name of the step's span when traces are on (`super::trail`, SPEC section 14).
    pub fn name(self) -> &'static str {
        match self {
            StepKind::RequestLog => "request_log",
            StepKind::ClientIp => "client_ip",
            StepKind::Framing => "framing",
            StepKind::LoadShedding => "load_shedding",
            StepKind::RequestTimeout => "request_timeout",
            StepKind::Https => "https",
            StepKind::Allowlist => "allowlist",
            StepKind::RateLimit => "rate_limit",
            StepKind::Subscription => "subscription",
            StepKind::MethodAndType => "method_and_type",
            StepKind::HeaderCredential => "header_credential",
            StepKind::Body => "body",
            StepKind::Signature => "signature",
            StepKind::Payload => "payload",
            StepKind::SignedHandshake => "signed_handshake",
            StepKind::Accept => "accept",
        }
    }
}

/// One step of [`STEPS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// SPEC section 1's number for it, or `""` for a step the SPEC does not number.
    pub number: &'static str,
    pub kind: StepKind,
    /// What a refusal answers, or `""` when it never refuses.
    pub refuses: &'static str,
}

const fn step(number: &'static str, kind: StepKind, refuses: &'static str) -> Step {
    Step {
        number,
        kind,
        refuses,
    }
}

/// Every step a webhook meets, in the order it meets them. Steps 1–3 and the framing check run
/// before routing, for every request of the public listener (health probes included, which skip
/// load shedding and the timeout); the rest run in the stack of the source the path names.
pub const STEPS: &[Step] = &[
    step("1", StepKind::RequestLog, ""),
    step("3", StepKind::ClientIp, ""),
    step("", StepKind::Framing, "400"),
    step("2", StepKind::LoadShedding, "503"),
    step("", StepKind::RequestTimeout, "408"),
    step("4", StepKind::Https, "403"),
    step("5", StepKind::Allowlist, "403"),
    step("6", StepKind::RateLimit, "429"),
    step("", StepKind::Subscription, ""),
    step("7", StepKind::MethodAndType, "405 / 415"),
    step("", StepKind::HeaderCredential, "401"),
    step("8", StepKind::Body, "413 / 400 / 503"),
    step("9–10", StepKind::Signature, "401"),
    step("11", StepKind::Payload, "400 / 422"),
    step("", StepKind::SignedHandshake, ""),
    step("12–14", StepKind::Accept, "503"),
];

type SourceService = BoxCloneSyncService<Request, Response, Infallible>;

/// Steps 4–14 for one source. Every check that refuses for what the request holds is wrapped
/// in [`Quarantined`], and the body step is given the `tap`: their refusals are kept by the
/// quarantine (SPEC section 13); what passes costs nothing more.
fn source_stack(
    source: Arc<CompiledSource>,
    store: Arc<dyn Store>,
    registry: Arc<Registry>,
    tap: Option<Arc<Tap>>,
) -> (SourceService, Option<Limiter>) {
    let (governor, limiter) = match &source.rate_limit {
        Some(quota) => rate_limit::layer(source.name.clone(), quota, source.client_prefix)
            .map_or((None, None), |(l, h)| (Some(l), Some(h))),
        None => (None, None),
    };
    let accept_source = source.clone();
    // With traces on, a checkpoint stands before each step (`trail`: it times the steps); off,
    // `checkpoint` is `None` and the stack is what it would be without traces.
    let limited = governor.is_some();
    let service = ServiceBuilder::new()
        // 4. Plain HTTP is refused before anything else is looked at.
        .option_layer(checkpoint(StepKind::Https.name()).filter(|_| source.require_https))
        .option_layer(
            source
                .require_https
                .then(|| quarantined(RequireHttps, &source, &tap)),
        )
        // 5. The allowlist before the rate limit: a refused address never gets a bucket, so a
        //    scan from many addresses cannot grow the limiter's memory.
        .option_layer(checkpoint(StepKind::Allowlist.name()))
        .layer(quarantined(Allowlist(source.clone()), &source, &tap))
        // 6. Rate limit before any work that grows with the request (body, HMAC, JSON).
        .option_layer(checkpoint(StepKind::RateLimit.name()).filter(|_| limited))
        .option_layer(governor)
        // Meta-style `GET ?hub.challenge` subscription checks, before GET is refused.
        .option_layer(checkpoint(StepKind::Subscription.name()))
        .layer(ValidateRequestHeaderLayer::custom(Subscription(
            source.clone(),
        )))
        // 7. Method and content type: still headers only.
        .option_layer(checkpoint(StepKind::MethodAndType.name()))
        .layer(quarantined(MethodAndType(source.clone()), &source, &tap))
        // A credential that is a header (token, Basic, Bearer) is checked before the body is
        // read: a client without it never makes the gateway read or inflate one.
        .option_layer(checkpoint(StepKind::HeaderCredential.name()))
        .layer(quarantined(HeaderCredential(source.clone()), &source, &tap))
        // 8. Read the body under the cap, undo gzip under the same cap (and, for a request not
        //    yet authenticated, under the gzip budget: see `inflate`).
        .option_layer(checkpoint(StepKind::Body.name()))
        .layer(from_fn_with_state(
            (source.clone(), tap.clone()),
            super::body::layer,
        ))
        // 9–10. Signature and timestamp over the exact bytes: the first expensive step, and the
        //       one that must pass before the payload is parsed at all.
        .option_layer(checkpoint(StepKind::Signature.name()))
        .layer(quarantined(Verify(source.clone()), &source, &tap))
        // 11. Parse (depth-limited) and validate against the schema: only authenticated bodies.
        .option_layer(checkpoint(StepKind::Payload.name()))
        .layer(quarantined(PayloadCheck(source.clone()), &source, &tap))
        // Signed handshakes (Slack url_verification, Discord PING, Zoom URL validation) are
        // answered here, authenticated and parsed, and never stored.
        .option_layer(checkpoint(StepKind::SignedHandshake.name()))
        .layer(ValidateRequestHeaderLayer::custom(SignedHandshake(
            source.clone(),
        )))
        // 12–14. De-duplicate and store in one atomic insert, then answer.
        //        A proxy source then forwards synchronously and answers with the destination's reply.
        .option_layer(checkpoint(StepKind::Accept.name()))
        .service_fn(move |request: Request| {
            let source = accept_source.clone();
            let store = store.clone();
            let registry = registry.clone();
            async move { Ok::<_, Infallible>(accept(source, store, registry, request).await) }
        });
    (BoxCloneSyncService::new(service), limiter)
}

/// A check whose refusals the quarantine keeps (when `tap` is on).
fn quarantined<V>(
    check: V,
    source: &Arc<CompiledSource>,
    tap: &Option<Arc<Tap>>,
) -> ValidateRequestHeaderLayer<Quarantined<V>> {
    ValidateRequestHeaderLayer::custom(Quarantined {
        check,
        source: source.clone(),
        tap: tap.clone(),
    })
}

/// The webhook routes of one loaded config: a path → stack map, swapped whole on reload.
pub struct Routes {
    by_path: HashMap<String, (Arc<str>, SourceService)>,
    limiters: Vec<Limiter>,
}

impl Routes {
    /// The routes of one config generation; `registry` is that generation's destinations, `tap`
    /// where its refusals are kept (`None`: the quarantine is off).
    pub fn new(
        sources: &[Arc<CompiledSource>],
        store: &Arc<dyn Store>,
        registry: &Arc<Registry>,
        tap: Option<Arc<Tap>>,
    ) -> Routes {
        let mut by_path = HashMap::new();
        let mut limiters = Vec::new();
        for source in sources {
            let (service, limiter) =
                source_stack(source.clone(), store.clone(), registry.clone(), tap.clone());
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

/// The public listener as one service: what [`public_router`] builds and `app` serves.
pub type PublicService = BoxCloneSyncService<Request, Response, Infallible>;

/// The whole public listener: steps 1–3 and the framing check before routing, then the health
/// routes, or steps 2 and 4–14 for a webhook.
pub fn public_router(public: Public) -> PublicService {
    let hooks = ServiceBuilder::new()
        // The in-flight count, step 2 and the request timeout, in one layer ([`front`]).
        .layer(from_fn_with_state(
            Arc::new(Front {
                admission: Arc::new(Admission::new(
                    public.max_in_flight,
                    public.max_in_flight_per_client,
                    public.client_prefix,
                )),
                request_timeout: public.request_timeout,
            }),
            front,
        ))
        // 4–14, chosen by the URL path alone.
        .service(Dispatch {
            routes: public.routes.clone(),
        });
    // Health probes are logged with their client too (a proxy's health check shows as the
    // proxy). They are not shed, timed out or HTTPS-checked: a probe must see the truth.
    let routes = axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/readyz", axum::routing::get(readyz))
        .with_state(public.store.clone())
        .fallback_service(hooks);
    let service = ServiceBuilder::new()
        // A Sentry hub per request, so what one request reports carries only its own tags; none
        // when Sentry is off (`SENTRY_DSN` unset), where it would cost every request for nothing.
        .option_layer(
            observe::sentry_enabled()
                .then(sentry::integrations::tower::NewSentryLayer::<Request>::new_from_top),
        )
        // 1. Request id, span and the one log line per request, around everything else; and
        // 3. the client IP from the TCP peer, or from X-Forwarded-For when the peer is trusted,
        //    resolved here (cheap, bounded) so the span carries it from its start.
        .layer(from_fn_with_state(
            public.trusted_proxies.clone(),
            observe::request_log,
        ))
        // Before anything looks at the request's content: a head RFC 9112 says to refuse
        // (Content-Length with Transfer-Encoding as seen on the wire, a missing or repeated
        // Host) is 400.
        .option_layer(checkpoint(StepKind::Framing.name()))
        .layer(ValidateRequestHeaderLayer::custom(Guard))
        .service(routes);
    BoxCloneSyncService::new(service)
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

/// What every webhook meets before its source's stack, in one layer (each `from_fn` layer boxes
/// a future per request): the in-flight count, then step 2, then the request timeout.
struct Front {
    admission: Arc<Admission>,
    request_timeout: Duration,
}

async fn front(State(front): State<Arc<Front>>, request: Request, next: Next) -> Response {
    // `in_flight_requests` counts every webhook from here on, shed or not.
    let _counted = observe::InFlight::start();
    trail::enter(&request, StepKind::LoadShedding.name());
    // 2. Load shedding: past `max_in_flight` concurrent webhooks, or past
    //    `max_in_flight_per_client` for one client, answer 503 at once instead of queueing
    //    without bound; when all slots are taken, a request stuck on its body makes room.
    admit(&front.admission, request, |request| {
        trail::enter(&request, StepKind::RequestTimeout.name());
        // The request timeout bounds a slow body (slowloris after the headers) and everything
        // after it; hyper's header timeout bounds the part before.
        request_timeout(front.request_timeout, next.run(request))
    })
    .await
}

async fn request_timeout(limit: Duration, handled: impl Future<Output = Response>) -> Response {
    match tokio::time::timeout(limit, handled).await {
        Ok(response) => response,
        Err(_) => {
            Rejection::new(RejectionKind::RequestTimeout, "request_timeout elapsed").into_response()
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The SPEC numbers of a step: `"9–10"` is 9 and 10.
    fn numbers(step: &Step) -> Vec<u8> {
        let mut bounds = step.number.split('–').filter_map(|n| n.parse::<u8>().ok());
        match (bounds.next(), bounds.next()) {
            (Some(first), Some(last)) => (first..=last).collect(),
            (Some(only), None) => vec![only],
            _ => Vec::new(),
        }
    }

    #[test]
    fn every_step_of_spec_section_1_is_listed_once() {
        let mut listed: Vec<u8> = STEPS.iter().flat_map(numbers).collect();
        listed.sort_unstable();
        assert_eq!(listed, (1..=14).collect::<Vec<u8>>());
        for (i, step) in STEPS.iter().enumerate() {
            assert!(
                STEPS
                    .iter()
                    .skip(i + 1)
                    .all(|later| later.kind != step.kind),
                "{:?} is listed twice",
                step.kind
            );
        }
    }

    #[test]
    fn the_source_steps_run_in_spec_order() {
        // Steps 1–3 run before routing (the client IP inside the request log); from 4 on, the
        // SPEC's numbers only grow.
        let after_routing: Vec<u8> = STEPS
            .iter()
            .skip_while(|step| step.kind != StepKind::Https)
            .flat_map(numbers)
            .collect();
        assert!(after_routing.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(after_routing.first(), Some(&4));
    }
}
