//! The HMAC scheme: `signature_header` carries `prefix` + encode(HMAC(key, signed_payload)),
//! where `signed_payload` is a template over `{body}`, `{timestamp}`, `{id}` and `{url}`. When a
//! `timestamp_header` is set, its value is signed (via `{timestamp}`) and must be fresh.
//!
//! GitHub, Shopify, Slack, Bitbucket, Intercom, Typeform, Square, Zoom, Linear and the generic
//! `hmac` preset are each a [`HmacSpec`] of it; a source's overrides replace any parameter. This
//! file knows no provider: provider files hand it their `HmacSpec`.

use std::time::Duration;

use base64::Engine;
use http::{HeaderMap, HeaderName};
use secrecy::{SecretSlice, SecretString};

use crate::providers::contract::{
    Algorithm, Inbound, MAX_SIGNATURES, Overrides, PresetError, Scheme, SignError, SignedHeaders,
    VerifyError,
};
use crate::providers::primitives::{
    any_match, check_fresh, first_key, header, header_name, keys, mac, parse_timestamp,
};

/// A provider's HMAC parameters, written as a `const` in its file.
#[derive(Debug, Clone, Copy)]
pub struct HmacSpec {
    /// Names the provider in configuration errors.
    pub provider: &'static str,
    /// Header names tried in order (Shopify has two spellings).
    pub signature_headers: &'static [&'static str],
    pub algorithm: Algorithm,
    pub encoding: Encoding,
    pub prefix: &'static str,
    /// A template over `{body}`, `{timestamp}`, `{id}` and `{url}`.
    pub signed_payload: &'static str,
    pub timestamp_header: Option<&'static str>,
    /// Read only when a timestamp header is set.
    pub tolerance: Duration,
}

impl HmacSpec {
    /// Hex HMAC-SHA256 of the body, no prefix, no time: the base most providers vary.
    pub const BODY_SHA256_HEX: HmacSpec = HmacSpec {
        provider: "hmac",
        signature_headers: &[],
        algorithm: Algorithm::Sha256,
        encoding: Encoding::Hex,
        prefix: "",
        signed_payload: "{body}",
        timestamp_header: None,
        tolerance: Duration::ZERO,
    };

    /// The verifier for a source's `secrets` and overrides. The header names are a provider
    /// file's lowercase constants, which `from_static` accepts (every provider's tests build it).
    pub fn build(
        &self,
        secrets: &[SecretString],
        o: &Overrides,
    ) -> Result<HmacScheme, PresetError> {
        let params = Params {
            signature_headers: self
                .signature_headers
                .iter()
                .map(|name| HeaderName::from_static(name))
                .collect(),
            algorithm: self.algorithm,
            encoding: self.encoding,
            prefix: self.prefix.to_owned(),
            signed_payload: Template::parse(self.signed_payload)?,
            timestamp_header: self.timestamp_header.map(HeaderName::from_static),
            id_header: None,
            tolerance: self.tolerance,
            url: None,
        };
        HmacScheme::new(self.provider, params, secrets, o)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Hex,
    Base64,
}

/// One piece of a `signed_payload` template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Body,
    Timestamp,
    Id,
    Url,
}

/// A parsed `signed_payload` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Part>);

impl Template {
    pub fn parse(text: &str) -> Result<Template, PresetError> {
        let bad = |fix| PresetError::BadValue {
            key: "signed_payload",
            value: text.to_owned(),
            fix,
        };
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| bad("close every `{` with `}`"))?
                + open;
            parts.push(match &rest[open + 1..close] {
                "body" => Part::Body,
                "timestamp" => Part::Timestamp,
                "id" => Part::Id,
                "url" => Part::Url,
                _ => return Err(bad("use only {body}, {timestamp}, {id} and {url}")),
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if !parts.contains(&Part::Body) {
            return Err(bad("the signed payload must include {body}"));
        }
        Ok(Template(parts))
    }

    fn uses(&self, part: &Part) -> bool {
        self.0.contains(part)
    }

    fn render<'a>(
        &'a self,
        body: &'a [u8],
        timestamp: &'a str,
        id: &'a str,
        url: &'a str,
    ) -> Vec<&'a [u8]> {
        self.0
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_bytes(),
                Part::Body => body,
                Part::Timestamp => timestamp.as_bytes(),
                Part::Id => id.as_bytes(),
                Part::Url => url.as_bytes(),
            })
            .collect()
    }
}

/// The parameters of an HMAC scheme, overrides applied.
#[derive(Debug, Clone)]
struct Params {
    /// Header names tried in order (Shopify has two spellings).
    signature_headers: Vec<HeaderName>,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: String,
    signed_payload: Template,
    timestamp_header: Option<HeaderName>,
    id_header: Option<HeaderName>,
    tolerance: Duration,
    url: Option<String>,
}

/// A ready HMAC verifier: parameters plus keys.
pub struct HmacScheme {
    params: Params,
    keys: Vec<SecretSlice<u8>>,
}

impl std::fmt::Debug for HmacScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HmacScheme")
            .field("params", &self.params)
            .field("keys", &self.keys.len())
            .finish()
    }
}

/// `timestamp_tolerance` when a source sets none (SPEC: 5 min).
const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

impl HmacScheme {
    /// A preset's parameters with the source's overrides applied.
    fn new(
        provider: &'static str,
        mut params: Params,
        secrets: &[SecretString],
        o: &Overrides,
    ) -> Result<HmacScheme, PresetError> {
        if let Some(header) = &o.signature_header {
            params.signature_headers = vec![header_name("signature_header", header)?];
        }
        if let Some(algorithm) = &o.algorithm {
            params.algorithm = parse_algorithm(algorithm)?;
        }
        if let Some(encoding) = &o.encoding {
            params.encoding = parse_encoding(encoding)?;
        }
        if let Some(prefix) = &o.prefix {
            // `verify` splits the header on these before stripping the prefix.
            if prefix.contains([',', ' ']) {
                return Err(PresetError::BadValue {
                    key: "prefix",
                    value: prefix.clone(),
                    fix: "leave out commas and spaces: they separate signatures in the header",
                });
            }
            params.prefix.clone_from(prefix);
        }
        if let Some(template) = &o.signed_payload {
            params.signed_payload = Template::parse(template)?;
        }
        if let Some(header) = &o.timestamp_header {
            // A preset that signs no time has no tolerance of its own (its zero is never read):
            // a source that adds a timestamp gets the SPEC's default unless it sets one, not a
            // zero that would refuse every request not signed in the same second.
            if params.timestamp_header.is_none() {
                params.tolerance = DEFAULT_TOLERANCE;
            }
            params.timestamp_header = Some(header_name("timestamp_header", header)?);
        }
        if let Some(header) = &o.id_header {
            params.id_header = Some(header_name("id_header", header)?);
        }
        if let Some(tolerance) = o.timestamp_tolerance {
            params.tolerance = tolerance;
        }
        if o.public_url.is_some() {
            params.url.clone_from(&o.public_url);
        }
        let needs = |part: Part, present: bool, key| {
            if params.signed_payload.uses(&part) && !present {
                Err(PresetError::Required { key, provider })
            } else {
                Ok(())
            }
        };
        needs(
            Part::Timestamp,
            params.timestamp_header.is_some(),
            "timestamp_header",
        )?;
        needs(Part::Id, params.id_header.is_some(), "id_header")?;
        needs(Part::Url, params.url.is_some(), "public_url")?;
        Ok(HmacScheme {
            keys: keys(provider, secrets)?,
            params,
        })
    }
}

fn first_header<'a>(headers: &'a HeaderMap, names: &[HeaderName]) -> Result<&'a str, VerifyError> {
    for name in names {
        if headers.contains_key(name) {
            return header(headers, name);
        }
    }
    Err(VerifyError::Missing(format!(
        "{} header",
        names.first().map_or("signature", HeaderName::as_str)
    )))
}

fn decode(encoding: Encoding, text: &str) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Hex => hex::decode(text.trim()).ok(),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok(),
    }
}

fn parse_algorithm(value: &str) -> Result<Algorithm, PresetError> {
    match value.to_ascii_lowercase().as_str() {
        "sha256" => Ok(Algorithm::Sha256),
        "sha512" => Ok(Algorithm::Sha512),
        "sha1" => Ok(Algorithm::Sha1),
        _ => Err(PresetError::BadValue {
            key: "algorithm",
            value: value.to_owned(),
            fix: "use sha256, sha512 or sha1",
        }),
    }
}

fn parse_encoding(value: &str) -> Result<Encoding, PresetError> {
    match value.to_ascii_lowercase().as_str() {
        "hex" => Ok(Encoding::Hex),
        "base64" => Ok(Encoding::Base64),
        _ => Err(PresetError::BadValue {
            key: "encoding",
            value: value.to_owned(),
            fix: "use hex or base64",
        }),
    }
}

impl Scheme for HmacScheme {
    fn verify(&self, req: &Inbound<'_>) -> Result<(), VerifyError> {
        let p = &self.params;
        let signature = first_header(req.headers, &p.signature_headers)?;
        // Parse the timestamp now but judge its freshness only after the signature: a
        // forged request learns nothing about the clock, and a stale genuine one is
        // reported as stale rather than as forged.
        let (timestamp, sent_at) = match &p.timestamp_header {
            Some(name) => {
                let text = header(req.headers, name)?;
                (text.trim(), Some(parse_timestamp(text)?))
            }
            None => ("", None),
        };
        let id = match &p.id_header {
            Some(name) if p.signed_payload.uses(&Part::Id) => header(req.headers, name)?,
            _ => "",
        };
        let url = p.url.as_deref().or(req.url).unwrap_or("");
        // Several signatures may be sent comma- or space-separated during a rotation.
        let candidates: Vec<Vec<u8>> = signature
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .take(MAX_SIGNATURES)
            .filter_map(|s| s.strip_prefix(p.prefix.as_str()))
            .filter_map(|s| decode(p.encoding, s))
            .collect();
        if candidates.is_empty() {
            return Err(VerifyError::Malformed("signature"));
        }
        let parts = p.signed_payload.render(req.body, timestamp, id, url);
        any_match(&self.keys, &candidates, |key| mac(p.algorithm, key, &parts))?;
        match sent_at {
            Some(sent_at) => check_fresh(sent_at, req.now, p.tolerance),
            None => Ok(()),
        }
    }

    fn tolerance(&self) -> Option<Duration> {
        self.params
            .timestamp_header
            .as_ref()
            .map(|_| self.params.tolerance)
    }

    /// Whether the signed payload covers the timestamp (a `{timestamp}` in the template).
    fn signs_timestamp(&self) -> bool {
        self.params.signed_payload.uses(&Part::Timestamp)
    }

    /// Only the id header this scheme signs (`{id}` in `signed_payload`): GitHub-like presets
    /// send an id header they do not sign.
    fn binds_id_header(&self, name: &HeaderName) -> bool {
        let p = &self.params;
        p.signed_payload.uses(&Part::Id) && p.id_header.as_ref() == Some(name)
    }

    fn sign(&self, body: &[u8], now: i64, id: &str) -> Result<SignedHeaders, SignError> {
        let p = &self.params;
        let key = first_key(&self.keys, "hmac")?;
        let timestamp = now.to_string();
        let parts = p
            .signed_payload
            .render(body, &timestamp, id, p.url.as_deref().unwrap_or(""));
        let tag = mac(p.algorithm, key, &parts);
        let encoded = match p.encoding {
            Encoding::Hex => hex::encode(tag),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(tag),
        };
        let mut headers = Vec::new();
        if let Some(name) = p.signature_headers.first() {
            headers.push((name.clone(), format!("{}{encoded}", p.prefix)));
        }
        if let Some(name) = &p.timestamp_header {
            headers.push((name.clone(), timestamp));
        }
        if let Some(name) = &p.id_header {
            headers.push((name.clone(), id.to_owned()));
        }
        Ok(headers)
    }

    /// Zoom's URL validation answer.
    fn mac_with_first_key(&self, message: &[u8]) -> Option<Vec<u8>> {
        let key = first_key(&self.keys, "hmac").ok()?;
        Some(mac(self.params.algorithm, key, &[message]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_placeholders_and_refuse_unknown_ones() {
        assert!(Template::parse("{timestamp}.{body}").is_ok());
        assert!(Template::parse("{body}{nope}").is_err());
        assert!(Template::parse("{body").is_err());
        assert!(
            Template::parse("{timestamp}").is_err(),
            "a template without the body signs nothing useful"
        );
    }
}
