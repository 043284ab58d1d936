//! [`Quarantined`]: a check of a source's stack whose refusals the quarantine keeps
//! ([`super::quarantine`]). Apart from the capture itself, so that the body step can hand the
//! quarantine its own refusals without the two importing each other.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::Request;
use tower_http::validate_request::ValidateRequest;

use super::CompiledSource;
use super::body::Received;
use super::client_ip::ClientIp;
use super::quarantine::{BodySeen, RawBody, Tap};
use crate::http::problem::Rejection;

/// A check of a source's stack, whose refusals are captured. The check runs as it would alone;
/// only a refusal costs anything more.
#[derive(Clone)]
pub struct Quarantined<V> {
    pub check: V,
    pub source: Arc<CompiledSource>,
    pub tap: Option<Arc<Tap>>,
}

impl<V> ValidateRequest<Body> for Quarantined<V>
where
    V: ValidateRequest<Body, ResponseBody = Body>,
{
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<Body>) -> Result<(), Response> {
        let verdict = self.check.validate(request);
        if let (Err(response), Some(tap)) = (&verdict, &self.tap)
            && let Some(rejection) = response.extensions().get::<Rejection>()
        {
            let extensions = request.extensions();
            let body = match (extensions.get::<RawBody>(), extensions.get::<Received>()) {
                (Some(RawBody(raw)), _) => BodySeen::Whole(raw),
                (None, Some(Received(body))) => BodySeen::Whole(body),
                (None, None) => BodySeen::Unread,
            };
            let client = extensions.get::<ClientIp>().map(|ClientIp(ip)| *ip);
            tap.capture(&self.source, rejection, request.headers(), client, body);
        }
        verdict
    }
}
