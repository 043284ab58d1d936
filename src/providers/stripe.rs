//! Stripe: `Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, ts + "." + body)>[,v1=…]`.
//!
//! The key is the endpoint's whole signing secret string, `whsec_` included (Stripe does not
//! decode it). During a secret roll Stripe sends one `v1` per active secret: any match passes.
//! `v0` entries (test-mode legacy) are ignored. Tolerance 300 s, as in Stripe's SDKs. The body's
//! `id` is the event id. The scheme is [`super::schemes::stripe_like`].

use std::time::Duration;

use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::stripe_like::StripeLike;
pub use super::schemes::stripe_like::{Format, parse_header};

pub const SIGNATURE_HEADER: &str = "stripe-signature";
pub const TOLERANCE: Duration = Duration::from_secs(300);

pub const STRIPE: Format = Format {
    provider: "stripe",
    header: SIGNATURE_HEADER,
    separator: ',',
    timestamp_key: "t",
    signature_key: "v1",
    joiner: b".",
    tolerance: TOLERANCE,
};

pub const PROVIDER: Provider = Provider {
    name: "stripe",
    keys: Keys::Secrets,
    bodies: Bodies::JSON,
    id: IdRule::field("id"),
    event_type: EventTypeRule::Pointers(&["/type"]),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(StripeLike::build(STRIPE, secrets, o)?)),
    families: &[Family::SignatureList],
};

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::*;
    use crate::providers::contract::MAX_SIGNATURES;
    use crate::providers::testing::{preset, signed, verify};
    use crate::providers::vectors::load;

    #[test]
    fn accepts_a_stripe_header_with_two_v1_signatures_during_a_roll() {
        let v = load("stripe")
            .into_iter()
            .find(|v| v.name.contains("roll"))
            .expect("roll vector");
        let header = v
            .headers
            .get("stripe-signature")
            .expect("header")
            .to_str()
            .expect("ascii");
        assert_eq!(parse_header(&STRIPE, header).expect("parses").v1.len(), 2);
        assert_eq!(
            verify(
                &preset("stripe", &[&v.secret]),
                &v.headers,
                &v.body,
                v.verify_at
            ),
            Ok(())
        );
    }

    #[test]
    fn the_whole_whsec_string_is_the_key() {
        let v = load("stripe").remove(0);
        let stripped = v.secret.trim_start_matches("whsec_");
        assert!(
            verify(
                &preset("stripe", &[stripped]),
                &v.headers,
                &v.body,
                v.verify_at
            )
            .is_err()
        );
    }

    #[test]
    fn stale_and_malformed_headers_are_refused() {
        let v = load("stripe").remove(0);
        let preset = preset("stripe", &[&v.secret]);
        assert!(matches!(
            verify(&preset, &v.headers, &v.body, v.verify_at - 301),
            Err(crate::providers::VerifyError::Stale { .. })
        ));
        for bad in [
            "garbage",
            "t=,v1=",
            "t=NaN,v1=00",
            "v1=00",
            "t=1700000000",
            "t=-1,v1=00",
            "t=1e9,v1=00",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(SIGNATURE_HEADER, HeaderValue::from_static(bad));
            assert!(
                verify(&preset, &headers, &v.body, v.verify_at).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_header_with_thousands_of_entries_is_cheap_and_refused() {
        let v = load("stripe").remove(0);
        let flood = format!("t={},{}", v.verify_at, vec!["v1=00"; 5000].join(","));
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(&flood).expect("ascii"),
        );
        assert!(parse_header(&STRIPE, &flood).expect("parses").v1.len() <= MAX_SIGNATURES * 2);
        assert!(
            verify(
                &preset("stripe", &[&v.secret]),
                &headers,
                &v.body,
                v.verify_at
            )
            .is_err()
        );
    }

    #[test]
    fn the_body_id_is_the_event_id() {
        assert_eq!(
            preset("stripe", &["s"])
                .event_id(&HeaderMap::new(), Some(&json!({"id": "evt_1"})))
                .as_deref(),
            Some("evt_1")
        );
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let preset = preset("stripe", &["whsec_round"]);
        let headers = signed(&preset, b"{}", 1_800_000_000, "x");
        assert_eq!(verify(&preset, &headers, b"{}", 1_800_000_000), Ok(()));
    }
}
