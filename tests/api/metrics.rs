//! `/metrics` after a scripted mix of accepted, duplicate, rejected, delivered, retried and dead
//! events shows each counter with exactly the expected value.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};

use crate::downstream::{Answer, Downstream};
use crate::helpers::{TestApp, spawn_app};

const SECRET: &str = "metrics-test-secret";

/// One sample of the text format: name, labels, value.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            Some((name.to_owned(), labels, value.parse().ok()?))
        })
        .collect()
}

fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(text)
        .into_iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map_or(0.0, |(_, _, v)| v)
}

async fn metrics_text(app: &TestApp) -> String {
    let response = app
        .client
        .get(app.admin_url("/metrics"))
        .send()
        .await
        .expect("scraped");
    assert_eq!(response.status(), 200);
    response.text().await.expect("text")
}

async fn send(app: &TestApp, secret: &str, delivery: &str, body: &str) -> u16 {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    app.post(
        "/hooks/mgh",
        &[
            ("content-type", "application/json"),
            ("x-github-delivery", delivery),
            ("x-hub-signature-256", &signature),
        ],
        body.to_owned(),
    )
    .await
    .status()
    .as_u16()
}

async fn wait_until(app: &TestApp, what: &str, done: impl Fn(&str) -> bool) {
    let started = Instant::now();
    loop {
        let text = metrics_text(app).await;
        if done(&text) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn counters_match_a_scripted_mix_of_outcomes() {
    // First delivery 503 (retried), then 200; the second event's delivery 400 (dead).
    let downstream = Downstream::builder()
        .script([
            Answer::status(503),
            Answer::status(200),
            Answer::status(400),
        ])
        .start()
        .await;
    let addr = downstream.addr;
    let sources = format!(
        "[sources.mgh]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n\n\
         [[sources.mgh.destinations]]\nname = \"mgh-handler\"\nurl = \"http://{addr}/hook\"\n\
         retry = {{ initial = \"20ms\", max = \"50ms\", max_attempts = 5, max_age = \"1m\" }}\n"
    );
    let mut app = spawn_app(&sources).await;

    assert_eq!(send(&app, SECRET, "m-1", r#"{"n":1}"#).await, 202);
    assert_eq!(send(&app, SECRET, "m-1", r#"{"n":1}"#).await, 200);
    assert_eq!(send(&app, "wrong", "m-2", r#"{"n":2}"#).await, 401);
    let delivered = |t: &str| {
        value(
            t,
            "hookwall_deliveries_total",
            &[("source", "mgh"), ("outcome", "delivered")],
        ) == 1.0
    };
    wait_until(&app, "first event delivered", delivered).await;
    assert_eq!(send(&app, SECRET, "m-3", r#"{"n":3}"#).await, 202);
    wait_until(&app, "second event dead", |t| {
        value(t, "hookwall_dead_letter_events", &[("source", "mgh")]) == 1.0
    })
    .await;

    let text = metrics_text(&app).await;
    let mgh = ("source", "mgh");
    for (name, labels, expected) in [
        (
            "hookwall_requests_total",
            vec![mgh, ("outcome", "accepted"), ("status", "202")],
            2.0,
        ),
        (
            "hookwall_requests_total",
            vec![mgh, ("outcome", "duplicate"), ("status", "200")],
            1.0,
        ),
        (
            "hookwall_requests_total",
            vec![mgh, ("outcome", "rejected"), ("status", "401")],
            1.0,
        ),
        (
            "hookwall_rejections_total",
            vec![mgh, ("reason", "bad_signature")],
            1.0,
        ),
        ("hookwall_duplicates_total", vec![mgh], 1.0),
        ("hookwall_events_stored_total", vec![mgh], 2.0),
        ("hookwall_request_duration_seconds_count", vec![mgh], 4.0),
        (
            "hookwall_deliveries_total",
            vec![mgh, ("destination", "mgh-handler"), ("outcome", "retry")],
            1.0,
        ),
        (
            "hookwall_deliveries_total",
            vec![
                mgh,
                ("destination", "mgh-handler"),
                ("outcome", "delivered"),
            ],
            1.0,
        ),
        (
            "hookwall_deliveries_total",
            vec![mgh, ("destination", "mgh-handler"), ("outcome", "dead")],
            1.0,
        ),
        (
            "hookwall_delivery_duration_seconds_count",
            vec![("destination", "mgh-handler")],
            3.0,
        ),
        ("hookwall_dead_letter_events", vec![mgh], 1.0),
        ("hookwall_queue_depth", vec![mgh], 0.0),
    ] {
        assert_eq!(
            value(&text, name, &labels),
            expected,
            "{name} {labels:?}\n{text}"
        );
    }
    assert_eq!(
        value(
            &text,
            "hookwall_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    // Bounded labels: an unknown path is `unknown`, never the path itself.
    let response = app.post("/hooks/not-a-source-xyz", &[], "x").await;
    assert_eq!(response.status(), 404);
    let text = metrics_text(&app).await;
    assert!(!text.contains("not-a-source-xyz"));
    assert!(
        value(
            &text,
            "hookwall_rejections_total",
            &[("source", "unknown"), ("reason", "not_found")]
        ) >= 1.0
    );
    app.stop().await;
}
