//! The generic HMAC preset (`provider = "hmac"`): everything from the source's overrides,
//! `signature_header` required; the defaults are hex HMAC-SHA256 of the body, no prefix, no
//! time. The scheme itself is [`super::schemes::hmac`].

use std::time::Duration;

use secrecy::SecretString;

use super::contract::{Overrides, PresetError};
use super::description::{Bodies, EventTypeRule, Family, IdRule, Keys, Provider};
use super::schemes::hmac::{HmacScheme, HmacSpec};

pub const PROVIDER: Provider = Provider {
    name: "hmac",
    keys: Keys::Secrets,
    bodies: Bodies::JSON_FORM_OR_NDJSON,
    id: IdRule::NONE,
    event_type: EventTypeRule::None,
    sniffs_gzip: false,
    handshake: None,
    build: |secrets, _, o| Ok(Box::new(generic(secrets, o)?)),
    families: &[Family::HmacHeader],
};

/// The generic scheme: `signature_header` is required, everything else has a default.
pub fn generic(secrets: &[SecretString], o: &Overrides) -> Result<HmacScheme, PresetError> {
    if o.signature_header.is_none() {
        return Err(PresetError::Required {
            key: "signature_header",
            provider: "hmac",
        });
    }
    let spec = HmacSpec {
        // `timestamp_tolerance` when a source sets a timestamp header and no tolerance (SPEC).
        tolerance: Duration::from_secs(300),
        ..HmacSpec::BODY_SHA256_HEX
    };
    spec.build(secrets, o)
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::providers::contract::{Inbound, Scheme, VerifyError};
    use crate::providers::testing::{header_map, secrets};

    fn overrides(header: &str) -> Overrides {
        Overrides {
            signature_header: Some(header.to_owned()),
            ..Overrides::default()
        }
    }

    /// Found by the fuzzer's round-trip oracle: the header is split on commas and spaces before
    /// the prefix is stripped, so a prefix containing one could never match and the source
    /// refused every request. Such a prefix is now a configuration error.
    #[test]
    fn regression_hmac_prefix_with_a_comma_or_space_is_refused_at_load() {
        for prefix in ["v1, ", "sha256 =", "a,b"] {
            let o = Overrides {
                prefix: Some(prefix.into()),
                ..overrides("X-Sig")
            };
            assert!(
                matches!(
                    generic(&secrets(&["k"]), &o),
                    Err(PresetError::BadValue { key: "prefix", .. })
                ),
                "{prefix:?}"
            );
        }
        let o = Overrides {
            prefix: Some("sha256=".into()),
            ..overrides("X-Sig")
        };
        assert!(generic(&secrets(&["k"]), &o).is_ok());
    }

    #[test]
    fn a_template_naming_a_timestamp_requires_its_header() {
        let o = Overrides {
            signed_payload: Some("{timestamp}.{body}".into()),
            ..overrides("X-Sig")
        };
        assert!(matches!(
            generic(&secrets(&["k"]), &o),
            Err(PresetError::Required {
                key: "timestamp_header",
                ..
            })
        ));
    }

    #[test]
    fn the_generic_scheme_needs_a_signature_header() {
        assert!(matches!(
            generic(&secrets(&["k"]), &Overrides::default()),
            Err(PresetError::Required {
                key: "signature_header",
                ..
            })
        ));
    }

    #[test]
    fn a_timestamped_generic_scheme_round_trips_and_checks_freshness() {
        let o = Overrides {
            signed_payload: Some("{timestamp}.{id}.{body}".into()),
            timestamp_header: Some("X-Ts".into()),
            id_header: Some("X-Id".into()),
            algorithm: Some("sha512".into()),
            encoding: Some("base64".into()),
            prefix: Some("v1=".into()),
            ..overrides("X-Sig")
        };
        let scheme = generic(&secrets(&["k"]), &o).expect("builds");
        let mut headers = header_map(scheme.sign(b"{}", 1000, "evt-1").expect("signs"));
        let at = |headers: &HeaderMap, now| {
            scheme.verify(&Inbound {
                headers,
                body: b"{}",
                url: None,
                now,
            })
        };
        assert_eq!(at(&headers, 1000), Ok(()));
        assert!(matches!(at(&headers, 2000), Err(VerifyError::Stale { .. })));
        headers.insert("x-id", HeaderValue::from_static("evt-2"));
        assert!(matches!(
            at(&headers, 1000),
            Err(VerifyError::Mismatch { .. })
        ));
    }

    #[test]
    fn bad_algorithm_and_encoding_values_are_config_errors() {
        let o = Overrides {
            algorithm: Some("md5".into()),
            ..overrides("X-Sig")
        };
        assert!(generic(&secrets(&["k"]), &o).is_err());
        let o = Overrides {
            encoding: Some("base32".into()),
            ..overrides("X-Sig")
        };
        assert!(generic(&secrets(&["k"]), &o).is_err());
    }
}
