//! The building blocks every scheme is made of: reading a header, turning secrets into keys,
//! parsing and judging a signed timestamp, computing and comparing MACs.
//!
//! Comparisons are constant time: MACs with `subtle` on equal-length byte strings, credentials
//! by comparing SHA-256 digests (so not even the length leaks). Every active key is tried
//! (rotation), with no early exit. This file imports only `contract.rs`; it never reads
//! the clock (`now` is passed in).

use std::time::Duration;

use ::hmac::{KeyInit, Mac};
use http::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::contract::{Algorithm, PresetError, VerifyError};

/// A header name from config.
pub(crate) fn header_name(key: &'static str, value: &str) -> Result<HeaderName, PresetError> {
    HeaderName::from_bytes(value.trim().as_bytes()).map_err(|_| PresetError::BadValue {
        key,
        value: value.to_owned(),
        fix: "write an HTTP header name such as X-Signature",
    })
}

/// A header's value as text, or `Missing(name)`.
pub(crate) fn header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<&'a str, VerifyError> {
    let value = headers
        .get(name)
        .ok_or_else(|| VerifyError::Missing(format!("{name} header")))?;
    value
        .to_str()
        .map_err(|_| VerifyError::Malformed("header (not visible ASCII)"))
}

/// Secrets as HMAC keys (the bytes as written), refusing an empty list.
pub(crate) fn keys(
    provider: &'static str,
    secrets: &[SecretString],
) -> Result<Vec<SecretSlice<u8>>, PresetError> {
    let keys: Vec<SecretSlice<u8>> = secrets
        .iter()
        .map(|s| s.expose_secret().as_bytes())
        .filter(|s| !s.is_empty())
        .map(|s| SecretSlice::from(s.to_vec()))
        .collect();
    if keys.is_empty() {
        return Err(PresetError::NoSecret { provider });
    }
    Ok(keys)
}

/// Parses a signed unix timestamp strictly: ASCII digits only, at most 12 of them (no sign, no
/// fraction, no exponent, no `NaN`, nothing that overflows).
pub(crate) fn parse_timestamp(text: &str) -> Result<i64, VerifyError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::Malformed("timestamp"));
    }
    text.parse()
        .map_err(|_| VerifyError::Malformed("timestamp"))
}

/// Freshness in both directions, with saturating arithmetic.
pub(crate) fn check_fresh(
    timestamp: i64,
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let skew = now.saturating_sub(timestamp);
    let tolerance_secs = tolerance.as_secs();
    if skew.unsigned_abs() > tolerance_secs {
        return Err(VerifyError::Stale {
            skew_secs: skew,
            tolerance_secs,
        });
    }
    Ok(())
}

/// [`check_fresh`] of a timestamp text, when a tolerance is set (schemes whose provider checks
/// no time unless the source asks for it).
pub(crate) fn check_fresh_if_asked(
    tolerance: Option<Duration>,
    timestamp: &str,
    now: i64,
) -> Result<(), VerifyError> {
    match tolerance {
        Some(tolerance) => check_fresh(parse_timestamp(timestamp)?, now, tolerance),
        None => Ok(()),
    }
}

/// HMAC of the concatenated `parts` under `key`.
pub(crate) fn mac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else {
            return Vec::new();
        };
        for part in parts {
            m.update(part);
        }
        m.finalize().into_bytes().to_vec()
    }
    match algorithm {
        Algorithm::Sha1 => run::<::hmac::Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<::hmac::Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => run::<::hmac::Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Constant-time equality of two MACs (a length difference is not secret: lengths are public).
pub(crate) fn mac_eq(expected: &[u8], given: &[u8]) -> bool {
    !expected.is_empty() && expected.len() == given.len() && bool::from(expected.ct_eq(given))
}

/// Constant-time equality of two credentials that does not leak their lengths either.
pub fn credential_eq(expected: &[u8], given: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(expected), Sha256::digest(given));
    bool::from(a.as_slice().ct_eq(b.as_slice()))
}

/// Tries every key against every candidate signature: each key's MAC is computed once.
pub(crate) fn any_match(
    keys: &[SecretSlice<u8>],
    candidates: &[Vec<u8>],
    compute: impl Fn(&[u8]) -> Vec<u8>,
) -> Result<(), VerifyError> {
    let mut matched = false;
    for key in keys {
        let expected = compute(key.expose_secret());
        for candidate in candidates {
            // No early exit: the work done does not depend on which key matched.
            matched |= mac_eq(&expected, candidate);
        }
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch { tried: keys.len() })
    }
}

/// The first key, for signing; `provider` names the error when there is none.
pub(crate) fn first_key<'k>(
    keys: &'k [SecretSlice<u8>],
    provider: &'static str,
) -> Result<&'k [u8], super::contract::SignError> {
    keys.first()
        .map(|key| key.expose_secret())
        .ok_or(super::contract::SignError::NoSecret(provider))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_parsed_strictly() {
        assert_eq!(parse_timestamp("1700000000"), Ok(1_700_000_000));
        for bad in [
            "",
            "NaN",
            "-5",
            "+5",
            "1e9",
            "1.5",
            "17000000000000000000",
            " ",
            "0x10",
            "١٢",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                Err(VerifyError::Malformed("timestamp")),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn freshness_is_checked_in_both_directions_without_overflow() {
        let tolerance = Duration::from_secs(300);
        assert!(check_fresh(1000, 1300, tolerance).is_ok());
        assert!(check_fresh(1300, 1000, tolerance).is_ok());
        assert!(check_fresh(1000, 1301, tolerance).is_err());
        assert!(check_fresh(1301, 1000, tolerance).is_err());
        assert!(check_fresh(i64::MAX, i64::MIN, tolerance).is_err());
        assert!(check_fresh(i64::MIN, i64::MAX, tolerance).is_err());
    }

    #[test]
    fn credentials_compare_equal_only_when_identical() {
        assert!(credential_eq(b"Bearer abc", b"Bearer abc"));
        assert!(!credential_eq(b"Bearer abc", b"Bearer abd"));
        assert!(!credential_eq(b"Bearer abc", b"Bearer ab"));
        assert!(!credential_eq(b"", b"x"));
    }
}
