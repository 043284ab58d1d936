//! Intercom: `X-Hub-Signature: sha1=<hex HMAC-SHA1(client secret, body)>`.
//!
//! The key is the app's "Client secret" (Developer Hub → your app → Basic information). SHA-1 is
//! what Intercom signs with; nothing signed carries a time, and the body's `id` is the event id.

use super::contract::Algorithm;
use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::hmac::HmacSpec;

pub const SIGNATURE_HEADER: &str = "x-hub-signature";

const HMAC: HmacSpec = HmacSpec {
    provider: "intercom",
    signature_headers: &[SIGNATURE_HEADER],
    algorithm: Algorithm::Sha1,
    prefix: "sha1=",
    ..HmacSpec::BODY_SHA256_HEX
};

pub const PROVIDER: Provider = Provider {
    name: "intercom",
    keys: Keys::Secrets,
    bodies: Bodies::JSON,
    id: IdRule::field("id"),
    event_type: EventTypeRule::Pointers(&["/topic"]),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(HMAC.build(secrets, o)?)),
    families: &[Family::HmacHeader],
};
