//! Steps 9 and 10: the provider's signature over the exact bytes received, and its timestamp.
//!
//! Success leaves an [`Authenticated`] in the request: the only way to obtain one, and the only
//! thing [`crate::store::NewEvent`] is built from, so nothing unverified can reach the store.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::Request;
use tower_http::validate_request::ValidateRequest;

use super::Source;
use super::body::Received;
use super::client_ip::ClientIp;
use crate::http::problem::{Rejection, RejectionKind};
use crate::providers::{Inbound, VerifyError};

/// Proof that a request passed its source's authenticity and freshness checks.
#[derive(Debug, Clone)]
pub struct Authenticated {
    source: Arc<str>,
    client_ip: IpAddr,
}

impl Authenticated {
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn client_ip(&self) -> IpAddr {
        self.client_ip
    }
}

#[derive(Clone)]
pub struct Verify(pub Arc<Source>);

impl Verify {
    /// Verifies `body` (the decoded bytes) and the headers at time `now` (unix seconds).
    /// `query` is the request's query string, appended to `public_url` when that has none (a
    /// provider that signs its URL signs what it called, query included).
    pub fn check(
        source: &Source,
        headers: &http::HeaderMap,
        query: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), Rejection> {
        let url = source.public_url.as_deref().map(|base| match query {
            Some(query) if !base.contains('?') && !query.is_empty() => format!("{base}?{query}"),
            _ => base.to_owned(),
        });
        let inbound = Inbound {
            headers,
            body,
            url: url.as_deref(),
            now,
        };
        source.preset.verify(&inbound).map_err(to_rejection)
    }
}

fn to_rejection(error: VerifyError) -> Rejection {
    let kind = match error.reason() {
        "stale_timestamp" => RejectionKind::StaleTimestamp,
        _ => RejectionKind::BadSignature,
    };
    Rejection::new(kind, error.to_string())
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl ValidateRequest<Body> for Verify {
    type ResponseBody = Body;
    fn validate(&mut self, request: &mut Request<Body>) -> Result<(), Response> {
        let (Some(Received(body)), Some(ClientIp(client_ip))) = (
            request.extensions().get::<Received>(),
            request.extensions().get::<ClientIp>(),
        ) else {
            // The stack always runs the body and client-IP layers first; refuse rather than
            // pass if it ever does not.
            return Err(Rejection::new(
                RejectionKind::BadSignature,
                "pipeline misordered: no body",
            )
            .into_response());
        };
        let client_ip = *client_ip;
        Self::check(
            &self.0,
            request.headers(),
            request.uri().query(),
            body,
            unix_now(),
        )
        .map_err(IntoResponse::into_response)?;
        request.extensions_mut().insert(Authenticated {
            source: self.0.name.clone(),
            client_ip,
        });
        Ok(())
    }
}
