//! Verification handshakes, answered without storing an event (SPEC section 1).
//!
//! - [`Subscription`]: Meta-style `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
//!   on a source with `verify_token`: the challenge is echoed when the token matches (constant
//!   time). It runs after the allowlist and rate limit, before the method check.
//! - [`SignedHandshake`]: Slack `url_verification`, Discord PING and Zoom `endpoint.url_validation` are
//!   POSTs signed like any event, so they are answered after verification and parsing, from
//!   [`crate::providers::Preset::handshake`].
//!
//! Both are tower-http `ValidateRequest`s: a request they do not answer passes on unchanged, and
//! neither boxes a future per request as a `from_fn` layer does (docs/benchmarks.md).

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Method, Request, StatusCode, header};
use secrecy::ExposeSecret;
use tower_http::validate_request::ValidateRequest;

use super::CompiledSource;
use super::accept::RequestOutcome;
use super::payload::Payload;
use crate::http::problem::{Rejection, RejectionKind};
use crate::providers::credential_eq;

/// Challenges longer than this are refused: an echo must not be a reflection amplifier.
const MAX_CHALLENGE: usize = 256;

/// Meta-style subscription checks: answers a `GET ?hub.mode=subscribe…` on a source with a
/// `verify_token`, and passes every other request on.
#[derive(Clone)]
pub struct Subscription(pub Arc<CompiledSource>);

impl ValidateRequest<Body> for Subscription {
    type ResponseBody = Body;
    fn validate(&mut self, request: &mut Request<Body>) -> Result<(), Response> {
        subscription(&self.0, request).map_or(Ok(()), Err)
    }
}

/// The answer to a subscription check, or `None` for a request that is not one.
fn subscription(source: &CompiledSource, request: &Request<Body>) -> Option<Response> {
    let token = source.verify_token.as_ref()?;
    if request.method() != Method::GET {
        return None;
    }
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(request.uri().query().unwrap_or("")).unwrap_or_default();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some("subscribe"), Some(given), Some(challenge)) = (
        get("hub.mode"),
        get("hub.verify_token"),
        get("hub.challenge"),
    ) else {
        return None;
    };
    if !credential_eq(token.expose_secret().as_bytes(), given.as_bytes()) {
        return Some(
            Rejection::new(
                RejectionKind::BadSignature,
                "hub.verify_token does not match verify_token",
            )
            .into_response(),
        );
    }
    if challenge.len() > MAX_CHALLENGE || !challenge.bytes().all(|b| b.is_ascii_graphic()) {
        return Some(
            Rejection::new(
                RejectionKind::BadPayload,
                "hub.challenge is not a short token",
            )
            .into_response(),
        );
    }
    Some(handshake_response(
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        challenge.to_owned(),
    ))
}

/// Signed handshakes (Slack, Discord, Zoom): answered from the parsed, verified payload; any
/// other request passes on.
#[derive(Clone)]
pub struct SignedHandshake(pub Arc<CompiledSource>);

impl ValidateRequest<Body> for SignedHandshake {
    type ResponseBody = Body;
    fn validate(&mut self, request: &mut Request<Body>) -> Result<(), Response> {
        let reply = request
            .extensions()
            .get::<Payload>()
            .and_then(|payload| self.0.preset.handshake(payload.object()));
        match reply {
            Some(body) => Err(handshake_response((), axum::Json(body))),
            None => Ok(()),
        }
    }
}

fn handshake_response(
    parts: impl axum::response::IntoResponseParts,
    body: impl IntoResponse,
) -> Response {
    let mut response = (StatusCode::OK, parts, body).into_response();
    response
        .extensions_mut()
        .insert(RequestOutcome("handshake"));
    response
}
