//! The request headers as hookwall keeps them, with an event (`accept`) or a refusal
//! (`quarantine`): credentials redacted whatever the provider, the preset's credential headers
//! redacted too, hop-by-hop headers left out. One place, so both keep the same.

use http::HeaderMap;

use super::CompiledSource;

/// Headers that are credentials, redacted before anything is stored whatever the provider.
const ALWAYS_REDACTED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-gitlab-token",
];

/// Hop-by-hop and proxy-added headers, which say nothing about the event.
const NOT_KEPT: &[&str] = &[
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "content-length",
];

pub(crate) fn kept_headers(source: &CompiledSource, headers: &HeaderMap) -> Vec<(String, String)> {
    let redacted = source.preset.redacted_headers();
    headers
        .iter()
        .filter(|(name, _)| !NOT_KEPT.contains(&name.as_str()))
        .map(|(name, value)| {
            let secret = ALWAYS_REDACTED.contains(&name.as_str()) || redacted.contains(name);
            let value = if secret {
                "[redacted]".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_owned(), value)
        })
        .collect()
}
