//! The words every scheme and provider speaks: what a scheme reads ([`Inbound`], [`Overrides`]),
//! what it answers ([`VerifyError`], [`PresetError`], [`SignError`], [`Outbound`]), and the
//! [`Scheme`] trait a built verifier implements.
//!
//! This file is the floor of `providers/`: it imports nothing else from it, so schemes,
//! provider files, the registry and `Preset` can all depend on it without a cycle. It
//! holds no logic beyond the trait's defaults; it never does I/O or reads the clock.

use std::time::Duration;

use http::{HeaderMap, HeaderName};

/// At most this many signatures of one header are compared: a rotation carries two or three,
/// and a header with thousands of entries must cost no more than a normal one.
pub const MAX_SIGNATURES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

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

impl<'a> Inbound<'a> {
    /// A request of headers alone, for a verdict judged before the body is read.
    pub fn headers_only(headers: &'a HeaderMap) -> Inbound<'a> {
        Inbound {
            headers,
            body: &[],
            url: None,
            now: 0,
        }
    }
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
    /// `known` is the registry's list (`providers::KNOWN`), carried here so this floor need not
    /// import the registry.
    #[error("unknown provider {name:?}; known providers: {}", known.join(", "))]
    UnknownProvider {
        name: String,
        known: &'static [&'static str],
    },
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

/// The headers a signer adds to a request, in order.
pub type SignedHeaders = Vec<(HeaderName, String)>;

/// A signed request as a provider would send it (see `Preset::sign_request`).
#[derive(Debug, Clone)]
pub struct Outbound {
    pub headers: SignedHeaders,
    pub body: Vec<u8>,
    /// Appended to the URL (`?` + this).
    pub query: Option<String>,
}

/// A built verifier: a scheme's parameters with a source's keys and overrides applied. A
/// provider description's `build` makes one; `Preset` asks it everything that depends
/// on how requests are authenticated. The defaults fit a signature scheme that signs no
/// timestamp and no id header.
pub trait Scheme: Send + Sync + std::fmt::Debug {
    /// Steps 9 (authenticity) and 10 (freshness).
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError>;

    /// The header a credential scheme reads its credential from (a token, HTTP Basic, Bearer);
    /// `None` for a signature scheme. It decides the defaults below: such a verdict needs no
    /// body, the header is redacted before storage, and a credential authenticates every header
    /// it comes with alike.
    fn credential_header(&self) -> Option<&HeaderName> {
        None
    }

    /// The verdict of a credential that lives in a header, judged from the headers alone;
    /// `None` when the verdict needs the body.
    fn verify_headers_only(&self, headers: &HeaderMap) -> Option<Result<(), VerifyError>> {
        self.credential_header()?;
        Some(self.verify(&Inbound::headers_only(headers)))
    }

    /// The freshness window, when this scheme checks one.
    fn tolerance(&self) -> Option<Duration> {
        None
    }

    /// Whether the timestamp this scheme reads (if any) is covered by its signature.
    fn signs_timestamp(&self) -> bool {
        false
    }

    /// Credential headers, redacted before a request is stored.
    fn redacted_headers(&self) -> Vec<HeaderName> {
        self.credential_header().cloned().into_iter().collect()
    }

    /// The event id this request signs in a header (Standard Webhooks' `webhook-id`), never
    /// another header's.
    fn signed_id<'a>(&self, _headers: &'a HeaderMap) -> Option<&'a str> {
        None
    }

    /// Whether an id read from header `name` is covered by what authenticated the request: a
    /// signed header, or any header of a request a credential alone authenticates.
    fn binds_id_header(&self, _name: &HeaderName) -> bool {
        self.credential_header().is_some()
    }

    /// Whether ids read from the body are as authentic as the body (every signature scheme but
    /// Mailgun's signs the body).
    fn binds_body(&self) -> bool {
        true
    }

    /// The headers the provider would send for `body` at `now` (event id `id`), signed with the
    /// first secret.
    fn sign(&self, body: &[u8], now: i64, id: &str) -> Result<SignedHeaders, SignError>;

    /// The whole request the provider would send: the headers of [`Scheme::sign`] unless the
    /// scheme signs inside the body (Mailgun) or adds to the URL (Twilio).
    fn sign_request(&self, body: Vec<u8>, now: i64, id: &str) -> Result<Outbound, SignError> {
        Ok(Outbound {
            headers: self.sign(&body, now, id)?,
            body,
            query: None,
        })
    }

    /// The MAC of `message` under the first secret, for handshakes that prove the secret
    /// (Zoom's URL validation); `None` for schemes without one.
    fn mac_with_first_key(&self, _message: &[u8]) -> Option<Vec<u8>> {
        None
    }
}
