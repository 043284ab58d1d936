//! ECDSA P-256 with SHA-256, as SendGrid's signed Event Webhook uses it: keys are base64 DER
//! (SubjectPublicKeyInfo), signatures base64 DER. Verified through [`super::public_key`].

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

use super::public_key::KeyKind;

/// Base64 DER keys and signatures.
pub struct Base64DerP256;

impl KeyKind for Base64DerP256 {
    type Key = VerifyingKey;
    type Signature = Signature;

    fn key(text: &str) -> Option<VerifyingKey> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        VerifyingKey::from_public_key_der(&der).ok()
    }

    fn signature(text: &str) -> Option<Signature> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        Signature::from_der(&der).ok()
    }

    fn verifies(key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
        key.verify(message, signature).is_ok()
    }
}
