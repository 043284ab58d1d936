//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`.
//!
//! The secret is the app's client secret (or the webhook signing secret shown under
//! Settings → Notifications). Shopify also sends the headers without the `X-` prefix
//! (`shopify-hmac-sha256`); both spellings are read. No timestamp is signed.

use std::time::Duration;

use http::HeaderName;
use secrecy::SecretString;

use super::hmac::{Encoding, HmacScheme, Params, Template};
use super::{Algorithm, Overrides, PresetError};

pub const SIGNATURE_HEADERS: [&str; 2] = ["x-shopify-hmac-sha256", "shopify-hmac-sha256"];
/// Shopify's id of the webhook delivery, for de-duplication.
pub const ID_HEADERS: [&str; 2] = ["x-shopify-webhook-id", "shopify-webhook-id"];

pub fn preset(secrets: &[SecretString], o: &Overrides) -> Result<HmacScheme, PresetError> {
    let params = Params {
        signature_headers: SIGNATURE_HEADERS
            .iter()
            .map(|h| HeaderName::from_static(h))
            .collect(),
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Base64,
        prefix: String::new(),
        signed_payload: Template::parse("{body}")?,
        timestamp_header: None,
        id_header: None,
        tolerance: Duration::ZERO,
        url: None,
    };
    HmacScheme::new("shopify", params, secrets, o)
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
        Preset::build("shopify", &secrets, &[], &Overrides::default()).expect("builds")
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
    fn every_shopify_vector_verifies_under_both_header_spellings() {
        for v in load("shopify") {
            assert_eq!(
                verify(&build(&[&v.secret]), &v.headers, &v.body),
                Ok(()),
                "{}",
                v.name
            );
            let value = v
                .headers
                .get("x-shopify-hmac-sha256")
                .expect("header")
                .clone();
            let mut lower = HeaderMap::new();
            lower.insert("shopify-hmac-sha256", value);
            assert_eq!(verify(&build(&[&v.secret]), &lower, &v.body), Ok(()));
        }
    }

    #[test]
    fn negatives_flipped_byte_wrong_secret_missing_header_are_refused() {
        let v = load("shopify").remove(0);
        let mut body = v.body.clone();
        body[5] ^= 0x20;
        assert!(verify(&build(&[&v.secret]), &v.headers, &body).is_err());
        assert!(verify(&build(&["shpss_other"]), &v.headers, &v.body).is_err());
        assert!(matches!(
            verify(&build(&[&v.secret]), &HeaderMap::new(), &v.body),
            Err(VerifyError::Missing(_))
        ));
        assert_eq!(
            verify(&build(&["shpss_new", &v.secret]), &v.headers, &v.body),
            Ok(())
        );
    }

    #[test]
    fn the_webhook_id_header_is_the_event_id() {
        let mut headers = HeaderMap::new();
        headers.insert("x-shopify-webhook-id", HeaderValue::from_static("b54557e4"));
        assert_eq!(
            build(&["s"]).event_id(&headers, None).as_deref(),
            Some("b54557e4")
        );
    }
}
