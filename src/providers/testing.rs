//! Test helpers shared by the provider files' tests: building a preset from string secrets,
//! verifying a request at a time, and turning what a preset signs into a request's headers.

use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;

use super::{Inbound, Overrides, Preset, VerifyError};

pub fn secrets(list: &[&str]) -> Vec<SecretString> {
    list.iter()
        .map(|s| SecretString::from((*s).to_owned()))
        .collect()
}

/// `provider` with `secrets` and no overrides.
pub fn preset(provider: &str, secret_list: &[&str]) -> Preset {
    preset_with(provider, secret_list, &Overrides::default())
}

pub fn preset_with(provider: &str, secret_list: &[&str], o: &Overrides) -> Preset {
    Preset::build(provider, &secrets(secret_list), &[], o).expect("preset builds")
}

/// `provider` with `public_keys` and no secrets.
pub fn public_key_preset(provider: &str, keys: &[&str]) -> Preset {
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    Preset::build(provider, &[], &keys, &Overrides::default()).expect("preset builds")
}

/// The verdict on `headers` and `body` at `now` (no URL).
pub fn verify(
    preset: &Preset,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyError> {
    preset.verify(&Inbound {
        headers,
        body,
        url: None,
        now,
    })
}

/// Signed headers as a request carries them.
pub fn header_map(pairs: Vec<(HeaderName, String)>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.insert(name, HeaderValue::from_str(&value).expect("ascii"));
    }
    headers
}

/// The headers `preset` signs for `body` at `now` with event id `id`.
pub fn signed(preset: &Preset, body: &[u8], now: i64, id: &str) -> HeaderMap {
    header_map(preset.sign(body, now, id).expect("signs"))
}

/// The request verifies `tolerance` seconds after `signed_at`, and is refused as stale one
/// second beyond it, in either direction.
pub fn assert_fresh_for(
    preset: &Preset,
    headers: &HeaderMap,
    body: &[u8],
    signed_at: i64,
    tolerance: i64,
) {
    let at = |now| verify(preset, headers, body, now);
    assert_eq!(
        at(signed_at + tolerance),
        Ok(()),
        "at the edge of the tolerance"
    );
    for now in [signed_at + tolerance + 1, signed_at - tolerance - 1] {
        assert!(
            matches!(at(now), Err(VerifyError::Stale { .. })),
            "one second beyond the tolerance ({now})"
        );
    }
}
