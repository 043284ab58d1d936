//! `server.admin_token` and `[[server.admin_tokens]]`: one list of named tokens with roles,
//! each kept as the SHA-256 of its text; every mistake named by its key with the fix.

use sha2::Digest;

use super::*;

const ONCALL: &str = "oncall-token-0123456789";

fn sha256(text: &str) -> [u8; 32] {
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// `[server]` with `admin_token = "${ADMIN}"` when `with_admin`, then `tables` (TOML of
/// `[[server.admin_tokens]]` entries), then one source.
fn with_tokens(with_admin: bool, tables: &str) -> String {
    let admin = if with_admin {
        "[server]\nadmin_token = \"${ADMIN}\"\n"
    } else {
        ""
    };
    format!("{admin}{tables}{ONE_SOURCE}")
}

const ENV: &[(&str, &str)] = &[("ADMIN", "admin-token-0123456789"), ("ONCALL", ONCALL)];

#[test]
fn named_tokens_load_in_one_list_after_admin_token_with_their_roles() {
    let upper = hex::encode_upper(sha256("viewer-token-0123456789"));
    let text = with_tokens(
        true,
        &format!(
            "[[server.admin_tokens]]\nname = \"oncall\"\ntoken = \"${{ONCALL}}\"\nrole = \"operator\"\n\
             [[server.admin_tokens]]\nname = \"dash-board_2\"\ntoken_sha256 = \"{upper}\"\nrole = \"viewer\"\n"
        ),
    );
    let config = loads(&text, ENV);
    let tokens: Vec<(&str, [u8; 32], Role)> = config
        .server
        .admin_tokens
        .iter()
        .map(|t| (&*t.name, t.digest, t.role))
        .collect();
    assert_eq!(
        tokens,
        vec![
            ("admin", sha256("admin-token-0123456789"), Role::Admin),
            ("oncall", sha256(ONCALL), Role::Operator),
            (
                "dash-board_2",
                sha256("viewer-token-0123456789"),
                Role::Viewer
            ),
        ]
    );
    assert!(
        !config
            .warnings
            .iter()
            .any(|w| w.contains("admin API is closed")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn named_tokens_alone_open_the_admin_api_and_may_be_called_admin() {
    let text = with_tokens(
        false,
        "[[server.admin_tokens]]\nname = \"admin\"\ntoken = \"${ONCALL}\"\nrole = \"viewer\"\n",
    );
    let config = loads(&text, ENV);
    assert_eq!(config.server.admin_tokens.len(), 1);
    assert_eq!(config.server.admin_tokens[0].role, Role::Viewer);
    assert!(
        !config
            .warnings
            .iter()
            .any(|w| w.contains("admin API is closed")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn a_duplicate_name_is_refused_at_the_second_one() {
    let entry = |token: &str| {
        format!(
            "[[server.admin_tokens]]\nname = \"oncall\"\ntoken = \"{token}\"\nrole = \"viewer\"\n"
        )
    };
    let text = with_tokens(
        false,
        &format!(
            "{}{}",
            entry("first-token-0123456789"),
            entry("second-token-0123456789")
        ),
    );
    let line = error_with(
        &text,
        &[],
        &["server.admin_tokens[1].name", "already the name of"],
    );
    assert!(
        line.contains("server.admin_tokens[0]") && line.contains("unique"),
        "{line}"
    );
}

#[test]
fn the_name_admin_is_taken_when_admin_token_is_set() {
    let text = with_tokens(
        true,
        "[[server.admin_tokens]]\nname = \"admin\"\ntoken = \"${ONCALL}\"\nrole = \"admin\"\n",
    );
    let line = error_with(
        &text,
        ENV,
        &["server.admin_tokens[0].name", "server.admin_token"],
    );
    assert!(line.contains("another name"), "{line}");
}

#[test]
fn a_name_outside_the_pattern_is_refused() {
    let text = with_tokens(
        false,
        "[[server.admin_tokens]]\nname = \"On Call\"\ntoken = \"${ONCALL}\"\nrole = \"viewer\"\n",
    );
    error_with(
        &text,
        ENV,
        &["server.admin_tokens[0].name", "lower-case letters"],
    );
}

#[test]
fn a_bad_hex_hash_is_refused_without_quoting_it() {
    for bad in [
        // The token itself, pasted under the wrong key.
        "oncall-token-0123456789",
        // 63 hex digits.
        &"a".repeat(63),
        // 64 characters, one not hex.
        &format!("{}g", "a".repeat(63)),
    ] {
        let text = with_tokens(
            false,
            &format!(
                "[[server.admin_tokens]]\nname = \"oncall\"\ntoken_sha256 = \"{bad}\"\nrole = \"viewer\"\n"
            ),
        );
        let line = error_with(
            &text,
            &[],
            &["server.admin_tokens[0].token_sha256", "64 characters"],
        );
        assert!(line.contains("hookwall token hash"), "{line}");
        assert!(!line.contains(bad), "the value is never quoted: {line}");
    }
}

#[test]
fn an_unknown_role_is_refused_with_the_roles_that_exist() {
    let entry = |name: &str, role: &str| {
        format!(
            "[[server.admin_tokens]]\nname = \"{name}\"\ntoken = \"{name}-token-0123456789\"\nrole = \"{role}\"\n"
        )
    };
    let text = with_tokens(
        false,
        &format!(
            "{}{}{}",
            entry("a", "viewer"),
            entry("b", "operator"),
            entry("c", "superuser")
        ),
    );
    let line = error_with(&text, &[], &["server.admin_tokens[2].role", "superuser"]);
    assert!(
        line.contains("\"viewer\", \"operator\", \"admin\""),
        "{line}"
    );
    let missing = with_tokens(
        false,
        "[[server.admin_tokens]]\nname = \"a\"\ntoken = \"${ONCALL}\"\n",
    );
    error_with(
        &missing,
        ENV,
        &["server.admin_tokens[0]", "`role`", "\"operator\""],
    );
}

#[test]
fn exactly_one_of_token_and_token_sha256_is_required() {
    let hash = hex::encode(sha256(ONCALL));
    let both = with_tokens(
        false,
        &format!(
            "[[server.admin_tokens]]\nname = \"a\"\ntoken = \"${{ONCALL}}\"\ntoken_sha256 = \"{hash}\"\nrole = \"viewer\"\n"
        ),
    );
    let line = error_with(
        &both,
        ENV,
        &[
            "server.admin_tokens[0].token_sha256",
            "together with `token`",
        ],
    );
    assert!(line.contains("keep one"), "{line}");
    let neither = with_tokens(
        false,
        "[[server.admin_tokens]]\nname = \"a\"\nrole = \"viewer\"\n",
    );
    let line = error_with(
        &neither,
        &[],
        &["server.admin_tokens[0]", "missing required key `token`"],
    );
    assert!(line.contains("token_sha256"), "{line}");
}

#[test]
fn one_token_under_two_names_is_refused() {
    let hash = hex::encode(sha256("admin-token-0123456789"));
    let text = with_tokens(
        true,
        &format!(
            "[[server.admin_tokens]]\nname = \"oncall\"\ntoken_sha256 = \"{hash}\"\nrole = \"viewer\"\n"
        ),
    );
    let line = error_with(
        &text,
        ENV,
        &[
            "server.admin_tokens[0].token_sha256",
            "same token as server.admin_token",
        ],
    );
    assert!(!line.contains(&hash), "{line}");
}

#[test]
fn a_named_token_is_a_secret_like_admin_token() {
    let entry =
        "[[server.admin_tokens]]\nname = \"oncall\"\ntoken = \"${ONCALL}\"\nrole = \"viewer\"\n";
    error_with(
        &with_tokens(false, entry),
        &[],
        &["server.admin_tokens[0].token", "ONCALL"],
    );
    let config = loads(&with_tokens(false, entry), &[("ONCALL", "short")]);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("server.admin_tokens[0].token is shorter than 16")),
        "{:?}",
        config.warnings
    );
    let spaced = errors(
        &with_tokens(false, entry),
        &[("ONCALL", "two words-0123456789")],
    );
    assert!(
        spaced
            .iter()
            .any(|l| l.contains("server.admin_tokens[0].token") && l.contains("one word")),
        "{spaced:?}"
    );
    assert!(
        !spaced.iter().any(|l| l.contains("two words")),
        "the token is never quoted: {spaced:?}"
    );
}

#[test]
fn an_unknown_key_in_a_token_table_is_named() {
    let text = with_tokens(
        false,
        "[[server.admin_tokens]]\nname = \"a\"\ntoken = \"${ONCALL}\"\nrole = \"viewer\"\nrol = \"x\"\n",
    );
    error_with(&text, ENV, &["server.admin_tokens[0].rol", "role"]);
}

#[test]
fn debug_shows_names_and_roles_never_tokens_or_digests() {
    let config = loads(
        &with_tokens(
            true,
            "[[server.admin_tokens]]\nname = \"oncall\"\ntoken = \"${ONCALL}\"\nrole = \"operator\"\n",
        ),
        ENV,
    );
    let shown = format!("{config:?}");
    assert!(
        shown.contains("oncall") && shown.contains("Operator"),
        "{shown}"
    );
    assert!(!shown.contains(ONCALL));
    assert!(!shown.contains("admin-token-0123456789"));
    assert!(!shown.contains(&format!("{:?}", sha256(ONCALL))));
    assert!(!shown.contains(&hex::encode(sha256(ONCALL))));
}

#[test]
fn metrics_require_token_is_read_and_off_by_default() {
    assert!(!loads(ONE_SOURCE, &[]).server.metrics_require_token);
    let text = format!("[server]\nmetrics_require_token = true\n{ONE_SOURCE}");
    assert!(loads(&text, &[]).server.metrics_require_token);
    let wrong = format!("[server]\nmetrics_require_token = \"yes\"\n{ONE_SOURCE}");
    error_with(
        &wrong,
        &[],
        &["server.metrics_require_token", "true or false"],
    );
}
