//! Typeform: `Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, body)>`.
//!
//! The secret is the one set on the webhook (Connect → Webhooks → Edit → Secret). Nothing signed
//! carries a time; the body's `event_id` is the event id.

use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::hmac::{Encoding, HmacSpec};

pub const SIGNATURE_HEADER: &str = "typeform-signature";

const HMAC: HmacSpec = HmacSpec {
    provider: "typeform",
    signature_headers: &[SIGNATURE_HEADER],
    encoding: Encoding::Base64,
    prefix: "sha256=",
    ..HmacSpec::BODY_SHA256_HEX
};

pub const PROVIDER: Provider = Provider {
    name: "typeform",
    keys: Keys::Secrets,
    bodies: Bodies::JSON,
    id: IdRule::field("event_id"),
    event_type: EventTypeRule::Pointers(&["/event_type"]),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(HMAC.build(secrets, o)?)),
    families: &[Family::HmacHeader],
};
