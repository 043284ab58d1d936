//! GitLab: a "Signing token" (`whsec_…`, Standard Webhooks headers `webhook-id`,
//! `webhook-timestamp`, `webhook-signature`), else the "Secret token" sent verbatim in
//! `X-Gitlab-Token`.
//!
//! `secrets` may hold both kinds during a migration: entries starting `whsec_` are signing
//! tokens, the others secret tokens. A request carrying `webhook-signature` is verified as
//! Standard Webhooks only; one without it needs a secret token. `X-Gitlab-Token` is a
//! credential: it is redacted wherever the request is stored or shown.

use std::time::Duration;

use http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretString};

use super::contract::{
    Inbound, Overrides, PresetError, Scheme, SignError, SignedHeaders, VerifyError,
};
use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::standard_webhooks::StandardWebhooks;
use super::schemes::token::Token;

pub const TOKEN_HEADER: &str = "x-gitlab-token";
/// GitLab's ids: the Standard Webhooks id and `Idempotency-Key` (one value), else the event UUID.
pub const ID_HEADERS: [&str; 3] = ["webhook-id", "idempotency-key", "x-gitlab-event-uuid"];

pub const PROVIDER: Provider = Provider {
    name: "gitlab",
    keys: Keys::Secrets,
    bodies: Bodies::JSON,
    id: IdRule::headers(&ID_HEADERS),
    event_type: EventTypeRule::Header("x-gitlab-event"),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(Gitlab::build(secrets, o)?)),
    families: &[Family::Credential],
};

/// A signing token's Standard Webhooks verifier, a secret token's comparison, or both.
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

    /// Whether [`Scheme::verify`] looks at the body: only for a signed request when signing
    /// tokens are configured; every other verdict comes from the headers.
    fn needs_body(&self, headers: &HeaderMap) -> bool {
        self.signed.is_some() && headers.contains_key("webhook-signature")
    }
}

impl Scheme for Gitlab {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let signed_request = req.headers.contains_key("webhook-signature");
        match (signed_request, &self.signed, &self.token) {
            (true, Some(signed), _) => signed.verify(req),
            (false, _, Some(token)) => token.verify(req),
            (true, None, _) => Err(VerifyError::Mismatch { tried: 0 }),
            (false, Some(_), None) => Err(VerifyError::Missing("webhook-signature header".into())),
            (false, None, None) => Err(VerifyError::Mismatch { tried: 0 }),
        }
    }

    fn verify_headers_only(&self, headers: &HeaderMap) -> Option<Result<(), VerifyError>> {
        (!self.needs_body(headers)).then(|| self.verify(&Inbound::headers_only(headers)))
    }

    fn tolerance(&self) -> Option<Duration> {
        self.signed.as_ref().and_then(Scheme::tolerance)
    }

    /// Only a signing token signs a time.
    fn signs_timestamp(&self) -> bool {
        self.signed.is_some()
    }

    /// The token header, for redaction.
    fn redacted_headers(&self) -> Vec<HeaderName> {
        vec![
            self.token
                .as_ref()
                .map_or(HeaderName::from_static(TOKEN_HEADER), |t| {
                    t.header().clone()
                }),
        ]
    }

    /// The signed id of a request verified as Standard Webhooks (`webhook-id`); `None` for a
    /// request authenticated by the secret token, which signs nothing.
    fn signed_id<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        self.signed
            .as_ref()
            .filter(|_| self.needs_body(headers))?
            .signed_id(headers)
    }

    /// A credential authenticates everything it comes with alike.
    fn binds_id_header(&self, _: &HeaderName) -> bool {
        true
    }

    fn sign(&self, body: &[u8], now: i64, id: &str) -> Result<SignedHeaders, SignError> {
        match (&self.signed, &self.token) {
            (Some(signed), _) => signed.sign(body, now, id),
            (None, Some(token)) => token.sign(body, now, id),
            (None, None) => Err(SignError::NoSecret("gitlab")),
        }
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use crate::providers::vectors::load;
    use crate::providers::{Inbound, Preset, VerifyError};

    fn build(secrets: &[&str]) -> Preset {
        crate::providers::testing::preset("gitlab", secrets)
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
