//! Who may use the admin API (SPEC section 12): `Authorization: Bearer <token>`, one of the
//! running config's admin tokens (`server.admin_token`, an `admin` named `admin`, and
//! `[[server.admin_tokens]]`), read at each request so a reload adds and removes tokens.
//!
//! [`require_token`] answers 401 to a missing or unknown token and puts an [`Actor`] into the
//! request; [`require_role`], one per route group, answers 403 to a known token whose role is
//! below the group's. Without any token configured every route answers 401: the admin API is
//! never open by omission. [`metrics_gate`] asks `/metrics` for a token of any role when
//! `server.metrics_require_token` is set.
//!
//! A presented token is hashed once (SHA-256) and compared in constant time with every
//! configured digest, all of them, whichever matches: the time taken says nothing about which
//! token, if any, was right. No answer and no log line holds a token; a 403 names the token's
//! name and role, which its holder knows already.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::error::AdminError;
use crate::config::{AdminToken, Role};
use crate::http::problem::operator_problem;
use crate::live::Live;

/// Who is calling: the token's name and role, and the address the call came from. Set by
/// [`require_token`] on every request it lets through; handlers read it as `Extension<Actor>`.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The token's name (`admin` for `server.admin_token`).
    pub name: Arc<str>,
    pub role: Role,
    /// The TCP peer of the admin listener (absent only when a test calls the router directly).
    pub client_ip: Option<IpAddr>,
}

/// Lets a request through only with a configured token; the [`Actor`] it carries says whose.
pub(super) async fn require_token(
    State(live): State<Arc<Live>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = {
        let snapshot = live.snapshot();
        identify(snapshot.admin_tokens(), request.headers()).map(|t| (t.name.clone(), t.role))
    };
    let (name, role) = match token {
        Ok(token) => token,
        Err(why) => return unauthorized(why),
    };
    let client_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    request.extensions_mut().insert(Actor {
        name,
        role,
        client_ip,
    });
    next.run(request).await
}

/// The route layer of one role's group: 403 unless the caller's role is `needed` or above.
/// Runs under [`require_token`]; a request without an [`Actor`] (a router built without it) is
/// refused too.
pub(super) async fn require_role(
    State(needed): State<Role>,
    request: Request,
    next: Next,
) -> Response {
    let Some(actor) = request.extensions().get::<Actor>() else {
        return unauthorized("missing Authorization: Bearer <token>");
    };
    if actor.role >= needed {
        return next.run(request).await;
    }
    tracing::info!(
        actor = %actor.name,
        role = actor.role.name(),
        needed = needed.name(),
        method = %request.method(),
        path = request.uri().path(),
        "admin request refused: the token's role is too low"
    );
    forbidden(actor, needed)
}

/// `/metrics`: open unless `server.metrics_require_token`, then a token of any role.
pub(super) async fn metrics_gate(
    State(live): State<Arc<Live>>,
    request: Request,
    next: Next,
) -> Response {
    let refusal = {
        let snapshot = live.snapshot();
        if snapshot.config.server.metrics_require_token {
            identify(snapshot.admin_tokens(), request.headers())
                .err()
                .map(unauthorized)
        } else {
            None
        }
    };
    match refusal {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

/// The configured token the request presents, or why not (the detail of the 401 to answer).
fn identify<'t>(
    tokens: &'t [AdminToken],
    headers: &HeaderMap,
) -> Result<&'t AdminToken, &'static str> {
    if tokens.is_empty() {
        return Err("the admin API is disabled: set server.admin_token or [[server.admin_tokens]]");
    }
    let given = bearer(headers).ok_or("missing Authorization: Bearer <token>")?;
    matching(tokens, given).ok_or("not a token this server knows")
}

/// The credentials of `Authorization: Bearer <token>` (the scheme in any case, RFC 9110).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credentials.is_empty()).then_some(credentials)
}

/// The token whose digest is the SHA-256 of `given` (also the console's login check). Every digest is compared, in constant time,
/// and the match is selected without a branch, so the time taken depends only on the number of
/// tokens. Digests are unique (the config refuses two names with one token).
pub fn matching<'t>(tokens: &'t [AdminToken], given: &str) -> Option<&'t AdminToken> {
    let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
    let mut found = u64::MAX;
    for (index, token) in (0u64..).zip(tokens) {
        found.conditional_assign(&index, token.digest.ct_eq(&digest));
    }
    usize::try_from(found)
        .ok()
        .and_then(|index| tokens.get(index))
}

fn unauthorized(detail: &str) -> Response {
    let mut response = AdminError::new(StatusCode::UNAUTHORIZED, detail).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer realm=\"hookwall-admin\""),
    );
    response
}

/// The 403 of a known token without the role: which role the route needs and which the token
/// has (the CLI words it from `token_name`, `token_role` and `required_role`).
fn forbidden(actor: &Actor, needed: Role) -> Response {
    let detail = format!(
        "the token `{}` has role {}; this route needs {} (or a role above it)",
        actor.name,
        actor.role.name(),
        needed.name()
    );
    let mut extensions = serde_json::Map::new();
    extensions.insert("token_name".to_owned(), json!(&*actor.name));
    extensions.insert("token_role".to_owned(), json!(actor.role.name()));
    extensions.insert("required_role".to_owned(), json!(needed.name()));
    operator_problem(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &detail,
        Some(&extensions),
    )
}
