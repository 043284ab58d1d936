//! OpenTelemetry traces for real (SPEC section 14): the binary runs with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a local HTTP server that records what it gets, and
//! the tests decode the OTLP/HTTP protobuf with `opentelemetry-proto`: the request span and its
//! step spans with the right parents and outcomes, the delivery span linked to the request span
//! and named by the `traceparent` the handler received, an untrusted `traceparent` ignored, and
//! a collector that never answers changing no answer.

#[path = "support/brokers.rs"]
mod brokers;
#[path = "support/downstream.rs"]
mod downstream;
#[path = "support/process.rs"]
mod process;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use brokers::NatsStream;
use downstream::{Answer, Downstream};
use hmac::{KeyInit, Mac};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use process::{Killed, free_port, wait_ready};
use prost::Message;

const SECRET: &str = "gh-trace-secret";
const ADMIN_TOKEN: &str = "trace-test-admin-token-0123456789";
const INCOMING: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// A gateway with one GitHub source delivering to `destination` (the TOML of its
/// destination table), exporting traces to `collector`.
struct Gateway {
    _process: Killed,
    base: String,
    admin: String,
    client: reqwest::Client,
}

impl Gateway {
    async fn start(
        collector: &str,
        trusted_proxies: &str,
        destination: &str,
        env: &[(&str, &str)],
    ) -> (Gateway, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let (port, admin_port) = (free_port(), free_port());
        let config = dir.path().join("hookwall.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin_port}\"\n\
                 trusted_proxies = [{trusted_proxies}]\nadmin_token = \"{ADMIN_TOKEN}\"\n\
                 [storage]\nurl = \"sqlite://{db}\"\n\n\
                 [sources.gh]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n\
                 rate_limit = {{ per_second = 1000 }}\n\
                 [[sources.gh.destinations]]\n{destination}\n",
                db = dir.path().join("hookwall.db").display(),
            ),
        )
        .expect("write the config");
        let mut command = Command::new(env!("CARGO_BIN_EXE_hookwall"));
        command
            .args(["serve", "--config"])
            .arg(&config)
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
            .env("OTEL_BSP_SCHEDULE_DELAY", "50")
            .env("OTEL_SERVICE_NAME", "hookwall-under-test")
            .env("HOOKWALL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let process = Killed(command.spawn().expect("hookwall starts"));
        let client = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&client, &format!("{base}/readyz")).await;
        let gateway = Gateway {
            _process: process,
            base,
            admin: format!("http://127.0.0.1:{admin_port}"),
            client,
        };
        (gateway, dir)
    }

    /// Posts a GitHub webhook, signed with the right secret or not, with extra headers.
    async fn post(&self, delivery: &str, signed: bool, headers: &[(&str, &str)]) -> u16 {
        let body = format!(r#"{{"delivery":"{delivery}"}}"#);
        let key = if signed { SECRET } else { "not-the-secret" };
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("key");
        mac.update(body.as_bytes());
        let mut request = self
            .client
            .post(format!("{}/hooks/gh", self.base))
            .header("content-type", "application/json")
            .header("x-github-delivery", delivery)
            .header(
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
            )
            .timeout(Duration::from_secs(10))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("answered").status().as_u16()
    }

    /// `GET /admin/events/{id}`.
    async fn event(&self, id: &str) -> serde_json::Value {
        let response = self
            .client
            .get(format!("{}/admin/events/{id}", self.admin))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin answered");
        assert_eq!(response.status(), 200);
        response.json().await.expect("an event")
    }

    async fn metrics(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .expect("metrics answered");
        assert_eq!(response.status(), 200);
        response.text().await.expect("metrics text")
    }
}

/// Every span the collector received so far.
fn spans(collector: &Downstream) -> Vec<Span> {
    collector
        .received()
        .into_iter()
        .filter(|request| request.path == "/v1/traces")
        .flat_map(|request| {
            ExportTraceServiceRequest::decode(&request.body[..])
                .expect("an OTLP/HTTP protobuf export request")
                .resource_spans
        })
        .flat_map(|resource| resource.scope_spans)
        .flat_map(|scope| scope.spans)
        .collect()
}

/// Waits until the collector holds spans that `done` accepts, and returns them.
async fn spans_until(collector: &Downstream, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
    let started = Instant::now();
    loop {
        let spans = spans(collector);
        if done(&spans) {
            return spans;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the collector did not get the spans: {:#?}",
            spans
                .iter()
                .map(|s| (&s.name, attribute(s, "hookwall.request_id")))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The destination table of an HTTP destination posting to `handler`.
fn http_to(handler: &Downstream) -> String {
    format!("url = \"{}\"", handler.url("/hook"))
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let value = span.attributes.iter().find(|kv| kv.key == key)?;
    match value.value.as_ref()?.value.as_ref()? {
        Value::StringValue(text) => Some(text.clone()),
        Value::IntValue(n) => Some(n.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn request_span<'a>(spans: &'a [Span], request_id: &str) -> Option<&'a Span> {
    spans
        .iter()
        .find(|span| attribute(span, "hookwall.request_id").as_deref() == Some(request_id))
}

fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|span| span.trace_id == parent.trace_id && span.parent_span_id == parent.span_id)
        .collect()
}

fn header_value(id: &[u8]) -> String {
    hex::encode(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_from_a_trusted_proxy_continues_its_trace_through_every_step_to_the_delivery() {
    let collector = Downstream::start().await;
    let handler = Downstream::start().await;
    let (gateway, _dir) = Gateway::start(
        &collector.url(""),
        "\"127.0.0.1/32\"",
        &http_to(&handler),
        &[],
    )
    .await;

    let status = gateway
        .post(
            "trace-1",
            true,
            &[("traceparent", INCOMING), ("x-request-id", "req-trace-1")],
        )
        .await;
    assert_eq!(status, 202);
    handler.wait_for(1, Duration::from_secs(20)).await;
    let delivered = &handler.received()[0];
    let sent_traceparent = delivered
        .headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .expect("the delivery carries a traceparent")
        .to_owned();

    let spans = spans_until(&collector, |spans| {
        request_span(spans, "req-trace-1").is_some()
            && spans.iter().any(|s| s.name == "deliver gh-1")
            && spans.iter().any(|s| s.name == "accept")
    })
    .await;

    // The request span continues the proxy's trace, as its child.
    let request = request_span(&spans, "req-trace-1").expect("the request span");
    assert_eq!(request.name, "POST /hooks/gh");
    assert_eq!(
        header_value(&request.trace_id),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(header_value(&request.parent_span_id), "b7ad6b7169203331");
    assert_eq!(
        attribute(request, "hookwall.outcome").as_deref(),
        Some("pass")
    );
    assert_eq!(
        attribute(request, "http.response.status_code").as_deref(),
        Some("202")
    );
    assert_eq!(attribute(request, "hookwall.source").as_deref(), Some("gh"));

    // Each step that ran is one child of the request span, in order, and every one passed.
    let mut steps = children(&spans, request);
    steps.sort_by_key(|span| span.start_time_unix_nano);
    let names: Vec<&str> = steps.iter().map(|span| span.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "client_ip",
            "framing",
            "load_shedding",
            "request_timeout",
            "allowlist",
            "rate_limit",
            "subscription",
            "method_and_type",
            "header_credential",
            "body",
            "signature",
            "payload",
            "signed_handshake",
            "accept",
        ]
    );
    for step in &steps {
        assert_eq!(
            attribute(step, "hookwall.outcome").as_deref(),
            Some("pass"),
            "{}",
            step.name
        );
        assert!(step.end_time_unix_nano >= step.start_time_unix_nano);
    }

    // The delivery attempt is a trace of its own, linked to the request span, and the handler
    // got the attempt span's id as its parent.
    let delivery = spans
        .iter()
        .find(|span| span.name == "deliver gh-1")
        .expect("the delivery span");
    assert_ne!(delivery.trace_id, request.trace_id);
    assert!(delivery.parent_span_id.is_empty());
    assert_eq!(delivery.links.len(), 1);
    assert_eq!(delivery.links[0].trace_id, request.trace_id);
    assert_eq!(delivery.links[0].span_id, request.span_id);
    assert_eq!(
        attribute(delivery, "hookwall.outcome").as_deref(),
        Some("delivered")
    );
    assert_eq!(
        sent_traceparent,
        format!(
            "00-{}-{}-01",
            header_value(&delivery.trace_id),
            header_value(&delivery.span_id)
        )
    );

    // The link came from the event: it keeps the request span's traceparent.
    let event_id = delivered
        .headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .expect("the delivery names its event");
    let event = gateway.event(event_id).await;
    assert_eq!(
        event["trace_context"],
        format!(
            "00-{}-{}-01",
            header_value(&request.trace_id),
            header_value(&request.span_id)
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_traceparent_is_ignored_and_a_refusal_names_its_step_and_reason() {
    let collector = Downstream::start().await;
    let handler = Downstream::start().await;
    // The test client (127.0.0.1) is not a trusted proxy here.
    let (gateway, _dir) = Gateway::start(
        &collector.url(""),
        "\"10.0.0.0/8\"",
        &http_to(&handler),
        &[],
    )
    .await;

    let accepted = gateway
        .post(
            "trace-2",
            true,
            &[("traceparent", INCOMING), ("x-request-id", "req-untrusted")],
        )
        .await;
    assert_eq!(accepted, 202);
    let refused = gateway
        .post("trace-3", false, &[("x-request-id", "req-refused")])
        .await;
    assert_eq!(refused, 401);

    let spans = spans_until(&collector, |spans| {
        request_span(spans, "req-untrusted").is_some()
            && request_span(spans, "req-refused").is_some()
            && spans.iter().filter(|s| s.name == "signature").count() >= 2
    })
    .await;

    // A new root: neither the incoming trace nor a link to it.
    let untrusted = request_span(&spans, "req-untrusted").expect("the request span");
    assert_ne!(
        header_value(&untrusted.trace_id),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert!(untrusted.parent_span_id.is_empty());
    assert!(untrusted.links.is_empty());

    // The refused request: the signature step failed with the rejections_total reason, the
    // request span says so too, and no step after it ran.
    let refused = request_span(&spans, "req-refused").expect("the refused request's span");
    assert_eq!(
        attribute(refused, "hookwall.outcome").as_deref(),
        Some("fail")
    );
    assert_eq!(
        attribute(refused, "hookwall.reason").as_deref(),
        Some("bad_signature")
    );
    assert_eq!(
        attribute(refused, "http.response.status_code").as_deref(),
        Some("401")
    );
    let steps = children(&spans, refused);
    let signature = steps
        .iter()
        .find(|span| span.name == "signature")
        .expect("the signature step");
    assert_eq!(
        attribute(signature, "hookwall.outcome").as_deref(),
        Some("fail")
    );
    assert_eq!(
        attribute(signature, "hookwall.reason").as_deref(),
        Some("bad_signature")
    );
    let body = steps
        .iter()
        .find(|span| span.name == "body")
        .expect("the body step");
    assert_eq!(attribute(body, "hookwall.outcome").as_deref(), Some("pass"));
    assert!(
        !steps
            .iter()
            .any(|span| span.name == "payload" || span.name == "accept")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_changes_no_answer_and_its_spans_are_counted_as_dropped() {
    // The collector takes the connection and answers after a minute: exports hang until their
    // timeout, the small queue fills, spans are dropped.
    let collector = Downstream::builder()
        .always(Answer::status(200).after(Duration::from_secs(60)))
        .start()
        .await;
    let handler = Downstream::start().await;
    let (gateway, _dir) = Gateway::start(
        &collector.url(""),
        "",
        &http_to(&handler),
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "8"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
        ],
    )
    .await;

    for n in 0..20 {
        let started = Instant::now();
        assert_eq!(gateway.post(&format!("dead-{n}"), true, &[]).await, 202);
        assert_eq!(gateway.post(&format!("bad-{n}"), false, &[]).await, 401);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "two requests took {:?} with a hung collector",
            started.elapsed()
        );
    }
    handler.wait_for(20, Duration::from_secs(30)).await;

    let metrics = gateway.metrics().await;
    let dropped: u64 = metrics
        .lines()
        .find_map(|line| line.strip_prefix("hookwall_trace_spans_dropped_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("hookwall_trace_spans_dropped_total is exported");
    assert!(dropped > 0, "no span counted as dropped:\n{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_message_carries_the_traceparent_of_its_attempt_span_as_a_header() {
    let Some(stream) = NatsStream::create().await else {
        return;
    };
    let collector = Downstream::start().await;
    let (gateway, _dir) = Gateway::start(
        &collector.url(""),
        "",
        &format!(
            "type = \"nats\"\nurl = \"nats://{}\"\nsubject = \"{}\"",
            brokers::NATS_ADDR,
            stream.subject
        ),
        &[],
    )
    .await;

    assert_eq!(gateway.post("queued-1", true, &[]).await, 202);
    let spans = spans_until(&collector, |spans| {
        spans.iter().any(|s| s.name == "deliver gh-1")
    })
    .await;
    let delivery = spans
        .iter()
        .find(|span| span.name == "deliver gh-1")
        .expect("the delivery span");
    assert_eq!(
        attribute(delivery, "hookwall.outcome").as_deref(),
        Some("delivered")
    );

    let messages = stream.messages().await;
    assert_eq!(messages.len(), 1);
    let header = messages[0]
        .headers
        .get("traceparent")
        .map(|value| value.as_str().to_owned());
    assert_eq!(
        header,
        Some(format!(
            "00-{}-{}-01",
            header_value(&delivery.trace_id),
            header_value(&delivery.span_id)
        ))
    );
}
