//! Generic token (`provider = "token"`: Zapier and any sender of a fixed header): the header
//! (default `Authorization`, or `signature_header`) must equal one of the secrets exactly.
//!
//! The comparison hashes both sides first, so it is constant time in the content and the length
//! of the credential. Nothing is signed: use TLS, `allow_ips` and `dedup = "body"` with it.

use base64::Engine as _;
use http::HeaderName;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use super::{
    Inbound, Overrides, PresetError, SignError, VerifyError, credential_eq, header, header_name,
    keys,
};

pub struct Token {
    provider: &'static str,
    header: HeaderName,
    /// The complete expected header values.
    values: Vec<SecretSlice<u8>>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("header", &self.header)
            .field("values", &self.values.len())
            .finish()
    }
}

impl Token {
    pub fn build(
        provider: &'static str,
        secrets: &[SecretString],
        o: &Overrides,
    ) -> Result<Token, PresetError> {
        let header = match &o.signature_header {
            Some(name) => header_name("signature_header", name)?,
            None => http::header::AUTHORIZATION,
        };
        Ok(Token {
            provider,
            header,
            values: keys(provider, secrets)?,
        })
    }

    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    pub fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let given = req
            .headers
            .get(&self.header)
            .ok_or_else(|| VerifyError::Missing(format!("{} header", self.header)))?;
        matches_any(&self.values, given.as_bytes())
    }

    pub fn sign(&self) -> Result<Vec<(HeaderName, String)>, SignError> {
        let value = self
            .values
            .first()
            .ok_or(SignError::NoSecret(self.provider))?;
        Ok(vec![(
            self.header.clone(),
            String::from_utf8_lossy(value.expose_secret()).into_owned(),
        )])
    }
}

/// Compares `given` with every expected value, all of them, in constant time.
pub(crate) fn matches_any(expected: &[SecretSlice<u8>], given: &[u8]) -> Result<(), VerifyError> {
    let mut matched = false;
    for value in expected {
        matched |= credential_eq(value.expose_secret(), given);
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch {
            tried: expected.len(),
        })
    }
}

/// Decodes `Basic <base64>` into its `user:password` bytes.
pub(crate) fn basic_credentials(value: &str) -> Option<Vec<u8>> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
}

/// A header value as text for a missing-credential error.
pub(crate) fn present<'a>(req: &'a Inbound<'_>, name: &HeaderName) -> Result<&'a str, VerifyError> {
    header(req.headers, name)
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::providers::Preset;

    fn verify(preset: &Preset, headers: &HeaderMap) -> Result<(), VerifyError> {
        preset.verify(&Inbound {
            headers,
            body: b"{}",
            url: None,
            now: 0,
        })
    }

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn the_header_must_equal_a_secret_exactly() {
        let secrets = [
            SecretString::from("Bearer zap-1"),
            SecretString::from("Bearer zap-2"),
        ];
        let preset = Preset::build("token", &secrets, &[], &Overrides::default()).expect("builds");
        assert_eq!(
            verify(&preset, &with("authorization", "Bearer zap-1")),
            Ok(())
        );
        assert_eq!(
            verify(&preset, &with("authorization", "Bearer zap-2")),
            Ok(()),
            "rotated second secret"
        );
        for wrong in [
            "Bearer zap-3",
            "bearer zap-1",
            "Bearer zap-1 ",
            "Bearer zap-",
            "zap-1",
            "",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                "authorization",
                HeaderValue::from_str(wrong).expect("ascii"),
            );
            assert!(
                matches!(
                    verify(&preset, &headers),
                    Err(VerifyError::Mismatch { tried: 2 })
                ),
                "{wrong:?}"
            );
        }
        assert!(matches!(
            verify(&preset, &HeaderMap::new()),
            Err(VerifyError::Missing(_))
        ));
    }

    #[test]
    fn a_custom_header_can_carry_the_token_and_is_redacted() {
        let o = Overrides {
            signature_header: Some("X-Zapier-Token".into()),
            ..Overrides::default()
        };
        let preset = Preset::build("token", &[SecretString::from("t0k")], &[], &o).expect("builds");
        assert_eq!(verify(&preset, &with("x-zapier-token", "t0k")), Ok(()));
        assert!(verify(&preset, &with("authorization", "t0k")).is_err());
        assert_eq!(
            preset.redacted_headers(),
            vec![HeaderName::from_static("x-zapier-token")]
        );
    }

    #[test]
    fn id_header_and_id_field_give_the_event_id() {
        let o = Overrides {
            id_header: Some("X-Event-Id".into()),
            ..Overrides::default()
        };
        let preset = Preset::build("token", &[SecretString::from("t")], &[], &o).expect("builds");
        assert_eq!(
            preset.event_id(&with("x-event-id", "e-1"), None).as_deref(),
            Some("e-1")
        );
        let o = Overrides {
            id_field: Some("uuid".into()),
            ..Overrides::default()
        };
        let preset = Preset::build("token", &[SecretString::from("t")], &[], &o).expect("builds");
        assert_eq!(
            preset
                .event_id(&HeaderMap::new(), Some(&serde_json::json!({"uuid": "u-1"})))
                .as_deref(),
            Some("u-1")
        );
    }

    #[test]
    fn basic_credentials_decode() {
        assert_eq!(
            basic_credentials("Basic dXNlcjpwdw==").as_deref(),
            Some(&b"user:pw"[..])
        );
        assert_eq!(basic_credentials("Bearer dXNlcjpwdw=="), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }
}
