//! Twilio: `X-Twilio-Signature: base64 HMAC-SHA1(auth token, URL + sorted form params)`.
//!
//! - Form posts: the URL, then every parameter sorted by name (values of one name sorted too),
//!   each as name + value, no separators.
//! - JSON bodies: the URL carries `bodySHA256=<hex SHA-256(body)>`; the signature is over the
//!   URL alone and the body must hash to that value.
//! - With `X-Twilio-Webhooks-Signature-Settings: …algorithm=HMAC_SHA256`, the same payload is
//!   signed with HMAC-SHA256 under a shared key (a secret of this source).
//!
//! The URL is the one Twilio was told to call (`public_url`, required): behind Traefik the gateway
//! never sees the scheme and host Twilio used. The request's query string is appended when
//! `public_url` has none. Like Twilio's SDKs, the URL is also tried with the default port
//! added or removed. Nothing signed carries a time; `I-Twilio-Idempotency-Token` is the id.

use base64::Engine;
use http::HeaderName;
use secrecy::{SecretSlice, SecretString};
use sha2::{Digest, Sha256};

use super::contract::{
    Algorithm, Inbound, Outbound, Overrides, PresetError, Scheme, SignError, SignedHeaders,
    VerifyError,
};
use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::primitives::{any_match, first_key, header, keys, mac};

pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
pub const SETTINGS_HEADER: &str = "x-twilio-webhooks-signature-settings";
pub const ID_HEADER: &str = "i-twilio-idempotency-token";

pub const PROVIDER: Provider = Provider {
    name: "twilio",
    keys: Keys::Secrets,
    bodies: Bodies::JSON_OR_FORM,
    id: IdRule::headers(&[ID_HEADER]),
    event_type: EventTypeRule::None,
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(Twilio::build(secrets, o)?)),
    families: &[Family::UrlAndBody],
};

pub struct Twilio {
    keys: Vec<SecretSlice<u8>>,
    url: String,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("keys", &self.keys.len())
            .field("url", &self.url)
            .finish()
    }
}

impl Twilio {
    pub fn build(secrets: &[SecretString], o: &Overrides) -> Result<Twilio, PresetError> {
        let url = o.public_url.clone().ok_or(PresetError::Required {
            key: "public_url",
            provider: "twilio",
        })?;
        Ok(Twilio {
            keys: keys("twilio", secrets)?,
            url,
        })
    }
}

impl Scheme for Twilio {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let given = base64::engine::general_purpose::STANDARD
            .decode(header(req.headers, &HeaderName::from_static(SIGNATURE_HEADER))?.trim())
            .map_err(|_| VerifyError::Malformed("x-twilio-signature"))?;
        let algorithm = match req
            .headers
            .get(SETTINGS_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            Some(settings) if settings.contains("algorithm=HMAC_SHA256") => Algorithm::Sha256,
            _ => Algorithm::Sha1,
        };
        let url = req.url.unwrap_or(&self.url);
        let body_hash = query_value(url, "bodySHA256");
        let params = match body_hash {
            Some(expected) => {
                // JSON: the body is bound through its hash in the signed URL.
                let actual = hex::encode(Sha256::digest(req.body));
                if !bool::from(subtle::ConstantTimeEq::ct_eq(
                    actual.as_bytes(),
                    expected.to_ascii_lowercase().as_bytes(),
                )) {
                    return Err(VerifyError::Mismatch {
                        tried: self.keys.len(),
                    });
                }
                String::new()
            }
            None => sorted_params(req.body)?,
        };
        let candidates = [given];
        let mut last = Err(VerifyError::Mismatch {
            tried: self.keys.len(),
        });
        for variant in url_variants(url) {
            let payload = [variant.as_bytes(), params.as_bytes()];
            last = any_match(&self.keys, &candidates, |key| mac(algorithm, key, &payload));
            if last.is_ok() {
                break;
            }
        }
        last
    }

    /// The signature header and, for a JSON body, the `bodySHA256=…` query Twilio adds to the
    /// URL (the signature then covers the URL with that query).
    fn sign_request(&self, body: Vec<u8>, _: i64, _: &str) -> Result<Outbound, SignError> {
        let key = first_key(&self.keys, "twilio")?;
        let json = serde_json::from_slice::<serde_json::Value>(&body).is_ok();
        let (signed_url, params, query) = if json {
            let query = format!("bodySHA256={}", hex::encode(Sha256::digest(&body)));
            let joiner = if self.url.contains('?') { '&' } else { '?' };
            (
                format!("{}{joiner}{query}", self.url),
                String::new(),
                Some(query),
            )
        } else {
            (
                self.url.clone(),
                sorted_params(&body).unwrap_or_default(),
                None,
            )
        };
        let tag = mac(
            Algorithm::Sha1,
            key,
            &[signed_url.as_bytes(), params.as_bytes()],
        );
        Ok(Outbound {
            headers: vec![(
                HeaderName::from_static(SIGNATURE_HEADER),
                base64::engine::general_purpose::STANDARD.encode(tag),
            )],
            body,
            query,
        })
    }

    fn sign(&self, body: &[u8], _: i64, _: &str) -> Result<SignedHeaders, SignError> {
        let key = first_key(&self.keys, "twilio")?;
        let params = sorted_params(body).unwrap_or_default();
        let tag = mac(
            Algorithm::Sha1,
            key,
            &[self.url.as_bytes(), params.as_bytes()],
        );
        Ok(vec![(
            HeaderName::from_static(SIGNATURE_HEADER),
            base64::engine::general_purpose::STANDARD.encode(tag),
        )])
    }
}

/// The form parameters as Twilio signs them: sorted by name, then value, concatenated.
fn sorted_params(body: &[u8]) -> Result<String, VerifyError> {
    let mut params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|_| VerifyError::Malformed("form body"))?;
    params.sort();
    Ok(params.into_iter().map(|(k, v)| k + &v).collect())
}

fn query_value(url: &str, name: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The URL as given, without its default port, and with it (Twilio's SDKs accept either).
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    if let Ok(parsed) = url::Url::parse(url) {
        let default = match parsed.scheme() {
            "https" => Some(443),
            "http" => Some(80),
            _ => None,
        };
        // `Url` prints without a default port.
        let without = parsed.to_string();
        let explicit = parsed.port().is_some();
        let with = default
            .zip(parsed.host_str())
            .filter(|_| !explicit)
            .map(|(port, host)| {
                without.replacen(&format!("://{host}"), &format!("://{host}:{port}"), 1)
            });
        for variant in std::iter::once(without).chain(with) {
            if !variants.contains(&variant) {
                variants.push(variant);
            }
        }
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_sorted_by_name_then_value() {
        assert_eq!(
            sorted_params(b"b=2&a=9&a=1&c=%2B1").expect("form"),
            "a1a9b2c+1"
        );
    }

    #[test]
    fn the_default_port_is_tried_both_ways() {
        assert_eq!(
            url_variants("https://example.com/hook?x=1"),
            vec![
                "https://example.com/hook?x=1",
                "https://example.com:443/hook?x=1"
            ]
        );
        assert_eq!(
            url_variants("https://example.com:443/hook"),
            vec!["https://example.com:443/hook", "https://example.com/hook"]
        );
    }

    #[test]
    fn a_public_url_is_required() {
        let secrets = [SecretString::from("token".to_owned())];
        assert!(matches!(
            Twilio::build(&secrets, &Overrides::default()),
            Err(PresetError::Required {
                key: "public_url",
                ..
            })
        ));
    }
}
