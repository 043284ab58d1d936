//! The SDK-made vectors of `../shared/vectors/providers.json`, the one loader of them for
//! the unit tests of every provider file, the conformance table and the fuzz seeds' tests.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

pub struct Vector {
    pub name: String,
    pub secret: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub verify_at: i64,
    pub valid: bool,
    /// The SDK's verdict: `valid`, or why not (`stale`).
    pub expect: String,
    /// The public URL the provider called (schemes that sign it).
    pub url: Option<String>,
    /// Public-key schemes' key (Discord hex, SendGrid base64 DER).
    pub public_key: Option<String>,
}

pub fn load(provider: &str) -> Vec<Vector> {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/vectors/providers.json"
    ));
    let all: Value = serde_json::from_str(text).expect("vectors are JSON");
    let cases: Vec<Vector> = all["vectors"]
        .as_array()
        .expect("a list of vectors")
        .iter()
        .filter(|v| v["provider"] == provider)
        .map(|v| {
            let mut headers = HeaderMap::new();
            for (name, value) in v["headers"].as_object().expect("headers") {
                headers.append(
                    HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                    HeaderValue::from_str(value.as_str().expect("string")).expect("header value"),
                );
            }
            if let Some(ct) = v["content_type"].as_str() {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_str(ct).expect("ct"),
                );
            }
            let body = match v["body_base64"].as_str() {
                Some(b64) => {
                    use base64::Engine;
                    base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .expect("base64")
                }
                None => v["body"].as_str().expect("body").as_bytes().to_vec(),
            };
            Vector {
                name: v["name"].as_str().expect("name").to_owned(),
                secret: v["secret"].as_str().unwrap_or_default().to_owned(),
                public_key: v["public_key"].as_str().map(str::to_owned),
                headers,
                body,
                verify_at: v["verify_at"].as_i64().unwrap_or(0),
                valid: v["expect"] == "valid",
                expect: v["expect"].as_str().unwrap_or_default().to_owned(),
                url: v["url"].as_str().map(str::to_owned),
            }
        })
        .collect();
    assert!(!cases.is_empty(), "no vectors for {provider}");
    cases
}
