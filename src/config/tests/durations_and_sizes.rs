//! Durations, sizes and counts: every documented form, the bounds, and the values that mean nothing
//! at zero.

use super::*;

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
    let text = &gh_destination(
        r#"url = "http://h/"
retry = { initial = "10m", max = "1m" }
"#,
    );
    let line = error_with(text, &[], &["sources.gh.destinations[0].retry.max"]);
    assert!(line.contains("initial"), "{line}");
}
