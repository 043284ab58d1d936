//! The "timestamp plus list of signatures" scheme of Stripe and Paddle Billing:
//! `t=<ts>,v1=<hex HMAC-SHA256(secret, ts + "." + body)>[,v1=…]` in Stripe's punctuation,
//! `ts=<ts>;h1=<hex HMAC-SHA256(secret, ts + ":" + body)>` in Paddle's.
//!
//! The key is the whole secret string as written (neither provider decodes it). During a roll
//! the provider sends one signature per active secret: any match passes; entries of other
//! schemes (Stripe's test-mode `v0`) are skipped. A provider file supplies its [`Format`]; this
//! file knows no provider.

use std::time::Duration;

use http::HeaderName;
use secrecy::{SecretSlice, SecretString};

use crate::providers::contract::{
    Algorithm, Inbound, MAX_SIGNATURES, Overrides, PresetError, Scheme, SignError, SignedHeaders,
    VerifyError,
};
use crate::providers::primitives::{
    any_match, check_fresh, first_key, header, header_name, keys, mac, parse_timestamp,
};

/// The punctuation of a "timestamp plus list of signatures" header.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    pub provider: &'static str,
    pub header: &'static str,
    /// Between items: `,` (Stripe), `;` (Paddle).
    pub separator: char,
    pub timestamp_key: &'static str,
    pub signature_key: &'static str,
    /// Between timestamp and body in the signed payload.
    pub joiner: &'static [u8],
    pub tolerance: Duration,
}

pub struct StripeLike {
    format: Format,
    header: HeaderName,
    keys: Vec<SecretSlice<u8>>,
    tolerance: Duration,
}

impl std::fmt::Debug for StripeLike {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("keys", &self.keys.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

/// The parts of a signature header that matter.
#[derive(Debug, PartialEq, Eq)]
pub struct Header<'a> {
    pub timestamp: &'a str,
    pub v1: Vec<Vec<u8>>,
}

/// Parses `t=…,v1=…,v1=…` (in `format`'s punctuation); unknown schemes are skipped, at most
/// [`MAX_SIGNATURES`] are read.
pub fn parse_header<'a>(format: &Format, value: &'a str) -> Result<Header<'a>, VerifyError> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for item in value.split(format.separator).take(MAX_SIGNATURES * 2) {
        let Some((key, val)) = item.trim().split_once('=') else {
            continue;
        };
        if key == format.timestamp_key && timestamp.is_none() {
            timestamp = Some(val);
        } else if key == format.signature_key {
            v1.extend(hex::decode(val).ok());
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed("signature header (no timestamp)"))?;
    if v1.is_empty() {
        return Err(VerifyError::Malformed("signature header (no signature)"));
    }
    Ok(Header { timestamp, v1 })
}

impl StripeLike {
    pub fn build(
        format: Format,
        secrets: &[SecretString],
        o: &Overrides,
    ) -> Result<StripeLike, PresetError> {
        let header = match &o.signature_header {
            Some(name) => header_name("signature_header", name)?,
            None => HeaderName::from_static(format.header),
        };
        Ok(StripeLike {
            format,
            header,
            keys: keys(format.provider, secrets)?,
            tolerance: o.timestamp_tolerance.unwrap_or(format.tolerance),
        })
    }
}

impl Scheme for StripeLike {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let parsed = parse_header(&self.format, header(req.headers, &self.header)?)?;
        let timestamp = parse_timestamp(parsed.timestamp)?;
        // The signature is checked first so an attacker learns nothing from "stale" vs "wrong".
        any_match(&self.keys, &parsed.v1, |key| {
            mac(
                Algorithm::Sha256,
                key,
                &[parsed.timestamp.as_bytes(), self.format.joiner, req.body],
            )
        })?;
        check_fresh(timestamp, req.now, self.tolerance)
    }

    fn tolerance(&self) -> Option<Duration> {
        Some(self.tolerance)
    }

    fn signs_timestamp(&self) -> bool {
        true
    }

    fn sign(&self, body: &[u8], now: i64, _id: &str) -> Result<SignedHeaders, SignError> {
        let f = &self.format;
        let key = first_key(&self.keys, f.provider)?;
        let ts = now.to_string();
        let tag = mac(Algorithm::Sha256, key, &[ts.as_bytes(), f.joiner, body]);
        Ok(vec![(
            self.header.clone(),
            format!(
                "{}={ts}{}{}={}",
                f.timestamp_key,
                f.separator,
                f.signature_key,
                hex::encode(tag)
            ),
        )])
    }
}
