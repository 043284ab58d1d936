//! Rules run alone, on typed values and the spots they point at, without a file or a reader.

use super::*;
use crate::config::error::{Finding, Spot};
use crate::config::rules::{self, Material, SourceKeys, preset};

fn spot(place: &str, start: usize) -> Spot {
    Spot::new(place, Some(start..start + 1))
}

fn material(place: &str, values: &[&str]) -> Material {
    Material {
        present: true,
        at: spot(place, 40),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        vars: Vec::new(),
    }
}

#[test]
fn a_provider_without_any_secret_is_refused_at_the_source_with_the_key_to_add() {
    let table = spot("sources.gh", 0);
    let findings = rules::key_material(&SourceKeys {
        source: "gh",
        table: &table,
        provider: "github",
        secrets: &Material::absent(),
        public_keys: &Material::absent(),
        allow_ips: Some(&[]),
        allow_ips_at: None,
    });
    let [Finding::Error { at, kind }] = findings.as_slice() else {
        panic!("one error expected: {findings:?}");
    };
    assert_eq!(at, &table);
    let message = kind.to_string();
    assert!(
        message.starts_with("missing required key `secrets`")
            && message.contains("GH_WEBHOOK_SECRET"),
        "{message}"
    );
}

#[test]
fn provider_none_with_an_allowlist_is_a_warning_and_with_secrets_an_error_at_the_secrets() {
    let table = spot("sources.box", 0);
    let nets = [net("203.0.113.0/24")];
    let no_keys = Material::absent();
    let judge = |secrets: &Material| {
        rules::key_material(&SourceKeys {
            source: "box",
            table: &table,
            provider: "none",
            secrets,
            public_keys: &no_keys,
            allow_ips: Some(&nets),
            allow_ips_at: Some(spot("sources.box.allow_ips", 20)),
        })
    };
    let unverified = judge(&no_keys);
    assert!(
        matches!(unverified.as_slice(), [Finding::Warning(w)] if w.starts_with("UNVERIFIED SOURCE: sources.box")),
        "{unverified:?}"
    );
    let with_secrets = judge(&material("sources.box.secrets", &["s"]));
    let messages: Vec<String> = with_secrets.iter().map(Finding::message).collect();
    assert!(
        messages[0].starts_with("sources.box.secrets: provider = \"none\" verifies nothing"),
        "{messages:?}"
    );
}

#[test]
fn two_sources_on_one_route_are_found_by_the_rule_alone() {
    let config = loads(ONE_SOURCE, &[]);
    let mut first = config.sources[0].clone();
    first.name = "first".to_owned();
    let mut second = first.clone();
    second.name = "second".to_owned();
    let sources = [(first, 10..15), (second, 50..56)];
    let findings = rules::unique_paths(&sources);
    let [Finding::Error { at, .. }] = findings.as_slice() else {
        panic!("one error expected: {findings:?}");
    };
    assert_eq!(at, &Spot::new("sources.second.path", Some(50..56)));
    assert!(
        findings[0]
            .message()
            .contains("is already the path of source `first`")
    );
    assert!(rules::unique_paths(&sources[..1]).is_empty());
}

#[test]
fn server_warnings_are_a_function_of_the_server_values() {
    let quiet = Server {
        admin_tokens: vec![AdminToken {
            name: "admin".into(),
            digest: [7; 32],
            role: Role::Admin,
        }],
        ..Server::default()
    };
    assert!(rules::server_warnings(&quiet).is_empty());
    let open = Server {
        require_https: true,
        trusted_proxies: vec![net("0.0.0.0/0")],
        ..Server::default()
    };
    let messages: Vec<String> = rules::server_warnings(&open)
        .iter()
        .map(Finding::message)
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].starts_with("no admin token is configured"));
    assert!(messages[1].contains("contains a /0 network"));
}

#[test]
fn a_preset_finding_points_at_the_key_the_rule_names() {
    let spot_of = |key: Option<&'static str>| spot(&format!("sources.s.{}", key.unwrap_or("?")), 7);
    let overrides = Overrides {
        timestamp_header: Some("x-sent-at".to_owned()),
        ..Overrides::default()
    };
    let finding = preset::check(
        &spot_of,
        "github",
        &["a-secret".to_owned()],
        &[],
        &overrides,
    )
    .expect("github signs no timestamp");
    assert!(
        finding.message().starts_with(
            "sources.s.timestamp_header: provider `github` does not sign this timestamp"
        ),
        "{}",
        finding.message()
    );
    assert!(
        preset::check(
            &spot_of,
            "github",
            &["a-secret".to_owned()],
            &[],
            &Overrides::default()
        )
        .is_none()
    );
}
