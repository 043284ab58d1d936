//! Linear: `Linear-Signature: <hex HMAC-SHA256(signing secret, body)>`, fresh by the signed body
//! field `webhookTimestamp` (unix milliseconds), within 60 s as in Linear's SDK.
//!
//! The secret is the webhook's "Signing secret" (Settings → API → Webhooks). The time is read
//! from the body only after the signature matched, so it is as authentic as the body.
//! `Linear-Delivery` is the event id.

use std::time::Duration;

use http::HeaderName;
use secrecy::SecretString;

use super::hmac::{Encoding, HmacScheme, Params, Template};
use super::{Algorithm, Inbound, Overrides, PresetError, SignError, VerifyError, check_fresh};

pub const SIGNATURE_HEADER: &str = "linear-signature";
pub const DELIVERY_HEADER: &str = "linear-delivery";
pub const TOLERANCE: Duration = Duration::from_secs(60);
const TIMESTAMP_FIELD: &str = "webhookTimestamp";

#[derive(Debug)]
pub struct Linear {
    mac: HmacScheme,
    tolerance: Duration,
}

impl Linear {
    pub fn build(secrets: &[SecretString], o: &Overrides) -> Result<Linear, PresetError> {
        let params = Params {
            signature_headers: vec![HeaderName::from_static(SIGNATURE_HEADER)],
            algorithm: Algorithm::Sha256,
            encoding: Encoding::Hex,
            prefix: String::new(),
            signed_payload: Template::parse("{body}")?,
            timestamp_header: None,
            id_header: None,
            tolerance: Duration::ZERO,
            url: None,
        };
        Ok(Linear {
            mac: HmacScheme::new("linear", params, secrets, o)?,
            tolerance: o.timestamp_tolerance.unwrap_or(TOLERANCE),
        })
    }

    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    pub fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        self.mac.verify(req)?;
        let sent_ms = serde_json::from_slice::<serde_json::Value>(req.body)
            .ok()
            .and_then(|body| body.get(TIMESTAMP_FIELD)?.as_i64())
            .ok_or(VerifyError::Malformed("webhookTimestamp"))?;
        check_fresh(sent_ms.div_euclid(1000), req.now, self.tolerance)
    }

    /// Linear signs the body as sent; `hookwall send` bodies carry their own `webhookTimestamp`.
    pub fn sign(
        &self,
        body: &[u8],
        now: i64,
        id: &str,
    ) -> Result<Vec<(HeaderName, String)>, SignError> {
        self.mac.sign(body, now, id)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use crate::providers::vectors::{conformance, load};
    use crate::providers::{Inbound, Overrides, Preset, VerifyError};

    #[test]
    fn vectors_verify_and_derived_negatives_fail() {
        conformance("linear");
    }

    #[test]
    fn freshness_comes_from_the_signed_body_within_sixty_seconds() {
        let v = load("linear").remove(0);
        let preset = Preset::build(
            "linear",
            &[SecretString::from(v.secret.clone())],
            &[],
            &Overrides::default(),
        )
        .expect("builds");
        let at = |now| {
            preset.verify(&Inbound {
                headers: &v.headers,
                body: &v.body,
                url: None,
                now,
            })
        };
        assert_eq!(at(v.verify_at + 60), Ok(()));
        assert!(matches!(
            at(v.verify_at + 61),
            Err(VerifyError::Stale { .. })
        ));
        assert!(matches!(
            at(v.verify_at - 61),
            Err(VerifyError::Stale { .. })
        ));
    }
}
