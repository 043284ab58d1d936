//! What the signature fuzz targets know about providers: which presets each target drives (its
//! family), and what a provider could really send, so the "what `hookwall send` signs, the
//! gateway accepts" oracle is asked only of such requests. Compiled only for the fuzz targets
//! and the tests (`feature = "fuzzing"`); the targets themselves are `pipeline::fuzz`, since
//! they verify through the pipeline's own check.

use serde_json::Value;

// TODO(issue 21): derive these families from the providers registry once it exists (each
// preset's scheme says which family it belongs to), so a new provider is fuzzed without an
// edit here.

/// Timestamp-list schemes: a signed timestamp and several signatures in one header.
pub const SIGNATURE_LISTS: &[&str] = &["stripe", "paddle", "standard-webhooks", "svix"];
/// Schemes with one HMAC header (GitHub's family and the generic `hmac` with its overrides).
pub const HMAC_HEADERS: &[&str] = &[
    "github",
    "shopify",
    "slack",
    "bitbucket",
    "intercom",
    "typeform",
    "square",
    "zoom",
    "linear",
    "hmac",
];
/// Schemes that sign a URL and form parameters (Twilio) or carry the signature in the body
/// (Mailgun).
pub const URLS_AND_BODIES: &[&str] = &["twilio", "mailgun"];
/// Public-key schemes: Ed25519 (Discord, Standard Webhooks `v1a`) and ECDSA P-256 (SendGrid).
pub const PUBLIC_KEYS: &[&str] = &["discord", "sendgrid", "standard-webhooks"];
/// Credential comparisons: Basic/Bearer, a verbatim header, GitLab's token, no check at all.
pub const CREDENTIALS: &[&str] = &["particle", "brightdata", "token", "gitlab", "none"];

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
