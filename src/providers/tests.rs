//! Tests of the registry and of [`Preset`] across providers; each provider's own tests are in
//! its file, and the vector conformance of all of them in `conformance.rs`.

use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;

use super::*;

#[test]
fn the_registry_lists_every_provider_once_in_the_known_order() {
    assert_eq!(
        KNOWN,
        [
            "standard-webhooks",
            "svix",
            "github",
            "stripe",
            "slack",
            "shopify",
            "particle",
            "brightdata",
            "bitbucket",
            "gitlab",
            "intercom",
            "linear",
            "mailgun",
            "paddle",
            "typeform",
            "square",
            "twilio",
            "zoom",
            "discord",
            "sendgrid",
            "hmac",
            "token",
            "none",
        ]
    );
    for name in KNOWN {
        assert_eq!(find(name).map(|p| p.name), Some(*name));
    }
    assert!(find("githib").is_none());
}

#[test]
fn every_header_name_in_a_description_is_a_valid_lowercase_name() {
    // `HeaderName::from_static` (used when a description is applied) panics on anything else.
    for provider in all() {
        let event_type_header = match provider.event_type {
            EventTypeRule::Header(name) => Some(name),
            EventTypeRule::None | EventTypeRule::Pointers(_) => None,
        };
        for name in provider.id.headers.iter().chain(&event_type_header) {
            assert!(
                HeaderName::from_bytes(name.as_bytes()).is_ok_and(|h| h.as_str() == *name),
                "{}: {name}",
                provider.name
            );
        }
    }
}

#[test]
fn every_event_type_pointer_in_a_description_is_an_rfc_6901_pointer() {
    for provider in all() {
        if let EventTypeRule::Pointers(pointers) = provider.event_type {
            assert!(!pointers.is_empty(), "{}", provider.name);
            for pointer in pointers {
                assert!(pointer.starts_with('/'), "{}: {pointer}", provider.name);
                assert!(!pointer.contains('~'), "{}: {pointer}", provider.name);
            }
        }
    }
}

#[test]
fn the_registry_says_which_providers_take_public_keys() {
    // As config/validate.rs listed them: secrets or public keys, public keys only, nothing.
    let public: Vec<&str> = all()
        .filter(|p| p.takes_public_keys())
        .map(|p| p.name)
        .collect();
    assert_eq!(public, ["standard-webhooks", "svix", "discord", "sendgrid"]);
    let no_secrets: Vec<&str> = all()
        .filter(|p| !p.takes_secrets())
        .map(|p| p.name)
        .collect();
    assert_eq!(no_secrets, ["discord", "sendgrid", "none"]);
}

#[test]
fn the_fuzz_families_hold_the_providers_of_the_fuzz_targets() {
    let sorted = |family: Family| {
        let mut names = super::family(family);
        names.sort_unstable();
        names
    };
    assert_eq!(
        sorted(Family::SignatureList),
        ["paddle", "standard-webhooks", "stripe", "svix"]
    );
    assert_eq!(
        sorted(Family::HmacHeader),
        [
            "bitbucket",
            "github",
            "hmac",
            "intercom",
            "linear",
            "shopify",
            "slack",
            "square",
            "typeform",
            "zoom"
        ]
    );
    assert_eq!(sorted(Family::UrlAndBody), ["mailgun", "twilio"]);
    assert_eq!(
        sorted(Family::PublicKey),
        ["discord", "sendgrid", "standard-webhooks"]
    );
    assert_eq!(
        sorted(Family::Credential),
        ["brightdata", "gitlab", "none", "particle", "token"]
    );
    for (constant, of) in [
        (SIGNATURE_LIST_PROVIDERS, Family::SignatureList),
        (HMAC_HEADER_PROVIDERS, Family::HmacHeader),
        (URL_AND_BODY_PROVIDERS, Family::UrlAndBody),
        (PUBLIC_KEY_PROVIDERS, Family::PublicKey),
        (CREDENTIAL_PROVIDERS, Family::Credential),
    ] {
        assert_eq!(constant, super::family(of), "{of:?}");
    }
}

#[test]
fn unknown_providers_are_refused_with_the_known_list() {
    let err = Preset::build(
        "githib",
        &[SecretString::from("s")],
        &[],
        &Overrides::default(),
    )
    .expect_err("unknown");
    assert!(err.to_string().contains("github"), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "unknown provider \"githib\"; known providers: {}",
            KNOWN.join(", ")
        )
    );
}

#[test]
fn body_kinds_follow_the_provider() {
    let github = Preset::build(
        "github",
        &[SecretString::from("s")],
        &[],
        &Overrides::default(),
    )
    .expect("builds");
    assert_eq!(
        github.body_kind(Some("application/json; charset=utf-8")),
        Some(BodyKind::Json)
    );
    assert_eq!(
        github.body_kind(Some("application/x-www-form-urlencoded")),
        Some(BodyKind::Form)
    );
    assert_eq!(github.body_kind(Some("text/csv")), None);
    assert_eq!(github.body_kind(None), None);
    let bd = Preset::build(
        "brightdata",
        &[SecretString::from("Bearer x")],
        &[],
        &Overrides::default(),
    )
    .expect("builds");
    assert_eq!(
        bd.body_kind(Some("application/x-ndjson")),
        Some(BodyKind::NdJson)
    );
    assert_eq!(bd.body_kind(Some("text/csv")), Some(BodyKind::Opaque));
    assert!(bd.sniffs_gzip());
}

#[test]
fn an_id_is_bound_only_where_the_requests_authentication_covers_it() {
    let secret = [SecretString::from("s".to_owned())];
    let build =
        |provider: &str, o: &Overrides| Preset::build(provider, &secret, &[], o).expect("builds");
    let mut headers = HeaderMap::new();
    headers.insert("x-github-delivery", HeaderValue::from_static("d-1"));
    headers.insert("x-id", HeaderValue::from_static("i-1"));
    let payload = serde_json::json!({"id": "evt_1"});
    let bound = |preset: &Preset| {
        let id = preset.event_id(&headers, Some(&payload)).expect("an id");
        (id.value, id.bound)
    };
    let id_header = |template: Option<&str>| Overrides {
        signature_header: Some("x-sig".into()),
        id_header: Some("x-id".into()),
        signed_payload: template.map(str::to_owned),
        ..Overrides::default()
    };
    let cases = [
        ("github", Overrides::default(), ("d-1", false)),
        ("stripe", Overrides::default(), ("evt_1", true)),
        ("hmac", id_header(None), ("i-1", false)),
        ("hmac", id_header(Some("{id}.{body}")), ("i-1", true)),
        ("token", id_header(None), ("i-1", true)),
    ];
    for (provider, overrides, (value, is_bound)) in cases {
        assert_eq!(
            bound(&build(provider, &overrides)),
            (value.to_owned(), is_bound),
            "{provider} {:?}",
            overrides.signed_payload
        );
    }
}

#[test]
fn debug_output_of_a_preset_hides_its_secrets() {
    let preset = Preset::build(
        "stripe",
        &[SecretString::from("whsec_do_not_print")],
        &[],
        &Overrides::default(),
    )
    .expect("builds");
    assert!(!format!("{preset:?}").contains("do_not_print"));
}
