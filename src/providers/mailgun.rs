//! Mailgun: the signature travels in the body. JSON webhooks carry
//! `{"signature": {"timestamp", "token", "signature"}, "event-data": …}`; legacy form webhooks
//! carry `timestamp`, `token` and `signature` as fields. `signature` is the hex
//! HMAC-SHA256(HTTP webhook signing key, timestamp + token).
//!
//! The key is "HTTP webhook signing key" (Sending → Webhooks). Mailgun's SDK checks no time, so
//! neither does this preset unless `timestamp_tolerance` is set; `signature.token` (unique per
//! request) is the event id, so a replayed request is a duplicate.

use std::time::Duration;

use secrecy::{SecretSlice, SecretString};
use serde_json::Value;

use super::contract::{
    Algorithm, Inbound, Outbound, Overrides, PresetError, Scheme, SignError, SignedHeaders,
    VerifyError,
};
use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::primitives::{any_match, check_fresh_if_asked, first_key, keys, mac};

pub const PROVIDER: Provider = Provider {
    name: "mailgun",
    keys: Keys::Secrets,
    bodies: Bodies::JSON_OR_FORM,
    id: IdRule::derived(derived_id),
    event_type: EventTypeRule::Pointers(&["/event-data/event"]),
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(Mailgun::build(secrets, o)?)),
    families: &[Family::UrlAndBody],
};

pub struct Mailgun {
    keys: Vec<SecretSlice<u8>>,
    tolerance: Option<Duration>,
}

impl std::fmt::Debug for Mailgun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailgun")
            .field("keys", &self.keys.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

/// The three signature fields, wherever the body kind keeps them.
struct Fields {
    timestamp: String,
    token: String,
    signature: String,
}

fn fields(body: &[u8]) -> Result<Fields, VerifyError> {
    if let Ok(json) = serde_json::from_slice::<Value>(body) {
        let signature = json
            .get("signature")
            .ok_or_else(|| VerifyError::Missing("signature object in the body".into()))?;
        let text = |name: &'static str| {
            signature
                .get(name)
                .and_then(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .ok_or(VerifyError::Malformed(name))
        };
        return Ok(Fields {
            timestamp: text("timestamp")?,
            token: text("token")?,
            signature: text("signature")?,
        });
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| VerifyError::Malformed("body (neither JSON nor a form)"))?;
    let get = |name: &'static str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| VerifyError::Missing(format!("{name} field in the body")))
    };
    Ok(Fields {
        timestamp: get("timestamp")?,
        token: get("token")?,
        signature: get("signature")?,
    })
}

impl Mailgun {
    pub fn build(secrets: &[SecretString], o: &Overrides) -> Result<Mailgun, PresetError> {
        Ok(Mailgun {
            keys: keys("mailgun", secrets)?,
            tolerance: o.timestamp_tolerance,
        })
    }

    /// `body` with a signature made at `now` with the first key (token = `id`): a
    /// `signature` object in a JSON object body, or the three fields appended to a form body.
    pub fn sign_body(&self, body: Vec<u8>, now: i64, id: &str) -> Result<Vec<u8>, SignError> {
        let signature = self
            .signature_object(now, id)
            .ok_or(SignError::NoSecret("mailgun"))?;
        if let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&body) {
            object.insert("signature".into(), signature);
            return Ok(Value::Object(object).to_string().into_bytes());
        }
        let mut form = body;
        let fields = serde_urlencoded::to_string([
            (
                "timestamp",
                signature["timestamp"].as_str().unwrap_or_default(),
            ),
            ("token", id),
            (
                "signature",
                signature["signature"].as_str().unwrap_or_default(),
            ),
        ])
        .unwrap_or_default();
        if !form.is_empty() {
            form.push(b'&');
        }
        form.extend_from_slice(fields.as_bytes());
        Ok(form)
    }

    /// The signature object of a body signed now with the first key (for tests and examples).
    pub fn signature_object(&self, timestamp: i64, token: &str) -> Option<Value> {
        let key = first_key(&self.keys, "mailgun").ok()?;
        let ts = timestamp.to_string();
        let tag = mac(Algorithm::Sha256, key, &[ts.as_bytes(), token.as_bytes()]);
        Some(serde_json::json!({"timestamp": ts, "token": token, "signature": hex::encode(tag)}))
    }
}

impl Scheme for Mailgun {
    fn tolerance(&self) -> Option<Duration> {
        self.tolerance
    }

    fn signs_timestamp(&self) -> bool {
        true
    }

    /// The body is not signed: only the timestamp and token inside it are.
    fn binds_body(&self) -> bool {
        false
    }

    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let f = fields(req.body)?;
        let given =
            hex::decode(f.signature.trim()).map_err(|_| VerifyError::Malformed("signature"))?;
        any_match(&self.keys, &[given], |key| {
            mac(
                Algorithm::Sha256,
                key,
                &[f.timestamp.as_bytes(), f.token.as_bytes()],
            )
        })?;
        check_fresh_if_asked(self.tolerance, &f.timestamp, req.now)
    }

    /// Mailgun signs fields inside the body, so there is no header to make: `hookwall send`
    /// cannot build a Mailgun request from an arbitrary body.
    fn sign(&self, _: &[u8], _: i64, _: &str) -> Result<SignedHeaders, SignError> {
        Err(SignError::Unsigned("mailgun"))
    }

    fn sign_request(&self, body: Vec<u8>, now: i64, id: &str) -> Result<Outbound, SignError> {
        Ok(Outbound {
            headers: Vec::new(),
            body: self.sign_body(body, now, id)?,
            query: None,
        })
    }
}

/// `signature.token` (JSON) or `token` (form): unique per request.
pub fn derived_id(payload: &Value) -> Option<String> {
    payload
        .get("signature")
        .and_then(|s| s.get("token"))
        .or_else(|| payload.get("token"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;
    use secrecy::SecretString;

    use super::*;
    use crate::providers::Preset;
    use crate::providers::testing::preset_with;
    use crate::providers::vectors::load;

    fn build(secret: &str, o: &Overrides) -> Preset {
        preset_with("mailgun", &[secret], o)
    }

    fn at(preset: &Preset, body: &[u8], now: i64) -> Result<(), VerifyError> {
        preset.verify(&Inbound {
            headers: &HeaderMap::new(),
            body,
            url: None,
            now,
        })
    }

    #[test]
    fn a_changed_token_or_a_body_without_a_signature_is_refused() {
        for v in load("mailgun") {
            let preset = build(&v.secret, &Overrides::default());
            let text = String::from_utf8(v.body.clone()).expect("utf-8");
            let token = derived_id(&serde_json::from_str(&text).expect("json")).expect("token");
            let forged = text.replace(&token, &token.replace('a', "b"));
            assert!(at(&preset, forged.as_bytes(), v.verify_at).is_err());
            assert!(at(&preset, b"{\"event-data\":{}}", v.verify_at).is_err());
        }
    }

    #[test]
    fn legacy_form_bodies_verify_and_a_tolerance_can_be_asked_for() {
        let o = Overrides {
            timestamp_tolerance: Some(Duration::from_secs(300)),
            ..Overrides::default()
        };
        let mailgun =
            Mailgun::build(&[SecretString::from("key-1".to_owned())], &o).expect("builds");
        let sig = mailgun
            .signature_object(1_700_000_000, "tok-1")
            .expect("a key");
        let body = format!(
            "event=delivered&timestamp={}&token=tok-1&signature={}",
            sig["timestamp"].as_str().expect("ts"),
            sig["signature"].as_str().expect("sig")
        );
        let preset = build("key-1", &o);
        assert_eq!(at(&preset, body.as_bytes(), 1_700_000_100), Ok(()));
        assert!(matches!(
            at(&preset, body.as_bytes(), 1_700_000_301),
            Err(VerifyError::Stale { .. })
        ));
    }
}
