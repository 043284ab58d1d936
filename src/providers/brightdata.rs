//! Bright Data: no signature. The `Authorization` header must equal the configured value
//! verbatim (the secret is the whole value, e.g. `Bearer abc`), compared in constant time.
//!
//! Deliveries are gzip-compressed unless the job set `uncompressed_webhook=true`, and the
//! header that would say so is not documented, so bodies starting `1f 8b` are inflated (see
//! [`crate::pipeline::body`]). Bodies are JSON (an array of records, or the notify call),
//! NDJSON or CSV, and can be large: give the source a larger `max_body_bytes`.

use secrecy::SecretString;

use super::token::Token;
use super::{Overrides, PresetError};

pub fn preset(secrets: &[SecretString], o: &Overrides) -> Result<Token, PresetError> {
    Token::build("brightdata", secrets, o)
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};
    use serde_json::json;

    use super::*;
    use crate::providers::vectors::load;
    use crate::providers::{Inbound, Preset, VerifyError};

    fn build(secrets: &[&str]) -> Preset {
        let secrets: Vec<SecretString> = secrets
            .iter()
            .map(|s| SecretString::from(s.to_string()))
            .collect();
        Preset::build("brightdata", &secrets, &[], &Overrides::default()).expect("builds")
    }

    fn verify(preset: &Preset, headers: &HeaderMap, body: &[u8]) -> Result<(), VerifyError> {
        preset.verify(&Inbound {
            headers,
            body,
            url: None,
            now: 0,
        })
    }

    #[test]
    fn every_brightdata_vector_is_authorized_including_the_gzip_delivery() {
        for v in load("brightdata") {
            assert_eq!(
                verify(&build(&[&v.secret]), &v.headers, &v.body),
                Ok(()),
                "{}",
                v.name
            );
        }
    }

    #[test]
    fn a_wrong_or_missing_authorization_is_refused_and_rotation_works() {
        let v = load("brightdata").remove(0);
        assert!(verify(&build(&["Bearer other"]), &v.headers, &v.body).is_err());
        assert_eq!(
            verify(&build(&["Bearer other", &v.secret]), &v.headers, &v.body),
            Ok(())
        );
        assert!(matches!(
            verify(&build(&[&v.secret]), &HeaderMap::new(), &v.body),
            Err(VerifyError::Missing(_))
        ));
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("bd_webhook_secret"),
        );
        assert!(
            verify(&build(&[&v.secret]), &headers, &v.body).is_err(),
            "the scheme word is part of the value"
        );
    }

    #[test]
    fn notify_calls_are_deduplicated_on_snapshot_id_and_gzip_is_sniffed() {
        let preset = build(&["Bearer x"]);
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
