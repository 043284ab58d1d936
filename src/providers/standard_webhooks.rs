//! Standard Webhooks (`provider = "standard-webhooks"`): `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` (HMAC `v1` entries under `whsec_` secrets, Ed25519 `v1a` entries under
//! `whpk_` public keys), fresh within 5 minutes. The `svix-` header family is read too when the
//! `webhook-` one is absent. The signed `webhook-id` is the event id.
//!
//! The scheme is [`super::schemes::standard_webhooks`] (re-exported here for the HTTP
//! destinations, which sign with it).

use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
pub use super::schemes::standard_webhooks::{
    StandardWebhooks, TOLERANCE, decode_key, decode_public_key,
};

pub const PROVIDER: Provider = Provider {
    name: "standard-webhooks",
    keys: Keys::SecretsOrPublicKeys,
    bodies: Bodies::JSON,
    // The id is read from the family that signed the request (`Scheme::signed_id`).
    id: IdRule::NONE,
    event_type: EventTypeRule::Pointers(&["/type"]),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, public_keys, o| {
        Ok(Box::new(StandardWebhooks::build(
            "standard-webhooks",
            secrets,
            public_keys,
            o,
        )?))
    },
    families: &[Family::SignatureList, Family::PublicKey],
};

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use base64::Engine;
    use http::{HeaderMap, HeaderName};
    use secrecy::SecretString;

    use crate::providers::testing::{assert_fresh_for, preset as build, verify};
    use crate::providers::vectors::{Vector, load};
    use crate::providers::{Overrides, Preset, VerifyError};

    /// `vector` verifies under `provider` with its own secret.
    fn verifies_as(provider: &str, v: &Vector) -> Result<(), VerifyError> {
        verify(
            &build(provider, &[&v.secret]),
            &v.headers,
            &v.body,
            v.verify_at,
        )
    }

    #[test]
    fn the_gitlab_signing_token_vector_verifies_as_standard_webhooks() {
        for v in load("gitlab") {
            assert_eq!(verifies_as("standard-webhooks", &v), Ok(()));
        }
    }

    #[test]
    fn either_header_family_is_read_by_either_preset() {
        let v = load("svix").remove(0);
        assert_eq!(verifies_as("standard-webhooks", &v), Ok(()));
        let v = load("standard-webhooks").remove(0);
        assert_eq!(verifies_as("svix", &v), Ok(()));
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
    fn stale_requests_missing_headers_and_a_changed_id_are_refused() {
        let v = load("standard-webhooks").remove(0);
        let preset = build("standard-webhooks", &[&v.secret]);
        assert_fresh_for(&preset, &v.headers, &v.body, v.verify_at, 300);
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
