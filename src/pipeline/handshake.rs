//! Verification handshakes, answered without storing an event (SPEC section 1).
//!
//! - [`subscription`]: Meta-style `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
//!   on a source with `verify_token`: the challenge is echoed when the token matches (constant
//!   time). It runs after the allowlist and rate limit, before the method check.
//! - [`answer`]: Slack `url_verification`, Discord PING and Zoom `endpoint.url_validation` are
//!   POSTs signed like any event, so they are answered after verification and parsing, from
//!   [`crate::providers::Preset::handshake`].

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, header};
use secrecy::ExposeSecret;

use super::CompiledSource;
use super::accept::RequestOutcome;
use super::payload::Payload;
use crate::http::problem::{Rejection, RejectionKind};
use crate::providers::credential_eq;

/// Challenges longer than this are refused: an echo must not be a reflection amplifier.
const MAX_CHALLENGE: usize = 256;

pub async fn subscription(
    State(source): State<Arc<CompiledSource>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = source.verify_token.as_ref() else {
        return next.run(request).await;
    };
    if request.method() != Method::GET {
        return next.run(request).await;
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
        return next.run(request).await;
    };
    if !credential_eq(token.expose_secret().as_bytes(), given.as_bytes()) {
        return Rejection::new(
            RejectionKind::BadSignature,
            "hub.verify_token does not match verify_token",
        )
        .into_response();
    }
    if challenge.len() > MAX_CHALLENGE || !challenge.bytes().all(|b| b.is_ascii_graphic()) {
        return Rejection::new(
            RejectionKind::BadPayload,
            "hub.challenge is not a short token",
        )
        .into_response();
    }
    handshake_response(
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        challenge.to_owned(),
    )
}

pub async fn answer(
    State(source): State<Arc<CompiledSource>>,
    request: Request,
    next: Next,
) -> Response {
    let reply = request
        .extensions()
        .get::<Payload>()
        .and_then(|payload| source.preset.handshake(payload.object()));
    match reply {
        Some(body) => handshake_response((), axum::Json(body)),
        None => next.run(request).await,
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
