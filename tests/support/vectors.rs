//! The provider test vectors of `../shared/vectors/providers.json`, made with each provider's own
//! SDK: the one loader, used by the black-box tests and (through a `#[path]` include) by the unit
//! tests of `src/providers`.
// Each test binary that includes this file uses a part of it.
#![allow(dead_code)]

use base64::Engine;
use serde_json::Value;

/// One case of the vectors file.
#[derive(Debug, Clone)]
pub struct Vector {
    pub name: String,
    pub secret: String,
    /// The headers as sent, in the file's order.
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The verifier's clock (unix seconds).
    pub verify_at: i64,
    /// Whether the provider's SDK says the request verifies.
    pub valid: bool,
    /// The SDK's verdict: `valid`, or why not (`stale`).
    pub expect: String,
    /// The public URL the provider called (schemes that sign it: Twilio, Square).
    pub url: Option<String>,
    /// Public-key schemes' key (Discord hex, SendGrid base64 DER).
    pub public_key: Option<String>,
}

impl Vector {
    /// The headers with the content type (`application/json` when the case names none).
    pub fn headers(&self) -> Vec<(&str, &str)> {
        let mut headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        headers.push((
            "content-type",
            self.content_type.as_deref().unwrap_or("application/json"),
        ));
        headers
    }
}

/// Every case of `provider`, valid and invalid; panics when there is none.
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
        .map(|v| Vector {
            name: v["name"].as_str().expect("name").to_owned(),
            secret: v["secret"].as_str().unwrap_or_default().to_owned(),
            headers: v["headers"]
                .as_object()
                .expect("headers")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("header value").to_owned()))
                .collect(),
            content_type: v["content_type"].as_str().map(str::to_owned),
            body: match v["body_base64"].as_str() {
                Some(b64) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("base64 body"),
                None => v["body"].as_str().expect("body").as_bytes().to_vec(),
            },
            verify_at: v["verify_at"].as_i64().unwrap_or(0),
            valid: v["expect"] == "valid",
            expect: v["expect"].as_str().unwrap_or_default().to_owned(),
            url: v["url"].as_str().map(str::to_owned),
            public_key: v["public_key"].as_str().map(str::to_owned),
        })
        .collect();
    assert!(!cases.is_empty(), "no vectors for {provider}");
    cases
}
