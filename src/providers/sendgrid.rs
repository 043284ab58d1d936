//! SendGrid (Twilio SendGrid Event Webhook, signed): `X-Twilio-Email-Event-Webhook-Signature`
//! is a base64 DER ECDSA P-256/SHA-256 signature over
//! `X-Twilio-Email-Event-Webhook-Timestamp` + body.
//!
//! `public_keys` holds the "Verification Key" shown when "Signed Event Webhook Requests" is
//! enabled (Settings → Mail Settings → Event Webhook): base64 DER (SubjectPublicKeyInfo).
//! SendGrid's verifier checks no time, so neither does this preset unless `timestamp_tolerance`
//! is set. A body is a batch of events; the batch's `sg_event_id`s together name it.

use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::ecdsa::Base64DerP256;
use super::schemes::public_key::{PublicKeyScheme, PublicKeySpec};

pub const SIGNATURE_HEADER: &str = "x-twilio-email-event-webhook-signature";
pub const TIMESTAMP_HEADER: &str = "x-twilio-email-event-webhook-timestamp";

const SPEC: PublicKeySpec = PublicKeySpec {
    provider: "sendgrid",
    signature_header: SIGNATURE_HEADER,
    timestamp_header: TIMESTAMP_HEADER,
    unsigned: "sendgrid (public-key scheme: hookwall holds no private key)",
};

pub const PROVIDER: Provider = Provider {
    name: "sendgrid",
    keys: Keys::PublicKeys,
    bodies: Bodies::JSON,
    id: IdRule::derived(derived_id),
    event_type: EventTypeRule::Pointers(&["/0/event"]),
    sniffs_gzip: false,
    handshake: None,
    build: |_, public_keys, o| {
        Ok(Box::new(PublicKeyScheme::<Base64DerP256>::build(
            SPEC,
            public_keys,
            o,
        )?))
    },
    families: &[Family::PublicKey],
};

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
    use super::*;
    use crate::providers::Overrides;
    use crate::providers::testing::{public_key_preset, verify};
    use crate::providers::vectors::load;

    #[test]
    fn the_timestamp_is_signed_and_the_batch_ids_name_the_event() {
        for v in load("sendgrid") {
            let key = v.public_key.clone().expect("a public key");
            let preset = public_key_preset("sendgrid", &[&key]);
            let mut late = v.headers.clone();
            late.insert(
                TIMESTAMP_HEADER,
                http::HeaderValue::from_static("1700000001"),
            );
            assert!(
                verify(&preset, &late, &v.body, 1_700_000_000).is_err(),
                "the timestamp is signed"
            );
            let payload: serde_json::Value = serde_json::from_slice(&v.body).expect("json");
            assert_eq!(derived_id(&payload).as_deref(), Some("sg_evt_1"));
        }
    }

    #[test]
    fn a_key_that_is_not_base64_der_is_a_config_error() {
        let build = |keys: &[String]| {
            PublicKeyScheme::<Base64DerP256>::build(SPEC, keys, &Overrides::default())
        };
        assert!(build(&["not a key".to_owned()]).is_err());
        assert!(build(&[]).is_err());
    }
}
