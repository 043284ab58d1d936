//! Square: `x-square-hmacsha256-signature: <base64 HMAC-SHA256(signature key, URL + body)>`.
//!
//! The URL is the subscription's "Notification URL" exactly as configured in the Square
//! Developer Console, so `public_url` is required: behind Traefik the gateway never sees the
//! scheme and host Square called. The key is the subscription's "Signature key". Nothing signed
//! carries a time; the body's `event_id` is the event id.

use std::time::Duration;

use http::HeaderName;
use secrecy::SecretString;

use super::hmac::{Encoding, HmacScheme, Params, Template};
use super::{Algorithm, Overrides, PresetError};

pub const SIGNATURE_HEADER: &str = "x-square-hmacsha256-signature";

pub fn preset(secrets: &[SecretString], o: &Overrides) -> Result<HmacScheme, PresetError> {
    let params = Params {
        signature_headers: vec![HeaderName::from_static(SIGNATURE_HEADER)],
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Base64,
        prefix: "".to_owned(),
        signed_payload: Template::parse("{url}{body}")?,
        timestamp_header: None,
        id_header: None,
        tolerance: Duration::from_secs(0),
        url: None,
    };
    HmacScheme::new("square", params, secrets, o)
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_verify_and_derived_negatives_fail() {
        crate::providers::vectors::conformance("square");
    }
}
