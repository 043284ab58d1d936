//! Event types end to end (SPEC section 10): real signed GitHub and Stripe webhooks sent to a
//! running gateway get the type their provider names, which `GET /admin/events` shows and
//! filters on, `GET /admin/events/{id}` shows, both exports carry and a bulk replay selects by;
//! a source without a provider type names its own with `event_type_header` or
//! `event_type_pointer`.

use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use hookwall::providers::{Overrides, Preset};
use secrecy::SecretString;
use serde_json::Value;

use crate::downstream::{Answer, Downstream};
use crate::helpers::{ADMIN_TOKEN, TestApp, json, spawn_app, toml_str, vectors};

fn source(name: &str, provider: &str, secret: &str, extra: &str) -> String {
    format!(
        "[sources.{name}]\nprovider = \"{provider}\"\nsecrets = [{}]\n{extra}\n",
        toml_str(secret)
    )
}

/// `body` signed now by `provider`'s own signer (its SDK-compatible scheme), with `extra`
/// headers a provider sends beside the signature.
async fn send_signed(
    app: &TestApp,
    path: &str,
    (provider, secret): (&str, &str),
    id: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> reqwest::Response {
    let preset = Preset::build(
        provider,
        &[SecretString::from(secret.to_owned())],
        &[],
        &Overrides::default(),
    )
    .expect("preset builds");
    let signed = preset
        .sign(body, hookwall::clock::unix_now(), id)
        .expect("preset signs");
    let mut headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    headers.extend_from_slice(extra);
    headers.push(("content-type", "application/json"));
    app.post(path, &headers, body.to_vec()).await
}

async fn listed(app: &TestApp, query: &str) -> Vec<Value> {
    let response = app.admin_get(&format!("/admin/events{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    json(response).await["events"]
        .as_array()
        .cloned()
        .expect("a list of events")
}

fn types(events: &[Value]) -> Vec<(String, Value)> {
    events
        .iter()
        .map(|e| {
            (
                e["source"].as_str().expect("source").to_owned(),
                e["event_type"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn github_and_stripe_events_are_listed_filtered_shown_and_exported_with_their_type() {
    let github = vectors("github")
        .into_iter()
        .find(|v| v.name == "pull_request")
        .expect("the pull_request vector");
    let stripe = vectors("stripe").remove(0);
    let mut app = spawn_app(&format!(
        "{}{}",
        source("github", "github", &github.secret, ""),
        source("stripe", "stripe", &stripe.secret, "")
    ))
    .await;

    // GitHub's SDK-made request as it was sent (GitHub signs no time), then a push signed now
    // and a request without `X-GitHub-Event` (a relay that drops it): no type.
    let sent = app
        .post("/hooks/github", &github.headers(), github.body.clone())
        .await;
    assert_eq!(sent.status(), 202);
    let push = send_signed(
        &app,
        "/hooks/github",
        ("github", &github.secret),
        "delivery-push",
        &[("x-github-event", "push")],
        br#"{"ref":"refs/heads/main"}"#,
    )
    .await;
    assert_eq!(push.status(), 202);
    let push_id = json(push).await["id"].as_str().expect("id").to_owned();
    let untyped = send_signed(
        &app,
        "/hooks/github",
        ("github", &github.secret),
        "delivery-untyped",
        &[],
        br#"{"zen":"Anything added dilutes everything else."}"#,
    )
    .await;
    assert_eq!(untyped.status(), 202);
    // Stripe's SDK vector body, signed now (its own timestamp is long stale).
    let paid = send_signed(
        &app,
        "/hooks/stripe",
        ("stripe", &stripe.secret),
        "unused",
        &[],
        &stripe.body,
    )
    .await;
    assert_eq!(paid.status(), 202);

    assert_eq!(
        types(&listed(&app, "").await),
        [
            ("stripe".to_owned(), Value::from("payment_intent.succeeded")),
            ("github".to_owned(), Value::Null),
            ("github".to_owned(), Value::from("push")),
            ("github".to_owned(), Value::from("pull_request")),
        ],
        "newest first, each with its type or null"
    );
    assert_eq!(
        types(&listed(&app, "?event_type=push").await),
        [("github".to_owned(), Value::from("push"))]
    );
    assert_eq!(
        types(&listed(&app, "?source=stripe&event_type=payment_intent.succeeded").await),
        [("stripe".to_owned(), Value::from("payment_intent.succeeded"))]
    );
    assert!(
        listed(&app, "?source=github&event_type=payment_intent.succeeded")
            .await
            .is_empty()
    );
    assert!(
        listed(&app, "?event_type=Push").await.is_empty(),
        "exact match"
    );
    assert!(
        listed(&app, "?event_type=pu").await.is_empty(),
        "not a prefix"
    );
    assert_eq!(
        listed(&app, "?event_type=").await.len(),
        4,
        "empty: no filter"
    );

    let shown = app.admin_get(&format!("/admin/events/{push_id}")).await;
    assert_eq!(shown.status(), 200);
    let shown = json(shown).await;
    assert_eq!(shown["event_type"], "push");
    assert_eq!(shown["headers"]["x-github-event"], "push");

    let ndjson = app
        .admin_get("/admin/events/export?format=ndjson&event_type=pull_request&body=true")
        .await;
    assert_eq!(ndjson.status(), 200);
    let ndjson = ndjson.text().await.expect("text");
    let lines: Vec<Value> = ndjson
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{ndjson}");
    assert_eq!(lines[0]["event_type"], "pull_request");
    assert_eq!(
        lines[0]["body"].as_str().map(str::as_bytes),
        Some(&github.body[..])
    );

    let csv = app.admin_get("/admin/events/export?format=csv").await;
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.expect("text");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().expect("a header line").clone();
    assert_eq!(header.iter().next_back(), Some("event_type"));
    let column = header.len() - 1;
    let rows: Vec<(String, String)> = reader
        .records()
        .map(|record| {
            let record = record.expect("a CSV record");
            (record[1].to_owned(), record[column].to_owned())
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("stripe".to_owned(), "payment_intent.succeeded".to_owned()),
            ("github".to_owned(), String::new()),
            ("github".to_owned(), "push".to_owned()),
            ("github".to_owned(), "pull_request".to_owned()),
        ]
    );
    let one_type = app
        .admin_get("/admin/events/export?format=csv&event_type=push")
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(
        one_type.lines().count(),
        2,
        "the header and the push: {one_type}"
    );
    app.stop().await;
}

fn hex_hmac(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn a_source_names_its_own_event_type_with_a_header_or_a_pointer() {
    let mut app = spawn_app(&format!(
        "{}{}{}",
        source(
            "relay",
            "hmac",
            "relay-secret",
            "signature_header = \"x-signature\"\nevent_type_header = \"X-Relay-Event\""
        ),
        source(
            "forms",
            "token",
            "Bearer form-token",
            "event_type_pointer = \"/kind\""
        ),
        // A pointer deep into the body.
        source(
            "nested",
            "hmac",
            "nested-secret",
            "signature_header = \"x-signature\"\nevent_type_pointer = \"/data/object/status\""
        ),
    ))
    .await;

    let body = br#"{"type":"ignored: the source names a header"}"#;
    let sent = app
        .post(
            "/hooks/relay",
            &[
                ("content-type", "application/json"),
                ("x-signature", &hex_hmac("relay-secret", body)),
                ("x-relay-event", "order.shipped"),
            ],
            body.to_vec(),
        )
        .await;
    assert_eq!(sent.status(), 202);
    let sent = app
        .post(
            "/hooks/forms",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", "Bearer form-token"),
            ],
            "kind=signup&email=a%40example.com",
        )
        .await;
    assert_eq!(sent.status(), 202);
    for (n, status) in ["2000", "\"active\""].iter().enumerate() {
        let body = format!(r#"{{"n":{n},"data":{{"object":{{"status":{status}}}}}}}"#);
        let sent = app
            .post(
                "/hooks/nested",
                &[
                    ("content-type", "application/json"),
                    ("x-signature", &hex_hmac("nested-secret", body.as_bytes())),
                ],
                body,
            )
            .await;
        assert_eq!(sent.status(), 202);
    }

    assert_eq!(
        types(&listed(&app, "").await),
        [
            ("nested".to_owned(), Value::from("active")),
            ("nested".to_owned(), Value::from("2000")),
            ("forms".to_owned(), Value::from("signup")),
            ("relay".to_owned(), Value::from("order.shipped")),
        ],
        "a number is its JSON text"
    );
    assert_eq!(
        types(&listed(&app, "?event_type=2000").await),
        [("nested".to_owned(), Value::from("2000"))]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_bulk_replay_by_event_type_redelivers_only_that_types_dead_letters() {
    // Refuses the first two deliveries (dead at once: a 400), then takes everything.
    let downstream = Downstream::builder()
        .script([Answer::status(400), Answer::status(400)])
        .start()
        .await;
    let secret = "replay-by-type";
    let mut app = spawn_app(&format!(
        "{}[[sources.github.destinations]]\nurl = \"{}\"\n",
        source("github", "github", secret, ""),
        downstream.url("/hook")
    ))
    .await;
    for (event, body) in [("push", r#"{"n":1}"#), ("issues", r#"{"n":2}"#)] {
        let sent = send_signed(
            &app,
            "/hooks/github",
            ("github", secret),
            &format!("delivery-{event}"),
            &[("x-github-event", event)],
            body.as_bytes(),
        )
        .await;
        assert_eq!(sent.status(), 202);
    }
    downstream.wait_for(2, Duration::from_secs(10)).await;
    let started = Instant::now();
    while listed(&app, "?status=dead").await.len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(10), "not dead");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let replay = app
        .client
        .post(app.admin_url("/admin/events/replay?event_type=issues"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(replay.status(), 202);
    assert_eq!(json(replay).await["replayed"], 1);
    downstream.wait_for(3, Duration::from_secs(10)).await;
    let received = downstream.received();
    assert_eq!(
        received[2].n(),
        Some(2),
        "the issues event, delivered again"
    );
    assert_eq!(
        types(&listed(&app, "?status=dead").await),
        [("github".to_owned(), Value::from("push"))],
        "the push stays a dead letter"
    );
    app.stop().await;
    assert_eq!(downstream.count(), 3);
}
