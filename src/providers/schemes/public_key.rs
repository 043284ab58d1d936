//! The public-key scheme of Discord (Ed25519) and SendGrid (ECDSA P-256): a signature header
//! over the timestamp header's text followed by the body, checked against every configured
//! public key.
//!
//! Neither provider's own verifier checks a time, so neither does this scheme unless the source
//! sets `timestamp_tolerance`. hookwall holds no private key, so it cannot sign for these
//! providers. The algorithm is a [`KeyKind`] (`ed25519.rs`, `ecdsa.rs`); the
//! header names come from the provider file's [`PublicKeySpec`].

use std::time::Duration;

use http::HeaderName;

use crate::providers::contract::{
    Inbound, Overrides, PresetError, Scheme, SignError, SignedHeaders, VerifyError,
};
use crate::providers::primitives::{check_fresh_if_asked, header};

/// A provider's headers.
#[derive(Debug, Clone, Copy)]
pub struct PublicKeySpec {
    pub provider: &'static str,
    pub signature_header: &'static str,
    pub timestamp_header: &'static str,
    /// Why `hookwall sign` cannot sign for it.
    pub unsigned: &'static str,
}

/// A signature algorithm: how its keys and signatures are written, and the check.
pub trait KeyKind: Send + Sync + 'static {
    type Key: Send + Sync + std::fmt::Debug;
    type Signature;
    fn key(text: &str) -> Option<Self::Key>;
    fn signature(text: &str) -> Option<Self::Signature>;
    fn verifies(key: &Self::Key, message: &[u8], signature: &Self::Signature) -> bool;
}

pub struct PublicKeyScheme<K: KeyKind> {
    spec: PublicKeySpec,
    keys: Vec<K::Key>,
    tolerance: Option<Duration>,
}

impl<K: KeyKind> std::fmt::Debug for PublicKeyScheme<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(self.spec.provider)
            .field("keys", &self.keys)
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl<K: KeyKind> PublicKeyScheme<K> {
    /// Every non-empty entry of `public_keys` must be a key of this kind.
    pub fn build(
        spec: PublicKeySpec,
        public_keys: &[String],
        o: &Overrides,
    ) -> Result<PublicKeyScheme<K>, PresetError> {
        let keys = public_keys
            .iter()
            .enumerate()
            .filter(|(_, k)| !k.trim().is_empty())
            .map(|(index, text)| K::key(text.trim()).ok_or(PresetError::BadKey { index }))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(PresetError::NoSecret {
                provider: spec.provider,
            });
        }
        Ok(PublicKeyScheme {
            spec,
            keys,
            tolerance: o.timestamp_tolerance,
        })
    }
}

impl<K: KeyKind> Scheme for PublicKeyScheme<K> {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let signature = header(
            req.headers,
            &HeaderName::from_static(self.spec.signature_header),
        )?;
        let timestamp = header(
            req.headers,
            &HeaderName::from_static(self.spec.timestamp_header),
        )?;
        let signature = K::signature(signature.trim())
            .ok_or(VerifyError::Malformed(self.spec.signature_header))?;
        let message = [timestamp.as_bytes(), req.body].concat();
        let mut matched = false;
        for key in &self.keys {
            // No early exit: the work done does not depend on which key matched.
            matched |= K::verifies(key, &message, &signature);
        }
        if !matched {
            return Err(VerifyError::Mismatch {
                tried: self.keys.len(),
            });
        }
        check_fresh_if_asked(self.tolerance, timestamp, req.now)
    }

    fn tolerance(&self) -> Option<Duration> {
        self.tolerance
    }

    fn signs_timestamp(&self) -> bool {
        true
    }

    fn sign(&self, _: &[u8], _: i64, _: &str) -> Result<SignedHeaders, SignError> {
        Err(SignError::Unsigned(self.spec.unsigned))
    }
}
