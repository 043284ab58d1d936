//! What the signature fuzz targets know about providers: which presets each target drives (its
//! family), and what a provider could really send, so the "what `hookwall send` signs, the
//! gateway accepts" oracle is asked only of such requests. Compiled only for the fuzz targets
//! and the tests (`feature = "fuzzing"`); the targets themselves are `pipeline::fuzz`, since
//! they verify through the pipeline's own check.

use serde_json::Value;

/// The families, as the registry lists them (each provider's description names its own, so a
/// new provider is fuzzed without an edit here).
pub use super::{
    CREDENTIAL_PROVIDERS as CREDENTIALS, HMAC_HEADER_PROVIDERS as HMAC_HEADERS,
    PUBLIC_KEY_PROVIDERS as PUBLIC_KEYS, SIGNATURE_LIST_PROVIDERS as SIGNATURE_LISTS,
    URL_AND_BODY_PROVIDERS as URLS_AND_BODIES,
};

/// Every family, in the order of the targets.
pub const FAMILIES: [&[&str]; 5] = [
    SIGNATURE_LISTS,
    HMAC_HEADERS,
    URLS_AND_BODIES,
    PUBLIC_KEYS,
    CREDENTIALS,
];

/// Whether `provider` could send `body`: JSON or a form, and for Mailgun (which signs inside
/// the body) a JSON object, or a form without the signature fields.
pub fn sendable_body(provider: &str, body: &[u8]) -> bool {
    let json = serde_json::from_slice::<Value>(body).ok();
    let form = || serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).ok();
    match provider {
        "mailgun" => match json {
            Some(value) => value.is_object(),
            None => form().is_some_and(|pairs| {
                pairs
                    .iter()
                    .all(|(k, _)| !matches!(k.as_str(), "timestamp" | "token" | "signature"))
            }),
        },
        _ => json.is_some() || form().is_some(),
    }
}

/// When `provider` signs a request whose body is `body`, given the clock `now` (unix seconds):
/// `now`, except for Linear, whose freshness comes from the body's `webhookTimestamp` (ms),
/// which its sender writes when it signs (as `hookwall send` does); `None` when Linear's body
/// has none.
pub fn signing_time(provider: &str, body: &[u8], now: i64) -> Option<i64> {
    match provider {
        "linear" => serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|b| b.get("webhookTimestamp")?.as_i64())
            .map(|ms| ms.div_euclid(1000)),
        _ => Some(now),
    }
}
