//! Bitbucket Cloud: `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
//!
//! The same header name as GitHub's legacy SHA-1 signature, but SHA-256: the algorithm follows
//! the provider, never the header name. The secret is the webhook's "Secret" in Repository
//! settings → Webhooks. Nothing signed carries a time; `X-Request-UUID` is the delivery id.

use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::hmac::HmacSpec;

pub const SIGNATURE_HEADER: &str = "x-hub-signature";

const HMAC: HmacSpec = HmacSpec {
    provider: "bitbucket",
    signature_headers: &[SIGNATURE_HEADER],
    prefix: "sha256=",
    ..HmacSpec::BODY_SHA256_HEX
};

pub const PROVIDER: Provider = Provider {
    name: "bitbucket",
    keys: Keys::Secrets,
    bodies: Bodies::JSON,
    id: IdRule::headers(&["x-request-uuid"]),
    event_type: EventTypeRule::Header("x-event-key"),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(HMAC.build(secrets, o)?)),
    families: &[Family::HmacHeader],
};
