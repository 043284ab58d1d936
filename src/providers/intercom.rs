//! Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1(client secret, body)>`.
//!
//! The key is the app's "Client secret" (Developer Hub → your app → Basic information). SHA-1 is
//! what Intercom signs with; nothing signed carries a time, and the body's `id` is the event id.

use std::time::Duration;

use http::HeaderName;
use secrecy::SecretString;

use super::hmac::{Encoding, HmacScheme, Params, Template};
use super::{Algorithm, Overrides, PresetError};

pub const SIGNATURE_HEADER: &str = "x-hub-signature";

pub fn preset(secrets: &[SecretString], o: &Overrides) -> Result<HmacScheme, PresetError> {
    let params = Params {
        signature_headers: vec![HeaderName::from_static(SIGNATURE_HEADER)],
        algorithm: Algorithm::Sha1,
        encoding: Encoding::Hex,
        prefix: "sha1=".to_owned(),
        signed_payload: Template::parse("{body}")?,
        timestamp_header: None,
        id_header: None,
        tolerance: Duration::from_secs(0),
        url: None,
    };
    HmacScheme::new("intercom", params, secrets, o)
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_verify_and_derived_negatives_fail() {
        crate::providers::vectors::conformance("intercom");
    }
}
