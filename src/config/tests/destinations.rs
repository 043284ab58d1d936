//! Destinations: URLs, e-mail, names, proxy mode, forwarded headers, signing secrets.

use super::*;

#[test]
fn destination_urls_must_be_http_or_https() {
    let text = &gh_destination(
        r#"url = "ftp://files/x"
[[sources.gh.destinations]]
url = "not a url"
[[sources.gh.destinations]]
"#,
    );
    error_with(
        text,
        &[],
        &["sources.gh.destinations[0].url", "http or https"],
    );
    error_with(text, &[], &["sources.gh.destinations[1].url", "not a URL"]);
    error_with(
        text,
        &[],
        &["sources.gh.destinations[2]", "missing required key `url`"],
    );
}

#[test]
fn email_destinations_need_an_smtp_url_a_sender_and_recipients() {
    let text = r#"
[sources.p]
provider = "particle"
secrets = ["u:p"]
[[sources.p.destinations]]
type = "email"
smtp_url = "http://mail:25"
from = "not-an-address"
to = []
subject = "two\nlines"
[[sources.p.destinations]]
type = "email"
[[sources.p.destinations]]
type = "pager"
"#;
    error_with(
        text,
        &[],
        &["sources.p.destinations[0].smtp_url", "smtp or smtps"],
    );
    error_with(
        text,
        &[],
        &["sources.p.destinations[0].from", "not an e-mail address"],
    );
    error_with(
        text,
        &[],
        &["sources.p.destinations[0].to", "at least one recipient"],
    );
    error_with(
        text,
        &[],
        &["sources.p.destinations[0].subject", "one line"],
    );
    for key in ["smtp_url", "from", "to"] {
        error_with(
            text,
            &[],
            &["sources.p.destinations[1] ", &format!("`{key}`")],
        );
    }
    error_with(
        text,
        &[],
        &["sources.p.destinations[2].type", "\"http\", \"email\""],
    );
}

#[test]
fn destinations_written_as_a_single_table_ask_for_double_brackets() {
    let text = "[sources.gh]\nprovider = \"github\"\nsecrets = [\"s\"]\n[sources.gh.destinations]\nurl = \"http://h/\"\n";
    error_with(text, &[], &["sources.gh.destinations", "double brackets"]);
}

#[test]
fn destination_names_must_be_unique_within_a_source() {
    let text = &gh_destination(
        r#"url = "http://a/"
name = "handler"
[[sources.gh.destinations]]
url = "http://b/"
name = "handler"
"#,
    );
    error_with(
        text,
        &[],
        &[
            "sources.gh (line 2)",
            "two destinations are named `handler`",
        ],
    );
}

#[test]
fn destination_names_must_be_unique_across_sources() {
    let text = &gh_destination(
        r#"url = "http://a/"
name = "handler"
[sources.shop]
provider = "shopify"
secrets = ["s"]
[[sources.shop.destinations]]
url = "http://b/"
name = "handler"
"#,
    );
    error_with(
        text,
        &[],
        &[
            "sources.shop.destinations",
            "a destination of source `gh` is already named `handler`",
        ],
    );
    // The default names (`<source>-<n>`) never collide.
    loads(&text.replace("name = \"handler\"\n", ""), &[]);
}

#[test]
fn proxy_mode_needs_exactly_one_http_destination() {
    let text = r#"
[sources.slack]
provider = "slack"
secrets = ["s"]
mode = "proxy"
[[sources.slack.destinations]]
url = "http://a/"
[[sources.slack.destinations]]
url = "http://b/"
"#;
    error_with(text, &[], &["sources.slack", "exactly one destination"]);
}

#[test]
fn credentials_and_hookwall_headers_cannot_be_forwarded() {
    let text = &gh_destination(
        r#"url = "http://a/"
forward_headers = ["X-GitHub-Event", "Authorization", "webhook-signature", "bad header"]
"#,
    );
    let all = errors(text, &[]);
    assert_eq!(all.len(), 3, "{all:#?}");
    error_with(text, &[], &["forward_headers[1]", "credential"]);
    error_with(text, &[], &["forward_headers[2]", "re-signs"]);
    error_with(
        text,
        &[],
        &["forward_headers[3]", "not an HTTP header name"],
    );
}

#[test]
fn an_empty_signing_secret_is_refused_rather_than_sending_unsigned() {
    let text = &gh_destination(
        r#"url = "http://a/"
signing_secret = "${SIGNING:-}"
"#,
    );
    let line = error_with(text, &[], &["signing_secret"]);
    assert!(line.contains("set SIGNING"), "{line}");
}

#[test]
fn a_source_without_destinations_loads_with_a_warning() {
    let text = "[sources.gh]\nprovider = \"github\"\nsecrets = [\"s\"]\n";
    let config = loads(text, &[]);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("sources.gh has no destinations"))
    );
}

#[test]
fn a_filter_is_read_with_header_names_lower_cased_and_every_list_kept_in_order() {
    let config = loads(
        &gh_destination(
            r#"url = "http://ci:8000/hooks"
filter = { event_types = ["push", "pull_request*"], body = { "/repository/full_name" = ["acme/api"], "/a~1b" = ["1", "true"] }, headers = { "X-GitHub-Event" = ["push"] } }
rate_limit = { per_second = 5 }
circuit = false
"#,
        ),
        &[],
    );
    let destination = &config.sources[0].destinations[0];
    assert_eq!(
        destination.filter,
        Some(Filter {
            event_types: Some(vec!["push".into(), "pull_request*".into()]),
            body: vec![
                ("/repository/full_name".into(), vec!["acme/api".into()]),
                ("/a~1b".into(), vec!["1".into(), "true".into()]),
            ],
            headers: vec![("x-github-event".into(), vec!["push".into()])],
        })
    );
    assert_eq!(
        destination.rate_limit,
        Some(RateLimit {
            per_second: 5,
            burst: 5
        })
    );
    assert_eq!(destination.circuit, None, "circuit = false turns it off");
}

#[test]
fn a_bad_pointer_an_empty_list_and_an_empty_filter_are_refused_at_their_place() {
    let text = &gh_destination(
        r#"url = "http://a/"
filter = { body = { "repository" = ["x"], "/ok~2" = ["y"] } }
[[sources.gh.destinations]]
url = "http://b/"
filter = { event_types = [], headers = { "x-a" = [] } }
[[sources.gh.destinations]]
url = "http://c/"
filter = {}
[[sources.gh.destinations]]
url = "http://d/"
filter = { body = {}, events = ["push"] }
"#,
    );
    error_with(
        text,
        &[],
        &[
            "sources.gh.destinations[0].filter.body.repository",
            "must start with `/`",
        ],
    );
    error_with(
        text,
        &[],
        &[
            "sources.gh.destinations[0].filter.body",
            "`~` must be followed by 0",
        ],
    );
    error_with(
        text,
        &[],
        &[
            "sources.gh.destinations[1].filter.event_types",
            "empty list",
        ],
    );
    error_with(
        text,
        &[],
        &[
            "sources.gh.destinations[1].filter.headers.x-a",
            "empty list",
        ],
    );
    error_with(
        text,
        &[],
        &["sources.gh.destinations[2].filter", "is empty"],
    );
    error_with(
        text,
        &[],
        &["sources.gh.destinations[3].filter.body", "is empty"],
    );
    error_with(
        text,
        &[],
        &["sources.gh.destinations[3].filter.events", "unknown key"],
    );
}

#[test]
fn a_circuit_takes_failures_and_a_cooldown_or_false() {
    let config = loads(
        &gh_destination("url = \"http://a/\"\ncircuit = { failures = 2, cooldown = \"1s\" }\n"),
        &[],
    );
    assert_eq!(
        config.sources[0].destinations[0].circuit,
        Some(Circuit {
            failures: 2,
            cooldown: Duration::from_secs(1)
        })
    );
    let text = &gh_destination(
        "url = \"http://a/\"\ncircuit = { failures = 0, cool = \"1s\" }\n[[sources.gh.destinations]]\nurl = \"http://b/\"\ncircuit = \"off\"\n",
    );
    error_with(text, &[], &["sources.gh.destinations[0].circuit.failures"]);
    error_with(
        text,
        &[],
        &["sources.gh.destinations[0].circuit.cool", "unknown key"],
    );
    error_with(text, &[], &["sources.gh.destinations[1].circuit"]);
}

#[test]
fn a_proxy_destination_takes_no_filter() {
    let text = r#"
[sources.cmd]
provider = "slack"
secrets = ["s"]
mode = "proxy"
[[sources.cmd.destinations]]
url = "http://bot/"
filter = { event_types = ["x"] }
"#;
    error_with(text, &[], &["sources.cmd", "takes no filter"]);
}
