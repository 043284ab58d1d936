//! Square: `x-square-hmacsha256-signature: <base64 HMAC-SHA256(signature key, URL + body)>`.
//!
//! The URL is the subscription's "Notification URL" exactly as configured in the Square
//! Developer Console, so `public_url` is required: behind Traefik the gateway never sees the
//! scheme and host Square called. The key is the subscription's "Signature key". Nothing signed
//! carries a time; the body's `event_id` is the event id.

use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::hmac::{Encoding, HmacSpec};

pub const SIGNATURE_HEADER: &str = "x-square-hmacsha256-signature";

const HMAC: HmacSpec = HmacSpec {
    provider: "square",
    signature_headers: &[SIGNATURE_HEADER],
    encoding: Encoding::Base64,
    signed_payload: "{url}{body}",
    ..HmacSpec::BODY_SHA256_HEX
};

pub const PROVIDER: Provider = Provider {
    name: "square",
    keys: Keys::Secrets,
    bodies: Bodies::JSON,
    id: IdRule::field("event_id"),
    event_type: EventTypeRule::Pointers(&["/type"]),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(HMAC.build(secrets, o)?)),
    families: &[Family::HmacHeader],
};
