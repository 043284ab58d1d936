//! Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`.
//!
//! The secret is the app's client secret (or the webhook signing secret shown under
//! Settings → Notifications). Shopify also sends the headers without the `X-` prefix
//! (`shopify-hmac-sha256`); both spellings are read. No timestamp is signed.

use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::hmac::{Encoding, HmacSpec};

pub const SIGNATURE_HEADERS: [&str; 2] = ["x-shopify-hmac-sha256", "shopify-hmac-sha256"];
/// Shopify's id of the webhook delivery, for de-duplication.
pub const ID_HEADERS: [&str; 2] = ["x-shopify-webhook-id", "shopify-webhook-id"];

const HMAC: HmacSpec = HmacSpec {
    provider: "shopify",
    signature_headers: &SIGNATURE_HEADERS,
    encoding: Encoding::Base64,
    ..HmacSpec::BODY_SHA256_HEX
};

pub const PROVIDER: Provider = Provider {
    name: "shopify",
    keys: Keys::Secrets,
    bodies: Bodies::JSON,
    id: IdRule::headers(&ID_HEADERS),
    event_type: EventTypeRule::Header("x-shopify-topic"),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(HMAC.build(secrets, o)?)),
    families: &[Family::HmacHeader],
};

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use crate::providers::testing::{preset, verify};
    use crate::providers::vectors::load;

    #[test]
    fn every_shopify_vector_verifies_under_the_unprefixed_header_spelling() {
        for v in load("shopify") {
            let value = v
                .headers
                .get("x-shopify-hmac-sha256")
                .expect("header")
                .clone();
            let mut lower = HeaderMap::new();
            lower.insert("shopify-hmac-sha256", value);
            assert_eq!(
                verify(&preset("shopify", &[&v.secret]), &lower, &v.body, 0),
                Ok(())
            );
        }
    }

    #[test]
    fn the_webhook_id_header_is_the_event_id() {
        let mut headers = HeaderMap::new();
        headers.insert("x-shopify-webhook-id", HeaderValue::from_static("b54557e4"));
        assert_eq!(
            preset("shopify", &["s"])
                .event_id(&headers, None)
                .as_deref(),
            Some("b54557e4")
        );
    }
}
