//! Verification presets: one pure module per provider.
//!
//! A preset answers two questions about a request that already passed the cheap checks: "did
//! this provider really send these exact bytes, recently?" ([`Preset::verify`]) and "which id
//! does the provider give this event?" ([`Preset::event_id`], for de-duplication). Nothing here
//! does I/O or reads the clock: the caller passes `now`, so every scheme is tested against the
//! SDK-made vectors in `../shared/vectors/` and can be fuzzed without a server.
//!
//! Comparisons are constant time: MACs with `subtle` on equal-length byte strings, credentials
//! by comparing SHA-256 digests (so not even the length leaks). Every active secret is tried
//! (rotation), and every signature in a multi-signature header, with a cap on how many are read.

pub mod bitbucket;
pub mod brightdata;
pub mod discord;
pub mod fingerprint;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod github;
pub mod gitlab;
pub mod hmac;
pub mod intercom;
pub mod linear;
pub mod mailgun;
pub mod paddle;
pub mod particle;
pub mod sendgrid;
pub mod shopify;
pub mod slack;
pub mod square;
pub mod standard_webhooks;
pub mod stripe;
pub mod token;
pub mod twilio;
pub mod typeform;
pub mod zoom;

use std::time::Duration;

use ::hmac::{KeyInit, Mac};
use http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Every provider name [`Preset::build`] accepts.
pub const KNOWN: &[&str] = &[
    "standard-webhooks",
    "svix",
    "github",
    "stripe",
    "slack",
    "shopify",
    "particle",
    "brightdata",
    "bitbucket",
    "gitlab",
    "intercom",
    "linear",
    "mailgun",
    "paddle",
    "typeform",
    "square",
    "twilio",
    "zoom",
    "discord",
    "sendgrid",
    "hmac",
    "token",
    "none",
];

/// At most this many signatures of one header are compared: a rotation carries two or three,
/// and a header with thousands of entries must cost no more than a normal one.
pub const MAX_SIGNATURES: usize = 16;

/// What a preset sees of a request.
pub struct Inbound<'a> {
    pub headers: &'a HeaderMap,
    /// The exact bytes to verify (after content decoding).
    pub body: &'a [u8],
    /// The public URL the provider called, for schemes that sign it.
    pub url: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A header or credential the scheme needs is absent (its name, never a value).
    #[error("missing {0}")]
    Missing(String),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("no active secret matches ({tried} tried)")]
    Mismatch { tried: usize },
    #[error("timestamp {skew_secs}s from now, outside the {tolerance_secs}s tolerance")]
    Stale { skew_secs: i64, tolerance_secs: u64 },
}

impl VerifyError {
    /// The metrics `reason` label.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::Stale { .. } => "stale_timestamp",
            _ => "bad_signature",
        }
    }
}

/// The SPEC section 4 preset keys a source may set; each replaces the preset's own value.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub signature_header: Option<String>,
    pub algorithm: Option<String>,
    pub encoding: Option<String>,
    pub prefix: Option<String>,
    pub signed_payload: Option<String>,
    pub timestamp_header: Option<String>,
    pub id_header: Option<String>,
    pub id_field: Option<String>,
    pub timestamp_tolerance: Option<Duration>,
    pub public_url: Option<String>,
}

/// Config-time errors. They name the problem and the fix, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    #[error("unknown provider {name:?}; known providers: {}", KNOWN.join(", "))]
    UnknownProvider { name: String },
    #[error("{provider} needs at least one entry in `secrets`")]
    NoSecret { provider: &'static str },
    #[error(
        "secrets[{index}] is not a Standard Webhooks key: after the optional `whsec_` prefix it must be base64"
    )]
    BadKey { index: usize },
    #[error("`{key}` is {value:?}; {fix}")]
    BadValue {
        key: &'static str,
        value: String,
        fix: &'static str,
    },
    #[error("`{key}` is required for provider {provider}")]
    Required {
        key: &'static str,
        provider: &'static str,
    },
    #[error("`{key}` is not used by provider {provider}; remove it")]
    NotApplicable {
        key: &'static str,
        provider: &'static str,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("provider {0} has no secret to sign with")]
    NoSecret(&'static str),
    #[error("provider {0} does not sign requests")]
    Unsigned(&'static str),
}

/// How step 11 reads a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    NdJson,
    /// Stored and verified, not parsed (CSV, octet-stream).
    Opaque,
}

/// Which body kinds a provider sends (step 7).
#[derive(Debug, Clone, Copy)]
struct Accepts {
    json: bool,
    form: bool,
    ndjson: bool,
    opaque: bool,
}

const JSON_ONLY: Accepts = Accepts {
    json: true,
    form: false,
    ndjson: false,
    opaque: false,
};
const JSON_OR_FORM: Accepts = Accepts {
    json: true,
    form: true,
    ndjson: false,
    opaque: false,
};

#[derive(Debug)]
enum Scheme {
    StandardWebhooks(standard_webhooks::StandardWebhooks),
    Stripe(stripe::Stripe),
    /// GitHub, Shopify, Slack and the generic `hmac`.
    Hmac(hmac::HmacScheme),
    Linear(linear::Linear),
    Gitlab(gitlab::Gitlab),
    Mailgun(mailgun::Mailgun),
    Twilio(twilio::Twilio),
    Discord(discord::Discord),
    Sendgrid(sendgrid::Sendgrid),
    Particle(particle::Particle),
    /// BrightData and the generic `token`.
    Token(token::Token),
    None,
}

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

impl Scheme {
    /// Schemes whose proof is a credential sent with the request, not a signature over it.
    fn authenticates_by_credential(&self) -> bool {
        matches!(
            self,
            Scheme::Particle(_) | Scheme::Token(_) | Scheme::Gitlab(_) | Scheme::None
        )
    }
}

/// A signed request as a provider would send it (see [`Preset::sign_request`]).
#[derive(Debug, Clone)]
pub struct Outbound {
    pub headers: Vec<(HeaderName, String)>,
    pub body: Vec<u8>,
    /// Appended to the URL (`?` + this).
    pub query: Option<String>,
}

/// Where a provider puts its event id.
#[derive(Debug, Clone, Default)]
struct IdRule {
    headers: Vec<HeaderName>,
    field: Option<String>,
}

/// A provider's verification preset, with the source's secrets and overrides applied.
#[derive(Debug)]
pub struct Preset {
    provider: &'static str,
    scheme: Scheme,
    id: IdRule,
    accepts: Accepts,
    sniff_gzip: bool,
}

impl Preset {
    pub fn build(
        provider: &str,
        secrets: &[SecretString],
        public_keys: &[String],
        o: &Overrides,
    ) -> Result<Preset, PresetError> {
        let name = KNOWN
            .iter()
            .copied()
            .find(|known| *known == provider)
            .ok_or_else(|| PresetError::UnknownProvider {
                name: provider.to_owned(),
            })?;
        let (scheme, id, accepts, sniff_gzip) = match name {
            "standard-webhooks" | "svix" => {
                let sw = standard_webhooks::StandardWebhooks::build(name, secrets, public_keys, o)?;
                // The id is read from the family that signed the request (`signed_id`).
                (
                    Scheme::StandardWebhooks(sw),
                    IdRule::default(),
                    JSON_ONLY,
                    false,
                )
            }
            "stripe" => (
                Scheme::Stripe(stripe::Stripe::build(stripe::STRIPE, secrets, o)?),
                field_id("id"),
                JSON_ONLY,
                false,
            ),
            "github" => (
                Scheme::Hmac(github::preset(secrets, o)?),
                header_id(github::DELIVERY_HEADER),
                JSON_OR_FORM,
                false,
            ),
            "shopify" => (
                Scheme::Hmac(shopify::preset(secrets, o)?),
                IdRule {
                    headers: shopify::ID_HEADERS
                        .iter()
                        .map(|h| HeaderName::from_static(h))
                        .collect(),
                    field: None,
                },
                JSON_ONLY,
                false,
            ),
            "slack" => (
                Scheme::Hmac(slack::preset(secrets, o)?),
                field_id("event_id"),
                JSON_OR_FORM,
                false,
            ),
            "particle" => (
                Scheme::Particle(particle::Particle::build(secrets, o)?),
                IdRule::default(),
                JSON_OR_FORM,
                false,
            ),
            "brightdata" => (
                Scheme::Token(brightdata::preset(secrets, o)?),
                field_id("snapshot_id"),
                Accepts {
                    json: true,
                    form: false,
                    ndjson: true,
                    opaque: true,
                },
                true,
            ),
            "bitbucket" => (
                Scheme::Hmac(bitbucket::preset(secrets, o)?),
                header_id("x-request-uuid"),
                JSON_ONLY,
                false,
            ),
            "paddle" => (
                Scheme::Stripe(stripe::Stripe::build(paddle::PADDLE, secrets, o)?),
                field_id("event_id"),
                JSON_ONLY,
                false,
            ),
            "gitlab" => (
                Scheme::Gitlab(gitlab::Gitlab::build(secrets, o)?),
                IdRule {
                    headers: gitlab::ID_HEADERS
                        .iter()
                        .map(|h| HeaderName::from_static(h))
                        .collect(),
                    field: None,
                },
                JSON_ONLY,
                false,
            ),
            "mailgun" => (
                Scheme::Mailgun(mailgun::Mailgun::build(secrets, o)?),
                IdRule::default(),
                JSON_OR_FORM,
                false,
            ),
            "discord" => (
                Scheme::Discord(discord::Discord::build(public_keys, o)?),
                field_id("id"),
                JSON_ONLY,
                false,
            ),
            "sendgrid" => (
                Scheme::Sendgrid(sendgrid::Sendgrid::build(public_keys, o)?),
                IdRule::default(),
                JSON_ONLY,
                false,
            ),
            "twilio" => (
                Scheme::Twilio(twilio::Twilio::build(secrets, o)?),
                header_id(twilio::ID_HEADER),
                JSON_OR_FORM,
                false,
            ),
            "linear" => (
                Scheme::Linear(linear::Linear::build(secrets, o)?),
                header_id(linear::DELIVERY_HEADER),
                JSON_ONLY,
                false,
            ),
            "intercom" => (
                Scheme::Hmac(intercom::preset(secrets, o)?),
                field_id("id"),
                JSON_ONLY,
                false,
            ),
            "typeform" => (
                Scheme::Hmac(typeform::preset(secrets, o)?),
                field_id("event_id"),
                JSON_ONLY,
                false,
            ),
            "square" => (
                Scheme::Hmac(square::preset(secrets, o)?),
                field_id("event_id"),
                JSON_ONLY,
                false,
            ),
            "zoom" => (
                Scheme::Hmac(zoom::preset(secrets, o)?),
                IdRule::default(),
                JSON_ONLY,
                false,
            ),
            "hmac" => (
                Scheme::Hmac(hmac::HmacScheme::generic(secrets, o)?),
                IdRule::default(),
                generic_accepts(),
                false,
            ),
            "token" => (
                Scheme::Token(token::Token::build("token", secrets, o)?),
                IdRule::default(),
                generic_accepts(),
                false,
            ),
            _ => (Scheme::None, IdRule::default(), generic_accepts(), false),
        };
        let id = apply_id_overrides(id, o)?;
        Ok(Preset {
            provider: name,
            scheme,
            id,
            accepts,
            sniff_gzip,
        })
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// Steps 9 (authenticity) and 10 (freshness).
    pub fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        match &self.scheme {
            Scheme::StandardWebhooks(s) => s.verify(req),
            Scheme::Stripe(s) => s.verify(req),
            Scheme::Hmac(s) => s.verify(req),
            Scheme::Linear(s) => s.verify(req),
            Scheme::Gitlab(s) => s.verify(req),
            Scheme::Mailgun(s) => s.verify(req),
            Scheme::Twilio(s) => s.verify(req),
            Scheme::Discord(s) => s.verify(req),
            Scheme::Sendgrid(s) => s.verify(req),
            Scheme::Particle(s) => s.verify(req),
            Scheme::Token(s) => s.verify(req),
            Scheme::None => Ok(()),
        }
    }

    /// The verdict of a credential that lives in a header (token, HTTP Basic, Bearer,
    /// `brightdata`, `particle`, GitLab's secret token), judged from the headers alone; `None`
    /// when the verdict needs the body (a signature scheme, or a GitLab request that carries a
    /// signature). The pipeline runs it before the body is read, so a client without the
    /// credential never makes the gateway read or inflate a body.
    pub fn verify_headers_only(&self, headers: &HeaderMap) -> Option<Result<(), VerifyError>> {
        let headers_only = Inbound {
            headers,
            body: &[],
            url: None,
            now: 0,
        };
        match &self.scheme {
            Scheme::Token(s) => Some(s.verify(&headers_only)),
            Scheme::Particle(s) => Some(s.verify(&headers_only)),
            Scheme::Gitlab(s) if !s.needs_body(headers) => Some(s.verify(&headers_only)),
            _ => None,
        }
    }

    /// A verification handshake the provider expects answered instead of an event being
    /// stored: Slack `url_verification`, Discord PING, Zoom `endpoint.url_validation`. Called
    /// only on authenticated requests; the answer is a JSON body for a 200.
    pub fn handshake(&self, payload: Option<&Value>) -> Option<Value> {
        let payload = payload?;
        match (self.provider, &self.scheme) {
            ("slack", _) if payload.get("type")?.as_str()? == "url_verification" => {
                let challenge = payload.get("challenge")?.as_str()?;
                Some(serde_json::json!({ "challenge": challenge }))
            }
            ("discord", _) if payload.get("type")?.as_i64()? == 1 => {
                Some(serde_json::json!({ "type": 1 }))
            }
            ("zoom", Scheme::Hmac(scheme))
                if payload.get("event")?.as_str()? == "endpoint.url_validation" =>
            {
                let plain = payload.get("payload")?.get("plainToken")?.as_str()?;
                let encrypted = hex::encode(scheme.mac_first(plain.as_bytes())?);
                Some(serde_json::json!({ "plainToken": plain, "encryptedToken": encrypted }))
            }
            _ => None,
        }
    }

    /// The provider's id for this event, or `None` (the caller then hashes the body), and
    /// whether the request's authentication covers it ([`EventId::bound`]).
    pub fn event_id(&self, headers: &HeaderMap, payload: Option<&Value>) -> Option<EventId> {
        // Schemes that sign an id header: the id they verified, never another header's.
        let signed = match &self.scheme {
            Scheme::StandardWebhooks(s) => s.signed_id(headers),
            Scheme::Gitlab(g) => g.signed_id(headers),
            _ => None,
        };
        if let Some(id) = signed {
            return Some(EventId::bound(id.to_owned()));
        }
        if let Some((name, id)) = self.id.headers.iter().find_map(|name| {
            let id = headers.get(name)?.to_str().ok()?.trim();
            (!id.is_empty()).then_some((name, id))
        }) {
            let bound = match &self.scheme {
                Scheme::Hmac(s) => s.signed_id_header() == Some(name),
                scheme => scheme.authenticates_by_credential(),
            };
            return Some(EventId {
                value: id.to_owned(),
                bound,
            });
        }
        // Body ids are as bound as the body: every signature scheme but Mailgun's signs it.
        let body_bound = !matches!(self.scheme, Scheme::Mailgun(_));
        if let Some(field) = &self.id.field
            && let Some(id) = payload.and_then(|p| p.get(field)).and_then(scalar_id)
        {
            return Some(EventId {
                value: id,
                bound: body_bound,
            });
        }
        // Each derived id is made of signed values (Mailgun's of its signed token).
        let derived = match (&self.scheme, payload) {
            (Scheme::Particle(_), Some(payload)) => particle::derived_id(payload),
            (Scheme::Mailgun(_), Some(payload)) => mailgun::derived_id(payload),
            (Scheme::Sendgrid(_), Some(payload)) => sendgrid::derived_id(payload),
            (Scheme::Hmac(_), Some(payload)) if self.provider == "zoom" => {
                zoom::derived_id(payload)
            }
            _ => None,
        };
        derived.map(EventId::bound)
    }

    /// Step 7: how to read a body of this content type, or `None` for 415.
    pub fn body_kind(&self, content_type: Option<&str>) -> Option<BodyKind> {
        let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
        let a = self.accepts;
        match essence.as_str() {
            "application/json" => a.json.then_some(BodyKind::Json),
            t if t.starts_with("application/") && t.ends_with("+json") => {
                a.json.then_some(BodyKind::Json)
            }
            "application/x-www-form-urlencoded" => a.form.then_some(BodyKind::Form),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines" => a.ndjson.then_some(BodyKind::NdJson),
            "text/csv" | "application/csv" | "application/octet-stream" => {
                a.opaque.then_some(BodyKind::Opaque)
            }
            _ => None,
        }
    }

    /// BrightData sends gzip without `Content-Encoding`: sniff `1f 8b`.
    pub fn sniffs_gzip(&self) -> bool {
        self.sniff_gzip
    }

    pub fn timestamp_tolerance(&self) -> Option<Duration> {
        match &self.scheme {
            Scheme::StandardWebhooks(s) => Some(s.tolerance()),
            Scheme::Stripe(s) => Some(s.tolerance()),
            Scheme::Hmac(s) => s.tolerance(),
            Scheme::Linear(s) => Some(s.tolerance()),
            Scheme::Gitlab(s) => s.tolerance(),
            Scheme::Mailgun(s) => s.tolerance(),
            Scheme::Discord(s) => s.tolerance(),
            Scheme::Sendgrid(s) => s.tolerance(),
            _ => None,
        }
    }

    /// Whether the timestamp this scheme reads (if any) is covered by its signature. When it is
    /// not, a freshness check on it proves nothing: whoever replays a request sets a new one.
    pub fn signs_timestamp(&self) -> bool {
        match &self.scheme {
            Scheme::Hmac(s) => s.signs_timestamp(),
            Scheme::Gitlab(s) => s.tolerance().is_some(),
            Scheme::StandardWebhooks(_)
            | Scheme::Stripe(_)
            | Scheme::Linear(_)
            | Scheme::Mailgun(_)
            | Scheme::Discord(_)
            | Scheme::Sendgrid(_) => true,
            Scheme::Twilio(_) | Scheme::Particle(_) | Scheme::Token(_) | Scheme::None => false,
        }
    }

    /// Credential headers, redacted before a request is stored.
    pub fn redacted_headers(&self) -> Vec<HeaderName> {
        match &self.scheme {
            Scheme::Particle(p) => vec![p.header().clone()],
            Scheme::Token(t) => vec![t.header().clone()],
            Scheme::Gitlab(g) => vec![g.token_header()],
            _ => Vec::new(),
        }
    }

    /// The request the provider would send for `body` at `now` (event id `id`), signed with the
    /// first secret: headers, the body (Mailgun signs inside it), and a query string to add to
    /// the URL (Twilio's `bodySHA256`). For `hookwall send`/`sign` and tests.
    pub fn sign_request(&self, body: Vec<u8>, now: i64, id: &str) -> Result<Outbound, SignError> {
        let mut outbound = match &self.scheme {
            Scheme::Mailgun(s) => Outbound {
                headers: Vec::new(),
                body: s.sign_body(body, now, id)?,
                query: None,
            },
            Scheme::Twilio(s) => s.sign_request(body)?,
            _ => Outbound {
                headers: self.sign(&body, now, id)?,
                body,
                query: None,
            },
        };
        self.add_id_header(&mut outbound.headers, id);
        Ok(outbound)
    }

    /// The headers the provider would send for `body` at `now` (event id `id`), signed with the
    /// first secret: for `hookwall send`/`sign` and tests.
    pub fn sign(
        &self,
        body: &[u8],
        now: i64,
        id: &str,
    ) -> Result<Vec<(HeaderName, String)>, SignError> {
        let mut headers = match &self.scheme {
            Scheme::StandardWebhooks(s) => s.sign(body, now, id),
            Scheme::Stripe(s) => s.sign(body, now),
            Scheme::Hmac(s) => s.sign(body, now, id),
            Scheme::Linear(s) => s.sign(body, now, id),
            Scheme::Gitlab(s) => s.sign(body, now, id),
            Scheme::Mailgun(s) => s.sign(),
            Scheme::Twilio(s) => s.sign(body),
            Scheme::Discord(s) => s.sign(),
            Scheme::Sendgrid(s) => s.sign(),
            Scheme::Particle(s) => s.sign(),
            Scheme::Token(s) => s.sign(),
            Scheme::None => Ok(Vec::new()),
        }?;
        self.add_id_header(&mut headers, id);
        Ok(headers)
    }

    /// The provider also sends its event id when it keeps one in a header (GitHub's
    /// `x-github-delivery`), signed or not.
    fn add_id_header(&self, headers: &mut Vec<(HeaderName, String)>, id: &str) {
        if let Some(name) = self.id.headers.first()
            && !headers.iter().any(|(sent, _)| sent == name)
        {
            headers.push((name.clone(), id.to_owned()));
        }
    }
}

fn field_id(field: &str) -> IdRule {
    IdRule {
        headers: Vec::new(),
        field: Some(field.to_owned()),
    }
}

fn header_id(header: &'static str) -> IdRule {
    IdRule {
        headers: vec![HeaderName::from_static(header)],
        field: None,
    }
}

fn generic_accepts() -> Accepts {
    Accepts {
        json: true,
        form: true,
        ndjson: true,
        opaque: false,
    }
}

fn apply_id_overrides(mut id: IdRule, o: &Overrides) -> Result<IdRule, PresetError> {
    if let Some(header) = &o.id_header {
        id.headers = vec![header_name("id_header", header)?];
    }
    if let Some(field) = &o.id_field {
        id.field = Some(field.clone());
    }
    Ok(id)
}

/// An id field may be a string or a number (Shopify and Particle ids are numeric in places).
fn scalar_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

// ---- shared building blocks of the schemes ----

/// A header name from config.
pub(crate) fn header_name(key: &'static str, value: &str) -> Result<HeaderName, PresetError> {
    HeaderName::from_bytes(value.trim().as_bytes()).map_err(|_| PresetError::BadValue {
        key,
        value: value.to_owned(),
        fix: "write an HTTP header name such as X-Signature",
    })
}

/// A header's value as text, or `Missing(name)`.
pub(crate) fn header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<&'a str, VerifyError> {
    let value = headers
        .get(name)
        .ok_or_else(|| VerifyError::Missing(format!("{name} header")))?;
    value
        .to_str()
        .map_err(|_| VerifyError::Malformed("header (not visible ASCII)"))
}

/// Secrets as HMAC keys (the bytes as written), refusing an empty list.
pub(crate) fn keys(
    provider: &'static str,
    secrets: &[SecretString],
) -> Result<Vec<SecretSlice<u8>>, PresetError> {
    let keys: Vec<SecretSlice<u8>> = secrets
        .iter()
        .map(|s| s.expose_secret().as_bytes())
        .filter(|s| !s.is_empty())
        .map(|s| SecretSlice::from(s.to_vec()))
        .collect();
    if keys.is_empty() {
        return Err(PresetError::NoSecret { provider });
    }
    Ok(keys)
}

/// Parses a signed unix timestamp strictly: ASCII digits only, at most 12 of them (no sign, no
/// fraction, no exponent, no `NaN`, nothing that overflows).
pub(crate) fn parse_timestamp(text: &str) -> Result<i64, VerifyError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Malformed("timestamp"));
    }
    text.parse()
        .map_err(|_| VerifyError::Malformed("timestamp"))
}

/// Freshness in both directions, with saturating arithmetic.
pub(crate) fn check_fresh(
    timestamp: i64,
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let skew = now.saturating_sub(timestamp);
    let tolerance_secs = tolerance.as_secs();
    if skew.unsigned_abs() > tolerance_secs {
        return Err(VerifyError::Stale {
            skew_secs: skew,
            tolerance_secs,
        });
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// HMAC of the concatenated `parts` under `key`.
pub(crate) fn mac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else {
            return Vec::new();
        };
        for part in parts {
            m.update(part);
        }
        m.finalize().into_bytes().to_vec()
    }
    match algorithm {
        Algorithm::Sha1 => run::<::hmac::Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<::hmac::Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => run::<::hmac::Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Constant-time equality of two MACs (a length difference is not secret: lengths are public).
pub(crate) fn mac_eq(expected: &[u8], given: &[u8]) -> bool {
    !expected.is_empty() && expected.len() == given.len() && bool::from(expected.ct_eq(given))
}

/// Constant-time equality of two credentials that does not leak their lengths either.
pub fn credential_eq(expected: &[u8], given: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(expected), Sha256::digest(given));
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// Tries every key against every candidate signature: each key's MAC is computed once.
pub(crate) fn any_match(
    keys: &[SecretSlice<u8>],
    candidates: &[Vec<u8>],
    compute: impl Fn(&[u8]) -> Vec<u8>,
) -> Result<(), VerifyError> {
    let mut matched = false;
    for key in keys {
        let expected = compute(key.expose_secret());
        for candidate in candidates {
            // No early exit: the work done does not depend on which key matched.
            matched |= mac_eq(&expected, candidate);
        }
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch { tried: keys.len() })
    }
}

#[cfg(test)]
pub(crate) mod vectors {
    //! The SDK-made vectors of `../shared/vectors/providers.json`.
    use http::{HeaderMap, HeaderName, HeaderValue};
    use serde_json::Value;

    pub struct Vector {
        pub name: String,
        pub secret: String,
        pub headers: HeaderMap,
        pub body: Vec<u8>,
        pub verify_at: i64,
        pub valid: bool,
        /// The public URL the provider called (schemes that sign it).
        pub url: Option<String>,
        /// Public-key schemes' key (Discord hex, SendGrid base64 DER).
        pub public_key: Option<String>,
    }

    fn build(provider: &str, secrets: &[&str], url: Option<&str>) -> super::Preset {
        let secrets: Vec<secrecy::SecretString> = secrets
            .iter()
            .map(|s| secrecy::SecretString::from((*s).to_owned()))
            .collect();
        let overrides = super::Overrides {
            public_url: url.map(str::to_owned),
            ..super::Overrides::default()
        };
        super::Preset::build(provider, &secrets, &[], &overrides).expect("preset builds")
    }

    /// Every vector of `provider` verifies as the SDK says, and the derived negatives fail: a
    /// flipped body byte, the wrong secret, no headers; a second (rotated-in) secret still passes.
    pub fn conformance(provider: &str) {
        use super::{Inbound, VerifyError};
        for v in load(provider) {
            let url = v.url.as_deref();
            let check = |preset: &super::Preset, headers: &HeaderMap, body: &[u8]| {
                preset.verify(&Inbound {
                    headers,
                    body,
                    url,
                    now: v.verify_at,
                })
            };
            let good = build(provider, &[&v.secret], url);
            let result = check(&good, &v.headers, &v.body);
            if !v.valid {
                assert!(result.is_err(), "{}: expected a refusal", v.name);
                continue;
            }
            assert_eq!(result, Ok(()), "{}", v.name);
            let rotated = build(provider, &["an-older-secret", &v.secret], url);
            assert_eq!(
                check(&rotated, &v.headers, &v.body),
                Ok(()),
                "{}: rotation",
                v.name
            );
            let mut flipped = v.body.clone();
            if let Some(byte) = flipped.last_mut() {
                *byte ^= 0x01;
            }
            assert!(
                check(&good, &v.headers, &flipped).is_err(),
                "{}: flipped byte",
                v.name
            );
            let wrong = build(provider, &["not-the-secret"], url);
            assert!(
                matches!(
                    check(&wrong, &v.headers, &v.body),
                    Err(VerifyError::Mismatch { .. })
                ),
                "{}: wrong secret",
                v.name
            );
            assert!(
                check(&good, &HeaderMap::new(), &v.body).is_err(),
                "{}: no headers",
                v.name
            );
        }
    }

    pub fn load(provider: &str) -> Vec<Vector> {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/vectors/providers.json"
        ));
        let all: Value = serde_json::from_str(text).expect("vectors are JSON");
        let cases: Vec<Vector> = all["vectors"]
            .as_array()
            .expect("a list of vectors")
            .iter()
            .filter(|v| v["provider"] == provider)
            .map(|v| {
                let mut headers = HeaderMap::new();
                for (name, value) in v["headers"].as_object().expect("headers") {
                    headers.append(
                        HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                        HeaderValue::from_str(value.as_str().expect("string"))
                            .expect("header value"),
                    );
                }
                if let Some(ct) = v["content_type"].as_str() {
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_str(ct).expect("ct"),
                    );
                }
                let body = match v["body_base64"].as_str() {
                    Some(b64) => {
                        use base64::Engine;
                        base64::engine::general_purpose::STANDARD
                            .decode(b64)
                            .expect("base64")
                    }
                    None => v["body"].as_str().expect("body").as_bytes().to_vec(),
                };
                Vector {
                    name: v["name"].as_str().expect("name").to_owned(),
                    secret: v["secret"].as_str().unwrap_or_default().to_owned(),
                    public_key: v["public_key"].as_str().map(str::to_owned),
                    headers,
                    body,
                    verify_at: v["verify_at"].as_i64().unwrap_or(0),
                    valid: v["expect"] == "valid",
                    url: v["url"].as_str().map(str::to_owned),
                }
            })
            .collect();
        assert!(!cases.is_empty(), "no vectors for {provider}");
        cases
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_parsed_strictly() {
        assert_eq!(parse_timestamp("1700000000"), Ok(1_700_000_000));
        for bad in [
            "",
            "NaN",
            "-5",
            "+5",
            "1e9",
            "1.5",
            "17000000000000000000",
            " ",
            "0x10",
            "١٢",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                Err(VerifyError::Malformed("timestamp")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn freshness_is_checked_in_both_directions_without_overflow() {
        let tolerance = Duration::from_secs(300);
        assert!(check_fresh(1000, 1300, tolerance).is_ok());
        assert!(check_fresh(1300, 1000, tolerance).is_ok());
        assert!(check_fresh(1000, 1301, tolerance).is_err());
        assert!(check_fresh(1301, 1000, tolerance).is_err());
        assert!(check_fresh(i64::MAX, i64::MIN, tolerance).is_err());
        assert!(check_fresh(i64::MIN, i64::MAX, tolerance).is_err());
    }

    #[test]
    fn credentials_compare_equal_only_when_identical() {
        assert!(credential_eq(b"Bearer abc", b"Bearer abc"));
        assert!(!credential_eq(b"Bearer abc", b"Bearer abd"));
        assert!(!credential_eq(b"Bearer abc", b"Bearer ab"));
        assert!(!credential_eq(b"", b"x"));
    }

    #[test]
    fn unknown_providers_are_refused_with_the_known_list() {
        let err = Preset::build(
            "githib",
            &[SecretString::from("s")],
            &[],
            &Overrides::default(),
        )
        .expect_err("unknown");
        assert!(err.to_string().contains("github"), "{err}");
    }

    #[test]
    fn body_kinds_follow_the_provider() {
        let github = Preset::build(
            "github",
            &[SecretString::from("s")],
            &[],
            &Overrides::default(),
        )
        .expect("builds");
        assert_eq!(
            github.body_kind(Some("application/json; charset=utf-8")),
            Some(BodyKind::Json)
        );
        assert_eq!(
            github.body_kind(Some("application/x-www-form-urlencoded")),
            Some(BodyKind::Form)
        );
        assert_eq!(github.body_kind(Some("text/csv")), None);
        assert_eq!(github.body_kind(None), None);
        let bd = Preset::build(
            "brightdata",
            &[SecretString::from("Bearer x")],
            &[],
            &Overrides::default(),
        )
        .expect("builds");
        assert_eq!(
            bd.body_kind(Some("application/x-ndjson")),
            Some(BodyKind::NdJson)
        );
        assert_eq!(bd.body_kind(Some("text/csv")), Some(BodyKind::Opaque));
        assert!(bd.sniffs_gzip());
    }

    #[test]
    fn an_id_is_bound_only_where_the_requests_authentication_covers_it() {
        use http::HeaderValue;
        let secret = [SecretString::from("s".to_owned())];
        let build = |provider: &str, o: &Overrides| {
            Preset::build(provider, &secret, &[], o).expect("builds")
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-github-delivery", HeaderValue::from_static("d-1"));
        headers.insert("x-id", HeaderValue::from_static("i-1"));
        let payload = serde_json::json!({"id": "evt_1"});
        let bound = |preset: &Preset| {
            let id = preset.event_id(&headers, Some(&payload)).expect("an id");
            (id.value, id.bound)
        };
        let id_header = |template: Option<&str>| Overrides {
            signature_header: Some("x-sig".into()),
            id_header: Some("x-id".into()),
            signed_payload: template.map(str::to_owned),
            ..Overrides::default()
        };
        let cases = [
            ("github", Overrides::default(), ("d-1", false)),
            ("stripe", Overrides::default(), ("evt_1", true)),
            ("hmac", id_header(None), ("i-1", false)),
            ("hmac", id_header(Some("{id}.{body}")), ("i-1", true)),
            ("token", id_header(None), ("i-1", true)),
        ];
        for (provider, overrides, (value, is_bound)) in cases {
            assert_eq!(
                bound(&build(provider, &overrides)),
                (value.to_owned(), is_bound),
                "{provider} {:?}",
                overrides.signed_payload
            );
        }
    }

    #[test]
    fn debug_output_of_a_preset_hides_its_secrets() {
        let preset = Preset::build(
            "stripe",
            &[SecretString::from("whsec_do_not_print")],
            &[],
            &Overrides::default(),
        )
        .expect("builds");
        assert!(!format!("{preset:?}").contains("do_not_print"));
    }
}
