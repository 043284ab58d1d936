//! Linear: `Linear-Signature: <hex HMAC-SHA256(signing secret, body)>`, fresh by the signed body
//! field `webhookTimestamp` (unix milliseconds), within 60 s as in Linear's SDK.
//!
//! The secret is the webhook's "Signing secret" (Settings → API → Webhooks). The time is read
//! from the body only after the signature matched, so it is as authentic as the body.
//! `Linear-Delivery` is the event id.

use std::time::Duration;

use secrecy::SecretString;

use super::contract::{
    Inbound, Overrides, PresetError, Scheme, SignError, SignedHeaders, VerifyError,
};
use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::primitives::check_fresh;
use super::schemes::hmac::{HmacScheme, HmacSpec};

pub const SIGNATURE_HEADER: &str = "linear-signature";
pub const DELIVERY_HEADER: &str = "linear-delivery";
pub const TOLERANCE: Duration = Duration::from_secs(60);
const TIMESTAMP_FIELD: &str = "webhookTimestamp";

const HMAC: HmacSpec = HmacSpec {
    provider: "linear",
    signature_headers: &[SIGNATURE_HEADER],
    ..HmacSpec::BODY_SHA256_HEX
};

pub const PROVIDER: Provider = Provider {
    name: "linear",
    keys: Keys::Secrets,
    bodies: Bodies::JSON,
    id: IdRule::headers(&[DELIVERY_HEADER]),
    event_type: EventTypeRule::Pointers(&["/type"]),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(Linear::build(secrets, o)?)),
    families: &[Family::HmacHeader],
};

/// The HMAC of the body, then freshness from the body's signed time.
#[derive(Debug)]
pub struct Linear {
    mac: HmacScheme,
    tolerance: Duration,
}

impl Linear {
    pub fn build(secrets: &[SecretString], o: &Overrides) -> Result<Linear, PresetError> {
        Ok(Linear {
            mac: HMAC.build(secrets, o)?,
            tolerance: o.timestamp_tolerance.unwrap_or(TOLERANCE),
        })
    }
}

impl Scheme for Linear {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        self.mac.verify(req)?;
        let sent_ms = serde_json::from_slice::<serde_json::Value>(req.body)
            .ok()
            .and_then(|body| body.get(TIMESTAMP_FIELD)?.as_i64())
            .ok_or(VerifyError::Malformed("webhookTimestamp"))?;
        check_fresh(sent_ms.div_euclid(1000), req.now, self.tolerance)
    }

    fn tolerance(&self) -> Option<Duration> {
        Some(self.tolerance)
    }

    fn signs_timestamp(&self) -> bool {
        true
    }

    /// Linear signs the body as sent; `hookwall send` bodies carry their own `webhookTimestamp`.
    fn sign(&self, body: &[u8], now: i64, id: &str) -> Result<SignedHeaders, SignError> {
        self.mac.sign(body, now, id)
    }
}

#[cfg(test)]
mod tests {

    use crate::providers::testing::{assert_fresh_for, preset};
    use crate::providers::vectors::load;

    #[test]
    fn freshness_comes_from_the_signed_body_within_sixty_seconds() {
        let v = load("linear").remove(0);
        let preset = preset("linear", &[&v.secret]);
        assert_fresh_for(&preset, &v.headers, &v.body, v.verify_at, 60);
    }
}
