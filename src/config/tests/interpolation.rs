//! `${VAR}` interpolation: substitution, defaults, literals, malformed references, and the warning
//! for a secret from a written default.

use super::*;

#[test]
fn a_set_variable_is_substituted_inside_a_value() {
    let text = format!("[server]\nlisten = \"${{HOST}}:${{PORT}}\"\n{ONE_SOURCE}");
    let config = loads(&text, &[("HOST", "10.0.0.5"), ("PORT", "8088")]);
    assert_eq!(config.server.listen, "10.0.0.5:8088");
}

#[test]
fn an_unset_variable_is_an_error_naming_the_variable_and_the_key() {
    let text = format!("{ONE_SOURCE}\n[storage]\nurl = \"${{DATABASE_URL}}\"\n");
    let line = error_with(&text, &[], &["DATABASE_URL"]);
    assert!(line.starts_with("storage.url (line 9)"), "{line}");
    assert!(line.contains("not set"), "{line}");
    assert!(line.contains("${DATABASE_URL:-default}"), "the fix: {line}");
}

#[test]
fn a_default_is_used_when_the_variable_is_unset_or_empty() {
    let text = format!(
        "[server]\nlisten = \"${{LISTEN:-127.0.0.1:8081}}\"\nadmin_listen = \"${{ADMIN:-127.0.0.1:9999}}\"\n{ONE_SOURCE}"
    );
    let config = loads(&text, &[("ADMIN", "")]);
    assert_eq!(config.server.listen, "127.0.0.1:8081");
    assert_eq!(config.server.admin_listen, "127.0.0.1:9999");
}

#[test]
fn an_empty_default_drops_that_secret_entry() {
    let text = &gh_secrets(r#""${NEW}", "${OLD:-}", """#);
    let config = loads(text, &[("NEW", "current-secret")]);
    assert_eq!(secrets_of(&config.sources[0]), ["current-secret"]);

    let config = loads(
        text,
        &[("NEW", "current-secret"), ("OLD", "previous-secret")],
    );
    assert_eq!(
        secrets_of(&config.sources[0]),
        ["current-secret", "previous-secret"]
    );
}

#[test]
fn a_value_with_quotes_newlines_and_toml_syntax_stays_one_value() {
    let hostile = "a\"b\n]\n[sources.evil]\nprovider = \"none\"\n#";
    let text = &gh_secrets(r#""${HOSTILE}""#);
    let config = loads(text, &[("HOSTILE", hostile)]);
    assert_eq!(config.sources.len(), 1, "nothing injected");
    assert_eq!(secrets_of(&config.sources[0]), [hostile]);
}

#[test]
fn a_substituted_value_is_not_interpolated_again() {
    let text = &gh_secrets(r#""${A}""#);
    let config = loads(text, &[("A", "${B}")]);
    assert_eq!(secrets_of(&config.sources[0]), ["${B}"]);
}

#[test]
fn double_dollar_brace_is_a_literal_and_other_dollars_are_kept() {
    let text = &gh_secrets(r#""pa$$word", "$${NOT_A_VAR}", "cost $5 ${X}$""#);
    let config = loads(text, &[("X", "x")]);
    assert_eq!(
        secrets_of(&config.sources[0]),
        ["pa$$word", "${NOT_A_VAR}", "cost $5 x$"]
    );
}

#[test]
fn malformed_references_are_errors_that_show_the_accepted_forms() {
    let text =
        format!("{ONE_SOURCE}\n[server]\nlisten = \"${{OPEN\"\nadmin_listen = \"${{1BAD}}:1\"\n");
    let open = error_with(&text, &[], &["server.listen"]);
    assert!(open.contains("closing `}`"), "{open}");
    let bad = error_with(&text, &[], &["server.admin_listen"]);
    assert!(bad.contains("${VAR:-default}"), "{bad}");
}

#[test]
fn several_unset_variables_in_one_value_are_all_reported() {
    let text = format!("{ONE_SOURCE}\n[storage]\nurl = \"postgres://${{U}}:${{P}}@db/x\"\n");
    let all = errors(&text, &[]);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(all[0].contains("`U`") && all[1].contains("`P`"), "{all:#?}");
}

#[test]
fn numbers_and_booleans_can_come_from_variables() {
    let text = format!(
        "[server]\nmax_in_flight = \"${{MAX:-100}}\"\nrequire_https = \"${{HTTPS:-false}}\"\ntrusted_proxies = [\"10.0.0.1\"]\n{ONE_SOURCE}"
    );
    let config = loads(&text, &[("HTTPS", "true")]);
    assert_eq!(config.server.max_in_flight, 100);
    assert!(config.server.require_https);
}

#[test]
fn a_secret_falling_back_to_a_written_default_warns_without_showing_it() {
    let text = r#"
[server]
admin_token = "${ADMIN_TOKEN:-fallback-admin-token-123}"

[sources.gh]
provider = "github"
secrets = ["${GH_SECRET:-fallback-github-secret}"]

[[sources.gh.destinations]]
url = "http://h:1/"
signing_secret = "${SIGN:-fallback-signing-secret}"

[[sources.gh.destinations]]
type = "email"
smtp_url = "smtp://user:${SMTP_PASSWORD:-fallback-smtp-pass}@mail:25"
from = "a@example.com"
to = ["b@example.com"]
"#;
    let config = loads(text, &[]);
    for (place, var) in [
        ("server.admin_token", "ADMIN_TOKEN"),
        ("sources.gh.secrets[0]", "GH_SECRET"),
        ("sources.gh.destinations[0].signing_secret", "SIGN"),
        ("sources.gh.destinations[1].smtp_url", "SMTP_PASSWORD"),
    ] {
        assert!(
            config
                .warnings
                .iter()
                .any(|w| w.contains(place) && w.contains(var)),
            "{place} / {var}: {:#?}",
            config.warnings
        );
    }
    for warning in &config.warnings {
        assert!(!warning.contains("fallback-"), "secret leaked: {warning}");
    }
}

#[test]
fn a_default_in_a_url_without_a_password_does_not_warn() {
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["s3cret-value"]

[[sources.gh.destinations]]
type = "email"
smtp_url = "smtp://${SMTP_HOST:-mail}:25"
from = "a@example.com"
to = ["b@example.com"]
"#;
    let config = loads(text, &[]);
    assert!(
        config.warnings.iter().all(|w| !w.contains("SMTP_HOST")),
        "{:#?}",
        config.warnings
    );
}
