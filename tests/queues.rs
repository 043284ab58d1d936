//! Queue destinations as a user runs them: the real `hookwall` binary with a Standard Webhooks
//! source and one `nats`, `redis` or `amqp` destination, a signed webhook POSTed to it, and the
//! message read back from the real broker with the broker's own client crate. Every message's
//! body and headers are checked, its `webhook-signature` with the Standard Webhooks verifier.
//! Brokers that fail on purpose: a NATS subject no stream captures, an AMQP message no queue
//! takes, an acknowledgement lost on the way back, and a broker that goes away (a TCP proxy cut
//! and restored between the gateway and the broker) lose nothing and deliver each event once.
//!
//! Each test skips with a printed reason when its broker does not answer (`.ci/run` starts
//! them).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hookwall::providers::{Inbound, Overrides, Preset};
use secrecy::SecretString;
use serde_json::Value;

#[path = "support/brokers.rs"]
mod brokers;
#[path = "support/process.rs"]
mod process;
use brokers::{
    AMQP_ADDR, AMQP_USER, AmqpQueue, NATS_ADDR, NatsStream, Proxy, REDIS_ADDR, RedisStream,
};
use process::{Killed, free_port, wait_ready};

const ADMIN_TOKEN: &str = "queues-admin-token-0123456789";
/// The source's key: the provider signs with it.
const SOURCE_SECRET: &str = "whsec_c291cmNlLXNpZGUta2V5LWZvci10ZXN0cw==";
/// The destination's key: hookwall signs every message with it.
const QUEUE_SECRET: &str = "whsec_cXVldWUtc2lkZS1rZXktZm9yLXRlc3Rz";
const BODY: &[u8] = br#"{"type":"invoice.paid","data":{"amount":2000}}"#;
/// Long enough for a debug build on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// A running gateway with one source, `sw`, and one destination, `queue`.
struct Gateway {
    _child: Killed,
    _dir: tempfile::TempDir,
    base: String,
    admin: String,
    client: reqwest::Client,
}

impl Gateway {
    /// Starts the binary with `destination` (TOML keys of `[[sources.sw.destinations]]`): a 1 s
    /// timeout, quick retries, no circuit breaker, the destination's signing key.
    async fn start(destination: &str) -> Gateway {
        let dir = tempfile::tempdir().expect("temp dir");
        let (port, admin_port) = (free_port(), free_port());
        let config = dir.path().join("hookwall.toml");
        std::fs::write(
            &config,
            format!(
                r#"[server]
listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:{admin_port}"
admin_token = "{ADMIN_TOKEN}"

[storage]
url = "sqlite://{db}"

[sources.sw]
provider = "standard-webhooks"
secrets = ["{SOURCE_SECRET}"]

[[sources.sw.destinations]]
name = "queue"
timeout = "1s"
retry = {{ initial = "50ms", max = "300ms", max_attempts = 1000, max_age = "10m" }}
circuit = false
signing_secret = "{QUEUE_SECRET}"
{destination}
"#,
                db = dir.path().join("hookwall.db").display()
            ),
        )
        .expect("write config");
        let child = Command::new(env!("CARGO_BIN_EXE_hookwall"))
            .args(["serve", "--config"])
            .arg(&config)
            .env_remove("HOOKWALL_CONFIG")
            .env("HOOKWALL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns hookwall");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&client, &format!("{base}/readyz")).await;
        Gateway {
            _child: Killed(child),
            _dir: dir,
            base,
            admin: format!("http://127.0.0.1:{admin_port}"),
            client,
        }
    }

    /// POSTs `BODY` signed as the provider would, under provider id `webhook_id`; the event id.
    async fn post(&self, webhook_id: &str) -> String {
        let provider = Preset::build(
            "standard-webhooks",
            &[SecretString::from(SOURCE_SECRET)],
            &[],
            &Overrides::default(),
        )
        .expect("the provider's signer");
        let mut request = self
            .client
            .post(format!("{}/hooks/sw", self.base))
            .header("content-type", "application/json")
            .body(BODY.to_vec());
        for (name, value) in provider.sign(BODY, now(), webhook_id).expect("signs") {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("answered");
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        let answer: Value = response.json().await.expect("JSON");
        answer["id"].as_str().expect("an event id").to_owned()
    }

    /// `GET /admin/events/{id}`.
    async fn event(&self, id: &str) -> Value {
        let response = self
            .client
            .get(format!("{}/admin/events/{id}", self.admin))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON")
    }

    /// The event once `done` holds of it, or a failure naming what it was after `PATIENCE`.
    async fn event_once(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let event = self.event(id).await;
            if done(&event) {
                return event;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "event {id} never {what}: {event:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn delivered(&self, id: &str) -> Value {
        self.event_once(id, "delivered", |e| e["status"] == "delivered")
            .await
    }

    /// The event once it has failed at least twice (it is being retried).
    async fn retried(&self, id: &str) -> Value {
        let event = self
            .event_once(id, "failed twice", |e| {
                e["attempts"].as_i64().unwrap_or(0) >= 2 && e["last_error"].is_string()
            })
            .await;
        assert_ne!(event["status"], "dead", "{event:#}");
        event
    }

    async fn replay(&self, id: &str) {
        let response = self
            .client
            .post(format!("{}/admin/events/{id}/replay", self.admin))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("answered");
        assert!(response.status().is_success(), "{}", response.status());
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// Checks what every message carries (SPEC section 10) for `event` (its admin JSON): `header`
/// reads one header of the message, `body` is its body.
fn assert_envelope(event: &Value, body: &[u8], header: &dyn Fn(&str) -> Option<String>) {
    assert_eq!(body, BODY, "the raw body");
    let id = event["id"].as_str().expect("id");
    assert_eq!(header("webhook-id").as_deref(), Some(id));
    let timestamp: i64 = header("webhook-timestamp")
        .and_then(|t| t.parse().ok())
        .expect("webhook-timestamp in unix seconds");
    assert!((now() - timestamp).abs() < 300, "{timestamp}");
    assert_eq!(header("x-hookwall-source").as_deref(), Some("sw"));
    assert_eq!(
        header("x-hookwall-event-type").as_deref(),
        event["event_type"].as_str(),
        "the event type, or no header when the event has none"
    );
    assert_eq!(header("content-type").as_deref(), Some("application/json"));
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let value = header(name).unwrap_or_else(|| panic!("{name} is missing"));
        headers.insert(name, value.parse().expect("a header value"));
    }
    let verifier = Preset::build(
        "standard-webhooks",
        &[SecretString::from(QUEUE_SECRET)],
        &[],
        &Overrides::default(),
    )
    .expect("verifier");
    let inbound = Inbound {
        headers: &headers,
        body,
        url: None,
        now: now(),
    };
    if let Err(err) = verifier.verify(&inbound) {
        panic!("webhook-signature does not verify: {err}");
    }
}

fn nats_header(
    message: &async_nats::jetstream::message::StreamMessage,
    name: &str,
) -> Option<String> {
    message.headers.get(name).map(|v| v.as_str().to_owned())
}

fn amqp_header(message: &lapin::message::BasicGetMessage, name: &str) -> Option<String> {
    let headers = message.delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        lapin::types::AMQPValue::LongString(text) => {
            Some(String::from_utf8_lossy(text.as_bytes()).into_owned())
        }
        other => panic!("{name} is {other:?}"),
    }
}

fn redis_field(entry: &brokers::Entry, name: &str) -> Option<String> {
    entry
        .get(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

#[tokio::test]
async fn hookwall_check_names_the_key_and_the_fix_for_a_queue_url_that_does_not_parse_and_needs_no_broker()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let check = |destination: &str| {
        let config = dir.path().join("hookwall.toml");
        std::fs::write(
            &config,
            format!(
                "[sources.sw]\nprovider = \"standard-webhooks\"\nsecrets = [\"{SOURCE_SECRET}\"]\n\
                 [[sources.sw.destinations]]\n{destination}\n"
            ),
        )
        .expect("write config");
        Command::new(env!("CARGO_BIN_EXE_hookwall"))
            .args(["check", "--config"])
            .arg(&config)
            .env_remove("HOOKWALL_CONFIG")
            .output()
            .expect("runs")
    };
    let bad = check("type = \"nats\"\nurl = \"nats//127.0.0.1:4222\"\nsubject = \"webhooks.sw\"");
    assert!(!bad.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(
        said.contains("sources.sw.destinations[0].url") && said.contains("write e.g. \"nats://"),
        "{said}"
    );
    // A closed port: building a destination connects to nothing.
    let closed = free_port();
    for destination in [
        format!("type = \"nats\"\nurl = \"nats://127.0.0.1:{closed}\"\nsubject = \"webhooks.sw\""),
        format!("type = \"redis\"\nurl = \"redis://127.0.0.1:{closed}/0\"\nstream = \"webhooks\""),
        format!(
            "type = \"amqp\"\nurl = \"amqp://u:p@127.0.0.1:{closed}/%2f\"\nexchange = \"\"\nrouting_key = \"q\""
        ),
    ] {
        let good = check(&destination);
        assert!(
            good.status.success(),
            "{destination}: {}{}",
            String::from_utf8_lossy(&good.stdout),
            String::from_utf8_lossy(&good.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_destination_publishes_a_signed_message_and_a_replay_under_id_r1() {
    let Some(stream) = NatsStream::create().await else {
        return;
    };
    let gateway = Gateway::start(&format!(
        "type = \"nats\"\nurl = \"nats://{NATS_ADDR}\"\nsubject = \"{}\"",
        stream.subject
    ))
    .await;
    let id = gateway.post("msg_nats_1").await;
    let event = gateway.delivered(&id).await;

    let messages = stream.messages().await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.subject.as_str(), stream.subject);
    assert_eq!(
        nats_header(message, "Nats-Msg-Id").as_deref(),
        Some(id.as_str())
    );
    assert_envelope(&event, &message.payload, &|name| nats_header(message, name));

    gateway.replay(&id).await;
    let started = Instant::now();
    let messages = loop {
        let messages = stream.messages().await;
        if messages.len() >= 2 || started.elapsed() > PATIENCE {
            break messages;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(messages.len(), 2, "the replay is a message of its own");
    let replayed = &messages[1];
    assert_eq!(
        nats_header(replayed, "Nats-Msg-Id"),
        Some(format!("{id}:r1"))
    );
    assert_envelope(&gateway.delivered(&id).await, &replayed.payload, &|name| {
        nats_header(replayed, name)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_publish_repeated_after_its_acknowledgement_was_lost_is_one_stream_message() {
    let Some(stream) = NatsStream::create().await else {
        return;
    };
    let mut proxy = Proxy::cut_to(NATS_ADDR);
    proxy.restore().await;
    let gateway = Gateway::start(&format!(
        "type = \"nats\"\nurl = \"nats://{}\"\nsubject = \"{}\"",
        proxy.addr, stream.subject
    ))
    .await;
    // The first event opens the connection.
    let first = gateway.post("msg_ack_1").await;
    gateway.delivered(&first).await;

    // The server stores the second event, but its acknowledgement never reaches the gateway:
    // the attempt times out and is retried under the same Nats-Msg-Id.
    proxy.swallow_answers(true);
    let second = gateway.post("msg_ack_2").await;
    let started = Instant::now();
    while stream.messages().await.len() < 2 {
        assert!(
            started.elapsed() < PATIENCE,
            "the publish never reached the stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gateway
        .event_once(&second, "failed once", |e| {
            e["attempts"].as_i64().unwrap_or(0) >= 1 && e["last_error"].is_string()
        })
        .await;
    proxy.swallow_answers(false);
    let event = gateway.delivered(&second).await;

    let messages = stream.messages().await;
    let ids: Vec<Option<String>> = messages
        .iter()
        .map(|m| nats_header(m, "Nats-Msg-Id"))
        .collect();
    assert_eq!(ids, [Some(first), Some(second.clone())], "one message each");
    assert!(event["attempts"].as_i64().unwrap_or(0) >= 2, "{event:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_subject_no_stream_captures_is_retried_with_a_clear_error() {
    let Some(stream) = NatsStream::create().await else {
        return;
    };
    let uncaptured = format!("{}.elsewhere", stream.subject);
    let gateway = Gateway::start(&format!(
        "type = \"nats\"\nurl = \"nats://{NATS_ADDR}\"\nsubject = \"{uncaptured}\""
    ))
    .await;
    let id = gateway.post("msg_nostream_1").await;
    let event = gateway.retried(&id).await;
    let error = event["last_error"].as_str().expect("an error");
    assert!(
        error.contains("no JetStream stream captures subject") && error.contains(&uncaptured),
        "{error}"
    );
    assert!(stream.messages().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_destination_adds_a_signed_entry_with_the_body_in_field_body() {
    let Some(stream) = RedisStream::create().await else {
        return;
    };
    let gateway = Gateway::start(&format!(
        "type = \"redis\"\nurl = \"redis://{REDIS_ADDR}/0\"\nstream = \"{}\"\nmaxlen = 1000",
        stream.key
    ))
    .await;
    let id = gateway.post("msg_redis_1").await;
    let event = gateway.delivered(&id).await;

    let entries = stream.entries().await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    let body = entry.get("body").expect("field body");
    assert_envelope(&event, body, &|name| redis_field(entry, name));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amqp_destination_publishes_a_persistent_signed_message_with_its_content_type() {
    let Some(queue) = AmqpQueue::create().await else {
        return;
    };
    let gateway = Gateway::start(&format!(
        "type = \"amqp\"\nurl = \"amqp://{AMQP_USER}@{AMQP_ADDR}/%2f\"\nexchange = \"{}\"\nrouting_key = \"{}\"",
        queue.exchange, queue.routing_key
    ))
    .await;
    let id = gateway.post("msg_amqp_1").await;
    let event = gateway.delivered(&id).await;

    let messages = queue.take_all().await;
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    let properties = &message.delivery.properties;
    assert_eq!(*properties.delivery_mode(), Some(2), "persistent");
    assert_eq!(
        properties.content_type().as_ref().map(|ct| ct.as_str()),
        Some("application/json")
    );
    assert_eq!(
        properties.message_id().as_ref().map(|m| m.as_str()),
        Some(id.as_str())
    );
    assert_envelope(&event, &message.delivery.data, &|name| {
        amqp_header(message, name)
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unroutable_amqp_message_is_retried_with_a_clear_error() {
    let Some(queue) = AmqpQueue::create().await else {
        return;
    };
    let gateway = Gateway::start(&format!(
        "type = \"amqp\"\nurl = \"amqp://{AMQP_USER}@{AMQP_ADDR}/%2f\"\nexchange = \"{}\"\nrouting_key = \"nobody-binds-this\"",
        queue.exchange
    ))
    .await;
    let id = gateway.post("msg_unroutable_1").await;
    let event = gateway.retried(&id).await;
    let error = event["last_error"].as_str().expect("an error");
    assert!(
        error.contains("unroutable")
            && error.contains(&queue.exchange)
            && error.contains("nobody-binds-this"),
        "{error}"
    );
    assert!(queue.take_all().await.is_empty());
}

/// A broker that is down when the first event comes, then up, then down again (its connection
/// cut, as in a restart), then up: every event is retried with a clear error while it is down
/// and arrives exactly once. `read` lists the ids the broker holds, oldest first.
async fn an_outage_loses_nothing<F, Fut>(
    broker: &str,
    destination: impl Fn(&str) -> String,
    read: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let mut proxy = Proxy::cut_to(broker);
    let gateway = Gateway::start(&destination(&proxy.addr.to_string())).await;

    let first = gateway.post("msg_outage_1").await;
    let event = gateway.retried(&first).await;
    let error = event["last_error"].as_str().expect("an error");
    assert!(
        error.contains(&proxy.addr.to_string()),
        "names the broker: {error}"
    );
    assert!(!error.contains("guest:guest"), "no password: {error}");
    proxy.restore().await;
    gateway.delivered(&first).await;

    proxy.cut();
    let second = gateway.post("msg_outage_2").await;
    gateway.retried(&second).await;
    proxy.restore().await;
    gateway.delivered(&second).await;

    assert_eq!(read().await, [first, second], "each event exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_outage_loses_nothing_and_delivers_each_event_once() {
    let Some(stream) = NatsStream::create().await else {
        return;
    };
    let subject = stream.subject.clone();
    an_outage_loses_nothing(
        NATS_ADDR,
        |addr| format!("type = \"nats\"\nurl = \"nats://{addr}\"\nsubject = \"{subject}\""),
        || async {
            let messages = stream.messages().await;
            messages
                .iter()
                .filter_map(|m| nats_header(m, "webhook-id"))
                .collect()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_loses_nothing_and_delivers_each_event_once() {
    let Some(stream) = RedisStream::create().await else {
        return;
    };
    let key = stream.key.clone();
    an_outage_loses_nothing(
        REDIS_ADDR,
        |addr| format!("type = \"redis\"\nurl = \"redis://{addr}/0\"\nstream = \"{key}\""),
        || async {
            let entries = stream.entries().await;
            entries
                .iter()
                .filter_map(|e| redis_field(e, "webhook-id"))
                .collect()
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amqp_outage_loses_nothing_and_delivers_each_event_once() {
    let Some(queue) = AmqpQueue::create().await else {
        return;
    };
    let (exchange, routing_key) = (queue.exchange.clone(), queue.routing_key.clone());
    an_outage_loses_nothing(
        AMQP_ADDR,
        |addr| {
            format!(
                "type = \"amqp\"\nurl = \"amqp://{AMQP_USER}@{addr}/%2f\"\nexchange = \"{exchange}\"\nrouting_key = \"{routing_key}\""
            )
        },
        || async {
            let messages = queue.take_all().await;
            messages
                .iter()
                .filter_map(|m| amqp_header(m, "webhook-id"))
                .collect()
        },
    )
    .await;
}
