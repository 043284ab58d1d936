//! Fingerprints of secrets for the admin API: which secret is configured, without a way to test
//! guesses at it.
//!
//! A fingerprint is `hmac:` and 16 hex digits (64 bits) of HMAC-SHA256 of the secret under this
//! installation's fingerprint key: 32 random bytes the store makes once and keeps
//! (`install_keys`), so every instance that shares a store shows the same fingerprint for the
//! same secret and an operator can tell whether they agree, and a restart changes nothing. The
//! key is never shown: whoever reads the admin API cannot test guesses at a weak Basic or token
//! credential offline, as they could against an unsalted SHA-256 of it.

use ::hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};

/// How many bytes of the MAC a fingerprint shows.
const SHOWN: usize = 8;

/// Makes fingerprints under one installation's key.
pub struct Fingerprints {
    key: SecretSlice<u8>,
}

impl std::fmt::Debug for Fingerprints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprints")
    }
}

impl Fingerprints {
    pub fn new(key: &[u8]) -> Fingerprints {
        Fingerprints {
            key: SecretSlice::from(key.to_vec()),
        }
    }

    /// The fingerprint of `secret`.
    pub fn of(&self, secret: &[u8]) -> String {
        // HMAC takes a key of any length.
        let Ok(mut mac) = ::hmac::Hmac::<sha2::Sha256>::new_from_slice(self.key.expose_secret())
        else {
            return "hmac:unavailable".to_owned();
        };
        mac.update(secret);
        let tag = mac.finalize().into_bytes();
        format!("hmac:{}", hex::encode(tag.get(..SHOWN).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    use super::*;

    #[test]
    fn a_fingerprint_is_short_keyed_and_the_same_for_the_same_key_and_secret() {
        let one = Fingerprints::new(&[1; 32]);
        let fp = one.of(b"user:hunter2");
        assert!(fp.starts_with("hmac:") && fp.len() == 5 + 2 * SHOWN, "{fp}");
        assert!(!fp.contains("hunter2"));
        assert_eq!(fp, Fingerprints::new(&[1; 32]).of(b"user:hunter2"));
        assert_ne!(fp, one.of(b"user:hunter3"));
        // Another installation's key gives another fingerprint: it cannot be made without it.
        assert_ne!(fp, Fingerprints::new(&[2; 32]).of(b"user:hunter2"));
        // Nor is it the unkeyed digest an offline guesser could compute.
        let plain = hex::encode(sha2::Sha256::digest(b"user:hunter2"));
        assert!(!plain.starts_with(&fp["hmac:".len()..]));
    }

    #[test]
    fn debug_output_hides_the_key() {
        assert_eq!(format!("{:?}", Fingerprints::new(b"key")), "Fingerprints");
    }
}
