//! SendGrid (Twilio SendGrid Event Webhook, signed): `X-Twilio-Email-Event-Webhook-Signature`
//! is a base64 DER ECDSA P-256/SHA-256 signature over
//! `X-Twilio-Email-Event-Webhook-Timestamp` + body.
//!
//! `public_keys` holds the "Verification Key" shown when "Signed Event Webhook Requests" is
//! enabled (Settings → Mail Settings → Event Webhook): base64 DER (SubjectPublicKeyInfo).
//! SendGrid's verifier checks no time, so neither does this preset unless `timestamp_tolerance`
//! is set. A body is a batch of events; the batch's `sg_event_id`s together name it.

use std::time::Duration;

use base64::Engine;
use http::HeaderName;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

use super::{
    Inbound, Overrides, PresetError, SignError, VerifyError, check_fresh, header, parse_timestamp,
};

pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

#[derive(Debug)]
pub struct Sendgrid {
    keys: Vec<VerifyingKey>,
    tolerance: Option<Duration>,
}

impl Sendgrid {
    pub fn build(public_keys: &[String], o: &Overrides) -> Result<Sendgrid, PresetError> {
        let keys = public_keys
            .iter()
            .enumerate()
            .filter(|(_, k)| !k.trim().is_empty())
            .map(|(index, text)| {
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .ok()
                    .and_then(|der| VerifyingKey::from_public_key_der(&der).ok())
                    .ok_or(PresetError::BadKey { index })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(PresetError::NoSecret {
                provider: "sendgrid",
            });
        }
        Ok(Sendgrid {
            keys,
            tolerance: o.timestamp_tolerance,
        })
    }

    pub fn tolerance(&self) -> Option<Duration> {
        self.tolerance
    }

    pub fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let signature = header(req.headers, &HeaderName::from_static(SIGNATURE_HEADER))?;
        let timestamp = header(req.headers, &HeaderName::from_static(TIMESTAMP_HEADER))?;
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .ok()
            .and_then(|der| Signature::from_der(&der).ok())
            .ok_or(VerifyError::Malformed(
                "x-twilio-email-event-webhook-signature",
            ))?;
        let message = [timestamp.as_bytes(), req.body].concat();
        let mut matched = false;
        for key in &self.keys {
            matched |= key.verify(&message, &signature).is_ok();
        }
        if !matched {
            return Err(VerifyError::Mismatch {
                tried: self.keys.len(),
            });
        }
        match self.tolerance {
            Some(tolerance) => check_fresh(parse_timestamp(timestamp)?, req.now, tolerance),
            None => Ok(()),
        }
    }

    pub fn sign(&self) -> Result<Vec<(HeaderName, String)>, SignError> {
        Err(SignError::Unsigned(
            "sendgrid (public-key scheme: hookwall holds no private key)",
        ))
    }
}

/// The batch's `sg_event_id`s, in order, joined: the same batch sent again has the same key.
pub fn derived_id(payload: &serde_json::Value) -> Option<String> {
    let ids: Vec<&str> = payload
        .as_array()?
        .iter()
        .filter_map(|event| event.get("sg_event_id")?.as_str())
        .collect();
    (!ids.is_empty()).then(|| ids.join(","))
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::providers::Preset;
    use crate::providers::vectors::load;

    fn build(keys: &[&str]) -> Preset {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        Preset::build("sendgrid", &[], &keys, &Overrides::default()).expect("builds")
    }

    fn at(preset: &Preset, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
        preset.verify(&Inbound {
            headers,
            body,
            url: None,
            now: 1_700_000_000,
        })
    }

    #[test]
    fn the_vector_verifies_and_negatives_fail() {
        for v in load("sendgrid") {
            let key = v.public_key.clone().expect("a public key");
            let preset = build(&[&key]);
            assert_eq!(at(&preset, &v.headers, &v.body), Ok(()), "{}", v.name);
            let mut flipped = v.body.clone();
            flipped[3] ^= 1;
            assert!(matches!(
                at(&preset, &v.headers, &flipped),
                Err(VerifyError::Mismatch { .. })
            ));
            assert!(matches!(
                at(&preset, &HeaderMap::new(), &v.body),
                Err(VerifyError::Missing(_))
            ));
            let mut late = v.headers.clone();
            late.insert(
                TIMESTAMP_HEADER,
                http::HeaderValue::from_static("1700000001"),
            );
            assert!(
                at(&preset, &late, &v.body).is_err(),
                "the timestamp is signed"
            );
            let payload: serde_json::Value = serde_json::from_slice(&v.body).expect("json");
            assert_eq!(derived_id(&payload).as_deref(), Some("sg_evt_1"));
        }
    }

    #[test]
    fn a_key_that_is_not_base64_der_is_a_config_error() {
        assert!(Sendgrid::build(&["not a key".to_owned()], &Overrides::default()).is_err());
        assert!(Sendgrid::build(&[], &Overrides::default()).is_err());
    }
}
