//! Discord interactions: `X-Signature-Ed25519` (hex) is an Ed25519 signature over
//! `X-Signature-Timestamp` + body, by the application's key.
//!
//! `public_keys` holds the application's "Public Key" (Developer Portal → General Information),
//! hex. Discord's own verifier checks no time, so neither does this preset unless
//! `timestamp_tolerance` is set. Discord probes an endpoint with deliberately bad signatures and
//! expects 401, which a mismatch is. The interaction `id` is the event id; a PING (`type` 1) is
//! a handshake answered with PONG.

use serde_json::Value;

use super::contract::Scheme;
use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::ed25519::HexEd25519;
use super::schemes::public_key::{PublicKeyScheme, PublicKeySpec};

pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

const SPEC: PublicKeySpec = PublicKeySpec {
    provider: "discord",
    signature_header: SIGNATURE_HEADER,
    timestamp_header: TIMESTAMP_HEADER,
    unsigned: "discord (public-key scheme: hookwall holds no private key)",
};

pub const PROVIDER: Provider = Provider {
    name: "discord",
    keys: Keys::PublicKeys,
    bodies: Bodies::JSON,
    id: IdRule::field("id"),
    event_type: EventTypeRule::Pointers(&["/event/type", "/type"]),
    sniffs_gzip: false,
    handshake: Some(ping),
    build: |_, public_keys, o| {
        Ok(Box::new(PublicKeyScheme::<HexEd25519>::build(
            SPEC,
            public_keys,
            o,
        )?))
    },
    families: &[Family::PublicKey],
};

/// A PING interaction is answered with PONG.
fn ping(payload: &Value, _: &dyn Scheme) -> Option<Value> {
    (payload.get("type")?.as_i64()? == 1).then(|| serde_json::json!({ "type": 1 }))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};
    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::providers::contract::{Inbound, Overrides, VerifyError};
    use crate::providers::testing::{public_key_preset, verify};
    use crate::providers::vectors::load;

    #[test]
    fn discords_probe_with_a_well_formed_wrong_signature_is_a_mismatch() {
        for v in load("discord") {
            let key = v.public_key.clone().expect("a public key");
            let preset = public_key_preset("discord", &[&key]);
            let mut probe = v.headers.clone();
            probe.insert(
                SIGNATURE_HEADER,
                HeaderValue::from_str(&"00".repeat(64)).expect("hex"),
            );
            assert!(matches!(
                verify(&preset, &probe, &v.body, 1_700_000_000),
                Err(VerifyError::Mismatch { .. })
            ));
        }
    }

    #[test]
    fn a_key_that_is_not_32_hex_bytes_is_a_config_error() {
        let build = |keys: &[String]| {
            PublicKeyScheme::<HexEd25519>::build(SPEC, keys, &Overrides::default())
        };
        for bad in ["", "zz", &"ab".repeat(31)] {
            assert!(build(&[bad.to_owned(), "ab".repeat(31)]).is_err());
        }
        let signer = SigningKey::from_bytes(&[7; 32]);
        let good = hex::encode(signer.verifying_key().as_bytes());
        let discord = build(&[good]).expect("builds");
        let body = br#"{"type":1}"#;
        let signature = signer.sign(&[b"1700000000".as_slice(), body].concat());
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(&hex::encode(signature.to_bytes())).expect("hex"),
        );
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_static("1700000000"));
        assert_eq!(
            discord.verify(&Inbound {
                headers: &headers,
                body,
                url: None,
                now: 0
            }),
            Ok(())
        );
    }
}
