//! Loading the configuration: the SPEC example, interpolation, units, unknown keys, defaults,
//! the fail-closed rules, and that no secret ever reaches `Debug` or an error message.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;

const CONFIG_PATH: &str = "/etc/hookwall/hookwall.toml";

/// SPEC section 4, verbatim.
const SPEC_EXAMPLE: &str = r#"
[server]
listen = "0.0.0.0:8080"            # public: /hooks/*, /healthz, /readyz
admin_listen = "127.0.0.1:9091"    # operators: /metrics, /admin/*
admin_token = "${HOOKWALL_ADMIN_TOKEN}"   # bearer token for /admin/* (not for /metrics)
trusted_proxies = ["127.0.0.1/32", "172.16.0.0/12"]
require_https = false
max_body_bytes = "1MiB"
request_timeout = "10s"
max_in_flight = 4096
shutdown_timeout = "30s"

[storage]
url = "sqlite://./data/hookwall.db"  # or "postgres://hookwall@db/hookwall"
retention = "7d"
dedup_window = "7d"

[defaults]                          # inherited by every source
timestamp_tolerance = "5m"
rate_limit = { per_second = 50, burst = 100 }

[sources.github]
provider = "github"
secrets = ["${GITHUB_WEBHOOK_SECRET}", "${GITHUB_WEBHOOK_SECRET_OLD:-}"]   # empty entries are dropped; an empty list is an error
allow_ips = ["192.30.252.0/22", "185.199.108.0/22", "140.82.112.0/20", "143.55.64.0/20", "2a0a:a440::/29", "2606:50c0::/32"]
rate_limit = { per_second = 20, burst = 40 }
schema = "schemas/github.json"      # optional JSON Schema, path relative to the config file

[[sources.github.destinations]]
url = "http://ci-bot:8000/webhooks/github"
signing_secret = "${INTERNAL_SIGNING_SECRET}"
timeout = "10s"
retry = { initial = "1s", max = "10m", max_attempts = 12, max_age = "24h" }

[sources.particle]
provider = "particle"
secrets = ["${PARTICLE_WEBHOOK_TOKEN}"]
schema = "schemas/particle-event.json"

[[sources.particle.destinations]]
type = "email"
smtp_url = "smtp://mail:25"
from = "hookwall@example.com"
to = ["ops@example.com"]
subject = "Particle {{event}} from {{coreid}}"

[sources.brightdata]
provider = "brightdata"
secrets = ["Bearer ${BRIGHTDATA_WEBHOOK_TOKEN}"]
max_body_bytes = "64MiB"
schema = "schemas/brightdata-delivery.json"

[[sources.brightdata.destinations]]
url = "http://scraper-ingest:8000/brightdata"
"#;

const SPEC_ENV: &[(&str, &str)] = &[
    ("HOOKWALL_ADMIN_TOKEN", "admin-token-0123456789abcdef"),
    ("GITHUB_WEBHOOK_SECRET", "gh-secret-current"),
    ("INTERNAL_SIGNING_SECRET", "whsec_aW50ZXJuYWwtc2lnbmluZw=="),
    ("PARTICLE_WEBHOOK_TOKEN", "particle-user:particle-pass"),
    ("BRIGHTDATA_WEBHOOK_TOKEN", "bd-token-42"),
];

/// A minimal valid source, to append to configs that test something else.
const ONE_SOURCE: &str = r#"
[sources.ok]
provider = "github"
secrets = ["s3cret-ok-value"]
[[sources.ok.destinations]]
url = "http://handler:8000/ok"
"#;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_str_with_env(text, Path::new(CONFIG_PATH), &move |name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

fn loads(text: &str, env: &[(&str, &str)]) -> Config {
    match load(text, env) {
        Ok(config) => config,
        Err(errors) => panic!("expected the config to load, got:\n{errors}"),
    }
}

/// Every error line of a config that must fail.
fn errors(text: &str, env: &[(&str, &str)]) -> Vec<String> {
    match load(text, env) {
        Ok(_) => panic!("expected errors, the config loaded"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

/// The one error line that contains every needle.
fn error_with(text: &str, env: &[(&str, &str)], needles: &[&str]) -> String {
    let all = errors(text, env);
    all.iter()
        .find(|line| needles.iter().all(|n| line.contains(n)))
        .cloned()
        .unwrap_or_else(|| panic!("no error contains all of {needles:?}; errors:\n{all:#?}"))
}

fn secrets_of(source: &Source) -> Vec<&str> {
    source.secrets.iter().map(|s| s.expose_secret()).collect()
}

fn net(text: &str) -> ipnet::IpNet {
    text.parse().expect("test CIDR is valid")
}

// ---- the SPEC example ----------------------------------------------------------------------

#[test]
fn the_spec_example_loads_with_its_variables_set() {
    let config = loads(SPEC_EXAMPLE, SPEC_ENV);

    assert_eq!(config.path, PathBuf::from(CONFIG_PATH));
    let server = &config.server;
    assert_eq!(server.listen, "0.0.0.0:8080");
    assert_eq!(server.admin_listen, "127.0.0.1:9091");
    assert_eq!(
        server.admin_token.as_ref().map(|t| t.expose_secret()),
        Some("admin-token-0123456789abcdef")
    );
    assert_eq!(
        server.trusted_proxies,
        vec![net("127.0.0.1/32"), net("172.16.0.0/12")]
    );
    assert!(!server.require_https);
    assert_eq!(server.max_body_bytes, 1 << 20);
    assert_eq!(server.request_timeout, Duration::from_secs(10));
    assert_eq!(server.max_in_flight, 4096);
    assert_eq!(server.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(
        config.storage.url,
        // Relative to the config file (CONFIG_PATH), not to the working directory.
        StoreUrl::Sqlite(PathBuf::from("/etc/hookwall/data/hookwall.db"))
    );
    assert_eq!(config.storage.retention, Duration::from_secs(7 * 86_400));
    assert_eq!(config.storage.dedup_window, Duration::from_secs(7 * 86_400));

    let names: Vec<&str> = config.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["github", "particle", "brightdata"], "file order");

    let github = config.source("github").expect("github source");
    assert_eq!(github.path, "/hooks/github");
    assert_eq!(github.provider, "github");
    assert_eq!(
        secrets_of(github),
        ["gh-secret-current"],
        "empty OLD dropped"
    );
    assert_eq!(github.allow_ips.len(), 6);
    assert!(github.allow_ips.contains(&net("2606:50c0::/32")));
    assert_eq!(
        github.rate_limit,
        Some(RateLimit {
            per_second: 20,
            burst: 40
        })
    );
    assert_eq!(
        github.schema,
        Some(PathBuf::from("/etc/hookwall/schemas/github.json"))
    );
    assert_eq!(
        github.overrides.timestamp_tolerance,
        Some(Duration::from_secs(300))
    );
    assert_eq!(github.accept_status, 202);
    assert_eq!(github.max_body_bytes, 1 << 20);
    assert_eq!(github.max_json_depth, 64);
    assert_eq!(github.mode, Mode::Queue);
    assert_eq!(github.dedup, DedupMode::Provider);
    let [Destination::Http(ci)] = github.destinations.as_slice() else {
        panic!("github has one http destination: {:?}", github.destinations)
    };
    assert_eq!(ci.name, "github-0");
    assert_eq!(ci.url.as_str(), "http://ci-bot:8000/webhooks/github");
    assert_eq!(
        ci.signing_secret.as_ref().map(|s| s.expose_secret()),
        Some("whsec_aW50ZXJuYWwtc2lnbmluZw==")
    );
    assert_eq!(ci.timeout, Duration::from_secs(10));
    assert_eq!(ci.retry, Retry::default());
    assert_eq!(ci.max_concurrency, 16);
    assert!(!ci.retry_4xx);
    assert!(ci.forward_headers.is_empty());

    let particle = config.source("particle").expect("particle source");
    assert_eq!(secrets_of(particle), ["particle-user:particle-pass"]);
    assert_eq!(
        particle.rate_limit,
        Some(RateLimit {
            per_second: 50,
            burst: 100
        }),
        "inherited from [defaults]"
    );
    let [Destination::Email(mail)] = particle.destinations.as_slice() else {
        panic!("particle has one email destination")
    };
    assert_eq!(mail.name, "particle-0");
    assert_eq!(mail.smtp_url.as_str(), "smtp://mail:25");
    assert_eq!(mail.from, "hookwall@example.com");
    assert_eq!(mail.to, ["ops@example.com"]);
    assert_eq!(mail.subject, "Particle {{event}} from {{coreid}}");
    assert_eq!(mail.body, None);
    assert_eq!(mail.timeout, Duration::from_secs(30));

    let brightdata = config.source("brightdata").expect("brightdata source");
    assert_eq!(secrets_of(brightdata), ["Bearer bd-token-42"]);
    assert_eq!(brightdata.max_body_bytes, 64 << 20);
    assert_eq!(
        brightdata.schema,
        Some(PathBuf::from(
            "/etc/hookwall/schemas/brightdata-delivery.json"
        ))
    );

    assert!(
        config
            .warnings
            .iter()
            .all(|w| !w.contains("SECRET FROM DEFAULT") && !w.contains("UNVERIFIED")),
        "{:?}",
        config.warnings
    );
}

#[test]
fn the_spec_example_without_its_variables_names_each_one_and_its_key() {
    let all = errors(SPEC_EXAMPLE, &[]);
    for (var, place) in [
        ("HOOKWALL_ADMIN_TOKEN", "server.admin_token"),
        ("GITHUB_WEBHOOK_SECRET", "sources.github.secrets[0]"),
        (
            "INTERNAL_SIGNING_SECRET",
            "sources.github.destinations[0].signing_secret",
        ),
        ("PARTICLE_WEBHOOK_TOKEN", "sources.particle.secrets[0]"),
        ("BRIGHTDATA_WEBHOOK_TOKEN", "sources.brightdata.secrets[0]"),
    ] {
        assert!(
            all.iter()
                .any(|e| e.contains(var) && e.starts_with(place) && e.contains("not set")),
            "{var} at {place} in {all:#?}"
        );
    }
    assert_eq!(all.len(), 5, "only the unset variables: {all:#?}");
}

#[test]
fn every_server_and_storage_key_has_the_documented_default() {
    let config = loads(ONE_SOURCE, &[]);
    assert_eq!(config.server.listen, "0.0.0.0:8080");
    assert_eq!(config.server.admin_listen, "127.0.0.1:9091");
    assert!(config.server.admin_token.is_none());
    assert!(config.server.trusted_proxies.is_empty());
    assert!(!config.server.require_https);
    assert_eq!(config.server.max_body_bytes, 1 << 20);
    assert_eq!(config.server.request_timeout, Duration::from_secs(10));
    assert_eq!(config.server.max_in_flight, 4096);
    assert_eq!(config.server.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(
        config.storage.url,
        // Relative to the config file (CONFIG_PATH), not to the working directory.
        StoreUrl::Sqlite(PathBuf::from("/etc/hookwall/data/hookwall.db"))
    );
    assert_eq!(config.storage.retention, Duration::from_secs(7 * 86_400));
    assert_eq!(config.storage.dedup_window, Duration::from_secs(7 * 86_400));
    assert_eq!(config.storage.lease, Duration::from_secs(300));
    assert_eq!(config.storage.max_connections, 10);
    let ok = &config.sources[0];
    assert_eq!(ok.rate_limit, None);
    assert_eq!(ok.overrides.timestamp_tolerance, None);
    assert!(
        config.warnings.iter().any(|w| w.contains("admin_token")),
        "missing admin token is pointed out"
    );
}

// ---- interpolation -------------------------------------------------------------------------

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
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["${NEW}", "${OLD:-}", ""]
"#;
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
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["${HOSTILE}"]
"#;
    let config = loads(text, &[("HOSTILE", hostile)]);
    assert_eq!(config.sources.len(), 1, "nothing injected");
    assert_eq!(secrets_of(&config.sources[0]), [hostile]);
}

#[test]
fn a_substituted_value_is_not_interpolated_again() {
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["${A}"]
"#;
    let config = loads(text, &[("A", "${B}")]);
    assert_eq!(secrets_of(&config.sources[0]), ["${B}"]);
}

#[test]
fn double_dollar_brace_is_a_literal_and_other_dollars_are_kept() {
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["pa$$word", "$${NOT_A_VAR}", "cost $5 ${X}$"]
"#;
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

// ---- durations and sizes ---------------------------------------------------------------------

#[test]
fn durations_and_sizes_accept_every_documented_form() {
    let text = format!(
        r#"
[server]
request_timeout = "250ms"
shutdown_timeout = "1h30m"
max_body_bytes = 65536
[storage]
retention = "30d"
dedup_window = "12h"
[defaults]
max_body_bytes = "64KiB"
timestamp_tolerance = "90s"
{ONE_SOURCE}
[sources.big]
provider = "token"
secrets = ["Bearer abc"]
max_body_bytes = "1GiB"
[sources.metric]
provider = "token"
secrets = ["Bearer abc"]
max_body_bytes = "2MB"
"#
    );
    let config = loads(&text, &[]);
    assert_eq!(config.server.request_timeout, Duration::from_millis(250));
    assert_eq!(config.server.shutdown_timeout, Duration::from_secs(5400));
    assert_eq!(config.server.max_body_bytes, 65536);
    assert_eq!(config.storage.retention, Duration::from_secs(30 * 86_400));
    assert_eq!(config.storage.dedup_window, Duration::from_secs(12 * 3600));
    assert_eq!(
        config.source("ok").map(|s| s.max_body_bytes),
        Some(64 << 10)
    );
    assert_eq!(
        config.source("big").map(|s| s.max_body_bytes),
        Some(1 << 30)
    );
    assert_eq!(
        config.source("metric").map(|s| s.max_body_bytes),
        Some(2_000_000)
    );
}

#[test]
fn a_bad_duration_names_the_key_and_shows_the_accepted_forms() {
    let text = format!("[server]\nrequest_timeout = \"10 seconds\"\n{ONE_SOURCE}");
    let line = error_with(&text, &[], &["server.request_timeout (line 2)"]);
    assert!(
        line.contains("\"250ms\"") && line.contains("\"7d\""),
        "{line}"
    );
}

#[test]
fn a_duration_written_as_a_number_asks_for_a_unit() {
    let text = format!("[server]\nrequest_timeout = 10\n{ONE_SOURCE}");
    let line = error_with(&text, &[], &["server.request_timeout"]);
    assert!(line.contains("\"10s\""), "{line}");
}

#[test]
fn a_bad_size_names_the_key_and_shows_the_accepted_forms() {
    let text = format!("[server]\nmax_body_bytes = \"1 megabyte\"\n{ONE_SOURCE}");
    let line = error_with(&text, &[], &["server.max_body_bytes"]);
    assert!(
        line.contains("\"1MiB\"") && line.contains("\"64KiB\""),
        "{line}"
    );
}

#[test]
fn the_lease_and_the_pool_size_are_read_and_bounded() {
    let with = |storage: &str| {
        format!("[storage]\nurl = \"postgres://hookwall@db/hookwall\"\n{storage}\n{ONE_SOURCE}")
    };
    let config = loads(&with("lease = \"90s\"\nmax_connections = 25"), &[]);
    assert_eq!(config.storage.lease, Duration::from_secs(90));
    assert_eq!(config.storage.max_connections, 25);
    let config = loads(&with("max_connections = \"${POOL:-4}\""), &[]);
    assert_eq!(config.storage.max_connections, 4);
    error_with(
        &with("lease = \"0s\""),
        &[],
        &["storage.lease", "longer than zero"],
    );
    error_with(
        &with("max_connections = 0"),
        &[],
        &["storage.max_connections"],
    );
    error_with(
        &with("max_connections = 1001"),
        &[],
        &["storage.max_connections"],
    );
}

#[test]
fn a_lease_no_longer_than_a_destination_timeout_is_pointed_out() {
    let text = format!(
        "[storage]\nlease = \"5s\"\n{ONE_SOURCE}timeout = \"5s\"\n\
         [[sources.ok.destinations]]\nurl = \"http://handler:8000/fast\"\ntimeout = \"1s\"\n"
    );
    let config = loads(&text, &[]);
    let lease: Vec<_> = config
        .warnings
        .iter()
        .filter(|w| w.contains("storage.lease"))
        .collect();
    assert_eq!(lease.len(), 1, "{:#?}", config.warnings);
    assert!(
        lease[0].starts_with("sources.ok.destinations[0].timeout"),
        "{}",
        lease[0]
    );
    // The default lease (5 min) is far above the default timeout (10 s).
    let config = loads(ONE_SOURCE, &[]);
    assert!(
        !config.warnings.iter().any(|w| w.contains("storage.lease")),
        "{:#?}",
        config.warnings
    );
}

#[test]
fn a_pool_size_for_a_sqlite_store_is_pointed_out_as_ignored() {
    let config = loads(
        &format!("[storage]\nmax_connections = 20\n{ONE_SOURCE}"),
        &[],
    );
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("storage.max_connections") && w.contains("SQLite")),
        "{:#?}",
        config.warnings
    );
}

#[test]
fn zero_is_refused_where_it_is_meaningless() {
    let text = format!(
        r#"
[server]
request_timeout = "0s"
max_body_bytes = 0
max_in_flight = 0
shutdown_timeout = "0s"
[storage]
retention = "0d"
{ONE_SOURCE}
[sources.z]
provider = "github"
secrets = ["s"]
rate_limit = {{ per_second = 0 }}
timestamp_tolerance = "0s"
max_json_depth = 0
[[sources.z.destinations]]
url = "http://h/"
timeout = "0ms"
concurrency = 0
retry = {{ max_attempts = 0, initial = "0s" }}
"#
    );
    let all = errors(&text, &[]);
    for place in [
        "server.request_timeout",
        "server.max_body_bytes",
        "server.max_in_flight",
        "storage.retention",
        "sources.z.rate_limit.per_second",
        "sources.z.timestamp_tolerance",
        "sources.z.max_json_depth",
        "sources.z.destinations[0].timeout",
        "sources.z.destinations[0].concurrency",
        "sources.z.destinations[0].retry.max_attempts",
        "sources.z.destinations[0].retry.initial",
    ] {
        assert!(
            all.iter().any(|e| e.starts_with(place)),
            "{place}: {all:#?}"
        );
    }
    assert!(
        all.iter()
            .all(|e| !e.starts_with("server.shutdown_timeout")),
        "a zero shutdown timeout means: do not wait"
    );
}

#[test]
fn a_retry_cap_below_the_first_backoff_is_refused() {
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["s"]
[[sources.gh.destinations]]
url = "http://h/"
retry = { initial = "10m", max = "1m" }
"#;
    let line = error_with(text, &[], &["sources.gh.destinations[0].retry.max"]);
    assert!(line.contains("initial"), "{line}");
}

// ---- unknown keys ----------------------------------------------------------------------------

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
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["s"]
[[sources.gh.destinations]]
url = "http://h/"
[[sources.gh.destinations]]
url = "http://h2/"
retries = 3
"#;
    let line = error_with(
        text,
        &[],
        &["sources.gh.destinations[1].retries (line 9)", "unknown key"],
    );
    assert!(line.contains("accepted here: type, name, url"), "{line}");
}

#[test]
fn an_email_key_on_an_http_destination_says_to_set_the_type() {
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["s"]
[[sources.gh.destinations]]
smtp_url = "smtp://mail:25"
from = "a@example.com"
to = ["b@example.com"]
"#;
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

// ---- [defaults] --------------------------------------------------------------------------------

#[test]
fn sources_inherit_defaults_unless_they_set_their_own() {
    let text = r#"
[server]
max_body_bytes = "2MiB"

[defaults]
timestamp_tolerance = "2m"
rate_limit = { per_second = 5 }
allow_ips = ["10.0.0.0/8"]
max_body_bytes = "512KiB"
accept_status = 200
max_json_depth = 16
dedup = "body"

[sources.inherits]
provider = "github"
secrets = ["s"]

[sources.overrides]
provider = "github"
secrets = ["s"]
timestamp_tolerance = "10m"
rate_limit = { per_second = 7, burst = 9 }
allow_ips = []
max_body_bytes = "4MiB"
accept_status = 204
max_json_depth = 100
dedup = "provider"
"#;
    let config = loads(text, &[]);
    let a = config.source("inherits").expect("source");
    assert_eq!(
        a.overrides.timestamp_tolerance,
        Some(Duration::from_secs(120))
    );
    assert_eq!(
        a.rate_limit,
        Some(RateLimit {
            per_second: 5,
            burst: 5
        }),
        "burst defaults to per_second"
    );
    assert_eq!(a.allow_ips, vec![net("10.0.0.0/8")]);
    assert_eq!(a.max_body_bytes, 512 << 10);
    assert_eq!(a.accept_status, 200);
    assert_eq!(a.max_json_depth, 16);
    assert_eq!(a.dedup, DedupMode::Body);

    let b = config.source("overrides").expect("source");
    assert_eq!(
        b.overrides.timestamp_tolerance,
        Some(Duration::from_secs(600))
    );
    assert_eq!(
        b.rate_limit,
        Some(RateLimit {
            per_second: 7,
            burst: 9
        })
    );
    assert!(
        b.allow_ips.is_empty(),
        "a source's list replaces the default"
    );
    assert_eq!(b.max_body_bytes, 4 << 20);
    assert_eq!(b.accept_status, 204);
    assert_eq!(b.max_json_depth, 100);
    assert_eq!(b.dedup, DedupMode::Provider);
}

#[test]
fn without_defaults_a_source_takes_the_server_body_limit() {
    let text = format!("[server]\nmax_body_bytes = \"3MiB\"\n{ONE_SOURCE}");
    assert_eq!(loads(&text, &[]).sources[0].max_body_bytes, 3 << 20);
}

#[test]
fn preset_overrides_are_read_from_the_source() {
    let text = r#"
[sources.custom]
provider = "hmac"
secrets = ["k"]
signature_header = "X-Signature"
algorithm = "sha512"
encoding = "base64"
prefix = "sha512="
signed_payload = "{timestamp}.{body}"
timestamp_header = "X-Timestamp"
id_header = "X-Id"
id_field = "event_id"
public_url = "https://hooks.example.com/hooks/custom"
mode = "proxy"
[[sources.custom.destinations]]
url = "https://handler.internal/custom"
forward_headers = ["X-Event-Type"]
retry_4xx = true
concurrency = 4
name = "handler"
"#;
    let config = loads(text, &[]);
    let s = &config.sources[0];
    let o = &s.overrides;
    assert_eq!(o.signature_header.as_deref(), Some("X-Signature"));
    assert_eq!(o.algorithm.as_deref(), Some("sha512"));
    assert_eq!(o.encoding.as_deref(), Some("base64"));
    assert_eq!(o.prefix.as_deref(), Some("sha512="));
    assert_eq!(o.signed_payload.as_deref(), Some("{timestamp}.{body}"));
    assert_eq!(o.timestamp_header.as_deref(), Some("X-Timestamp"));
    assert_eq!(o.id_header.as_deref(), Some("X-Id"));
    assert_eq!(o.id_field.as_deref(), Some("event_id"));
    assert_eq!(
        o.public_url.as_deref(),
        Some("https://hooks.example.com/hooks/custom")
    );
    assert_eq!(s.mode, Mode::Proxy);
    let [Destination::Http(d)] = s.destinations.as_slice() else {
        panic!("one http destination")
    };
    assert_eq!(d.name, "handler");
    assert_eq!(d.forward_headers, ["x-event-type"]);
    assert!(d.retry_4xx);
    assert_eq!(d.max_concurrency, 4);
}

#[test]
fn bad_preset_override_values_name_their_key() {
    let text = r#"
[sources.custom]
provider = "hmac"
secrets = ["k"]
signature_header = "X Signature"
algorithm = "md5"
encoding = "base32"
public_url = "ftp://example.com/"
"#;
    let all = errors(text, &[]);
    for place in [
        "sources.custom.signature_header",
        "sources.custom.algorithm",
        "sources.custom.encoding",
        "sources.custom.public_url",
    ] {
        assert!(
            all.iter().any(|e| e.starts_with(place)),
            "{place}: {all:#?}"
        );
    }
    assert!(
        all.iter()
            .any(|e| e.contains("\"sha256\", \"sha512\", \"sha1\""))
    );
}

// ---- paths -------------------------------------------------------------------------------------

#[test]
fn a_relative_schema_path_is_resolved_against_the_config_file_directory() {
    let text = r#"
[sources.rel]
provider = "github"
secrets = ["s"]
schema = "schemas/rel.json"
[sources.abs]
provider = "github"
secrets = ["s"]
schema = "/opt/schemas/abs.json"
"#;
    let config = loads(text, &[]);
    assert_eq!(
        config.source("rel").and_then(|s| s.schema.clone()),
        Some(PathBuf::from("/etc/hookwall/schemas/rel.json"))
    );
    assert_eq!(
        config.source("abs").and_then(|s| s.schema.clone()),
        Some(PathBuf::from("/opt/schemas/abs.json"))
    );

    let bare =
        Config::from_str_with_env(text, Path::new("hookwall.toml"), &|_| None).expect("loads");
    assert_eq!(
        bare.source("rel").and_then(|s| s.schema.clone()),
        Some(PathBuf::from("schemas/rel.json")),
        "a config in the working directory keeps the schema path relative to it"
    );
}

#[test]
fn store_urls_are_sqlite_paths_or_postgres_urls() {
    let with = |url: &str| format!("[storage]\nurl = \"{url}\"\n{ONE_SOURCE}");
    assert_eq!(
        loads(&with("sqlite:///var/lib/hookwall/events.db"), &[])
            .storage
            .url,
        StoreUrl::Sqlite(PathBuf::from("/var/lib/hookwall/events.db"))
    );
    assert_eq!(
        loads(&with("postgres://hookwall@db/hookwall"), &[])
            .storage
            .url,
        StoreUrl::Postgres("postgres://hookwall@db/hookwall".to_owned())
    );
    let line = error_with(&with("mysql://root:hunter2@db/x"), &[], &["storage.url"]);
    assert!(
        line.contains("sqlite://") && line.contains("postgres://"),
        "{line}"
    );
    assert!(!line.contains("hunter2"), "{line}");
    error_with(
        &with("sqlite://"),
        &[],
        &["storage.url", "no database file"],
    );
}

#[test]
fn source_names_must_be_lower_case_words() {
    let text = r#"
[sources.GitHub]
provider = "github"
secrets = ["s"]
[sources."my source"]
provider = "github"
secrets = ["s"]
[sources.-dash]
provider = "github"
secrets = ["s"]
"#;
    let all = errors(text, &[]);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert!(all[0].starts_with("sources.GitHub (line 2)"), "{all:#?}");
    assert!(
        all[1].starts_with("sources.\"my source\" (line 5)"),
        "{all:#?}"
    );
    assert!(all.iter().all(|e| e.contains("lower-case letters")));
}

#[test]
fn a_path_override_must_start_with_a_slash_and_be_unique() {
    let text = r#"
[sources.a]
provider = "github"
secrets = ["s"]
path = "/hooks/shared"
[sources.b]
provider = "github"
secrets = ["s"]
path = "/hooks/shared"
[sources.c]
provider = "github"
secrets = ["s"]
path = "hooks/c"
[sources.d]
provider = "github"
secrets = ["s"]
path = "/hooks/{id}"
[sources.e]
provider = "github"
secrets = ["s"]
path = "/healthz"
[sources.f]
provider = "github"
secrets = ["s"]
path = "/hooks/a"
"#;
    let all = errors(text, &[]);
    let duplicate = error_with(text, &[], &["sources.b.path"]);
    assert!(duplicate.contains("source `a`"), "{duplicate}");
    error_with(text, &[], &["sources.c.path", "start with `/`"]);
    error_with(text, &[], &["sources.d.path", "`{`"]);
    error_with(text, &[], &["sources.e.path", "served by hookwall"]);
    assert!(
        all.iter().all(|e| !e.starts_with("sources.f")),
        "a path override may take another source's default path only if that source moved: {all:#?}"
    );
    assert_eq!(all.len(), 4, "{all:#?}");
}

#[test]
fn a_path_override_colliding_with_a_default_path_is_refused() {
    let text = r#"
[sources.a]
provider = "github"
secrets = ["s"]
[sources.b]
provider = "github"
secrets = ["s"]
path = "/hooks/a"
"#;
    error_with(text, &[], &["sources.b.path", "source `a`"]);
}

// ---- fail closed -------------------------------------------------------------------------------

#[test]
fn an_unknown_provider_is_refused_with_the_known_ones_listed() {
    let text = "[sources.x]\nprovider = \"githib\"\nsecrets = [\"s\"]\n";
    let line = error_with(text, &[], &["sources.x.provider (line 2)"]);
    assert!(line.contains("unknown provider `githib`"), "{line}");
    for known in crate::providers::KNOWN {
        assert!(line.contains(&format!("\"{known}\"")), "{known}: {line}");
    }
}

#[test]
fn a_source_without_a_provider_is_refused() {
    let line = error_with(
        "[sources.x]\nsecrets = [\"s\"]\n",
        &[],
        &["sources.x (line 1)"],
    );
    assert!(line.contains("missing required key `provider`"), "{line}");
}

#[test]
fn a_secrets_list_left_empty_by_unset_variables_is_refused_naming_them() {
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["${GH_NEW:-}", "${GH_OLD:-}"]
"#;
    let line = error_with(text, &[], &["sources.gh.secrets (line 4)"]);
    assert!(line.contains("every entry is empty"), "{line}");
    assert!(line.contains("GH_NEW") && line.contains("GH_OLD"), "{line}");
}

#[test]
fn an_explicitly_empty_secrets_list_is_refused() {
    error_with(
        "[sources.gh]\nprovider = \"stripe\"\nsecrets = []\n",
        &[],
        &["sources.gh.secrets", "needs at least one secret"],
    );
}

#[test]
fn a_source_with_neither_a_secret_nor_allow_ips_is_refused_with_the_fix() {
    let line = error_with(
        "[sources.gh]\nprovider = \"github\"\n",
        &[],
        &["sources.gh (line 1)"],
    );
    assert!(line.contains("missing required key `secrets`"), "{line}");
    assert!(
        line.contains("secrets = [\"${GH_WEBHOOK_SECRET}\"]"),
        "{line}"
    );
    assert!(line.contains("allow_ips"), "{line}");
}

#[test]
fn allow_ips_alone_does_not_stand_in_for_a_signing_secret() {
    let text = "[sources.gh]\nprovider = \"github\"\nallow_ips = [\"10.0.0.0/8\"]\n";
    error_with(text, &[], &["sources.gh", "missing required key `secrets`"]);
}

#[test]
fn secrets_written_as_a_string_ask_for_a_list() {
    let text = "[sources.gh]\nprovider = \"github\"\nsecrets = \"${GH}\"\n";
    let line = error_with(text, &[("GH", "s")], &["sources.gh.secrets (line 3)"]);
    assert!(line.contains("expected a list, found a string"), "{line}");
    assert!(line.contains("always a list"), "{line}");
}

#[test]
fn provider_none_requires_allow_ips_and_warns_loudly() {
    let ok = loads(
        "[sources.lan]\nprovider = \"none\"\nallow_ips = [\"10.1.2.3\", \"fd00::1\"]\n",
        &[],
    );
    assert_eq!(
        ok.sources[0].allow_ips,
        vec![net("10.1.2.3/32"), net("fd00::1/128")],
        "bare addresses are single hosts"
    );
    assert!(
        ok.warnings
            .iter()
            .any(|w| w.contains("UNVERIFIED") && w.contains("sources.lan")),
        "{:?}",
        ok.warnings
    );

    let line = error_with(
        "[sources.lan]\nprovider = \"none\"\n",
        &[],
        &["sources.lan"],
    );
    assert!(line.contains("needs allow_ips"), "{line}");
}

#[test]
fn provider_none_inherits_allow_ips_from_defaults() {
    let text = "[defaults]\nallow_ips = [\"10.0.0.0/8\"]\n[sources.lan]\nprovider = \"none\"\n";
    assert_eq!(
        loads(text, &[]).sources[0].allow_ips,
        vec![net("10.0.0.0/8")]
    );
}

#[test]
fn provider_none_with_an_allowlist_open_to_everyone_is_refused() {
    let text = "[sources.lan]\nprovider = \"none\"\nallow_ips = [\"10.0.0.0/8\", \"::/0\"]\n";
    error_with(
        text,
        &[],
        &["sources.lan.allow_ips (line 3)", "admits everyone"],
    );
}

#[test]
fn provider_none_with_secrets_is_refused_as_protecting_nothing() {
    let text =
        "[sources.lan]\nprovider = \"none\"\nsecrets = [\"s\"]\nallow_ips = [\"10.0.0.0/8\"]\n";
    error_with(text, &[], &["sources.lan.secrets", "protect nothing"]);
}

#[test]
fn standard_webhooks_may_verify_with_public_keys_alone() {
    let text = "[sources.sw]\nprovider = \"standard-webhooks\"\npublic_keys = [\"whpk_WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=\", \"${OLD_KEY:-}\"]\n";
    let config = loads(text, &[]);
    assert_eq!(
        config.sources[0].public_keys,
        ["whpk_WGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY="]
    );
    assert!(config.sources[0].secrets.is_empty());
}

#[test]
fn public_keys_on_a_provider_that_does_not_use_them_are_refused() {
    let text = "[sources.gh]\nprovider = \"github\"\nsecrets = [\"s\"]\npublic_keys = [\"k\"]\n";
    error_with(
        text,
        &[],
        &["sources.gh.public_keys", "does not verify with public keys"],
    );
}

#[test]
fn cidrs_that_do_not_parse_name_their_entry() {
    let text = format!(
        "[server]\ntrusted_proxies = [\"10.0.0.0/33\", \"172.16.0.0/12\", \"proxy.local\"]\n{ONE_SOURCE}"
    );
    let all = errors(&text, &[]);
    assert_eq!(all.len(), 2, "{all:#?}");
    assert!(
        all[0].starts_with("server.trusted_proxies[0] (line 2)"),
        "{all:#?}"
    );
    assert!(all[1].starts_with("server.trusted_proxies[2]"), "{all:#?}");
}

#[test]
fn cidrs_with_host_bits_are_normalised_to_their_network() {
    let text = format!("[server]\ntrusted_proxies = [\"172.17.0.1/16\"]\n{ONE_SOURCE}");
    let config = loads(&text, &[]);
    assert_eq!(config.server.trusted_proxies, vec![net("172.17.0.0/16")]);
    let inside: IpAddr = "172.17.200.3".parse().expect("test address");
    assert!(config.server.trusted_proxies[0].contains(&inside));
}

// ---- destinations ------------------------------------------------------------------------------

#[test]
fn destination_urls_must_be_http_or_https() {
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["s"]
[[sources.gh.destinations]]
url = "ftp://files/x"
[[sources.gh.destinations]]
url = "not a url"
[[sources.gh.destinations]]
"#;
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
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["s"]
[[sources.gh.destinations]]
url = "http://a/"
name = "handler"
[[sources.gh.destinations]]
url = "http://b/"
name = "handler"
"#;
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
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["s"]
[[sources.gh.destinations]]
url = "http://a/"
name = "handler"
[sources.shop]
provider = "shopify"
secrets = ["s"]
[[sources.shop.destinations]]
url = "http://b/"
name = "handler"
"#;
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
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["s"]
[[sources.gh.destinations]]
url = "http://a/"
forward_headers = ["X-GitHub-Event", "Authorization", "webhook-signature", "bad header"]
"#;
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
    let text = r#"
[sources.gh]
provider = "github"
secrets = ["s"]
[[sources.gh.destinations]]
url = "http://a/"
signing_secret = "${SIGNING:-}"
"#;
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

// ---- server ------------------------------------------------------------------------------------

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

// ---- secrets stay secret -------------------------------------------------------------------------

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

// ---- everything at once --------------------------------------------------------------------------

#[test]
fn every_error_in_the_file_is_reported_in_one_pass_in_line_order() {
    let text = r#"
bogus = 1
[server]
listen = "nowhere"
request_timeout = "soon"
[storage]
url = "redis://cache"
[defaults]
rate_limit = { per_second = -1 }
[sources.a]
provider = "unknown-provider"
secrets = ["s"]
[sources.b]
provider = "github"
[sources.c]
provider = "github"
secrets = ["${MISSING_VAR}"]
[[sources.c.destinations]]
url = "ftp://x/"
retry = { initial = "1x" }
"#;
    let all = errors(text, &[]);
    let expected = [
        "bogus (line 2)",
        "server.listen (line 4)",
        "server.request_timeout (line 5)",
        "storage.url (line 7)",
        "defaults.rate_limit.per_second (line 9)",
        "sources.a.provider (line 11)",
        "sources.b (line 13)",
        "sources.c.secrets[0] (line 17)",
        "sources.c.destinations[0].url (line 19)",
        "sources.c.destinations[0].retry.initial (line 20)",
    ];
    assert_eq!(all.len(), expected.len(), "{all:#?}");
    for (line, place) in all.iter().zip(expected) {
        assert!(line.starts_with(place), "expected {place}, got {line}");
    }

    let joined = ConfigErrors(load(text, &[]).expect_err("invalid").0).to_string();
    assert_eq!(joined.lines().count(), expected.len(), "one error per line");
}

// ---- the file itself -----------------------------------------------------------------------------

#[test]
fn load_reads_the_file_and_reports_a_missing_one() {
    let dir = std::env::temp_dir().join(format!("hookwall-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("hookwall.toml");
    std::fs::write(&path, ONE_SOURCE).expect("write config");
    let config = Config::load(&path).expect("loads");
    assert_eq!(config.path, path);
    assert_eq!(config.sources[0].name, "ok");
    std::fs::remove_dir_all(&dir).expect("clean up");

    let missing = Config::load(&dir.join("absent.toml")).expect_err("no file");
    assert_eq!(missing.0.len(), 1);
    assert!(matches!(missing.0[0].kind, ConfigErrorKind::Read(_)));
    assert!(missing.to_string().contains("absent.toml"), "{missing}");
}

#[test]
fn an_empty_file_loads_with_defaults_and_warns_that_no_source_is_configured() {
    let config = loads("", &[]);
    assert!(config.sources.is_empty());
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("no [sources.NAME]"))
    );
}

#[test]
fn an_admin_token_with_a_line_break_is_refused_and_a_padded_secret_warns() {
    let text = "[server]\nadmin_token = \"${TOKEN}\"\n[sources.gh]\nprovider = \"github\"\nsecrets = [\"${GH}\"]\n";
    let line = error_with(
        text,
        &[("TOKEN", "0123456789abcdef0123\n"), ("GH", "s")],
        &["server.admin_token"],
    );
    assert!(line.contains("visible ASCII"), "{line}");

    let config = loads(
        text,
        &[("TOKEN", "0123456789abcdef0123"), ("GH", "gh-secret\n")],
    );
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("sources.gh.secrets[0]") && w.contains("whitespace")),
        "{:?}",
        config.warnings
    );
    assert_eq!(secrets_of(&config.sources[0]), ["gh-secret\n"], "verbatim");
}

#[test]
fn values_from_the_environment_are_not_echoed_but_written_ones_are() {
    let text = r#"
[sources.gh]
provider = "${PROVIDER}"
secrets = ["s"]
allow_ips = ["${IPS}", "not-a-cidr"]
"#;
    let env = [("PROVIDER", "LEAK-provider"), ("IPS", "LEAK-ips")];
    let all = errors(text, &env);
    assert!(all.iter().all(|e| !e.contains("LEAK-")), "{all:#?}");
    error_with(
        text,
        &env,
        &["sources.gh.provider", "the value from $PROVIDER"],
    );
    error_with(
        text,
        &env,
        &["sources.gh.allow_ips[0]", "the value from $IPS"],
    );
    error_with(text, &env, &["sources.gh.allow_ips[1]", "`not-a-cidr`"]);
}

#[test]
fn arbitrary_edits_of_the_spec_example_never_panic() {
    // A cheap, deterministic stand-in for the fuzz target: delete, duplicate or replace bytes.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"[]{}\"'=,.$:-_/\n #\\0123456789azAZ";
    let env = |name: &str| Some(format!("v-{name}"));
    for _ in 0..2_000 {
        let mut bytes = SPEC_EXAMPLE.as_bytes().to_vec();
        for _ in 0..1 + next() % 4 {
            let at = usize::try_from(next()).unwrap_or(0) % bytes.len();
            let pick = alphabet[usize::try_from(next()).unwrap_or(0) % alphabet.len()];
            match next() % 3 {
                0 => {
                    bytes.remove(at);
                }
                1 => bytes.insert(at, pick),
                _ => bytes[at] = pick,
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = Config::from_str_with_env(&text, Path::new(CONFIG_PATH), &env);
    }
}

#[test]
fn every_key_the_loader_accepts_is_in_the_configuration_reference() {
    use super::reader::names;
    use super::schema::{TOP_KEYS, destinations, server, sources, storage};
    // Top-level tables are documented as section headings: `[server]`, `[sources.NAME]`.
    for table in TOP_KEYS {
        assert!(
            include_str!("../../../docs/configuration.md").contains(&format!("`[{table}")),
            "table [{table}] missing from docs/configuration.md"
        );
    }
    let reference = include_str!("../../../docs/configuration.md");
    let lists = [
        names(server::KEYS),
        names(server::CLIENT_PREFIX_KEYS),
        names(storage::KEYS),
        names(sources::DEFAULTS_KEYS),
        sources::SOURCE_KEYS.to_vec(),
        sources::RATE_LIMIT_KEYS.to_vec(),
        destinations::HTTP_KEYS.to_vec(),
        destinations::EMAIL_KEYS.to_vec(),
        destinations::RETRY_KEYS.to_vec(),
    ];
    let missing: Vec<&str> = lists
        .iter()
        .flat_map(|keys| keys.iter().copied())
        .filter(|key| !reference.contains(&format!("`{key}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from docs/configuration.md: {missing:?}"
    );
}

/// Found by the `urls_and_bodies` fuzz target in CI: the URL parser drops trailing control
/// characters (and spaces, and newlines anywhere), so such a `public_url` was accepted, but its
/// raw text was what the signature was checked against: every Twilio request got 401.
#[test]
fn regression_public_url_with_a_trailing_newline_or_control_character_is_refused() {
    let source = |url: &str| {
        format!("[sources.sms]\nprovider = \"twilio\"\nsecrets = [\"k\"]\npublic_url = \"{url}\"\n")
    };
    for url in [
        "${TWILIO_URL}",
        "https://hooks.example.com/sms\\u0000",
        " https://hooks.example.com/sms",
        "https://hooks.example.com/s\\tms",
    ] {
        let line = error_with(
            &source(url),
            &[("TWILIO_URL", "https://hooks.example.com/sms\n")],
            &["sources.sms.public_url", "control characters"],
        );
        assert!(line.contains("remove them"), "{line}");
    }
    // The clean URL loads.
    loads(&source("https://hooks.example.com/sms"), &[]);
}
