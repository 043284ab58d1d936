//! The token scheme: a header (default `Authorization`, or `signature_header`) must equal one of
//! the secrets exactly. Used by the generic `token` preset (Zapier and any sender of a fixed
//! header), Bright Data and GitLab's secret token; Particle uses its comparisons.
//!
//! The comparison hashes both sides first, so it is constant time in the content and the length
//! of the credential. Nothing is signed: the verdict comes from the headers alone, so the
//! pipeline judges it before reading the body, and the header is redacted before storage.

use base64::Engine as _;
use http::HeaderName;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use crate::providers::contract::{
    Inbound, Overrides, PresetError, Scheme, SignError, SignedHeaders, VerifyError,
};
use crate::providers::primitives::{credential_eq, header, header_name, keys};

pub struct Token {
    provider: &'static str,
    header: HeaderName,
    /// The complete expected header values.
    values: Vec<SecretSlice<u8>>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("header", &self.header)
            .field("values", &self.values.len())
            .finish()
    }
}

impl Token {
    pub fn build(
        provider: &'static str,
        secrets: &[SecretString],
        o: &Overrides,
    ) -> Result<Token, PresetError> {
        let header = match &o.signature_header {
            Some(name) => header_name("signature_header", name)?,
            None => http::header::AUTHORIZATION,
        };
        Ok(Token {
            provider,
            header,
            values: keys(provider, secrets)?,
        })
    }

    pub fn header(&self) -> &HeaderName {
        &self.header
    }
}

impl Scheme for Token {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let given = req
            .headers
            .get(&self.header)
            .ok_or_else(|| VerifyError::Missing(format!("{} header", self.header)))?;
        matches_any(&self.values, given.as_bytes())
    }

    fn credential_header(&self) -> Option<&HeaderName> {
        Some(&self.header)
    }

    fn sign(&self, _: &[u8], _: i64, _: &str) -> Result<SignedHeaders, SignError> {
        let value = self
            .values
            .first()
            .ok_or(SignError::NoSecret(self.provider))?;
        Ok(vec![(
            self.header.clone(),
            String::from_utf8_lossy(value.expose_secret()).into_owned(),
        )])
    }
}

/// Compares `given` with every expected value, all of them, in constant time.
pub(crate) fn matches_any(expected: &[SecretSlice<u8>], given: &[u8]) -> Result<(), VerifyError> {
    let mut matched = false;
    for value in expected {
        matched |= credential_eq(value.expose_secret(), given);
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::Mismatch {
            tried: expected.len(),
        })
    }
}

/// Decodes `Basic <base64>` into its `user:password` bytes.
pub(crate) fn basic_credentials(value: &str) -> Option<Vec<u8>> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
}

/// A header value as text for a missing-credential error.
pub(crate) fn present<'a>(req: &'a Inbound<'_>, name: &HeaderName) -> Result<&'a str, VerifyError> {
    header(req.headers, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode() {
        assert_eq!(
            basic_credentials("Basic dXNlcjpwdw==").as_deref(),
            Some(&b"user:pw"[..])
        );
        assert_eq!(basic_credentials("Bearer dXNlcjpwdw=="), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }
}
