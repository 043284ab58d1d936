//! The generic token preset (`provider = "token"`: Zapier and any sender of a fixed header): the
//! header (default `Authorization`, or `signature_header`) must equal one of the secrets
//! exactly. Nothing is signed: use TLS, `allow_ips` and `dedup = "body"` with it. The scheme is
//! [`super::schemes::token`].

use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::token::Token;

pub const PROVIDER: Provider = Provider {
    name: "token",
    keys: Keys::Secrets,
    bodies: Bodies::JSON_FORM_OR_NDJSON,
    id: IdRule::NONE,
    event_type: EventTypeRule::None,
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(Token::build("token", secrets, o)?)),
    families: &[Family::Credential],
};

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderName, HeaderValue};

    use crate::providers::testing::{preset, preset_with, verify};
    use crate::providers::{Overrides, Preset, VerifyError};

    fn at(preset: &Preset, headers: &HeaderMap) -> Result<(), VerifyError> {
        verify(preset, headers, b"{}", 0)
    }

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn the_header_must_equal_a_secret_exactly() {
        let preset = preset("token", &["Bearer zap-1", "Bearer zap-2"]);
        assert_eq!(at(&preset, &with("authorization", "Bearer zap-1")), Ok(()));
        assert_eq!(
            at(&preset, &with("authorization", "Bearer zap-2")),
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
                    at(&preset, &headers),
                    Err(VerifyError::Mismatch { tried: 2 })
                ),
                "{wrong:?}"
            );
        }
        assert!(matches!(
            at(&preset, &HeaderMap::new()),
            Err(VerifyError::Missing(_))
        ));
    }

    #[test]
    fn a_custom_header_can_carry_the_token_and_is_redacted() {
        let o = Overrides {
            signature_header: Some("X-Zapier-Token".into()),
            ..Overrides::default()
        };
        let preset = preset_with("token", &["t0k"], &o);
        assert_eq!(at(&preset, &with("x-zapier-token", "t0k")), Ok(()));
        assert!(at(&preset, &with("authorization", "t0k")).is_err());
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
        let preset = preset_with("token", &["t"], &o);
        assert_eq!(
            preset.event_id(&with("x-event-id", "e-1"), None).as_deref(),
            Some("e-1")
        );
        let o = Overrides {
            id_field: Some("uuid".into()),
            ..Overrides::default()
        };
        let preset = preset_with("token", &["t"], &o);
        assert_eq!(
            preset
                .event_id(&HeaderMap::new(), Some(&serde_json::json!({"uuid": "u-1"})))
                .as_deref(),
            Some("u-1")
        );
    }
}
