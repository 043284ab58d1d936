//! Typeform: `Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, body)>`.
//!
//! The secret is the one set on the webhook (Connect → Webhooks → Edit → Secret). Nothing signed
//! carries a time; the body's `event_id` is the event id.

use std::time::Duration;

use http::HeaderName;
use secrecy::SecretString;

use super::hmac::{Encoding, HmacScheme, Params, Template};
use super::{Algorithm, Overrides, PresetError};

pub const SIGNATURE_HEADER: &str = "typeform-signature";

pub fn preset(secrets: &[SecretString], o: &Overrides) -> Result<HmacScheme, PresetError> {
    let params = Params {
        signature_headers: vec![HeaderName::from_static(SIGNATURE_HEADER)],
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Base64,
        prefix: "sha256=".to_owned(),
        signed_payload: Template::parse("{body}")?,
        timestamp_header: None,
        id_header: None,
        tolerance: Duration::from_secs(0),
        url: None,
    };
    HmacScheme::new("typeform", params, secrets, o)
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_verify_and_derived_negatives_fail() {
        crate::providers::vectors::conformance("typeform");
    }
}
