//! Each source's verification preset, built while the config loads (a rule: pure, returns
//! what it finds).
//!
//! Building the preset is pure (no I/O, no clock), so doing it at load costs nothing and lets
//! every preset error (a Standard Webhooks key that is not base64, a key the preset requires or
//! does not use) be reported in the same run as the file's other errors, with its key and line.
//!
//! It also enforces one rule no single preset states: **a timestamp that is not signed is not
//! checked**. A freshness check on a header the signature does not cover proves nothing, since
//! whoever replays a captured request simply sends a new value. So a `timestamp_header` on a
//! preset that signs no time (GitHub, Shopify, Bitbucket, Twilio, Particle, tokens, …), or a
//! `signed_payload` without `{timestamp}` where a timestamp is read, is a configuration error
//! with the reason and the fix. Presets that sign their timestamp (Slack, Zoom, Stripe, Paddle,
//! Standard Webhooks, Discord, SendGrid, Linear, Mailgun) are unaffected.

use secrecy::SecretString;

use super::super::error::{Finding, Spot};
use crate::providers::{Overrides, Preset, PresetError};

/// Where a finding about a source's key goes: `Some(key)` names the key (`timestamp_header`),
/// `None` the source itself. The loader answers with the key's spot when the source wrote that
/// key, else the source's table.
pub(crate) type SpotOf<'a> = &'a dyn Fn(Option<&'static str>) -> Spot;

/// Builds `provider`'s preset with the source's material; says what is wrong with it, if
/// anything.
pub(crate) fn check(
    spot_of: SpotOf,
    provider: &str,
    secrets: &[String],
    public_keys: &[String],
    overrides: &Overrides,
) -> Option<Finding> {
    let secrets: Vec<SecretString> = secrets
        .iter()
        .map(|s| SecretString::from(s.as_str()))
        .collect();
    let preset = match Preset::build(provider, &secrets, public_keys, overrides) {
        Ok(preset) => preset,
        Err(err) => {
            let key = match &err {
                PresetError::BadValue { key, .. } | PresetError::NotApplicable { key, .. } => {
                    Some(*key)
                }
                PresetError::BadKey { index } => {
                    return Some(bad_key(spot_of, provider, &secrets, public_keys, *index));
                }
                _ => None,
            };
            return Some(Finding::invalid(&spot_of(key), err.to_string()));
        }
    };
    if preset.signs_timestamp() {
        return None;
    }
    if overrides.timestamp_header.is_some() {
        // Only the generic scheme lets the operator say what the sender signs.
        let fix = if provider == "hmac" {
            "if the sender signs the timestamp, say where with signed_payload (e.g. \
             \"{timestamp}.{body}\"), else remove timestamp_header"
        } else {
            "remove timestamp_header (against replays of a scheme that signs no time, see \
             `dedup` in docs/security.md)"
        };
        Some(Finding::invalid(
            &spot_of(Some("timestamp_header")),
            format!(
                "provider `{provider}` does not sign this timestamp, so a replayed request can \
                 carry a fresh one and checking it would prove nothing; {fix}"
            ),
        ))
    } else if preset.timestamp_tolerance().is_some() {
        // The preset reads a timestamp header of its own, and signed_payload left it out.
        Some(Finding::invalid(
            &spot_of(Some("signed_payload")),
            format!(
                "has no `{{timestamp}}`, but provider `{provider}` checks the freshness of its \
                 timestamp header: unsigned, a replayed request can carry a fresh one; put \
                 `{{timestamp}}` where the sender signs it, or remove signed_payload to use the \
                 preset's"
            ),
        ))
    } else {
        None
    }
}

/// A key that does not decode, at `secrets[i]` or `public_keys[i]`. Standard Webhooks takes
/// both and reports only the index: built again without the public keys, it tells which.
fn bad_key(
    spot_of: SpotOf,
    provider: &str,
    secrets: &[SecretString],
    public_keys: &[String],
    index: usize,
) -> Finding {
    let public = match provider {
        "discord" | "sendgrid" => true,
        _ => {
            !public_keys.is_empty()
                && !matches!(
                    Preset::build(provider, secrets, &[], &Overrides::default()),
                    Err(PresetError::BadKey { .. })
                )
        }
    };
    let (key, form) = if public {
        let form = match provider {
            "discord" => "64 hex digits (the application's PUBLIC KEY)",
            "sendgrid" => "the base64 verification key SendGrid shows",
            _ => "`whpk_` and the base64 of a 32-byte Ed25519 key",
        };
        ("public_keys", form)
    } else {
        (
            "secrets",
            "a Standard Webhooks key: optional `whsec_`, then base64",
        )
    };
    let message =
        format!("entry {index} is not a valid key for provider `{provider}`; write {form}");
    Finding::invalid(&spot_of(Some(key)), message)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn load(text: &str) -> Result<Config, String> {
        Config::from_str_with_env(text, Path::new("hookwall.toml"), &|_| None)
            .map_err(|errors| errors.to_string())
    }

    fn source(provider: &str, extra: &str) -> String {
        let material = match provider {
            // Discord: the Ed25519 base point in hex; SendGrid: a P-256 key (the vectors').
            "discord" => {
                "public_keys = [\"5866666666666666666666666666666666666666666666666666666666666666\"]"
            }
            "sendgrid" => {
                "public_keys = [\"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5Sx7NyKEEQwU2CGG5GE3GgK18MY56qFnqhQDOEBDx/Wsr7dLqpu/QFAHU8lE4R6c9la0/FMJkKP6rFXWePIx6w==\"]"
            }
            "stripe" | "paddle" | "standard-webhooks" => {
                "secrets = [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]"
            }
            "particle" => "secrets = [\"user:password\"]",
            _ => "secrets = [\"a-secret\"]",
        };
        let public_url = if provider == "twilio" || provider == "square" {
            "public_url = \"https://example.com/hooks/s\"\n"
        } else {
            ""
        };
        format!("[sources.s]\nprovider = \"{provider}\"\n{material}\n{public_url}{extra}\n")
    }

    #[test]
    fn a_timestamp_header_on_a_preset_that_signs_no_time_is_refused_with_the_reason() {
        for provider in [
            "github",
            "shopify",
            "bitbucket",
            "intercom",
            "typeform",
            "square",
            "particle",
            "brightdata",
            "token",
            "twilio",
            "gitlab",
        ] {
            let text = source(provider, "timestamp_header = \"x-sent-at\"");
            let errors = load(&text).expect_err(provider);
            assert!(
                errors.contains("sources.s.timestamp_header (line ")
                    && errors.contains("does not sign this timestamp")
                    && errors.contains("remove timestamp_header"),
                "{provider}: {errors}"
            );
        }
    }

    #[test]
    fn a_generic_hmac_timestamp_must_be_in_the_signed_payload() {
        let base = "signature_header = \"x-sig\"\ntimestamp_header = \"x-ts\"";
        let errors = load(&source("hmac", base)).expect_err("unsigned timestamp");
        assert!(errors.contains("signed_payload"), "{errors}");
        let signed = format!("{base}\nsigned_payload = \"{{timestamp}}.{{body}}\"");
        load(&source("hmac", &signed)).expect("a signed timestamp is checked");
    }

    #[test]
    fn a_signed_payload_that_drops_a_presets_own_timestamp_is_refused() {
        for provider in ["slack", "zoom"] {
            let errors =
                load(&source(provider, "signed_payload = \"{body}\"")).expect_err(provider);
            assert!(
                errors.contains("sources.s.signed_payload (line 4)")
                    && errors.contains("{timestamp}"),
                "{provider}: {errors}"
            );
        }
    }

    #[test]
    fn presets_that_sign_their_timestamp_keep_a_timestamp_header() {
        for provider in [
            "slack",
            "zoom",
            "standard-webhooks",
            "stripe",
            "paddle",
            "discord",
            "sendgrid",
            "linear",
            "mailgun",
        ] {
            load(&source(provider, "timestamp_header = \"x-sent-at\""))
                .unwrap_or_else(|errors| panic!("{provider}: {errors}"));
        }
    }

    #[test]
    fn a_preset_error_is_reported_at_load_with_its_key_and_line() {
        let text = "[sources.a]\nprovider = \"standard-webhooks\"\nsecrets = [\"whsec_!!!\"]\n\
                    [sources.b]\nprovider = \"token\"\nallow_ips = [\"10.0.0.0/40\"]\n\
                    secrets = [\"${UNSET_IN_THIS_TEST:-}\"]\n";
        let errors = load(text).expect_err("three errors");
        assert!(errors.contains("sources.a.secrets (line 3)"), "{errors}");
        assert!(
            errors.contains("sources.b.allow_ips[0] (line 6)"),
            "{errors}"
        );
        // A bad allow_ips no longer hides the source's empty secrets until the next run.
        assert!(errors.contains("sources.b.secrets (line 7)"), "{errors}");
    }

    #[test]
    fn a_whitespace_only_secret_is_an_error() {
        let errors = load(&source("github", "").replace("a-secret", "  \\t ")).expect_err("blank");
        assert!(
            errors.contains("sources.s.secrets[0] (line 3): is only whitespace"),
            "{errors}"
        );
        let text = "[server]\nadmin_token = \"   \"\n";
        assert!(
            load(text)
                .expect_err("blank token")
                .contains("only whitespace")
        );
    }
}
