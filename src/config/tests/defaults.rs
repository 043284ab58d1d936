//! `[defaults]` and what a source inherits from it; preset overrides on a source.

use super::*;

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
    let [destination] = s.destinations.as_slice() else {
        panic!("one destination")
    };
    let DestinationKind::Http(d) = &destination.kind else {
        panic!("an http destination")
    };
    assert_eq!(destination.name, "handler");
    assert_eq!(d.forward_headers, ["x-event-type"]);
    assert!(d.retry_4xx);
    assert_eq!(destination.concurrency, 4);
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
