//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:" + ts + ":" + body)>`
//! with `X-Slack-Request-Timestamp: ts`, fresh within 5 minutes (Slack's SDK default).
//!
//! The secret is the app's "Signing Secret" (Basic Information → App Credentials). Bodies are
//! form-encoded (slash commands, interactivity) or JSON (Events API).

use std::time::Duration;

use http::HeaderName;
use secrecy::SecretString;

use super::hmac::{Encoding, HmacScheme, Params, Template};
use super::{Algorithm, Overrides, PresetError};

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const TOLERANCE: Duration = Duration::from_secs(300);

pub fn preset(secrets: &[SecretString], o: &Overrides) -> Result<HmacScheme, PresetError> {
    let params = Params {
        signature_headers: vec![HeaderName::from_static(SIGNATURE_HEADER)],
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        prefix: "v0=".to_owned(),
        signed_payload: Template::parse("v0:{timestamp}:{body}")?,
        timestamp_header: Some(HeaderName::from_static(TIMESTAMP_HEADER)),
        id_header: None,
        tolerance: TOLERANCE,
        url: None,
    };
    HmacScheme::new("slack", params, secrets, o)
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::*;
    use crate::providers::vectors::load;
    use crate::providers::{Inbound, Preset, VerifyError};

    fn build(secrets: &[&str]) -> Preset {
        let secrets: Vec<SecretString> = secrets
            .iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect();
        Preset::build("slack", &secrets, &[], &Overrides::default()).expect("builds")
    }

    fn verify(
        preset: &Preset,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        preset.verify(&Inbound {
            headers,
            body,
            url: None,
            now,
        })
    }

    #[test]
    fn every_slack_vector_verifies_at_its_time() {
        for v in load("slack") {
            assert_eq!(
                verify(&build(&[&v.secret]), &v.headers, &v.body, v.verify_at),
                Ok(()),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let v = load("slack").remove(0);
        let preset = build(&[&v.secret]);
        assert_eq!(
            verify(&preset, &v.headers, &v.body, v.verify_at + 300),
            Ok(())
        );
        assert!(matches!(
            verify(&preset, &v.headers, &v.body, v.verify_at + 301),
            Err(VerifyError::Stale { .. })
        ));
        assert!(matches!(
            verify(&preset, &v.headers, &v.body, v.verify_at - 301),
            Err(VerifyError::Stale { .. })
        ));
    }

    #[test]
    fn negatives_are_refused() {
        let v = load("slack").remove(0);
        let preset = build(&[&v.secret]);
        let mut body = v.body.clone();
        body[0] ^= 1;
        assert!(verify(&preset, &v.headers, &body, v.verify_at).is_err());
        assert!(verify(&build(&["other"]), &v.headers, &v.body, v.verify_at).is_err());
        assert_eq!(
            verify(
                &build(&["other", &v.secret]),
                &v.headers,
                &v.body,
                v.verify_at
            ),
            Ok(())
        );
        let mut no_ts = v.headers.clone();
        no_ts.remove(TIMESTAMP_HEADER);
        assert!(matches!(
            verify(&preset, &no_ts, &v.body, v.verify_at),
            Err(VerifyError::Missing(_))
        ));
        for bad in [
            "NaN",
            "-1531420618",
            "1e9",
            "99999999999999999999",
            "1531420618.5",
        ] {
            let mut headers = v.headers.clone();
            headers.insert(TIMESTAMP_HEADER, HeaderValue::from_static(bad));
            assert!(
                matches!(
                    verify(&preset, &headers, &v.body, v.verify_at),
                    Err(VerifyError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_moved_timestamp_breaks_the_signature_even_when_fresh() {
        let v = load("slack").remove(0);
        let mut headers = v.headers.clone();
        headers.insert(
            TIMESTAMP_HEADER,
            HeaderValue::from_str(&(v.verify_at + 1).to_string()).expect("ascii"),
        );
        assert!(matches!(
            verify(&build(&[&v.secret]), &headers, &v.body, v.verify_at),
            Err(VerifyError::Mismatch { .. })
        ));
    }

    #[test]
    fn the_events_api_event_id_is_the_dedup_id() {
        let payload = json!({"event_id": "Ev123", "type": "event_callback"});
        assert_eq!(
            build(&["s"])
                .event_id(&HeaderMap::new(), Some(&payload))
                .as_deref(),
            Some("Ev123")
        );
        assert_eq!(
            build(&["s"]).event_id(&HeaderMap::new(), Some(&json!({"command": "/x"}))),
            None
        );
    }
}
