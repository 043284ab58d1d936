//! Zoom: `x-zm-signature: v0=<hex HMAC-SHA256(secret token, "v0:" + ts + ":" + body)>` with
//! `x-zm-request-timestamp: ts`, fresh within 5 minutes.
//!
//! The key is the app's "Secret Token" (Marketplace → your app → Features → Access). Zoom's
//! `endpoint.url_validation` handshake is answered with the `plainToken` and its HMAC under the
//! secret token. Zoom gives no event id: `event` and `event_ts` together name one notification.

use std::time::Duration;

use serde_json::Value;

use super::contract::Scheme;
use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::hmac::HmacSpec;

pub const SIGNATURE_HEADER: &str = "x-zm-signature";

const HMAC: HmacSpec = HmacSpec {
    provider: "zoom",
    signature_headers: &[SIGNATURE_HEADER],
    prefix: "v0=",
    signed_payload: "v0:{timestamp}:{body}",
    timestamp_header: Some("x-zm-request-timestamp"),
    tolerance: Duration::from_secs(300),
    ..HmacSpec::BODY_SHA256_HEX
};

pub const PROVIDER: Provider = Provider {
    name: "zoom",
    keys: Keys::Secrets,
    bodies: Bodies::JSON,
    id: IdRule::derived(derived_id),
    event_type: EventTypeRule::Pointers(&["/event"]),
    sniffs_gzip: false,
    handshake: Some(url_validation),
    build: |secrets, _, o| Ok(Box::new(HMAC.build(secrets, o)?)),
    families: &[Family::HmacHeader],
};

/// `event` and `event_ts`, both signed.
pub fn derived_id(payload: &Value) -> Option<String> {
    let event = payload.get("event")?.as_str()?;
    let at = payload.get("event_ts")?;
    Some(format!("{event}@{at}"))
}

/// `endpoint.url_validation`: the `plainToken` and its hex HMAC under the first secret.
fn url_validation(payload: &Value, scheme: &dyn Scheme) -> Option<Value> {
    if payload.get("event")?.as_str()? != "endpoint.url_validation" {
        return None;
    }
    let plain = payload.get("payload")?.get("plainToken")?.as_str()?;
    let encrypted = hex::encode(scheme.mac_with_first_key(plain.as_bytes())?);
    Some(serde_json::json!({ "plainToken": plain, "encryptedToken": encrypted }))
}

#[cfg(test)]
mod tests {
    use ::hmac::{KeyInit, Mac};
    use http::{HeaderMap, HeaderValue};
    use secrecy::SecretString;

    use crate::providers::{Inbound, Overrides, Preset, VerifyError};

    /// Zoom has no SDK signer: the vector is computed here by the documented recipe.
    fn zoom_request(secret: &str, ts: i64, body: &str) -> HeaderMap {
        let mut mac =
            ::hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
        mac.update(format!("v0:{ts}:{body}").as_bytes());
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-zm-signature",
            HeaderValue::from_str(&format!("v0={}", hex::encode(mac.finalize().into_bytes())))
                .expect("hex"),
        );
        headers.insert("x-zm-request-timestamp", HeaderValue::from(ts));
        headers
    }

    fn verify(secret: &str, headers: &HeaderMap, body: &str, now: i64) -> Result<(), VerifyError> {
        Preset::build(
            "zoom",
            &[SecretString::from(secret.to_owned())],
            &[],
            &Overrides::default(),
        )
        .expect("builds")
        .verify(&Inbound {
            headers,
            body: body.as_bytes(),
            url: None,
            now,
        })
    }

    #[test]
    fn the_documented_recipe_verifies_and_negatives_fail() {
        let body = r#"{"event":"meeting.started","event_ts":1700000000123,"payload":{}}"#;
        let headers = zoom_request("zoom-secret-token", 1_700_000_000, body);
        assert_eq!(
            verify("zoom-secret-token", &headers, body, 1_700_000_000),
            Ok(())
        );
        assert!(matches!(
            verify("other", &headers, body, 1_700_000_000),
            Err(VerifyError::Mismatch { .. })
        ));
        assert!(matches!(
            verify("zoom-secret-token", &headers, body, 1_700_000_301),
            Err(VerifyError::Stale { .. })
        ));
        assert!(
            verify(
                "zoom-secret-token",
                &headers,
                &body.replace("started", "ended"),
                1_700_000_000
            )
            .is_err()
        );
        assert!(matches!(
            verify("zoom-secret-token", &HeaderMap::new(), body, 1_700_000_000),
            Err(VerifyError::Missing(_))
        ));
    }

    #[test]
    fn event_and_event_ts_name_the_event() {
        let payload =
            serde_json::json!({"event": "meeting.started", "event_ts": 1700000000123_i64});
        assert_eq!(
            super::derived_id(&payload).as_deref(),
            Some("meeting.started@1700000000123")
        );
    }
}
