//! The shape of a provider description: everything hookwall knows about one provider, as one
//! `const` value each provider file declares (`pub const PROVIDER: Provider`).
//!
//! A description says which keys a source holds ([`Keys`]), which bodies the provider sends
//! ([`Bodies`]), where its event id is ([`IdRule`]) and its event type ([`EventTypeRule`]), whether its bodies are gzip without saying
//! so, which handshake it expects answered, how to build its verifier (and signer, for `hookwall
//! send`/`sign`) from a source's keys and overrides, and which fuzz target exercises it
//! ([`Family`]). It holds no secrets and does no work of its own: `Preset` applies it.

use http::HeaderName;
use secrecy::SecretString;
use serde_json::Value;

use super::contract::{Overrides, PresetError, Scheme};

/// Everything about one provider (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    /// The `provider = "…"` value of a source.
    pub name: &'static str,
    /// What `secrets` and `public_keys` hold for it.
    pub keys: Keys,
    /// The body kinds it sends (step 7).
    pub bodies: Bodies,
    /// Where its event id is.
    pub id: IdRule,
    /// Where it names the event's type (SPEC section 10).
    pub event_type: EventTypeRule,
    /// It sends gzip without `Content-Encoding` (BrightData): bodies starting `1f 8b` are
    /// inflated.
    pub sniffs_gzip: bool,
    /// A verification handshake the provider expects answered instead of an event stored.
    pub handshake: Option<Handshake>,
    /// Builds the verifier from a source's secrets, public keys and overrides.
    pub build: Build,
    /// The fuzz targets that exercise it.
    pub families: &'static [Family],
}

/// Builds a verifier: `(secrets, public_keys, overrides)`.
pub type Build = fn(&[SecretString], &[String], &Overrides) -> Result<Box<dyn Scheme>, PresetError>;

/// Answers a handshake payload (called only on authenticated requests): the JSON body of a
/// 200, or `None` when the payload is not this provider's handshake. The built scheme is passed
/// for answers that prove the secret (Zoom).
pub type Handshake = fn(&Value, &dyn Scheme) -> Option<Value>;

/// An id made from a payload that names none (every value it reads is signed, so it is bound).
pub type DerivedId = fn(&Value) -> Option<String>;

impl Provider {
    /// Whether a source of this provider takes `secrets`.
    pub const fn takes_secrets(&self) -> bool {
        self.keys.secrets()
    }

    /// Whether a source of this provider takes `public_keys`.
    pub const fn takes_public_keys(&self) -> bool {
        self.keys.public_keys()
    }

    /// Whether the fuzz target of `family` exercises this provider.
    pub fn in_family(&self, family: Family) -> bool {
        self.families.contains(&family)
    }
}

/// What a source's `secrets` and `public_keys` hold for a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    Secrets,
    PublicKeys,
    /// Either or both (Standard Webhooks: `whsec_` secrets and `whpk_` public keys).
    SecretsOrPublicKeys,
    /// Nothing is verified (`none`).
    Nothing,
}

impl Keys {
    pub const fn secrets(self) -> bool {
        matches!(self, Keys::Secrets | Keys::SecretsOrPublicKeys)
    }

    pub const fn public_keys(self) -> bool {
        matches!(self, Keys::PublicKeys | Keys::SecretsOrPublicKeys)
    }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bodies {
    pub json: bool,
    pub form: bool,
    pub ndjson: bool,
    pub opaque: bool,
}

impl Bodies {
    pub const JSON: Bodies = Bodies {
        json: true,
        form: false,
        ndjson: false,
        opaque: false,
    };
    pub const JSON_OR_FORM: Bodies = Bodies {
        form: true,
        ..Bodies::JSON
    };
    /// The generic presets (`hmac`, `token`, `none`).
    pub const JSON_FORM_OR_NDJSON: Bodies = Bodies {
        ndjson: true,
        ..Bodies::JSON_OR_FORM
    };

    /// How to read a body of this content type, or `None` for 415.
    pub fn kind(&self, content_type: Option<&str>) -> Option<BodyKind> {
        let essence = content_type?.split(';').next()?.trim().to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => self.json.then_some(BodyKind::Json),
            t if t.starts_with("application/") && t.ends_with("+json") => {
                self.json.then_some(BodyKind::Json)
            }
            "application/x-www-form-urlencoded" => self.form.then_some(BodyKind::Form),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines" => self.ndjson.then_some(BodyKind::NdJson),
            "text/csv" | "application/csv" | "application/octet-stream" => {
                self.opaque.then_some(BodyKind::Opaque)
            }
            _ => None,
        }
    }
}

/// Where a provider puts its event id. A source's `id_header` replaces `headers` and its
/// `id_field` replaces `field`; a signed id header (Standard Webhooks) always comes first.
#[derive(Debug, Clone, Copy)]
pub struct IdRule {
    /// Tried in order: the first present and non-empty is the id.
    pub headers: &'static [&'static str],
    /// A top-level field of the payload (a string, or a number).
    pub field: Option<&'static str>,
    /// Made from the payload when neither gives an id.
    pub derived: Option<DerivedId>,
}

impl IdRule {
    /// No id of its own: the caller hashes the body (or a source's overrides name one).
    pub const NONE: IdRule = IdRule {
        headers: &[],
        field: None,
        derived: None,
    };

    /// The id is the first of these headers present.
    pub const fn headers(names: &'static [&'static str]) -> IdRule {
        IdRule {
            headers: names,
            ..IdRule::NONE
        }
    }

    /// The id is this top-level payload field.
    pub const fn field(name: &'static str) -> IdRule {
        IdRule {
            field: Some(name),
            ..IdRule::NONE
        }
    }

    /// The id is made by `derive`.
    pub const fn derived(derive: DerivedId) -> IdRule {
        IdRule {
            derived: Some(derive),
            ..IdRule::NONE
        }
    }

    /// The header names, as [`HeaderName`]s.
    pub(crate) fn header_names(&self) -> Vec<HeaderName> {
        // Descriptions hold lowercase constants, which `from_static` accepts (a registry test
        // checks every one).
        self.headers
            .iter()
            .map(|name| HeaderName::from_static(name))
            .collect()
    }
}

/// Where a provider names an event's type (SPEC section 10): data only, read by the pipeline
/// (`pipeline::event_type`) once the request is verified and its body parsed. A source's
/// `event_type_header` or `event_type_pointer` replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTypeRule {
    /// The provider names no type: events have none unless the source says where it is.
    None,
    /// A request header (a lowercase constant, as `HeaderName::from_static` takes it).
    Header(&'static str),
    /// JSON Pointers (RFC 6901) into the parsed body, tried in order: a form body is an object
    /// of string fields, and a JSON array is indexed (`/0/event`).
    Pointers(&'static [&'static str]),
}

/// The fuzz targets, by the shape of the proof a request carries. A provider may sit in
/// several (Standard Webhooks signs with a secret or a public key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// A signed timestamp and several signatures in one header (`signature_lists`).
    SignatureList,
    /// One HMAC header, GitHub's family and the generic `hmac` (`hmac_headers`).
    HmacHeader,
    /// A signed URL and form parameters, or a signature inside the body (`urls_and_bodies`).
    UrlAndBody,
    /// Ed25519 or ECDSA public keys (`public_keys`).
    PublicKey,
    /// A credential compared as sent, or no check at all (`credentials`).
    Credential,
}
