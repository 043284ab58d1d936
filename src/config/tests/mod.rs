//! Loading the configuration: the SPEC example, interpolation, units, unknown keys, defaults,
//! the fail-closed rules, and that no secret ever reaches `Debug` or an error message.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;

mod admin_tokens;
mod defaults;
mod destinations;
mod durations_and_sizes;
mod event_types;
mod fail_closed;
mod interpolation;
mod paths;
mod quarantine;
mod queue_destinations;
mod rules;
mod secrets;
mod server;
mod spec_example;
mod unknown_keys;
mod whole_file;

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

/// A config of one source, `gh` (GitHub, secret `s`), whose first destination has `keys` (TOML
/// lines, and anything after them). Its header is on line 2, as in the raw-string configs.
fn gh_destination(keys: &str) -> String {
    format!(
        "\n[sources.gh]\nprovider = \"github\"\nsecrets = [\"s\"]\n[[sources.gh.destinations]]\n{keys}"
    )
}

/// A config of one source, `gh` (GitHub), whose `secrets` list holds `items` (TOML).
fn gh_secrets(items: &str) -> String {
    format!("\n[sources.gh]\nprovider = \"github\"\nsecrets = [{items}]\n")
}

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
