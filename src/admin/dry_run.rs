//! `POST /admin/sources/{source}/test`, the security test endpoint: runs every check of a
//! source's pipeline on a recorded request, in dry-run, and says which pass and why one fails.
//!
//! The checks are the pipeline's own pure functions ([`Allowlist::check`], [`Verify::check`],
//! [`PayloadCheck::check`], …), run in the pipeline's own order (the dry run walks
//! [`crate::pipeline::stack::STEPS`]), so the report cannot drift from what a real request
//! meets. Every check runs even after one fails, so an operator sees everything wrong at once;
//! the verdict and status are those of the first failure in pipeline order, which is what a
//! real request would get. Nothing is stored or delivered.
//!
//! A credential that is a header (token, Basic, Bearer) is judged before `body`, as in the
//! pipeline: when it fails, `signature` is reported before `body`, and the verdict is its 401.
//!
//! Two checks cannot be judged exactly without side effects, and say so:
//! - `rate_limit` is reported `skip` when the source has a limit: the limiter offers no way to
//!   look at a bucket without taking a token, and a dry run must not take one.
//! - `duplicate` is the one check whose failure does not reject: a real duplicate is answered
//!   200 and not delivered again, so the verdict stays `accept` with status 200.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use serde::{Deserialize, Serialize};

use super::error::AdminError;
use crate::clock::unix_now;
use crate::http::problem::{Rejection, RejectionKind};
use crate::live::Live;
use crate::pipeline::CompiledSource;
use crate::pipeline::accept::{PayloadCheck, dedup_key};
use crate::pipeline::body;
use crate::pipeline::client_ip::ClientIp;
use crate::pipeline::credential::HeaderCredential;
use crate::pipeline::guards::{Allowlist, MethodAndType};
use crate::pipeline::stack::{STEPS, StepKind};
use crate::pipeline::verify::Verify;
use crate::providers::BodyKind;
use crate::store::Store;

/// A recorded request, as the operator pastes it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedRequest {
    #[serde(default)]
    headers: std::collections::BTreeMap<String, HeaderValues>,
    body: Option<String>,
    body_base64: Option<String>,
    /// The client address as the gateway would resolve it (after trusted proxies).
    client_ip: Option<String>,
    /// The URL the provider called; its scheme stands in for `X-Forwarded-Proto`.
    url: Option<String>,
    /// Whether a header credential's value is in `headers`: not for a request the quarantine
    /// kept, which holds only its fingerprint ([`RecordedRequest::kept`]).
    #[serde(skip_deserializing, default = "credential_given")]
    credential_kept: bool,
}

fn credential_given() -> bool {
    true
}

/// Headers given as pairs, grouped by name as a recorded request gives them.
pub(super) fn header_values(
    headers: &[(String, String)],
) -> std::collections::BTreeMap<String, HeaderValues> {
    let mut grouped: std::collections::BTreeMap<String, HeaderValues> = Default::default();
    for (name, value) in headers {
        match grouped.remove(name) {
            None => grouped.insert(name.clone(), HeaderValues::One(value.clone())),
            Some(HeaderValues::One(first)) => {
                grouped.insert(name.clone(), HeaderValues::Many(vec![first, value.clone()]))
            }
            Some(HeaderValues::Many(mut all)) => {
                all.push(value.clone());
                grouped.insert(name.clone(), HeaderValues::Many(all))
            }
        };
    }
    grouped
}

impl RecordedRequest {
    /// A request as the refusal quarantine kept it: its headers (credentials redacted, a header
    /// credential as a fingerprint), its sample as the body, its client address.
    pub fn kept(headers: &[(String, String)], sample: &[u8], client_ip: &str) -> RecordedRequest {
        RecordedRequest {
            headers: header_values(headers),
            body: None,
            body_base64: Some(base64::engine::general_purpose::STANDARD.encode(sample)),
            client_ip: IpAddr::from_str(client_ip).ok().map(|ip| ip.to_string()),
            url: None,
            credential_kept: false,
        }
    }

    /// A request as the console's form gives it: headers in order (a name given twice is two
    /// values), the body as text, the client address as typed.
    pub fn from_parts(
        headers: Vec<(String, String)>,
        body: String,
        client_ip: Option<String>,
    ) -> RecordedRequest {
        RecordedRequest {
            headers: header_values(&headers),
            body: Some(body),
            body_base64: None,
            client_ip,
            url: None,
            credential_kept: credential_given(),
        }
    }
}

/// What a retest says of a header credential the quarantine did not keep.
pub const CREDENTIAL_NOT_KEPT: &str = "credential not kept";

/// A header given once or several times.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum HeaderValues {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Result {
    Pass,
    Fail,
    Skip,
}

impl Result {
    /// The name the report uses (`pass`, `fail`, `skip`).
    pub fn as_str(self) -> &'static str {
        match self {
            Result::Pass => "pass",
            Result::Fail => "fail",
            Result::Skip => "skip",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub result: Result,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    pub verdict: &'static str,
    pub status: u16,
}

/// Collects checks and remembers the first rejection (the one a real request would get).
#[derive(Default)]
struct Collector {
    checks: Vec<Check>,
    first_rejection: Option<RejectionKind>,
}

impl Collector {
    fn pass(&mut self, name: &'static str, reason: impl Into<Option<String>>) {
        self.checks.push(Check {
            name,
            result: Result::Pass,
            reason: reason.into(),
        });
    }

    fn skip(&mut self, name: &'static str, reason: impl Into<String>) {
        self.checks.push(Check {
            name,
            result: Result::Skip,
            reason: Some(reason.into()),
        });
    }

    fn fail(&mut self, name: &'static str, rejection: Rejection) {
        self.first_rejection.get_or_insert(rejection.kind);
        self.checks.push(Check {
            name,
            result: Result::Fail,
            reason: Some(rejection.detail),
        });
    }

    fn outcome<T>(
        &mut self,
        name: &'static str,
        result: std::result::Result<T, Rejection>,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                self.pass(name, None);
                Some(value)
            }
            Err(rejection) => {
                self.fail(name, rejection);
                None
            }
        }
    }
}

pub async fn handler(
    State(live): State<Arc<Live>>,
    Path(name): Path<String>,
    body: Bytes,
) -> std::result::Result<Response, AdminError> {
    let recorded: RecordedRequest = serde_json::from_slice(&body).map_err(|err| {
        AdminError::bad_request(format!(
            "the body must be {{\"headers\": {{…}}, \"body\": \"…\" | \"body_base64\": \"…\", \"client_ip\": \"…\", \"url\": \"…\"}}: {err}"
        ))
    })?;
    let report = test_source(&live, &name, recorded).await?;
    Ok(axum::Json(report).into_response())
}

/// Runs source `name`'s checks on `recorded`, now: what the API's and the console's security
/// test both do. 404 for a source not in the running config.
pub async fn test_source(
    live: &Live,
    name: &str,
    recorded: RecordedRequest,
) -> std::result::Result<Report, AdminError> {
    let snapshot = live.snapshot();
    let source = snapshot
        .source(name)
        .ok_or_else(|| AdminError::not_found(format!("no source named {name:?}")))?
        .clone();
    drop(snapshot);
    run(&source, live.store().as_ref(), recorded, unix_now()).await
}

/// Runs every check on `recorded` as if it arrived at `now` (unix seconds).
pub async fn run(
    source: &CompiledSource,
    store: &dyn Store,
    recorded: RecordedRequest,
    now: i64,
) -> std::result::Result<Report, AdminError> {
    let headers = header_map(&recorded.headers)?;
    let raw = match (&recorded.body, &recorded.body_base64) {
        (Some(_), Some(_)) => {
            return Err(AdminError::bad_request(
                "give body or body_base64, not both",
            ));
        }
        (Some(text), None) => Bytes::from(text.clone().into_bytes()),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map(Bytes::from)
            .map_err(|err| AdminError::bad_request(format!("body_base64: {err}")))?,
        (None, None) => Bytes::new(),
    };
    let client_ip = recorded
        .client_ip
        .as_deref()
        .map(|text| {
            IpAddr::from_str(text.trim())
                .map_err(|_| AdminError::bad_request("client_ip is not an IP address"))
        })
        .transpose()?;

    let query = recorded
        .url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.query().map(str::to_owned));

    // The pipeline's own order: each step it can judge without side effects, as it would meet
    // the request. What a step learns (the body kind, the decoded body, the payload) is what the
    // later ones judge.
    let mut c = Collector::default();
    let mut kind = None;
    let mut header_refused = false;
    let mut raw = Some(raw);
    let mut decoded: Option<Bytes> = None;
    let mut payload = None;
    for step in STEPS {
        match step.kind {
            StepKind::Https => https(&mut c, source, &headers, recorded.url.as_deref()),
            StepKind::Allowlist => allowlist(&mut c, source, client_ip),
            StepKind::RateLimit => rate_limit(&mut c, source),
            StepKind::MethodAndType => {
                kind = c.outcome("content_type", content_type(source, &headers));
            }
            // A credential that is a header is judged before the body, as the pipeline does: a
            // request without it is refused 401 whatever its body.
            StepKind::HeaderCredential => {
                let verdict = HeaderCredential::check(source, &headers);
                if verdict.is_some() && !recorded.credential_kept {
                    // Only its fingerprint was kept: the check cannot be judged, and a request
                    // without it would be refused, so it fails.
                    c.fail(
                        "signature",
                        Rejection::new(RejectionKind::BadSignature, CREDENTIAL_NOT_KEPT),
                    );
                    c.skip(
                        "timestamp",
                        "not judged: a timestamp means something only under a valid credential",
                    );
                    header_refused = true;
                } else if let Some(Err(rejection)) = verdict {
                    c.fail("signature", rejection);
                    c.skip(
                        "timestamp",
                        "not judged: a timestamp means something only under a valid credential",
                    );
                    header_refused = true;
                }
            }
            StepKind::Body => {
                let raw = raw.take().unwrap_or_default();
                decoded = c.outcome("body", decode(source, &headers, raw).await);
            }
            StepKind::Signature => match &decoded {
                _ if header_refused => {}
                Some(body) => {
                    signature_and_timestamp(&mut c, source, &headers, query.as_deref(), body, now)
                }
                None => {
                    c.skip("signature", UNREAD);
                    c.skip("timestamp", UNREAD);
                }
            },
            StepKind::Payload => {
                payload = match (&decoded, kind) {
                    (None, _) => {
                        c.skip("schema", UNREAD);
                        None
                    }
                    (Some(body), Some(kind)) => {
                        c.outcome("schema", PayloadCheck::check(source, kind, body))
                    }
                    (Some(_), None) => {
                        c.skip("schema", "the content type is not one the provider sends");
                        None
                    }
                };
            }
            StepKind::Accept => {
                duplicate(&mut c, source, store, &headers, payload.as_ref(), &decoded).await?;
            }
            // Not judged in a dry run: the request id, log and timeout concern the dry run's
            // own request; the client IP is the recorded one; framing was read off the wire;
            // load shedding and handshakes say nothing about whether the request would pass.
            StepKind::RequestLog
            | StepKind::ClientIp
            | StepKind::Framing
            | StepKind::LoadShedding
            | StepKind::RequestTimeout
            | StepKind::Subscription
            | StepKind::SignedHandshake => {}
        }
    }
    Ok(c.finish(source))
}

/// Why a check after the body was not judged.
const UNREAD: &str = "the body could not be read";

fn allowlist(c: &mut Collector, source: &CompiledSource, client_ip: Option<IpAddr>) {
    if client_ip.is_none() && !source.allow_ips.is_empty() {
        c.fail(
            "ip_allowlist",
            Rejection::new(
                RejectionKind::IpDenied,
                "the recorded request has no client_ip; the source has allow_ips",
            ),
        );
    } else {
        let ip = client_ip.map(ClientIp);
        c.outcome("ip_allowlist", Allowlist::check(source, ip.as_ref()));
    }
}

fn rate_limit(c: &mut Collector, source: &CompiledSource) {
    match &source.rate_limit {
        None => c.pass(
            "rate_limit",
            Some("the source has no rate_limit".to_owned()),
        ),
        Some(limit) => c.skip(
            "rate_limit",
            format!(
                "not evaluated: a dry run takes no token ({} per second, burst {}, per client IP)",
                limit.per_second, limit.burst
            ),
        ),
    }
}

/// Whether the store already holds the event: reported `fail`, but a real duplicate is accepted.
async fn duplicate(
    c: &mut Collector,
    source: &CompiledSource,
    store: &dyn Store,
    headers: &HeaderMap,
    payload: Option<&crate::pipeline::payload::Payload>,
    decoded: &Option<Bytes>,
) -> std::result::Result<(), AdminError> {
    let (Some(payload), Some(body)) = (payload, decoded) else {
        let why = if decoded.is_none() {
            UNREAD
        } else {
            "no payload to key"
        };
        c.skip("duplicate", why);
        return Ok(());
    };
    let key = dedup_key(source, headers, payload, body);
    match store.find(&source.name, &key).await? {
        None => c.pass("duplicate", Some(format!("new event (key {key})"))),
        Some(id) => c.checks.push(Check {
            name: "duplicate",
            result: Result::Fail,
            reason: Some(format!(
                "already stored as event {id}: a real request is answered 200 and not delivered again"
            )),
        }),
    }
    Ok(())
}

impl Collector {
    fn finish(self, source: &CompiledSource) -> Report {
        let duplicate = self
            .checks
            .iter()
            .any(|c| c.name == "duplicate" && c.result == Result::Fail);
        let (verdict, status) = match self.first_rejection {
            Some(kind) => ("reject", kind.status()),
            None if duplicate => ("accept", StatusCode::OK),
            None => ("accept", source.accept_status),
        };
        Report {
            checks: self.checks,
            verdict,
            status: status.as_u16(),
        }
    }
}

pub(super) fn header_map(
    recorded: &std::collections::BTreeMap<String, HeaderValues>,
) -> std::result::Result<HeaderMap, AdminError> {
    let mut headers = HeaderMap::new();
    for (name, values) in recorded {
        let header = HeaderName::from_str(name)
            .map_err(|_| AdminError::bad_request(format!("header name {name:?} is not valid")))?;
        let values = match values {
            HeaderValues::One(value) => std::slice::from_ref(value),
            HeaderValues::Many(values) => values.as_slice(),
        };
        for value in values {
            let value = HeaderValue::from_str(value).map_err(|_| {
                AdminError::bad_request(format!(
                    "header {name}: the value is not a valid header value"
                ))
            })?;
            headers.append(header.clone(), value);
        }
    }
    Ok(headers)
}

fn https(c: &mut Collector, source: &CompiledSource, headers: &HeaderMap, url: Option<&str>) {
    if !source.require_https {
        c.pass("https", Some("server.require_https is off".to_owned()));
        return;
    }
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().eq_ignore_ascii_case("https"));
    let by_url = url.map(|u| u.trim_start().to_ascii_lowercase().starts_with("https://"));
    match forwarded.or(by_url) {
        Some(true) => c.pass("https", None),
        Some(false) => c.fail(
            "https",
            Rejection::new(
                RejectionKind::HttpsRequired,
                "the request was made over plain HTTP",
            ),
        ),
        None => c.fail(
            "https",
            Rejection::new(
                RejectionKind::HttpsRequired,
                "no X-Forwarded-Proto header and no url: cannot tell the request used HTTPS",
            ),
        ),
    }
}

fn content_type(
    source: &CompiledSource,
    headers: &HeaderMap,
) -> std::result::Result<BodyKind, Rejection> {
    let mut request = Request::new(axum::body::Body::empty());
    *request.method_mut() = Method::POST;
    *request.headers_mut() = headers.clone();
    MethodAndType::check(source, &request)
}

async fn decode(
    source: &CompiledSource,
    headers: &HeaderMap,
    raw: Bytes,
) -> std::result::Result<Bytes, Rejection> {
    let limit = source.max_body_bytes;
    if raw.len() as u64 > limit {
        return Err(Rejection::new(
            RejectionKind::TooLarge,
            format!("body of {} bytes exceeds max_body_bytes {limit}", raw.len()),
        ));
    }
    // Behind the admin token: the dry run inflates outside the gzip budget.
    let reservation = crate::pipeline::inflate::Reservation::unbudgeted();
    body::decode(
        raw,
        headers,
        source.preset.sniffs_gzip(),
        limit,
        reservation,
    )
    .await
    .map(|(bytes, _)| bytes)
}

fn signature_and_timestamp(
    c: &mut Collector,
    source: &CompiledSource,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
    now: i64,
) {
    let tolerance = source.preset.timestamp_tolerance();
    match Verify::check(source, headers, query, body, now) {
        Ok(()) => {
            c.pass("signature", None);
            match tolerance {
                Some(t) => c.pass("timestamp", Some(format!("within {}s", t.as_secs()))),
                None => c.pass(
                    "timestamp",
                    Some(format!("{} signs no timestamp", source.preset.provider())),
                ),
            }
        }
        // Every scheme checks the signature before the clock: a stale report means it matched.
        Err(rejection) if rejection.kind == RejectionKind::StaleTimestamp => {
            c.pass("signature", None);
            c.fail("timestamp", rejection);
        }
        Err(rejection) => {
            c.fail("signature", rejection);
            c.skip(
                "timestamp",
                "not judged: a timestamp means something only under a valid signature",
            );
        }
    }
}
