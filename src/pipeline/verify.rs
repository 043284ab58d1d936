//! Steps 9 and 10: the provider's signature over the exact bytes received, and its timestamp.
//!
//! Success leaves an [`Authenticated`] in the request, built from the preset's
//! [`Verified`] proof: the only thing [`crate::event::NewEvent`] is built from, so nothing
//! unverified can reach the store. The headers-only check before the body
//! ([`super::credential`]) gives no such proof; this step verifies every request again.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::Request;
use tower_http::validate_request::ValidateRequest;

use super::CompiledSource;
use super::body::Received;
use super::client_ip::ClientIp;
use super::credential::to_rejection;
use crate::clock::unix_now;
use crate::event::Authenticated;
use crate::http::problem::{Rejection, RejectionKind};
use crate::providers::{Inbound, Verified};

#[derive(Clone)]
pub struct Verify(pub Arc<CompiledSource>);

impl Verify {
    /// Verifies `body` (the decoded bytes) and the headers at time `now` (unix seconds).
    /// `query` is the request's query string, appended to `public_url` when that has none (a
    /// provider that signs its URL signs what it called, query included); when `public_url` has
    /// one, only parameters the provider added after it are (Twilio's `&bodySHA256=…`).
    pub fn check(
        source: &CompiledSource,
        headers: &http::HeaderMap,
        query: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), Rejection> {
        Self::authenticate(source, headers, query, body, now).map(drop)
    }

    /// [`Verify::check`], with the preset's proof on success: what the layer builds its
    /// [`Authenticated`] from.
    pub fn authenticate(
        source: &CompiledSource,
        headers: &http::HeaderMap,
        query: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, Rejection> {
        let url = source
            .public_url
            .as_deref()
            .map(|base| called_url(base, query.unwrap_or_default()));
        let inbound = Inbound {
            headers,
            body,
            url: url.as_deref(),
            now,
        };
        source.preset.authenticate(&inbound).map_err(to_rejection)
    }
}

/// The URL the provider called: `public_url`, and the request's query when `public_url` has none.
/// When it has one, the request's query must start with it, and only what follows (`&…`) is
/// added; any other query leaves `public_url` as configured.
fn called_url(base: &str, query: &str) -> String {
    match base.split_once('?') {
        None if !query.is_empty() => format!("{base}?{query}"),
        None => base.to_owned(),
        Some((_, configured)) => match query
            .strip_prefix(configured)
            .filter(|added| added.starts_with('&'))
        {
            Some(added) => format!("{base}{added}"),
            None => base.to_owned(),
        },
    }
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
        let verified = Self::authenticate(
            &self.0,
            request.headers(),
            request.uri().query(),
            body,
            unix_now(),
        )
        .map_err(IntoResponse::into_response)?;
        request.extensions_mut().insert(Authenticated::new(
            self.0.name.clone(),
            client_ip,
            verified,
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use secrecy::SecretString;

    use super::*;
    use crate::providers::{Overrides, Preset};

    fn twilio(public_url: &str) -> CompiledSource {
        let overrides = Overrides {
            public_url: Some(public_url.to_owned()),
            ..Overrides::default()
        };
        let preset = Preset::build(
            "twilio",
            &[SecretString::from("twilio-auth-token".to_owned())],
            &[],
            &overrides,
        )
        .expect("builds");
        crate::pipeline::fuzz::source(preset, Some(public_url.to_owned()))
    }

    fn sent(source: &CompiledSource, body: &[u8]) -> (HeaderMap, Option<String>) {
        let signed = source
            .preset
            .sign_request(body.to_vec(), 1_700_000_000, "id")
            .expect("signs");
        let mut headers = HeaderMap::new();
        for (name, value) in signed.headers {
            headers.insert(name, HeaderValue::from_str(&value).expect("ascii"));
        }
        (headers, signed.query)
    }

    /// Found by the round-trip property: Twilio appends `bodySHA256` to a query that is already
    /// in the configured URL, and the query was dropped, so every JSON webhook got 401.
    #[test]
    fn regression_twilio_json_body_with_a_query_in_public_url() {
        let source = twilio("https://example.com/hooks/twilio?tenant=7");
        let body = br#"{"CallSid":"CA1"}"#;
        let (headers, added) = sent(&source, body);
        let added = added.expect("a JSON body is bound by bodySHA256 in the query");
        let query = format!("tenant=7&{added}");
        assert_eq!(
            Verify::check(&source, &headers, Some(&query), body, 0),
            Ok(())
        );
        // The added hash still binds the body.
        assert!(Verify::check(&source, &headers, Some(&query), b"{}", 0).is_err());
    }

    #[test]
    fn a_query_that_replaces_the_configured_one_is_not_signed_over() {
        let source = twilio("https://example.com/hooks/twilio?tenant=7");
        let body = br#"{"CallSid":"CA1"}"#;
        let (headers, added) = sent(&source, body);
        let query = format!("tenant=8&{}", added.expect("bodySHA256"));
        assert!(Verify::check(&source, &headers, Some(&query), body, 0).is_err());
    }

    #[test]
    fn the_query_is_appended_to_a_public_url_without_one() {
        let source = twilio("https://example.com/hooks/twilio");
        let body = br#"{"CallSid":"CA1"}"#;
        let (headers, added) = sent(&source, body);
        assert_eq!(
            Verify::check(&source, &headers, added.as_deref(), body, 0),
            Ok(())
        );
    }
}
