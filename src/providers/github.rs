//! GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
//!
//! The secret is the webhook's "Secret" as typed in GitHub. Nothing signed carries a time or an
//! id, so a captured request can be replayed under a new `X-GitHub-Delivery`; de-duplication by
//! delivery id catches only exact replays (`dedup = "body"` closes the gap, see docs/security.md).
//! The legacy SHA-1 `X-Hub-Signature` is not accepted.

use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::hmac::HmacSpec;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// The id GitHub gives each delivery (a redelivery keeps it).
pub const DELIVERY_HEADER: &str = "x-github-delivery";
/// Names the event (`push`, `pull_request`, …).
pub const EVENT_HEADER: &str = "x-github-event";

const HMAC: HmacSpec = HmacSpec {
    provider: "github",
    signature_headers: &[SIGNATURE_HEADER],
    prefix: "sha256=",
    ..HmacSpec::BODY_SHA256_HEX
};

pub const PROVIDER: Provider = Provider {
    name: "github",
    keys: Keys::Secrets,
    bodies: Bodies::JSON_OR_FORM,
    id: IdRule::headers(&[DELIVERY_HEADER]),
    event_type: EventTypeRule::Header(EVENT_HEADER),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(HMAC.build(secrets, o)?)),
    families: &[Family::HmacHeader],
};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::providers::contract::{Inbound, Overrides, Scheme, VerifyError};
    use crate::providers::testing::{header_map, preset, secrets, signed, verify};
    use crate::providers::vectors::load;

    #[test]
    fn a_malformed_signature_header_is_refused() {
        let v = load("github").remove(1);
        let preset = preset("github", &[&v.secret]);
        for bad in ["sha256=zz", "md5=abc", "", "sha256=", &"a".repeat(100_000)] {
            let mut headers = HeaderMap::new();
            headers.insert(SIGNATURE_HEADER, HeaderValue::from_str(bad).expect("ascii"));
            assert!(verify(&preset, &headers, &v.body, 0).is_err(), "{bad:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_bytes(b"sha256=\xff\xfe").expect("obs-text"),
        );
        assert!(verify(&preset, &headers, &v.body, 0).is_err());
    }

    #[test]
    fn the_legacy_sha1_header_alone_is_not_enough() {
        let v = load("github").remove(1);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-hub-signature",
            HeaderValue::from_static("sha1=0000000000000000000000000000000000000000"),
        );
        assert!(matches!(
            verify(&preset("github", &[&v.secret]), &headers, &v.body, 0),
            Err(VerifyError::Missing(_))
        ));
    }

    #[test]
    fn the_delivery_header_is_the_event_id() {
        let v = load("github").remove(1);
        assert_eq!(
            preset("github", &["s"])
                .event_id(&v.headers, None)
                .as_deref(),
            Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
        );
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let preset = preset("github", &["round-trip"]);
        let headers = signed(&preset, b"{\"a\":1}", 0, "d");
        assert_eq!(verify(&preset, &headers, b"{\"a\":1}", 0), Ok(()));
    }

    #[test]
    fn a_timestamp_added_to_a_preset_without_one_gets_the_default_tolerance() {
        // GitHub signs no time. A source adding one (a relay that stamps requests) without a
        // `timestamp_tolerance` got the preset's unused zero: everything not signed in the
        // same second was refused (found by the hmac_headers fuzz target on Linear).
        let added = Overrides {
            timestamp_header: Some("X-Ts".into()),
            ..Overrides::default()
        };
        let scheme = HMAC.build(&secrets(&["k"]), &added).expect("builds");
        let headers = header_map(scheme.sign(b"{}", 1000, "evt-1").expect("signs"));
        let at = |now| {
            scheme.verify(&Inbound {
                headers: &headers,
                body: b"{}",
                url: None,
                now,
            })
        };
        assert_eq!(at(1000 + 60), Ok(()));
        assert_eq!(at(1000 + 300), Ok(()));
        assert!(matches!(at(1000 + 301), Err(VerifyError::Stale { .. })));

        // A tolerance the source sets is kept, zero included.
        let strict = Overrides {
            timestamp_tolerance: Some(Duration::ZERO),
            ..added
        };
        let scheme = HMAC.build(&secrets(&["k"]), &strict).expect("builds");
        let headers = header_map(scheme.sign(b"{}", 1000, "evt-1").expect("signs"));
        let inbound = |now| Inbound {
            headers: &headers,
            body: b"{}",
            url: None,
            now,
        };
        assert_eq!(scheme.verify(&inbound(1000)), Ok(()));
        assert!(matches!(
            scheme.verify(&inbound(1001)),
            Err(VerifyError::Stale { .. })
        ));
    }
}
