//! Secrets stay secret: no secret value in `Debug` output or in an error message.

use super::*;

const LEAKY: &[(&str, &str)] = &[
    ("ADMIN", "LEAK-admin-token-000000"),
    ("GH", "LEAK-github-secret"),
    ("SIGN", "LEAK-signing-secret"),
    ("SMTP_PASS", "LEAK-smtp-password"),
    ("PG_PASS", "LEAK-pg-password"),
];

const WITH_SECRETS: &str = r#"
[server]
admin_token = "${ADMIN}"
[storage]
url = "postgres://hookwall:${PG_PASS}@db/hookwall?sslmode=require&password=${PG_PASS}"
[sources.gh]
provider = "github"
secrets = ["${GH}", "Bearer ${GH}"]
[[sources.gh.destinations]]
url = "https://user:${SIGN}@handler/x?token=${SIGN}&page=1"
signing_secret = "${SIGN}"
[[sources.gh.destinations]]
type = "email"
smtp_url = "smtps://mailer:${SMTP_PASS}@mail.example.com"
from = "a@example.com"
to = ["b@example.com"]
"#;

#[test]
fn debug_output_of_a_loaded_config_contains_no_secret() {
    let config = loads(WITH_SECRETS, LEAKY);
    let debug = format!("{config:?}");
    let pretty = format!("{config:#?}");
    for output in [&debug, &pretty] {
        assert!(!output.contains("LEAK-"), "secret in Debug:\n{output}");
    }
    assert!(debug.contains("REDACTED"), "{debug}");
    assert!(
        debug.contains("handler"),
        "non-secret parts still shown: {debug}"
    );
    assert!(debug.contains("page=1"), "{debug}");
    // The values are still there for the code that needs them.
    let StoreUrl::Postgres(url) = &config.storage.url else {
        panic!("postgres")
    };
    assert!(url.contains("LEAK-pg-password"));
}

#[test]
fn error_messages_never_contain_a_secret_value() {
    // Every secret-bearing key made invalid in some way, plus unrelated errors.
    let text = r#"
[server]
admin_token = ["${ADMIN}"]
[storage]
url = "mysql://root:${PG_PASS}@db/x"
[sources.gh]
provider = "none"
secrets = ["${GH}"]
[[sources.gh.destinations]]
url = "gopher://user:${SIGN}@handler/x"
signing_secret = 42
[[sources.gh.destinations]]
type = "email"
smtp_url = "http://mailer:${SMTP_PASS}@mail.example.com"
from = "${SMTP_PASS}"
to = ["b@example.com"]
"#;
    let all = errors(text, LEAKY);
    assert!(all.len() >= 6, "{all:#?}");
    for line in &all {
        assert!(!line.contains("LEAK-"), "secret in error: {line}");
    }
}

#[test]
fn a_syntax_error_gives_line_and_column_without_echoing_the_line() {
    let text = "[sources.gh]\nprovider = \"github\"\nsecrets = [\"LEAK-unterminated]\n";
    let all = errors(text, &[]);
    assert!(!all.is_empty());
    assert!(
        all[0].starts_with("line 3: TOML syntax error at column"),
        "{all:#?}"
    );
    for line in &all {
        assert!(!line.contains("LEAK-"), "{line}");
    }
}
