//! Step 8a: a credential that lives in a header (token, Basic, Bearer, `brightdata`,
//! `particle`, GitLab's secret token) is checked from the headers alone, before the body is
//! read, so a client without it never makes the gateway read or inflate a body.
//!
//! A request that passes is only marked [`CredentialChecked`] (its body may then inflate outside
//! the per-client budget, see [`super::body`]); it is not authenticated: that proof is made by
//! [`super::verify`] alone, after the body. This file imports nothing else from the pipeline but
//! [`CompiledSource`], so the body layer and the verify step can both use it.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::Request;
use tower_http::validate_request::ValidateRequest;

use super::CompiledSource;
use crate::http::problem::{Rejection, RejectionKind};
use crate::providers::VerifyError;

/// Marks a request whose header credential was checked before its body was read.
#[derive(Debug, Clone, Copy)]
pub struct CredentialChecked;

/// Before the body: a source whose credential is a header (token, Basic, Bearer, `brightdata`,
/// `particle`, GitLab's secret token) has it checked from the headers alone, so a client
/// without it never makes the gateway read or inflate a body. [`super::verify::Verify`] checks
/// it again after the body (a constant-time compare; the one place an
/// [`crate::event::Authenticated`] is made).
#[derive(Clone)]
pub struct HeaderCredential(pub Arc<CompiledSource>);

impl HeaderCredential {
    /// `None` when the source's verdict needs the body.
    pub fn check(
        source: &CompiledSource,
        headers: &http::HeaderMap,
    ) -> Option<Result<(), Rejection>> {
        source
            .preset
            .verify_headers_only(headers)
            .map(|verdict| verdict.map_err(to_rejection))
    }
}

impl ValidateRequest<Body> for HeaderCredential {
    type ResponseBody = Body;
    fn validate(&mut self, request: &mut Request<Body>) -> Result<(), Response> {
        match Self::check(&self.0, request.headers()) {
            None => Ok(()),
            Some(Ok(())) => {
                request.extensions_mut().insert(CredentialChecked);
                Ok(())
            }
            Some(Err(rejection)) => {
                let mut response = rejection.into_response();
                // The body is left unread: the connection cannot be reused.
                response.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
                Err(response)
            }
        }
    }
}

/// A preset's refusal as the pipeline answers it: 401 for a stale timestamp or a bad
/// signature or credential (this step's and [`super::verify`]'s).
pub(super) fn to_rejection(error: VerifyError) -> Rejection {
    let kind = match error.reason() {
        "stale_timestamp" => RejectionKind::StaleTimestamp,
        _ => RejectionKind::BadSignature,
    };
    Rejection::new(kind, error.to_string())
}
