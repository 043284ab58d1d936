//! Paddle Billing: `Paddle-Signature: ts=<ts>;h1=<hex HMAC-SHA256(secret, ts + ":" + body)>`,
//! with one `h1` per active secret during a rotation: Stripe's scheme in other punctuation.
//!
//! The key is the notification destination's whole "secret key" string (`pdl_ntfset_…`), used
//! as is. Tolerance 5 s, the `maximum_variance` of Paddle's own SDKs: Paddle signs at send time.
//! The body's `event_id` is the event id.

use std::time::Duration;

use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::stripe_like::{Format, StripeLike};

pub const PADDLE: Format = Format {
    provider: "paddle",
    header: "paddle-signature",
    separator: ';',
    timestamp_key: "ts",
    signature_key: "h1",
    joiner: b":",
    tolerance: Duration::from_secs(5),
};

pub const PROVIDER: Provider = Provider {
    name: "paddle",
    keys: Keys::Secrets,
    bodies: Bodies::JSON,
    id: IdRule::field("event_id"),
    event_type: EventTypeRule::Pointers(&["/event_type"]),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(StripeLike::build(PADDLE, secrets, o)?)),
    families: &[Family::SignatureList],
};

#[cfg(test)]
mod tests {

    use crate::providers::testing::{assert_fresh_for, preset, signed, verify};
    use crate::providers::vectors::load;

    #[test]
    fn a_signature_older_than_five_seconds_is_stale() {
        let v = load("paddle").remove(0);
        let preset = preset("paddle", &[&v.secret]);
        assert_fresh_for(&preset, &v.headers, &v.body, v.verify_at, 5);
    }

    #[test]
    fn what_send_signs_verifies() {
        let preset = preset("paddle", &["pdl_ntfset_x"]);
        let headers = signed(&preset, b"{}", 1_700_000_000, "id");
        assert!(
            headers["paddle-signature"]
                .to_str()
                .expect("ascii")
                .starts_with("ts=1700000000;h1=")
        );
        assert_eq!(verify(&preset, &headers, b"{}", 1_700_000_000), Ok(()));
    }
}
