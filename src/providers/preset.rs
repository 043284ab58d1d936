//! [`Preset`]: one provider's description applied to one source: its verifier built from the
//! source's secrets, public keys and overrides, and the id rule with the source's `id_header`
//! and `id_field`. The pipeline asks it everything about a request that depends on the provider.
//!
//! A preset answers two questions about a request that already passed the cheap checks: "did
//! this provider really send these exact bytes, recently?" ([`Preset::verify`]) and "which id
//! does the provider give this event?" ([`Preset::event_id`], for de-duplication). Nothing here
//! does I/O or reads the clock: the caller passes `now`. This file knows no provider by name:
//! [`Preset::build`] (in `mod.rs`) finds the description in the registry.

use std::time::Duration;

use http::{HeaderMap, HeaderName};
use secrecy::SecretString;
use serde_json::Value;

use super::contract::{
    Inbound, Outbound, Overrides, PresetError, Scheme, SignError, SignedHeaders, VerifyError,
};
use super::description::{BodyKind, Provider};
use super::primitives::header_name;

/// A provider's id for one event (see [`Preset::event_id`]); it reads as the id's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventId {
    pub value: String,
    /// Whether what authenticated the request covers the id: a signed header, a field of a
    /// signed body, or any id of a request that a credential alone authenticates (a token
    /// authenticates everything it comes with alike, and whoever holds a captured request holds
    /// the token too). An id that is not bound (GitHub's `X-GitHub-Delivery`) can be rewritten
    /// by whoever replays a captured request, so it must not decide de-duplication alone.
    pub bound: bool,
}

impl EventId {
    fn bound(value: String) -> EventId {
        EventId { value, bound: true }
    }
}

impl std::ops::Deref for EventId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.value
    }
}

/// Proof that [`Preset::authenticate`] accepted a request: its field is private and this file
/// is the only place that makes one, so whoever holds a `Verified` got it from a successful
/// verification (the store takes events only with one, through `crate::event::Authenticated`).
///
/// ```compile_fail
/// // Nothing outside `providers` can make the proof.
/// let forged = hookwall::providers::Verified { provider: "github" };
/// ```
#[derive(Debug, Clone)]
pub struct Verified {
    provider: &'static str,
}

impl Verified {
    /// The provider whose preset verified the request.
    pub fn provider(&self) -> &'static str {
        self.provider
    }
}

/// A provider's verification preset, with the source's secrets and overrides applied.
#[derive(Debug)]
pub struct Preset {
    provider: &'static Provider,
    scheme: Box<dyn Scheme>,
    /// The description's id headers, or the source's `id_header`.
    id_headers: Vec<HeaderName>,
    /// The description's id field, or the source's `id_field`.
    id_field: Option<String>,
}

impl Preset {
    /// `provider`'s verifier for a source's keys and overrides.
    pub fn from_description(
        provider: &'static Provider,
        secrets: &[SecretString],
        public_keys: &[String],
        o: &Overrides,
    ) -> Result<Preset, PresetError> {
        let scheme = (provider.build)(secrets, public_keys, o)?;
        let id_headers = match &o.id_header {
            Some(header) => vec![header_name("id_header", header)?],
            None => provider.id.header_names(),
        };
        let id_field = o
            .id_field
            .clone()
            .or_else(|| provider.id.field.map(str::to_owned));
        Ok(Preset {
            provider,
            scheme,
            id_headers,
            id_field,
        })
    }

    pub fn provider(&self) -> &'static str {
        self.provider.name
    }

    /// Everything known about the provider.
    pub fn description(&self) -> &'static Provider {
        self.provider
    }

    /// Steps 9 (authenticity) and 10 (freshness): the verdict, and on success the [`Verified`]
    /// proof that the pipeline carries to the store (`crate::event::Authenticated`). For a
    /// `provider = "none"` source the proof is the configured policy (nothing to check), not a
    /// checked credential.
    pub fn authenticate(&self, req: &Inbound<'_>) -> Result<Verified, VerifyError> {
        self.scheme.verify(req)?;
        Ok(Verified {
            provider: self.provider.name,
        })
    }

    /// The verdict of [`Preset::authenticate`] alone, for callers that only report it (`hookwall
    /// receive`, tests).
    pub fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        self.authenticate(req).map(drop)
    }

    /// The verdict of a credential that lives in a header (token, HTTP Basic, Bearer,
    /// `brightdata`, `particle`, GitLab's secret token), judged from the headers alone; `None`
    /// when the verdict needs the body (a signature scheme, or a GitLab request that carries a
    /// signature). The pipeline runs it before the body is read, so a client without the
    /// credential never makes the gateway read or inflate a body. It gives no [`Verified`]: the
    /// whole request is verified again once its body is read.
    pub fn verify_headers_only(&self, headers: &HeaderMap) -> Option<Result<(), VerifyError>> {
        self.scheme.verify_headers_only(headers)
    }

    /// A verification handshake the provider expects answered instead of an event being
    /// stored: Slack `url_verification`, Discord PING, Zoom `endpoint.url_validation`. Called
    /// only on authenticated requests; the answer is a JSON body for a 200.
    pub fn handshake(&self, payload: Option<&Value>) -> Option<Value> {
        (self.provider.handshake?)(payload?, self.scheme.as_ref())
    }

    /// The provider's id for this event, or `None` (the caller then hashes the body), and
    /// whether the request's authentication covers it ([`EventId::bound`]).
    pub fn event_id(&self, headers: &HeaderMap, payload: Option<&Value>) -> Option<EventId> {
        // Schemes that sign an id header: the id they verified, never another header's.
        if let Some(id) = self.scheme.signed_id(headers) {
            return Some(EventId::bound(id.to_owned()));
        }
        if let Some((name, id)) = self.id_headers.iter().find_map(|name| {
            let id = headers.get(name)?.to_str().ok()?.trim();
            (!id.is_empty()).then_some((name, id))
        }) {
            return Some(EventId {
                value: id.to_owned(),
                bound: self.scheme.binds_id_header(name),
            });
        }
        if let Some(field) = &self.id_field
            && let Some(id) = payload.and_then(|p| p.get(field)).and_then(scalar_id)
        {
            return Some(EventId {
                value: id,
                bound: self.scheme.binds_body(),
            });
        }
        // Each derived id is made of signed values (Mailgun's of its signed token).
        let derive = self.provider.id.derived?;
        derive(payload?).map(EventId::bound)
    }

    /// Step 7: how to read a body of this content type, or `None` for 415.
    pub fn body_kind(&self, content_type: Option<&str>) -> Option<BodyKind> {
        self.provider.bodies.kind(content_type)
    }

    /// BrightData sends gzip without `Content-Encoding`: sniff `1f 8b`.
    pub fn sniffs_gzip(&self) -> bool {
        self.provider.sniffs_gzip
    }

    pub fn timestamp_tolerance(&self) -> Option<Duration> {
        self.scheme.tolerance()
    }

    /// Whether the timestamp this scheme reads (if any) is covered by its signature. When it is
    /// not, a freshness check on it proves nothing: whoever replays a request sets a new one.
    pub fn signs_timestamp(&self) -> bool {
        self.scheme.signs_timestamp()
    }

    /// Credential headers, redacted before a request is stored.
    pub fn redacted_headers(&self) -> Vec<HeaderName> {
        self.scheme.redacted_headers()
    }

    /// The request the provider would send for `body` at `now` (event id `id`), signed with the
    /// first secret: headers, the body (Mailgun signs inside it), and a query string to add to
    /// the URL (Twilio's `bodySHA256`). For `hookwall send`/`sign` and tests.
    pub fn sign_request(&self, body: Vec<u8>, now: i64, id: &str) -> Result<Outbound, SignError> {
        let mut outbound = self.scheme.sign_request(body, now, id)?;
        self.add_id_header(&mut outbound.headers, id);
        Ok(outbound)
    }

    /// The headers the provider would send for `body` at `now` (event id `id`), signed with the
    /// first secret: for `hookwall send`/`sign` and tests.
    pub fn sign(&self, body: &[u8], now: i64, id: &str) -> Result<SignedHeaders, SignError> {
        let mut headers = self.scheme.sign(body, now, id)?;
        self.add_id_header(&mut headers, id);
        Ok(headers)
    }

    /// The provider also sends its event id when it keeps one in a header (GitHub's
    /// `x-github-delivery`), signed or not.
    fn add_id_header(&self, headers: &mut Vec<(HeaderName, String)>, id: &str) {
        if let Some(name) = self.id_headers.first()
            && !headers.iter().any(|(sent, _)| sent == name)
        {
            headers.push((name.clone(), id.to_owned()));
        }
    }
}

/// An id field may be a string or a number (Shopify and Particle ids are numeric in places).
fn scalar_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
