//! The Standard Webhooks scheme (and Svix's, the same under `svix-` header names).
//!
//! `webhook-signature` holds space-separated `v1,<base64 HMAC-SHA256(key, id + "." + ts + "." +
//! body)>` entries, one per active key; any match passes. The key is the base64 decoding of what
//! follows `whsec_`. `webhook-timestamp` must be within 5 minutes either way. `webhook-id` is
//! signed, so a replay under a new id fails, and a replay under the same id is a duplicate.
//! `v1a,<base64 Ed25519 signature>` entries (asymmetric Standard Webhooks) verify against
//! `public_keys` (`whpk_` + base64 of the 32-byte key); a source may hold secrets, public keys,
//! or both during a migration. Used by the `standard-webhooks`, `svix` and `gitlab` providers
//! and by the HTTP destinations' signatures; it knows no provider beyond the two header families.

use std::time::Duration;

use base64::Engine;
use http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use super::ed25519::any_ed25519;
use crate::providers::contract::{
    Algorithm, Inbound, MAX_SIGNATURES, Overrides, PresetError, Scheme, SignError, SignedHeaders,
    VerifyError,
};
use crate::providers::primitives::{
    any_match, check_fresh, first_key, header, header_name, mac, parse_timestamp,
};

pub const TOLERANCE: Duration = Duration::from_secs(300);

/// Header names: `webhook-*` for Standard Webhooks, `svix-*` for Svix.
#[derive(Debug, Clone)]
struct Names {
    id: HeaderName,
    timestamp: HeaderName,
    signature: HeaderName,
}

pub struct StandardWebhooks {
    names: Names,
    /// For `standard-webhooks`, the `svix-` names are accepted too when `webhook-` ones are absent.
    fallback: Option<Names>,
    keys: Vec<SecretSlice<u8>>,
    public: Vec<ed25519_dalek::VerifyingKey>,
    tolerance: Duration,
}

impl std::fmt::Debug for StandardWebhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandardWebhooks")
            .field("names", &self.names)
            .field("keys", &self.keys.len())
            .field("public_keys", &self.public.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

fn names(prefix: &str) -> Names {
    let name = |suffix: &str| HeaderName::from_bytes(format!("{prefix}-{suffix}").as_bytes());
    // The prefixes are the constants "webhook" and "svix": valid header names.
    match (name("id"), name("timestamp"), name("signature")) {
        (Ok(id), Ok(timestamp), Ok(signature)) => Names {
            id,
            timestamp,
            signature,
        },
        _ => Names {
            id: HeaderName::from_static("webhook-id"),
            timestamp: HeaderName::from_static("webhook-timestamp"),
            signature: HeaderName::from_static("webhook-signature"),
        },
    }
}

/// Decodes a `whpk_…` public key (the prefix is optional): base64 of 32 Ed25519 key bytes.
pub fn decode_public_key(text: &str) -> Option<ed25519_dalek::VerifyingKey> {
    let encoded = text.trim().strip_prefix("whpk_").unwrap_or(text.trim());
    let bytes: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?
        .try_into()
        .ok()?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
}

/// Decodes a `whsec_…` secret (the prefix is optional) into key bytes.
pub fn decode_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret
        .trim()
        .strip_prefix("whsec_")
        .unwrap_or(secret.trim());
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .filter(|k| !k.is_empty())
}

impl StandardWebhooks {
    pub fn build(
        provider: &'static str,
        secrets: &[SecretString],
        public_keys: &[String],
        o: &Overrides,
    ) -> Result<StandardWebhooks, PresetError> {
        let (mut primary, fallback) = if provider == "svix" {
            (names("svix"), Some(names("webhook")))
        } else {
            (names("webhook"), Some(names("svix")))
        };
        if let Some(name) = &o.signature_header {
            primary.signature = header_name("signature_header", name)?;
        }
        if let Some(name) = &o.timestamp_header {
            primary.timestamp = header_name("timestamp_header", name)?;
        }
        if let Some(name) = &o.id_header {
            primary.id = header_name("id_header", name)?;
        }
        let mut keys = Vec::new();
        for (index, secret) in secrets.iter().enumerate() {
            let text = secret.expose_secret();
            if text.is_empty() {
                continue;
            }
            keys.push(SecretSlice::from(
                decode_key(text).ok_or(PresetError::BadKey { index })?,
            ));
        }
        let public = public_keys
            .iter()
            .enumerate()
            .filter(|(_, k)| !k.trim().is_empty())
            .map(|(index, k)| decode_public_key(k).ok_or(PresetError::BadKey { index }))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() && public.is_empty() {
            return Err(PresetError::NoSecret { provider });
        }
        let overridden =
            o.signature_header.is_some() || o.timestamp_header.is_some() || o.id_header.is_some();
        Ok(StandardWebhooks {
            names: primary,
            fallback: if overridden { None } else { fallback },
            keys,
            public,
            tolerance: o.timestamp_tolerance.unwrap_or(TOLERANCE),
        })
    }

    /// The family whose headers sign this request: the configured one, unless only the other
    /// family's signature header is present. [`Scheme::verify`] checks that family's id,
    /// timestamp and signature, and [`Scheme::signed_id`] reads the id from it: a request signed
    /// with `svix-*` that also carries an unsigned `webhook-id` is de-duplicated on `svix-id`.
    fn names_for(&self, headers: &HeaderMap) -> &Names {
        match &self.fallback {
            Some(fallback)
                if !headers.contains_key(&self.names.signature)
                    && headers.contains_key(&fallback.signature) =>
            {
                fallback
            }
            _ => &self.names,
        }
    }

    /// The event id this request signs (the id header of the family that [`Scheme::verify`]
    /// checks), never another header's.
    fn signed_id_of<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get(&self.names_for(headers).id)?
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|id| !id.is_empty())
    }

    /// The three headers of a request signed at `now` with the first secret (also what the
    /// HTTP destinations send).
    pub fn sign(&self, body: &[u8], now: i64, id: &str) -> Result<SignedHeaders, SignError> {
        let key = first_key(&self.keys, "standard-webhooks")?;
        let ts = now.to_string();
        let tag = mac(
            Algorithm::Sha256,
            key,
            &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
        );
        Ok(vec![
            (self.names.id.clone(), id.to_owned()),
            (self.names.timestamp.clone(), ts),
            (
                self.names.signature.clone(),
                format!(
                    "v1,{}",
                    base64::engine::general_purpose::STANDARD.encode(tag)
                ),
            ),
        ])
    }
}

impl Scheme for StandardWebhooks {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let names = self.names_for(req.headers);
        let id = header(req.headers, &names.id)?;
        let timestamp_text = header(req.headers, &names.timestamp)?;
        let signature = header(req.headers, &names.signature)?;
        let timestamp = parse_timestamp(timestamp_text)?;
        let entries: Vec<&str> = signature
            .split(' ')
            .filter(|s| !s.is_empty())
            .take(MAX_SIGNATURES)
            .collect();
        let decoded = |scheme: &str| -> Vec<Vec<u8>> {
            entries
                .iter()
                .filter_map(|entry| entry.strip_prefix(scheme))
                .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .collect()
        };
        let symmetric = decoded("v1,");
        let asymmetric: Vec<ed25519_dalek::Signature> = decoded("v1a,")
            .iter()
            .filter_map(|bytes| ed25519_dalek::Signature::from_slice(bytes).ok())
            .collect();
        if symmetric.is_empty() && asymmetric.is_empty() {
            return Err(VerifyError::Malformed(
                "webhook-signature (no v1 or v1a entry)",
            ));
        }
        let message = [
            id.as_bytes(),
            b".",
            timestamp_text.as_bytes(),
            b".",
            req.body,
        ];
        // Both kinds are tried whatever the first gives, so timing does not tell which matched.
        let by_secret = (!self.keys.is_empty() && !symmetric.is_empty())
            && any_match(&self.keys, &symmetric, |key| {
                mac(Algorithm::Sha256, key, &message)
            })
            .is_ok();
        let by_public_key = (!self.public.is_empty() && !asymmetric.is_empty())
            && any_ed25519(&self.public, &asymmetric, &message.concat()).is_ok();
        if !(by_secret || by_public_key) {
            return Err(VerifyError::Mismatch {
                tried: self.keys.len() + self.public.len(),
            });
        }
        check_fresh(timestamp, req.now, self.tolerance)
    }

    fn sign(&self, body: &[u8], now: i64, id: &str) -> Result<SignedHeaders, SignError> {
        StandardWebhooks::sign(self, body, now, id)
    }

    fn tolerance(&self) -> Option<Duration> {
        Some(self.tolerance)
    }

    fn signs_timestamp(&self) -> bool {
        true
    }

    fn signed_id<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        self.signed_id_of(headers)
    }
}
