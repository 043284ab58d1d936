//! Bitbucket Cloud: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
//!
//! The same header name as GitHub's legacy SHA-1 signature, but SHA-256: the algorithm follows
//! the provider, never the header name. The secret is the webhook's "Secret" in Repository
//! settings → Webhooks. Nothing signed carries a time; `X-Request-UUID` is the delivery id.

use std::time::Duration;

use http::HeaderName;
use secrecy::SecretString;

use super::hmac::{Encoding, HmacScheme, Params, Template};
use super::{Algorithm, Overrides, PresetError};

pub const SIGNATURE_HEADER: &str = "x-hub-signature";

pub fn preset(secrets: &[SecretString], o: &Overrides) -> Result<HmacScheme, PresetError> {
    let params = Params {
        signature_headers: vec![HeaderName::from_static(SIGNATURE_HEADER)],
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        prefix: "sha256=".to_owned(),
        signed_payload: Template::parse("{body}")?,
        timestamp_header: None,
        id_header: None,
        tolerance: Duration::from_secs(0),
        url: None,
    };
    HmacScheme::new("bitbucket", params, secrets, o)
}

#[cfg(test)]
mod tests {
    #[test]
    fn vectors_verify_and_derived_negatives_fail() {
        crate::providers::vectors::conformance("bitbucket");
    }
}
