//! Steps 4, 5 and 7: the cheap header-only checks, each a tower-http `ValidateRequest`.
//!
//! They run before the body is read, so a refused request costs the gateway a header lookup.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Method, Request, header};

use super::CompiledSource;
use super::client_ip::{ClientIp, ForwardedHttps};
use crate::http::problem::{Rejection, RejectionKind};
use crate::providers::BodyKind;
use tower_http::validate_request::ValidateRequest;

/// Step 4: with `server.require_https`, the trusted proxy must say the client used HTTPS.
#[derive(Clone)]
pub struct RequireHttps;

impl RequireHttps {
    pub fn check(request: &Request<Body>) -> Result<(), Rejection> {
        match request.extensions().get::<ForwardedHttps>() {
            Some(ForwardedHttps(true)) => Ok(()),
            Some(ForwardedHttps(false)) => Err(Rejection::new(
                RejectionKind::HttpsRequired,
                "X-Forwarded-Proto from the trusted proxy is not https",
            )),
            None => Err(Rejection::new(
                RejectionKind::HttpsRequired,
                "no X-Forwarded-Proto from a trusted proxy",
            )),
        }
    }
}

impl ValidateRequest<Body> for RequireHttps {
    type ResponseBody = Body;
    fn validate(&mut self, request: &mut Request<Body>) -> Result<(), Response> {
        Self::check(request).map_err(IntoResponse::into_response)
    }
}

/// Step 5: the client address must fall in one of the source's `allow_ips` (when it has any).
#[derive(Clone)]
pub struct Allowlist(pub Arc<CompiledSource>);

impl Allowlist {
    pub fn check(source: &CompiledSource, client: Option<&ClientIp>) -> Result<(), Rejection> {
        if source.allow_ips.is_empty() {
            return Ok(());
        }
        match client {
            Some(ClientIp(ip)) if source.allow_ips.iter().any(|net| net.contains(ip)) => Ok(()),
            Some(ClientIp(ip)) => Err(Rejection::new(
                RejectionKind::IpDenied,
                format!("client {ip} is not in allow_ips"),
            )),
            None => Err(Rejection::new(
                RejectionKind::IpDenied,
                "client address unknown",
            )),
        }
    }
}

impl ValidateRequest<Body> for Allowlist {
    type ResponseBody = Body;
    fn validate(&mut self, request: &mut Request<Body>) -> Result<(), Response> {
        Self::check(&self.0, request.extensions().get::<ClientIp>())
            .map_err(IntoResponse::into_response)
    }
}

/// Step 7: webhooks are POSTs of a content type the provider sends. The body kind chosen here
/// tells step 11 how to parse.
#[derive(Clone)]
pub struct MethodAndType(pub Arc<CompiledSource>);

impl MethodAndType {
    pub fn check(source: &CompiledSource, request: &Request<Body>) -> Result<BodyKind, Rejection> {
        if request.method() != Method::POST {
            return Err(Rejection::new(
                RejectionKind::MethodNotAllowed,
                format!("method {} on a webhook route", request.method()),
            ));
        }
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap_or("\u{fffd}"));
        source.preset.body_kind(content_type).ok_or_else(|| {
            Rejection::new(
                RejectionKind::UnsupportedMediaType,
                format!(
                    "content type {:?} is not one {} sends",
                    content_type.unwrap_or("(none)"),
                    source.preset.provider()
                ),
            )
        })
    }
}

impl ValidateRequest<Body> for MethodAndType {
    type ResponseBody = Body;
    fn validate(&mut self, request: &mut Request<Body>) -> Result<(), Response> {
        match Self::check(&self.0, request) {
            Ok(kind) => {
                request.extensions_mut().insert(kind);
                Ok(())
            }
            Err(rejection) => {
                let method_refused = rejection.kind == RejectionKind::MethodNotAllowed;
                let mut response = rejection.into_response();
                if method_refused {
                    response
                        .headers_mut()
                        .insert(header::ALLOW, http::HeaderValue::from_static("POST"));
                }
                Err(response)
            }
        }
    }
}
