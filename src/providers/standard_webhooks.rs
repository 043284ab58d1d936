//! Standard Webhooks (and Svix, which uses the same scheme under `svix-` header names).
//!
//! `webhook-signature` holds space-separated `v1,<base64 HMAC-SHA256(key, id + "." + ts + "." +
//! body)>` entries, one per active key; any match passes. The key is the base64 decoding of what
//! follows `whsec_`. `webhook-timestamp` must be within 5 minutes either way. `webhook-id` is
//! signed, so a replay under a new id fails, and a replay under the same id is a duplicate.
//! `v1a,<base64 Ed25519 signature>` entries (asymmetric Standard Webhooks) verify against
//! `public_keys` (`whpk_` + base64 of the 32-byte key); a source may hold secrets, public keys,
//! or both during a migration.

use std::time::Duration;

use base64::Engine;
use http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use super::{
    Algorithm, Inbound, MAX_SIGNATURES, Overrides, PresetError, SignError, VerifyError, any_match,
    check_fresh, header, header_name, mac, parse_timestamp,
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

    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// The family whose headers sign this request: the configured one, unless only the other
    /// family's signature header is present. [`Self::verify`] checks that family's id,
    /// timestamp and signature, and [`Self::signed_id`] reads the id from it: a request signed
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

    /// The event id this request signs (the id header of the family that [`Self::verify`]
    /// checks), never another header's.
    pub fn signed_id<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get(&self.names_for(headers).id)?
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|id| !id.is_empty())
    }

    pub fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
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
            && super::discord::any_ed25519(&self.public, &asymmetric, &message.concat()).is_ok();
        if !(by_secret || by_public_key) {
            return Err(VerifyError::Mismatch {
                tried: self.keys.len() + self.public.len(),
            });
        }
        check_fresh(timestamp, req.now, self.tolerance)
    }

    pub fn sign(
        &self,
        body: &[u8],
        now: i64,
        id: &str,
    ) -> Result<Vec<(HeaderName, String)>, SignError> {
        let key = self
            .keys
            .first()
            .ok_or(SignError::NoSecret("standard-webhooks"))?;
        let ts = now.to_string();
        let tag = mac(
            Algorithm::Sha256,
            key.expose_secret(),
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

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::providers::Preset;
    use crate::providers::vectors::load;

    fn build(provider: &str, secrets: &[&str]) -> Preset {
        let secrets: Vec<SecretString> = secrets
            .iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect();
        Preset::build(provider, &secrets, &[], &Overrides::default()).expect("builds")
    }

    fn verify(
        preset: &Preset,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        preset.verify(&Inbound {
            headers,
            body,
            url: None,
            now,
        })
    }

    #[test]
    fn every_standard_webhooks_and_svix_vector_verifies() {
        for provider in ["standard-webhooks", "svix"] {
            for v in load(provider) {
                assert_eq!(
                    verify(
                        &build(provider, &[&v.secret]),
                        &v.headers,
                        &v.body,
                        v.verify_at
                    ),
                    Ok(()),
                    "{}",
                    v.name
                );
            }
        }
    }

    #[test]
    fn the_gitlab_signing_token_vector_verifies_as_standard_webhooks() {
        for v in load("gitlab") {
            assert_eq!(
                verify(
                    &build("standard-webhooks", &[&v.secret]),
                    &v.headers,
                    &v.body,
                    v.verify_at
                ),
                Ok(())
            );
        }
    }

    #[test]
    fn either_header_family_is_read_by_either_preset() {
        let v = load("svix").remove(0);
        assert_eq!(
            verify(
                &build("standard-webhooks", &[&v.secret]),
                &v.headers,
                &v.body,
                v.verify_at
            ),
            Ok(())
        );
        let v = load("standard-webhooks").remove(0);
        assert_eq!(
            verify(
                &build("svix", &[&v.secret]),
                &v.headers,
                &v.body,
                v.verify_at
            ),
            Ok(())
        );
    }

    #[test]
    fn several_signatures_in_one_header_any_match_passes() {
        let v = load("standard-webhooks").remove(0);
        let mut headers = v.headers.clone();
        let real = headers
            .get("webhook-signature")
            .expect("header")
            .to_str()
            .expect("ascii")
            .to_owned();
        let rotated = format!("v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1a,xyz {real}");
        headers.insert(
            "webhook-signature",
            HeaderValue::from_str(&rotated).expect("ascii"),
        );
        assert_eq!(
            verify(
                &build("standard-webhooks", &[&v.secret]),
                &headers,
                &v.body,
                v.verify_at
            ),
            Ok(())
        );
    }

    #[test]
    fn negatives_are_refused() {
        let v = load("standard-webhooks").remove(0);
        let preset = build("standard-webhooks", &[&v.secret]);
        let mut body = v.body.clone();
        body[1] ^= 1;
        assert!(matches!(
            verify(&preset, &v.headers, &body, v.verify_at),
            Err(VerifyError::Mismatch { .. })
        ));
        let other = "whsec_b3RoZXItc2VjcmV0LWtleQ==";
        assert!(
            verify(
                &build("standard-webhooks", &[other]),
                &v.headers,
                &v.body,
                v.verify_at
            )
            .is_err()
        );
        assert_eq!(
            verify(
                &build("standard-webhooks", &[other, &v.secret]),
                &v.headers,
                &v.body,
                v.verify_at
            ),
            Ok(())
        );
        assert!(matches!(
            verify(&preset, &v.headers, &v.body, v.verify_at + 301),
            Err(VerifyError::Stale { .. })
        ));
        assert!(matches!(
            verify(&preset, &v.headers, &v.body, v.verify_at - 301),
            Err(VerifyError::Stale { .. })
        ));
        for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let mut headers = v.headers.clone();
            headers.remove(missing);
            assert!(
                matches!(
                    verify(&preset, &headers, &v.body, v.verify_at),
                    Err(VerifyError::Missing(_))
                ),
                "{missing}"
            );
        }
        let mut headers = v.headers.clone();
        headers.insert("webhook-id", HeaderValue::from_static("msg_other"));
        assert!(matches!(
            verify(&preset, &headers, &v.body, v.verify_at),
            Err(VerifyError::Mismatch { .. })
        ));
    }

    #[test]
    fn a_secret_that_is_not_base64_is_a_config_error() {
        let err = Preset::build(
            "standard-webhooks",
            &[SecretString::from("whsec_!!!")],
            &[],
            &Overrides::default(),
        )
        .expect_err("bad key");
        assert!(
            err.to_string().contains("base64") && !err.to_string().contains("!!!"),
            "{err}"
        );
    }

    #[test]
    fn sign_then_verify_round_trips_with_the_id_as_event_id() {
        let preset = build(
            "standard-webhooks",
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        );
        let mut headers = HeaderMap::new();
        for (name, value) in preset.sign(b"{}", 1_800_000_000, "msg_1").expect("signs") {
            headers.insert(name, HeaderValue::from_str(&value).expect("ascii"));
        }
        assert_eq!(verify(&preset, &headers, b"{}", 1_800_000_000), Ok(()));
        assert_eq!(preset.event_id(&headers, None).as_deref(), Some("msg_1"));
    }

    /// Headers signed by one family (`svix` or `webhook`) with an unsigned id of the other
    /// family added, as an attacker replaying a captured request would add it.
    fn signed_by_one_family_with_the_others_id(family: &str, other: &str) -> HeaderMap {
        let signer = build(family, &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
        let mut headers = HeaderMap::new();
        for (name, value) in signer
            .sign(b"{}", 1_800_000_000, "msg_signed")
            .expect("signs")
        {
            headers.insert(name, HeaderValue::from_str(&value).expect("ascii"));
        }
        let other_id = HeaderName::from_bytes(format!("{other}-id").as_bytes()).expect("a name");
        headers.insert(other_id, HeaderValue::from_static("msg_chosen_by_attacker"));
        headers
    }

    #[test]
    fn the_event_id_is_the_signed_one_when_the_other_familys_id_is_added() {
        for (provider, signing_family, other_family) in [
            ("standard-webhooks", "svix", "webhook"),
            ("standard-webhooks", "standard-webhooks", "svix"),
            ("svix", "standard-webhooks", "svix"),
            ("svix", "svix", "webhook"),
        ] {
            let preset = build(provider, &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
            let headers = signed_by_one_family_with_the_others_id(signing_family, other_family);
            assert_eq!(
                verify(&preset, &headers, b"{}", 1_800_000_000),
                Ok(()),
                "{provider} verifies a request signed as {signing_family}"
            );
            let id = preset.event_id(&headers, None).expect("an id");
            assert_eq!(
                (id.value.as_str(), id.bound),
                ("msg_signed", true),
                "{provider}, signed as {signing_family}, {other_family}-id added"
            );
        }
    }

    #[test]
    fn v1a_ed25519_signatures_verify_against_whpk_public_keys() {
        use ed25519_dalek::{Signer, SigningKey};
        let signer = SigningKey::from_bytes(&[5; 32]);
        let public = format!(
            "whpk_{}",
            base64::engine::general_purpose::STANDARD.encode(signer.verifying_key().as_bytes())
        );
        let body = br#"{"type":"invoice.paid"}"#;
        let signature = signer.sign(b"msg_v1a.1700000000.{\"type\":\"invoice.paid\"}");
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", HeaderValue::from_static("msg_v1a"));
        headers.insert("webhook-timestamp", HeaderValue::from_static("1700000000"));
        let entry = format!(
            "v1,AAAA v1a,{}",
            base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())
        );
        headers.insert(
            "webhook-signature",
            HeaderValue::from_str(&entry).expect("ascii"),
        );
        let preset = Preset::build(
            "standard-webhooks",
            &[],
            std::slice::from_ref(&public),
            &Overrides::default(),
        )
        .expect("builds with public keys alone");
        assert_eq!(verify(&preset, &headers, body, 1_700_000_000), Ok(()));
        assert!(matches!(
            verify(&preset, &headers, b"{}", 1_700_000_000),
            Err(VerifyError::Mismatch { .. })
        ));
        assert!(matches!(
            verify(&preset, &headers, body, 1_700_000_301),
            Err(VerifyError::Stale { .. })
        ));
        let other = format!(
            "whpk_{}",
            base64::engine::general_purpose::STANDARD
                .encode(SigningKey::from_bytes(&[6; 32]).verifying_key().as_bytes())
        );
        let wrong = Preset::build("standard-webhooks", &[], &[other], &Overrides::default())
            .expect("builds");
        assert!(verify(&wrong, &headers, body, 1_700_000_000).is_err());
        assert!(
            Preset::build(
                "standard-webhooks",
                &[],
                &["whpk_short".into()],
                &Overrides::default()
            )
            .is_err()
        );
    }
}
