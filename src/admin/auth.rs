//! Who may use the admin API: `Authorization: Bearer <server.admin_token>`, compared in constant
//! time, read from the running config so a reload changes it. Without a token configured every
//! route answers 401: the admin API is never open by omission.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use secrecy::ExposeSecret;

use super::error::AdminError;
use crate::config::Role;
use crate::live::Live;
use crate::providers::credential_eq;

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

/// `Authorization: Bearer <admin_token>`, compared in constant time.
pub(super) async fn require_token(
    State(live): State<Arc<Live>>,
    request: Request,
    next: Next,
) -> Response {
    let snapshot = live.snapshot();
    let Some(expected) = snapshot.admin_token() else {
        return unauthorized("the admin API is disabled: set server.admin_token");
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(given) if credential_eq(expected.expose_secret().as_bytes(), given.as_bytes()) => {
            drop(snapshot);
            let client_ip = request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip());
            let mut request = request;
            request.extensions_mut().insert(Actor {
                name: Arc::from("admin"),
                role: Role::Admin,
                client_ip,
            });
            next.run(request).await
        }
        Some(_) => unauthorized("wrong admin token"),
        None => unauthorized("missing Authorization: Bearer <admin_token>"),
    }
}

fn unauthorized(detail: &str) -> Response {
    let mut response = AdminError::new(StatusCode::UNAUTHORIZED, detail).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer realm=\"hookwall-admin\""),
    );
    response
}
