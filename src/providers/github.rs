//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
//!
//! The secret is the webhook's "Secret" as typed in GitHub. Nothing signed carries a time or an
//! id, so a captured request can be replayed under a new `X-GitHub-Delivery`; de-duplication by
//! delivery id catches only exact replays (`dedup = "body"` closes the gap, see docs/security.md).
//! The legacy SHA-1 `X-Hub-Signature` is not accepted.

use std::time::Duration;

use http::HeaderName;
use secrecy::SecretString;

use super::hmac::{Encoding, HmacScheme, Params, Template};
use super::{Algorithm, Overrides, PresetError};

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The id GitHub gives each delivery (a redelivery keeps it).
pub const DELIVERY_HEADER: &str = "x-github-delivery";

pub fn preset(secrets: &[SecretString], o: &Overrides) -> Result<HmacScheme, PresetError> {
    let params = Params {
        signature_headers: vec![HeaderName::from_static(SIGNATURE_HEADER)],
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        prefix: "sha256=".to_owned(),
        signed_payload: Template::parse("{body}")?,
        timestamp_header: None,
        id_header: None,
        tolerance: Duration::ZERO,
        url: None,
    };
    HmacScheme::new("github", params, secrets, o)
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::providers::vectors::load;
    use crate::providers::{Inbound, Preset, VerifyError};

    fn build(secrets: &[&str]) -> Preset {
        let secrets: Vec<SecretString> = secrets
            .iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect();
        Preset::build("github", &secrets, &[], &Overrides::default()).expect("builds")
    }

    fn verify(preset: &Preset, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
        preset.verify(&Inbound {
            headers,
            body,
            url: None,
            now: 0,
        })
    }

    #[test]
    fn every_github_vector_verifies() {
        for v in load("github") {
            assert_eq!(
                verify(&build(&[&v.secret]), &v.headers, &v.body),
                Ok(()),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn a_flipped_body_byte_is_a_mismatch() {
        for v in load("github") {
            let mut body = v.body.clone();
            body[0] ^= 0x01;
            assert!(matches!(
                verify(&build(&[&v.secret]), &v.headers, &body),
                Err(VerifyError::Mismatch { tried: 1 })
            ));
        }
    }

    #[test]
    fn a_wrong_secret_is_a_mismatch_and_a_rotated_second_secret_is_accepted() {
        let v = load("github").remove(1);
        assert!(verify(&build(&["wrong"]), &v.headers, &v.body).is_err());
        assert_eq!(
            verify(&build(&["new-secret", &v.secret]), &v.headers, &v.body),
            Ok(())
        );
    }

    #[test]
    fn a_missing_or_malformed_header_is_refused() {
        let v = load("github").remove(1);
        let preset = build(&[&v.secret]);
        assert!(matches!(
            verify(&preset, &HeaderMap::new(), &v.body),
            Err(VerifyError::Missing(_))
        ));
        for bad in ["sha256=zz", "md5=abc", "", "sha256=", &"a".repeat(100_000)] {
            let mut headers = HeaderMap::new();
            headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(bad).expect("ascii"));
            assert!(verify(&preset, &headers, &v.body).is_err(), "{bad:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_bytes(b"sha256=\xff\xfe").expect("obs-text"),
        );
        assert!(verify(&preset, &headers, &v.body).is_err());
    }

    #[test]
    fn the_legacy_sha1_header_alone_is_not_enough() {
        let v = load("github").remove(1);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-hub-signature",
            HeaderValue::from_static("sha1=0000000000000000000000000000000000000000"),
        );
        assert!(matches!(
            verify(&build(&[&v.secret]), &headers, &v.body),
            Err(VerifyError::Missing(_))
        ));
    }

    #[test]
    fn the_delivery_header_is_the_event_id() {
        let v = load("github").remove(1);
        assert_eq!(
            build(&["s"]).event_id(&v.headers, None).as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let preset = build(&["round-trip"]);
        let mut headers = HeaderMap::new();
        for (name, value) in preset.sign(b"{\"a\":1}", 0, "d").expect("signs") {
            headers.insert(name, HeaderValue::from_str(&value).expect("ascii"));
        }
        assert_eq!(verify(&preset, &headers, b"{\"a\":1}"), Ok(()));
    }
}
