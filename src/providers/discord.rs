//! Discord interactions: `X-Signature-Ed25519` (hex) is an Ed25519 signature over
//! `X-Signature-Timestamp` + body, by the application's key.
//!
//! `public_keys` holds the application's "Public Key" (Developer Portal → General Information),
//! hex. Discord's own verifier checks no time, so neither does this preset unless
//! `timestamp_tolerance` is set. Discord probes an endpoint with deliberately bad signatures and
//! expects 401, which a mismatch is. The interaction `id` is the event id; PING is answered
//! with PONG by the pipeline.

use std::time::Duration;

use ed25519_dalek::{Signature, VerifyingKey};
use http::HeaderName;

use super::{
    Inbound, Overrides, PresetError, SignError, VerifyError, check_fresh, header, parse_timestamp,
};

pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

#[derive(Debug)]
pub struct Discord {
    keys: Vec<VerifyingKey>,
    tolerance: Option<Duration>,
}

/// A hex Ed25519 public key (64 hex digits).
pub fn parse_key(index: usize, text: &str) -> Result<VerifyingKey, PresetError> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(PresetError::BadKey { index })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| PresetError::BadKey { index })
}

/// Tries every key against every signature, all of them (no early exit on a match).
pub fn any_ed25519(
    keys: &[VerifyingKey],
    signatures: &[Signature],
    message: &[u8],
) -> Result<(), VerifyError> {
    let mut matched = false;
    for key in keys {
        for signature in signatures {
            matched |= key.verify_strict(message, signature).is_ok();
        }
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch { tried: keys.len() })
    }
}

impl Discord {
    pub fn build(public_keys: &[String], o: &Overrides) -> Result<Discord, PresetError> {
        let keys = public_keys
            .iter()
            .enumerate()
            .filter(|(_, k)| !k.trim().is_empty())
            .map(|(i, k)| parse_key(i, k))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(PresetError::NoSecret {
                provider: "discord",
            });
        }
        Ok(Discord {
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
        let signature: [u8; 64] = hex::decode(signature.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(VerifyError::Malformed("x-signature-ed25519"))?;
        let message = [timestamp.as_bytes(), req.body].concat();
        any_ed25519(&self.keys, &[Signature::from_bytes(&signature)], &message)?;
        match self.tolerance {
            Some(tolerance) => check_fresh(parse_timestamp(timestamp)?, req.now, tolerance),
            None => Ok(()),
        }
    }

    pub fn sign(&self) -> Result<Vec<(HeaderName, String)>, SignError> {
        Err(SignError::Unsigned(
            "discord (public-key scheme: hookwall holds no private key)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};
    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::providers::Preset;
    use crate::providers::vectors::load;

    fn build(keys: &[&str]) -> Preset {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        Preset::build("discord", &[], &keys, &Overrides::default()).expect("builds")
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
        for v in load("discord") {
            let key = v.public_key.clone().expect("a public key");
            let preset = build(&[&key]);
            assert_eq!(at(&preset, &v.headers, &v.body), Ok(()), "{}", v.name);
            let mut flipped = v.body.clone();
            flipped[0] ^= 1;
            assert!(matches!(
                at(&preset, &v.headers, &flipped),
                Err(VerifyError::Mismatch { .. })
            ));
            let other = hex::encode(SigningKey::from_bytes(&[9; 32]).verifying_key().as_bytes());
            assert!(at(&build(&[&other]), &v.headers, &v.body).is_err());
            assert_eq!(
                at(&build(&[&other, &key]), &v.headers, &v.body),
                Ok(()),
                "rotation"
            );
            assert!(matches!(
                at(&preset, &HeaderMap::new(), &v.body),
                Err(VerifyError::Missing(_))
            ));
            // Discord's probe: a well-formed but wrong signature.
            let mut probe = v.headers.clone();
            probe.insert(
                SIGNATURE_HEADER,
                HeaderValue::from_str(&"00".repeat(64)).expect("hex"),
            );
            assert!(matches!(
                at(&preset, &probe, &v.body),
                Err(VerifyError::Mismatch { .. })
            ));
        }
    }

    #[test]
    fn a_key_that_is_not_32_hex_bytes_is_a_config_error() {
        for bad in ["", "zz", &"ab".repeat(31)] {
            assert!(
                Discord::build(&[bad.to_owned(), "ab".repeat(31)], &Overrides::default()).is_err()
            );
        }
        let signer = SigningKey::from_bytes(&[7; 32]);
        let good = hex::encode(signer.verifying_key().as_bytes());
        let discord = Discord::build(&[good], &Overrides::default()).expect("builds");
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
