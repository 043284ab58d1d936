//! `[server]`: the admin token, listen addresses, `require_https`, wrong types.

use super::*;

#[test]
fn an_empty_admin_token_is_refused_and_a_short_one_warns() {
    let empty = format!("[server]\nadmin_token = \"${{TOKEN:-}}\"\n{ONE_SOURCE}");
    let line = error_with(&empty, &[], &["server.admin_token"]);
    assert!(
        line.contains("is empty") && line.contains("TOKEN"),
        "{line}"
    );

    let short = format!("[server]\nadmin_token = \"${{TOKEN}}\"\n{ONE_SOURCE}");
    let config = loads(&short, &[("TOKEN", "short")]);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("admin_token") && w.contains("16")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn listen_addresses_must_be_host_and_port_and_differ() {
    let bad = format!("[server]\nlisten = \"8080\"\n{ONE_SOURCE}");
    error_with(&bad, &[], &["server.listen", "host:port"]);
    let same = format!(
        "[server]\nlisten = \"127.0.0.1:9091\"\nadmin_listen = \"127.0.0.1:9091\"\n{ONE_SOURCE}"
    );
    error_with(&same, &[], &["server", "same address"]);
    let named = format!(
        "[server]\nlisten = \"localhost:8080\"\nadmin_listen = \"[::1]:9091\"\n{ONE_SOURCE}"
    );
    assert_eq!(loads(&named, &[]).server.listen, "localhost:8080");
}

#[test]
fn require_https_without_trusted_proxies_warns_that_everything_is_refused() {
    let text = format!("[server]\nrequire_https = true\n{ONE_SOURCE}");
    let config = loads(&text, &[]);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("require_https") && w.contains("403"))
    );
}

#[test]
fn a_value_of_the_wrong_type_says_what_was_expected() {
    let text = format!("[server]\nrequire_https = \"yes\"\nmax_in_flight = 1.5\n{ONE_SOURCE}");
    error_with(&text, &[], &["server.require_https", "true or false"]);
    error_with(
        &text,
        &[],
        &["server.max_in_flight", "expected an integer, found a float"],
    );
}

#[test]
fn the_console_session_ttl_defaults_to_eight_hours_and_must_be_longer_than_zero() {
    let default = loads(ONE_SOURCE, &[]);
    assert_eq!(
        default.server.console_session_ttl,
        std::time::Duration::from_secs(8 * 3600)
    );
    let set = format!("[server]\nconsole_session_ttl = \"30m\"\n{ONE_SOURCE}");
    assert_eq!(
        loads(&set, &[]).server.console_session_ttl,
        std::time::Duration::from_secs(1800)
    );
    let zero = format!("[server]\nconsole_session_ttl = \"0s\"\n{ONE_SOURCE}");
    error_with(
        &zero,
        &[],
        &["server.console_session_ttl", "longer than zero"],
    );
}
