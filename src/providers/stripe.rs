//! Stripe: `Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, ts + "." + body)>[,v1=…]`.
//!
//! The key is the endpoint's whole signing secret string, `whsec_` included (Stripe does not
//! decode it). During a secret roll Stripe sends one `v1` per active secret: any match passes.
//! `v0` entries (test-mode legacy) are ignored. Tolerance 300 s, as in Stripe's SDKs.
//!
//! Paddle Billing signs the same way with other punctuation (`ts=…;h1=…`, `"ts:body"`); the
//! scheme here is parameterised by a [`Format`] and [`super::paddle`] supplies Paddle's.

use std::time::Duration;

use http::HeaderName;
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use super::{
    Algorithm, Inbound, MAX_SIGNATURES, Overrides, PresetError, SignError, VerifyError, any_match,
    check_fresh, header, header_name, keys, mac, parse_timestamp,
};

pub const SIGNATURE_HEADER: &str = "stripe-signature";
pub const TOLERANCE: Duration = Duration::from_secs(300);

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

pub const STRIPE: Format = Format {
    provider: "stripe",
    header: SIGNATURE_HEADER,
    separator: ',',
    timestamp_key: "t",
    signature_key: "v1",
    joiner: b".",
    tolerance: TOLERANCE,
};

pub struct Stripe {
    format: Format,
    header: HeaderName,
    keys: Vec<SecretSlice<u8>>,
    tolerance: Duration,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("keys", &self.keys.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

/// The parts of a `Stripe-Signature` header that matter.
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

impl Stripe {
    pub fn build(
        format: Format,
        secrets: &[SecretString],
        o: &Overrides,
    ) -> Result<Stripe, PresetError> {
        let header = match &o.signature_header {
            Some(name) => header_name("signature_header", name)?,
            None => HeaderName::from_static(format.header),
        };
        Ok(Stripe {
            format,
            header,
            keys: keys(format.provider, secrets)?,
            tolerance: o.timestamp_tolerance.unwrap_or(format.tolerance),
        })
    }

    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    pub fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
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

    pub fn sign(&self, body: &[u8], now: i64) -> Result<Vec<(HeaderName, String)>, SignError> {
        let f = &self.format;
        let key = self.keys.first().ok_or(SignError::NoSecret(f.provider))?;
        let ts = now.to_string();
        let tag = mac(
            Algorithm::Sha256,
            key.expose_secret(),
            &[ts.as_bytes(), f.joiner, body],
        );
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

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::*;
    use crate::providers::vectors::load;
    use crate::providers::{Inbound, Preset};

    fn build(secrets: &[&str]) -> Preset {
        let secrets: Vec<SecretString> = secrets
            .iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect();
        Preset::build("stripe", &secrets, &[], &Overrides::default()).expect("builds")
    }

    fn verify(
        preset: &Preset,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(), VerifyError> {
        preset.verify(&Inbound {
            headers,
            body,
            url: None,
            now,
        })
    }

    #[test]
    fn every_stripe_vector_gives_its_expected_verdict() {
        for v in load("stripe") {
            let result = verify(&build(&[&v.secret]), &v.headers, &v.body, v.verify_at);
            if v.valid {
                assert_eq!(result, Ok(()), "{}", v.name);
            } else {
                assert!(
                    matches!(result, Err(VerifyError::Stale { .. })),
                    "{}: {result:?}",
                    v.name
                );
            }
        }
    }

    #[test]
    fn accepts_a_stripe_header_with_two_v1_signatures_during_a_roll() {
        let v = load("stripe")
            .into_iter()
            .find(|v| v.name.contains("roll"))
            .expect("roll vector");
        let header = v
            .headers
            .get("stripe-signature")
            .expect("header")
            .to_str()
            .expect("ascii");
        assert_eq!(parse_header(&STRIPE, header).expect("parses").v1.len(), 2);
        assert_eq!(
            verify(&build(&[&v.secret]), &v.headers, &v.body, v.verify_at),
            Ok(())
        );
    }

    #[test]
    fn the_whole_whsec_string_is_the_key() {
        let v = load("stripe").remove(0);
        let stripped = v.secret.trim_start_matches("whsec_");
        assert!(verify(&build(&[stripped]), &v.headers, &v.body, v.verify_at).is_err());
    }

    #[test]
    fn negatives_are_refused() {
        let v = load("stripe").remove(0);
        let preset = build(&[&v.secret]);
        let mut body = v.body.clone();
        body[2] ^= 1;
        assert!(matches!(
            verify(&preset, &v.headers, &body, v.verify_at),
            Err(VerifyError::Mismatch { .. })
        ));
        assert!(verify(&build(&["whsec_other"]), &v.headers, &v.body, v.verify_at).is_err());
        assert_eq!(
            verify(
                &build(&["whsec_other", &v.secret]),
                &v.headers,
                &v.body,
                v.verify_at
            ),
            Ok(())
        );
        assert!(matches!(
            verify(&preset, &HeaderMap::new(), &v.body, v.verify_at),
            Err(VerifyError::Missing(_))
        ));
        assert!(matches!(
            verify(&preset, &v.headers, &v.body, v.verify_at - 301),
            Err(VerifyError::Stale { .. })
        ));
        for bad in [
            "garbage",
            "t=,v1=",
            "t=NaN,v1=00",
            "v1=00",
            "t=1700000000",
            "t=-1,v1=00",
            "t=1e9,v1=00",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(SIGNATURE_HEADER, HeaderValue::from_static(bad));
            assert!(
                verify(&preset, &headers, &v.body, v.verify_at).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_header_with_thousands_of_entries_is_cheap_and_refused() {
        let v = load("stripe").remove(0);
        let flood = format!("t={},{}", v.verify_at, vec!["v1=00"; 5000].join(","));
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(&flood).expect("ascii"),
        );
        assert!(parse_header(&STRIPE, &flood).expect("parses").v1.len() <= MAX_SIGNATURES * 2);
        assert!(verify(&build(&[&v.secret]), &headers, &v.body, v.verify_at).is_err());
    }

    #[test]
    fn the_body_id_is_the_event_id() {
        assert_eq!(
            build(&["s"])
                .event_id(&HeaderMap::new(), Some(&json!({"id": "evt_1"})))
                .as_deref(),
            Some("evt_1")
        );
    }

    #[test]
    fn sign_then_verify_round_trips() {
        let preset = build(&["whsec_round"]);
        let mut headers = HeaderMap::new();
        for (name, value) in preset.sign(b"{}", 1_800_000_000, "x").expect("signs") {
            headers.insert(name, HeaderValue::from_str(&value).expect("ascii"));
        }
        assert_eq!(verify(&preset, &headers, b"{}", 1_800_000_000), Ok(()));
    }
}
