//! Unknown keys: each named at its place and line, with the likely key or where it belongs.

use super::*;

#[test]
fn an_unknown_top_level_key_names_the_key_and_its_line() {
    let text = format!("[sever]\nlisten = \"0.0.0.0:1\"\n{ONE_SOURCE}");
    let line = error_with(&text, &[], &["sever (line 1)"]);
    assert!(line.contains("unknown key"), "{line}");
    assert!(line.contains("did you mean `server`?"), "{line}");
}

#[test]
fn an_unknown_key_in_server_names_its_place() {
    let text = format!("{ONE_SOURCE}\n[server]\nmax_inflight = 10\n");
    let line = error_with(&text, &[], &["server.max_inflight (line 9)", "unknown key"]);
    assert!(line.contains("`max_in_flight`"), "{line}");
}

#[test]
fn an_unknown_key_in_a_source_names_its_place() {
    let text = format!(
        "{ONE_SOURCE}\n[sources.x]\nprovider = \"github\"\nsecrets = [\"s\"]\nallowed_ips = []\n"
    );
    let line = error_with(
        &text,
        &[],
        &["sources.x.allowed_ips (line 11)", "unknown key"],
    );
    assert!(line.contains("`allow_ips`"), "{line}");
}

#[test]
fn a_destination_key_on_a_source_says_where_it_belongs() {
    let text = format!(
        "{ONE_SOURCE}\n[sources.x]\nprovider = \"github\"\nsecrets = [\"s\"]\nurl = \"http://h/\"\n"
    );
    let line = error_with(&text, &[], &["sources.x.url", "unknown key"]);
    assert!(line.contains("[[sources.x.destinations]]"), "{line}");
}

#[test]
fn an_unknown_key_in_a_destination_names_its_place() {
    let text = &gh_destination(
        r#"url = "http://h/"
[[sources.gh.destinations]]
url = "http://h2/"
retries = 3
"#,
    );
    let line = error_with(
        text,
        &[],
        &["sources.gh.destinations[1].retries (line 9)", "unknown key"],
    );
    assert!(
        line.contains("accepted here: type, name, timeout, retry"),
        "{line}"
    );
    assert!(line.contains("url, signing_secret"), "{line}");
}

#[test]
fn an_email_key_on_an_http_destination_says_to_set_the_type() {
    let text = &gh_destination(
        r#"smtp_url = "smtp://mail:25"
from = "a@example.com"
to = ["b@example.com"]
"#,
    );
    let line = error_with(text, &[], &["sources.gh.destinations[0].smtp_url"]);
    assert!(line.contains("type = \"email\""), "{line}");
}

#[test]
fn an_unknown_key_in_rate_limit_names_its_place() {
    let text = r#"
[sources.github]
provider = "github"
secrets = ["s"]
rate_limit = { per_secnd = 5, burst = 10 }
"#;
    let all = errors(text, &[]);
    let line = all
        .iter()
        .find(|e| e.starts_with("sources.github.rate_limit.per_secnd (line 5)"))
        .unwrap_or_else(|| panic!("{all:#?}"));
    assert!(line.contains("did you mean `per_second`?"), "{line}");
}

#[test]
fn an_unknown_key_in_retry_and_defaults_names_its_place() {
    let text = r#"
[defaults]
provider = "github"
[sources.gh]
provider = "github"
secrets = ["s"]
[[sources.gh.destinations]]
url = "http://h/"
retry = { attempts = 3 }
"#;
    let defaults = error_with(text, &[], &["defaults.provider (line 3)"]);
    assert!(defaults.contains("each [sources.NAME]"), "{defaults}");
    let retry = error_with(text, &[], &["sources.gh.destinations[0].retry.attempts"]);
    assert!(retry.contains("max_attempts"), "{retry}");
}
