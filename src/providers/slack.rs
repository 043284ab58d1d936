//! Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret, "v0:" + ts + ":" + body)>`
//! with `X-Slack-Request-Timestamp: ts`, fresh within 5 minutes (Slack's SDK default).
//!
//! The secret is the app's "Signing Secret" (Basic Information → App Credentials). Bodies are
//! form-encoded (slash commands, interactivity) or JSON (Events API). A `url_verification`
//! event is a handshake: its `challenge` is echoed back instead of storing an event.

use std::time::Duration;

use serde_json::Value;

use super::contract::Scheme;
use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::hmac::HmacSpec;

pub const SIGNATURE_HEADER: &str = "x-slack-signature";
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const TOLERANCE: Duration = Duration::from_secs(300);

const HMAC: HmacSpec = HmacSpec {
    provider: "slack",
    signature_headers: &[SIGNATURE_HEADER],
    prefix: "v0=",
    signed_payload: "v0:{timestamp}:{body}",
    timestamp_header: Some(TIMESTAMP_HEADER),
    tolerance: TOLERANCE,
    ..HmacSpec::BODY_SHA256_HEX
};

pub const PROVIDER: Provider = Provider {
    name: "slack",
    keys: Keys::Secrets,
    bodies: Bodies::JSON_OR_FORM,
    id: IdRule::field("event_id"),
    event_type: EventTypeRule::Pointers(&["/event/type", "/type"]),
    sniffs_gzip: false,
    handshake: Some(url_verification),
    build: |secrets, _, o| Ok(Box::new(HMAC.build(secrets, o)?)),
    families: &[Family::HmacHeader],
};

/// Slack's `url_verification`: the `challenge` echoed back.
fn url_verification(payload: &Value, _: &dyn Scheme) -> Option<Value> {
    if payload.get("type")?.as_str()? != "url_verification" {
        return None;
    }
    let challenge = payload.get("challenge")?.as_str()?;
    Some(serde_json::json!({ "challenge": challenge }))
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::*;
    use crate::providers::VerifyError;
    use crate::providers::testing::{assert_fresh_for, preset, verify};
    use crate::providers::vectors::load;

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let v = load("slack").remove(0);
        let preset = preset("slack", &[&v.secret]);
        assert_fresh_for(&preset, &v.headers, &v.body, v.verify_at, 300);
    }

    #[test]
    fn a_missing_or_malformed_timestamp_is_refused() {
        let v = load("slack").remove(0);
        let preset = preset("slack", &[&v.secret]);
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
            verify(
                &preset("slack", &[&v.secret]),
                &headers,
                &v.body,
                v.verify_at
            ),
            Err(VerifyError::Mismatch { .. })
        ));
    }

    #[test]
    fn the_events_api_event_id_is_the_dedup_id() {
        let payload = json!({"event_id": "Ev123", "type": "event_callback"});
        let preset = preset("slack", &["s"]);
        assert_eq!(
            preset
                .event_id(&HeaderMap::new(), Some(&payload))
                .as_deref(),
            Some("Ev123")
        );
        assert_eq!(
            preset.event_id(&HeaderMap::new(), Some(&json!({"command": "/x"}))),
            None
        );
    }
}
