//! The SDK-made vectors of `../shared/vectors/providers.json` for the unit tests of every
//! provider file, the conformance table and the fuzz seeds' tests: the one loader
//! (`tests/support/vectors.rs`, shared with the black-box tests), with the headers made into a
//! `HeaderMap` as a preset reads them.

use http::{HeaderMap, HeaderName, HeaderValue};

#[path = "../../tests/support/vectors.rs"]
mod file;

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

/// Every case of `provider`, valid and invalid; panics when there is none.
pub fn load(provider: &str) -> Vec<Vector> {
    file::load(provider)
        .into_iter()
        .map(|v| {
            let mut headers = HeaderMap::new();
            for (name, value) in &v.headers {
                headers.append(
                    HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                    HeaderValue::from_str(value).expect("header value"),
                );
            }
            if let Some(content_type) = &v.content_type {
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_str(content_type).expect("content type"),
                );
            }
            Vector {
                name: v.name,
                secret: v.secret,
                headers,
                body: v.body,
                verify_at: v.verify_at,
                valid: v.valid,
                expect: v.expect,
                url: v.url,
                public_key: v.public_key,
            }
        })
        .collect()
}
