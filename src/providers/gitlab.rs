//! GitLab: a "Signing token" (`whsec_…`, Standard Webhooks headers `webhook-id`,
//! `webhook-timestamp`, `webhook-signature`), else the "Secret token" sent verbatim in
//! `X-Gitlab-Token`.
//!
//! `secrets` may hold both kinds during a migration: entries starting `whsec_` are signing
//! tokens, the others secret tokens. A request carrying `webhook-signature` is verified as
//! Standard Webhooks only; one without it needs a secret token. `X-Gitlab-Token` is a
//! credential: it is redacted wherever the request is stored or shown.

use http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretString};

use super::standard_webhooks::StandardWebhooks;
use super::token::Token;
use super::{Inbound, Overrides, PresetError, SignError, VerifyError};

pub const TOKEN_HEADER: &str = "x-gitlab-token";
/// GitLab's ids: the Standard Webhooks id and `Idempotency-Key` (one value), else the event UUID.
pub const ID_HEADERS: [&str; 3] = ["webhook-id", "idempotency-key", "x-gitlab-event-uuid"];

#[derive(Debug)]
pub struct Gitlab {
    signed: Option<StandardWebhooks>,
    token: Option<Token>,
}

impl Gitlab {
    pub fn build(secrets: &[SecretString], o: &Overrides) -> Result<Gitlab, PresetError> {
        let (signing, plain): (Vec<SecretString>, Vec<SecretString>) = secrets
            .iter()
            .filter(|s| !s.expose_secret().is_empty())
            .cloned()
            .partition(|s| s.expose_secret().starts_with("whsec_"));
        let signed = (!signing.is_empty())
            .then(|| StandardWebhooks::build("gitlab", &signing, &[], &Overrides::default()))
            .transpose()?;
        let token_overrides = Overrides {
            signature_header: Some(
                o.signature_header
                    .clone()
                    .unwrap_or_else(|| TOKEN_HEADER.to_owned()),
            ),
            ..Overrides::default()
        };
        let token = (!plain.is_empty())
            .then(|| Token::build("gitlab", &plain, &token_overrides))
            .transpose()?;
        if signed.is_none() && token.is_none() {
            return Err(PresetError::NoSecret { provider: "gitlab" });
        }
        Ok(Gitlab { signed, token })
    }

    pub fn tolerance(&self) -> Option<std::time::Duration> {
        self.signed.as_ref().map(StandardWebhooks::tolerance)
    }

    /// The token header, for redaction.
    pub fn token_header(&self) -> HeaderName {
        self.token
            .as_ref()
            .map_or(HeaderName::from_static(TOKEN_HEADER), |t| {
                t.header().clone()
            })
    }

    /// The signed id of a request verified as Standard Webhooks (`webhook-id`); `None` for a
    /// request authenticated by the secret token, which signs nothing.
    pub fn signed_id<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        self.signed
            .as_ref()
            .filter(|_| self.needs_body(headers))?
            .signed_id(headers)
    }

    /// Whether [`Gitlab::verify`] looks at the body: only for a signed request when signing
    /// tokens are configured; every other verdict comes from the headers.
    pub fn needs_body(&self, headers: &HeaderMap) -> bool {
        self.signed.is_some() && headers.contains_key("webhook-signature")
    }

    pub fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let signed_request = req.headers.contains_key("webhook-signature");
        match (signed_request, &self.signed, &self.token) {
            (true, Some(signed), _) => signed.verify(req),
            (false, _, Some(token)) => token.verify(req),
            (true, None, _) => Err(VerifyError::Mismatch { tried: 0 }),
            (false, Some(_), None) => Err(VerifyError::Missing("webhook-signature header".into())),
            (false, None, None) => Err(VerifyError::Mismatch { tried: 0 }),
        }
    }

    pub fn sign(
        &self,
        body: &[u8],
        now: i64,
        id: &str,
    ) -> Result<Vec<(HeaderName, String)>, SignError> {
        match (&self.signed, &self.token) {
            (Some(signed), _) => signed.sign(body, now, id),
            (None, Some(token)) => token.sign(),
            (None, None) => Err(SignError::NoSecret("gitlab")),
        }
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use secrecy::SecretString;

    use crate::providers::vectors::{conformance, load};
    use crate::providers::{Inbound, Overrides, Preset, VerifyError};

    fn build(secrets: &[&str]) -> Preset {
        let secrets: Vec<SecretString> = secrets
            .iter()
            .map(|s| SecretString::from((*s).to_owned()))
            .collect();
        Preset::build("gitlab", &secrets, &[], &Overrides::default()).expect("builds")
    }

    #[test]
    fn vectors_verify_and_derived_negatives_fail() {
        conformance("gitlab");
    }

    #[test]
    fn a_secret_token_is_compared_verbatim_and_cannot_stand_in_for_a_signature() {
        let preset = build(&["plain-gitlab-token"]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-gitlab-token",
            HeaderValue::from_static("plain-gitlab-token"),
        );
        let at = |headers: &HeaderMap| {
            preset.verify(&Inbound {
                headers,
                body: b"{}",
                url: None,
                now: 0,
            })
        };
        assert_eq!(at(&headers), Ok(()));
        headers.insert(
            "x-gitlab-token",
            HeaderValue::from_static("plain-gitlab-tokeN"),
        );
        assert!(matches!(at(&headers), Err(VerifyError::Mismatch { .. })));
        // A signed-looking request is not accepted on the strength of a token.
        headers.insert(
            "x-gitlab-token",
            HeaderValue::from_static("plain-gitlab-token"),
        );
        headers.insert("webhook-signature", HeaderValue::from_static("v1,AAAA"));
        assert!(at(&headers).is_err());
    }

    #[test]
    fn with_a_signing_token_an_unsigned_request_is_refused_even_with_a_token_header() {
        let v = load("gitlab").remove(0);
        let preset = build(&[&v.secret]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-gitlab-token",
            HeaderValue::from_str(&v.secret).expect("ascii"),
        );
        assert!(matches!(
            preset.verify(&Inbound {
                headers: &headers,
                body: &v.body,
                url: None,
                now: v.verify_at
            }),
            Err(VerifyError::Missing(_))
        ));
    }

    #[test]
    fn the_event_id_is_webhook_id_else_the_event_uuid() {
        let preset = build(&["t"]);
        let mut headers = HeaderMap::new();
        headers.insert("x-gitlab-event-uuid", HeaderValue::from_static("uuid-1"));
        assert_eq!(preset.event_id(&headers, None).as_deref(), Some("uuid-1"));
        headers.insert("webhook-id", HeaderValue::from_static("msg-1"));
        assert_eq!(preset.event_id(&headers, None).as_deref(), Some("msg-1"));
    }
}
