//! Bright Data: no signature. The `Authorization` header must equal the configured value
//! verbatim (the secret is the whole value, e.g. `Bearer abc`), compared in constant time.
//!
//! Deliveries are gzip-compressed unless the job set `uncompressed_webhook=true`, and the
//! header that would say so is not documented, so bodies starting `1f 8b` are inflated (see
//! [`crate::pipeline::body`]). Bodies are JSON (an array of records, or the notify call),
//! NDJSON or CSV, and can be large: give the source a larger `max_body_bytes`. A notify call's
//! `snapshot_id` is the event id.

use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::token::Token;

pub const PROVIDER: Provider = Provider {
    name: "brightdata",
    keys: Keys::Secrets,
    bodies: Bodies {
        json: true,
        form: false,
        ndjson: true,
        opaque: true,
    },
    id: IdRule::field("snapshot_id"),
    event_type: EventTypeRule::None,
    sniffs_gzip: true,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(Token::build("brightdata", secrets, o)?)),
    families: &[Family::Credential],
};

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use crate::providers::testing::{preset, verify};
    use crate::providers::vectors::load;

    #[test]
    fn the_scheme_word_is_part_of_the_credential() {
        let v = load("brightdata").remove(0);
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("bd_webhook_secret"),
        );
        assert!(
            verify(&preset("brightdata", &[&v.secret]), &headers, &v.body, 0).is_err(),
            "the scheme word is part of the value"
        );
    }

    #[test]
    fn notify_calls_are_deduplicated_on_snapshot_id_and_gzip_is_sniffed() {
        let preset = preset("brightdata", &["Bearer x"]);
        let payload = json!({"snapshot_id": "s_1", "status": "ready"});
        assert_eq!(
            preset
                .event_id(&HeaderMap::new(), Some(&payload))
                .as_deref(),
            Some("s_1")
        );
        assert_eq!(
            preset.event_id(&HeaderMap::new(), Some(&json!([{"url": "x"}]))),
            None
        );
        assert!(preset.sniffs_gzip());
        assert_eq!(preset.redacted_headers(), vec![http::header::AUTHORIZATION]);
    }
}
