//! Particle: integrations do not sign. A webhook is authenticated by a credential the
//! integration sends, compared in constant time:
//! - HTTP Basic (Integration → Advanced settings → HTTP Basic Auth): a secret `user:password`
//!   matches `Authorization: Basic base64(user:password)`;
//! - a header token (HTTP headers → `Authorization: Bearer <token>`): a secret without `:` (or
//!   any secret, when the Bearer form is sent) matches `Bearer <secret>`;
//! - a custom header (`signature_header = "X-Particle-Token"`): its whole value equals a secret.
//!
//! The default body is form-encoded `event`, `data`, `published_at`, `coreid`; a custom JSON
//! template may send the same fields. Particle gives no event id unless the template sends
//! `{{{PARTICLE_EVENT_ID}}}` in a field named by `id_field`; otherwise the id is a hash of
//! (coreid, event, published_at, data), which is unique per published event.

use http::HeaderName;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::contract::{
    Inbound, Overrides, PresetError, Scheme, SignError, SignedHeaders, VerifyError,
};
use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::primitives::{header_name, keys};
use super::schemes::token::{basic_credentials, matches_any, present};

pub const PROVIDER: Provider = Provider {
    name: "particle",
    keys: Keys::Secrets,
    bodies: Bodies::JSON_OR_FORM,
    id: IdRule::derived(derived_id),
    event_type: EventTypeRule::Pointers(&["/event"]),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(Particle::build(secrets, o)?)),
    families: &[Family::Credential],
};

pub struct Particle {
    header: HeaderName,
    /// `signature_header` was set: the header's whole value is the credential.
    custom: bool,
    secrets: Vec<SecretSlice<u8>>,
}

impl std::fmt::Debug for Particle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Particle")
            .field("header", &self.header)
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Particle {
    pub fn build(secrets: &[SecretString], o: &Overrides) -> Result<Particle, PresetError> {
        let (header, custom) = match &o.signature_header {
            Some(name) => (header_name("signature_header", name)?, true),
            None => (http::header::AUTHORIZATION, false),
        };
        Ok(Particle {
            header,
            custom,
            secrets: keys("particle", secrets)?,
        })
    }
}

impl Scheme for Particle {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let value = present(req, &self.header)?;
        if self.custom {
            return matches_any(&self.secrets, value.as_bytes());
        }
        if let Some(credentials) = basic_credentials(value) {
            return matches_any(&self.secrets, &credentials);
        }
        match value.trim().split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                matches_any(&self.secrets, token.trim().as_bytes())
            }
            _ => Err(VerifyError::Malformed(
                "Authorization (expected Basic or Bearer)",
            )),
        }
    }

    fn credential_header(&self) -> Option<&HeaderName> {
        Some(&self.header)
    }

    fn sign(&self, _: &[u8], _: i64, _: &str) -> Result<SignedHeaders, SignError> {
        use base64::Engine;
        let secret = self
            .secrets
            .first()
            .ok_or(SignError::NoSecret("particle"))?
            .expose_secret();
        let value = if self.custom {
            String::from_utf8_lossy(secret).into_owned()
        } else if secret.contains(&b':') {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(secret)
            )
        } else {
            format!("Bearer {}", String::from_utf8_lossy(secret))
        };
        Ok(vec![(self.header.clone(), value)])
    }
}

/// The id of an event Particle gave no id: SHA-256 over the length-prefixed fields (so no two
/// different field sets can produce the same input).
pub fn derived_id(payload: &Value) -> Option<String> {
    let fields = ["coreid", "event", "published_at", "data"];
    if fields.iter().all(|f| payload.get(f).is_none()) {
        return None;
    }
    let mut hasher = Sha256::new();
    for field in fields {
        let text = match payload.get(field) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        hasher.update((text.len() as u64).to_be_bytes());
        hasher.update(text.as_bytes());
    }
    Some(format!("particle:{}", hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::*;
    use crate::providers::Preset;
    use crate::providers::testing::preset_with;
    use crate::providers::vectors::load;

    fn build(secrets: &[&str], o: &Overrides) -> Preset {
        preset_with("particle", secrets, o)
    }

    fn verify(preset: &Preset, headers: &HeaderMap) -> Result<(), VerifyError> {
        crate::providers::testing::verify(preset, headers, b"", 0)
    }

    fn auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(value).expect("ascii"),
        );
        headers
    }

    #[test]
    fn malformed_credentials_are_refused() {
        let v = load("particle").remove(0);
        for bad in ["Basic !!!", "Digest abc", "Basic", "USERNAME:API_KEY"] {
            assert!(
                verify(&build(&[&v.secret], &Overrides::default()), &auth(bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_bearer_token_or_a_custom_header_token_verifies() {
        let preset = build(&["tok-123"], &Overrides::default());
        assert_eq!(verify(&preset, &auth("Bearer tok-123")), Ok(()));
        assert!(verify(&preset, &auth("Bearer tok-124")).is_err());
        let o = Overrides {
            signature_header: Some("X-Particle-Token".into()),
            ..Overrides::default()
        };
        let preset = build(&["tok-123"], &o);
        let mut headers = HeaderMap::new();
        headers.insert("x-particle-token", HeaderValue::from_static("tok-123"));
        assert_eq!(verify(&preset, &headers), Ok(()));
        assert!(verify(&preset, &auth("Bearer tok-123")).is_err());
    }

    #[test]
    fn the_event_id_comes_from_id_field_or_a_hash_of_the_event_fields() {
        let form = json!({"event": "demo", "data": "mydata", "published_at": "2017-02-01T21:08:05.763Z", "coreid": "3f002b"});
        let preset = build(&["u:p"], &Overrides::default());
        let derived = preset
            .event_id(&HeaderMap::new(), Some(&form))
            .expect("derived");
        assert!(derived.starts_with("particle:"));
        let mut other = form.clone();
        other["data"] = json!("otherdata");
        assert_ne!(
            preset.event_id(&HeaderMap::new(), Some(&other)),
            Some(derived.clone())
        );
        assert_eq!(
            preset.event_id(&HeaderMap::new(), Some(&form)),
            Some(derived)
        );
        let o = Overrides {
            id_field: Some("id".into()),
            ..Overrides::default()
        };
        let with_id = json!({"id": "evt-9", "event": "demo"});
        assert_eq!(
            build(&["u:p"], &o)
                .event_id(&HeaderMap::new(), Some(&with_id))
                .as_deref(),
            Some("evt-9")
        );
    }

    #[test]
    fn field_boundaries_cannot_be_shifted_to_collide() {
        let a = derived_id(&json!({"coreid": "ab", "event": "c"})).expect("id");
        let b = derived_id(&json!({"coreid": "a", "event": "bc"})).expect("id");
        assert_ne!(a, b);
    }
}
