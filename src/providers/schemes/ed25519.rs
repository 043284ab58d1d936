//! Ed25519 signatures: Discord's hex keys and signatures (through [`super::public_key`]) and
//! the `v1a` entries of asymmetric Standard Webhooks ([`any_ed25519`]).
//!
//! Verification is strict (`verify_strict`: no small-order keys, canonical signatures), and
//! every key is tried against every signature with no early exit.

use ed25519_dalek::{Signature, VerifyingKey};

use super::public_key::KeyKind;
use crate::providers::contract::VerifyError;

/// Hex keys (64 digits) and hex signatures (128 digits), as Discord writes them.
pub struct HexEd25519;

impl KeyKind for HexEd25519 {
    type Key = VerifyingKey;
    type Signature = Signature;

    fn key(text: &str) -> Option<VerifyingKey> {
        let bytes: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }

    fn signature(text: &str) -> Option<Signature> {
        let bytes: [u8; 64] = hex::decode(text).ok()?.try_into().ok()?;
        Some(Signature::from_bytes(&bytes))
    }

    fn verifies(key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
        key.verify_strict(message, signature).is_ok()
    }
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
            matched |= HexEd25519::verifies(key, message, signature);
        }
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch { tried: keys.len() })
    }
}
