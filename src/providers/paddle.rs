//! Paddle Billing: `Paddle-Signature: ts=<ts>;h1=<hex HMAC-SHA256(secret, ts + ":" + body)>`,
//! with one `h1` per active secret during a rotation.
//!
//! The key is the notification destination's whole "secret key" string (`pdl_ntfset_…`), used
//! as is. Tolerance 5 s, the `maximum_variance` of Paddle's own SDKs: Paddle signs at send time.
//! The body's `event_id` is the event id.

use std::time::Duration;

use super::stripe::Format;

pub const PADDLE: Format = Format {
    provider: "paddle",
    header: "paddle-signature",
    separator: ';',
    timestamp_key: "ts",
    signature_key: "h1",
    joiner: b":",
    tolerance: Duration::from_secs(5),
};

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use secrecy::SecretString;

    use crate::providers::vectors::{conformance, load};
    use crate::providers::{Inbound, Overrides, Preset, VerifyError};

    #[test]
    fn vectors_verify_and_derived_negatives_fail() {
        conformance("paddle");
    }

    #[test]
    fn a_signature_older_than_five_seconds_is_stale() {
        let v = load("paddle").remove(0);
        let preset = Preset::build(
            "paddle",
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
        assert_eq!(at(v.verify_at + 5), Ok(()));
        assert!(matches!(
            at(v.verify_at + 6),
            Err(VerifyError::Stale { .. })
        ));
        assert!(matches!(
            at(v.verify_at - 6),
            Err(VerifyError::Stale { .. })
        ));
    }

    #[test]
    fn what_send_signs_verifies() {
        let preset = Preset::build(
            "paddle",
            &[SecretString::from("pdl_ntfset_x".to_owned())],
            &[],
            &Overrides::default(),
        )
        .expect("builds");
        let mut headers = HeaderMap::new();
        for (name, value) in preset.sign(b"{}", 1_700_000_000, "id").expect("signs") {
            headers.insert(name, HeaderValue::from_str(&value).expect("value"));
        }
        assert!(
            headers["paddle-signature"]
                .to_str()
                .expect("ascii")
                .starts_with("ts=1700000000;h1=")
        );
        let inbound = Inbound {
            headers: &headers,
            body: b"{}",
            url: None,
            now: 1_700_000_000,
        };
        assert_eq!(preset.verify(&inbound), Ok(()));
    }
}
