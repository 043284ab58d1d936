//! The refusal quarantine through a real server (SPEC section 13): what a refusal keeps, what
//! it never keeps, and a retest and admit after the cause is fixed.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sqlx::Connection;

use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::Digest;

use crate::downstream::Downstream;
use crate::helpers::{ADMIN_TOKEN, TestApp, json, schemas_dir, spawn_app};

const RIGHT: &str = "the-secret-github-has";
const WRONG: &str = "a-secret-from-before-the-rotation";

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn github(secret: &str, extra: &str) -> String {
    format!("[sources.github]\nprovider = \"github\"\nsecrets = [\"{secret}\"]\n{extra}\n")
}

async fn send_github(app: &TestApp, secret: &str, delivery: &str, body: &[u8]) -> StatusCode {
    let signature = sign(secret, body);
    let headers = [
        ("content-type", "application/json"),
        ("x-hub-signature-256", signature.as_str()),
        ("x-github-delivery", delivery),
        ("x-github-event", "push"),
        ("authorization", "Bearer a-proxy-credential"),
    ];
    app.post("/hooks/github", &headers, body.to_vec())
        .await
        .status()
}

/// The kept records, newest first, once at least `n` are there (they are written off the
/// request path).
async fn refusals(app: &TestApp, query: &str, n: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let response = app.admin_get(&format!("/admin/refusals{query}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let page = json(response).await;
        let kept = page["refusals"].as_array().cloned().unwrap_or_default();
        if kept.len() >= n || started.elapsed() > Duration::from_secs(5) {
            return kept;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn header<'a>(record: &'a Value, name: &str) -> Option<&'a str> {
    record["headers"]
        .as_array()?
        .iter()
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair[1].as_str())
}

async fn retest(app: &TestApp, id: &str, admit: bool) -> reqwest::Response {
    let query = if admit { "?admit=true" } else { "" };
    app.client
        .post(app.admin_url(&format!("/admin/refusals/{id}/retest{query}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("admin request sent")
}

#[tokio::test]
async fn a_bad_signature_and_a_schema_refusal_are_kept_with_their_fields_redacted() {
    let schema = schemas_dir().join("github-push.json");
    let mut app = spawn_app(&github(
        RIGHT,
        &format!("schema = {:?}", schema.display().to_string()),
    ))
    .await;
    let forged = br#"{"ref":"refs/heads/main","forged":true}"#;
    assert_eq!(
        send_github(&app, WRONG, "d-401", forged).await,
        StatusCode::UNAUTHORIZED
    );
    let off_schema = br#"{"ref":"refs/heads/main"}"#;
    assert_eq!(
        send_github(&app, RIGHT, "d-422", off_schema).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let kept = refusals(&app, "", 2).await;
    assert_eq!(kept.len(), 2);
    let (schema_refusal, signature_refusal) = (&kept[0], &kept[1]);

    assert_eq!(signature_refusal["source"], "github");
    assert_eq!(signature_refusal["status"], 401);
    assert_eq!(signature_refusal["client_ip"], "127.0.0.1");
    let reason = signature_refusal["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("bad_signature: no active secret matches"),
        "{reason}"
    );
    assert_eq!(
        signature_refusal["sample"],
        std::str::from_utf8(forged).expect("utf-8")
    );
    assert_eq!(
        signature_refusal["body_sha256"],
        hex::encode(sha2::Sha256::digest(forged))
    );
    assert_eq!(signature_refusal["body_length"], forged.len());
    assert_eq!(signature_refusal["sample_is_whole_body"], true);
    assert_eq!(
        header(signature_refusal, "authorization"),
        Some("[redacted]")
    );
    assert_eq!(
        header(signature_refusal, "x-github-delivery"),
        Some("d-401")
    );
    assert!(!signature_refusal.to_string().contains("a-proxy-credential"));

    assert_eq!(schema_refusal["status"], 422);
    assert!(
        schema_refusal["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("schema_invalid: ")),
        "{}",
        schema_refusal["reason"]
    );
    let one = app
        .admin_get(&format!(
            "/admin/refusals/{}",
            schema_refusal["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(one.status(), StatusCode::OK);
    let one = json(one).await;
    let mut fields: Vec<&str> = one
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "body_length",
            "body_sha256",
            "client_ip",
            "headers",
            "id",
            "reason",
            "received_at",
            "sample",
            "sample_is_whole_body",
            "source",
            "status"
        ]
    );
    let filtered = refusals(&app, "?source=github&reason=schema_invalid", 1).await;
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["id"], schema_refusal["id"]);
    app.stop().await;
}

#[tokio::test]
async fn a_large_body_keeps_only_its_sample_and_a_413_keeps_the_bytes_read() {
    let mut app = spawn_app(&format!(
        "[quarantine]\nsample_bytes = \"1KiB\"\n\n{}",
        github(RIGHT, "max_body_bytes = \"64KiB\"")
    ))
    .await;
    let large = format!("{{\"pad\":\"{}\"}}", "x".repeat(5000));
    assert_eq!(
        send_github(&app, WRONG, "d-large", large.as_bytes()).await,
        StatusCode::UNAUTHORIZED
    );
    // Chunked, so the size is found while reading, not from Content-Length.
    let chunks = (0..20).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 8192]));
    let too_large = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let response = app
        .post(
            "/hooks/github",
            &[("content-type", "application/json")],
            too_large,
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let kept = refusals(&app, "", 2).await;
    assert_eq!(kept.len(), 2);
    let (oversized, large_refusal) = (&kept[0], &kept[1]);
    assert_eq!(large_refusal["sample_is_whole_body"], false);
    assert_eq!(large_refusal["sample"].as_str().map(str::len), Some(1024));
    assert_eq!(large_refusal["body_length"], large.len());
    assert_eq!(
        large_refusal["body_sha256"],
        hex::encode(sha2::Sha256::digest(large.as_bytes()))
    );
    assert_eq!(oversized["status"], 413);
    assert_eq!(oversized["sample"], "y".repeat(1024));
    assert_eq!(oversized["sample_is_whole_body"], false);
    assert!(oversized["body_sha256"].is_null(), "not read whole");
    let read = oversized["body_length"].as_u64().expect("bytes read");
    assert!(read > 64 * 1024 && read <= 64 * 1024 + 8192, "{read}");
    app.stop().await;
}

#[tokio::test]
async fn with_the_quarantine_off_or_an_unknown_source_nothing_is_kept() {
    let mut app = spawn_app(&github(RIGHT, "")).await;
    let response = app
        .post(
            "/hooks/nowhere",
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // A refusal on a known source afterwards shows the writer has drained what came before.
    assert_eq!(
        send_github(&app, WRONG, "d-1", b"{}").await,
        StatusCode::UNAUTHORIZED
    );
    let kept = refusals(&app, "", 1).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0]["source"], "github");
    app.stop().await;

    let mut off = spawn_app(&format!(
        "[quarantine]\nenabled = false\n\n{}",
        github(RIGHT, "")
    ))
    .await;
    assert_eq!(
        send_github(&off, WRONG, "d-2", b"{}").await,
        StatusCode::UNAUTHORIZED
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(refusals(&off, "", 0).await.is_empty());
    off.stop().await;
}

#[tokio::test]
async fn after_a_secret_rotation_a_refused_webhook_is_retested_and_admitted_once() {
    let downstream = Downstream::start().await;
    let destination = format!(
        "\n[[sources.github.destinations]]\nurl = \"http://{}/hook\"\nretry = {{ initial = \"20ms\", max = \"100ms\", max_attempts = 5, max_age = \"1m\" }}\n",
        downstream.addr
    );
    let mut app = spawn_app(&github(WRONG, &destination)).await;
    let push = br#"{"ref":"refs/heads/main","n":7}"#;
    // GitHub signs with the secret it has; the gateway still has the old one.
    assert_eq!(
        send_github(&app, RIGHT, "d-rotated", push).await,
        StatusCode::UNAUTHORIZED
    );
    let kept = refusals(&app, "", 1).await;
    let id = kept[0]["id"].as_str().expect("id").to_owned();

    let before = retest(&app, &id, false).await;
    assert_eq!(before.status(), StatusCode::OK);
    assert_eq!(json(before).await["verdict"], "reject");
    let refused = retest(&app, &id, true).await;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    assert!(
        json(refused).await["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("still failing: signature")),
    );

    // The operator fixes the config and reloads.
    let config = std::fs::read_to_string(&app.config_path).expect("config");
    std::fs::write(&app.config_path, config.replace(WRONG, RIGHT)).expect("config written");
    let reloaded = app
        .admin_post("/admin/reload", &serde_json::json!({}))
        .await;
    assert_eq!(reloaded.status(), StatusCode::OK);

    let report = retest(&app, &id, false).await;
    assert_eq!(report.status(), StatusCode::OK);
    assert_eq!(json(report).await["verdict"], "accept");
    let admitted = retest(&app, &id, true).await;
    assert_eq!(admitted.status(), StatusCode::CREATED);
    let admitted = json(admitted).await;
    assert_eq!(admitted["status"], "accepted");
    let event = admitted["id"].as_str().expect("event id").to_owned();

    downstream.wait_for(1, Duration::from_secs(10)).await;
    let delivered = downstream.received();
    assert_eq!(delivered[0].body.as_ref(), push, "the bytes GitHub sent");

    let again = retest(&app, &id, true).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again = json(again).await;
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["id"], event);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(downstream.received().len(), 1, "delivered exactly once");

    // The admit is in the audit trail, once: the duplicate changed nothing.
    let trail = app.admin_get("/admin/audit").await;
    assert_eq!(trail.status(), StatusCode::OK);
    let trail = json(trail).await;
    let admits: Vec<_> = trail["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|record| record["action"] == "admit")
        .collect();
    assert_eq!(admits.len(), 1, "{trail}");
    assert_eq!(admits[0]["actor"], "admin");
    assert_eq!(admits[0]["outcome"], "ok");
    assert_eq!(admits[0]["client_ip"], "127.0.0.1");
    assert_eq!(
        admits[0]["target"],
        format!("refusal={id} source=github").as_str()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_token_source_keeps_a_fingerprint_and_its_retest_says_credential_not_kept() {
    let mut app = spawn_app(
        "[sources.zapier]\nprovider = \"token\"\nsecrets = [\"Bearer right-token\"]\nallow_ips = [\"127.0.0.1/32\"]\n",
    )
    .await;
    let response = app
        .post(
            "/hooks/zapier",
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer stale-token"),
            ],
            "{\"n\":1}",
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let kept = refusals(&app, "", 1).await;
    let record = &kept[0];
    let fingerprint = header(record, "authorization").expect("kept as a fingerprint");
    assert!(fingerprint.starts_with("hmac:"), "{fingerprint}");
    assert!(!record.to_string().contains("stale-token"));
    let id = record["id"].as_str().expect("id");

    let report = retest(&app, id, false).await;
    assert_eq!(report.status(), StatusCode::OK);
    let report = json(report).await;
    let signature = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "signature")
        .expect("signature check");
    assert_eq!(signature["reason"], "credential not kept");
    assert_eq!(report["verdict"], "reject");
    let admit = retest(&app, id, true).await;
    assert_eq!(admit.status(), StatusCode::CONFLICT);
    assert!(
        json(admit).await["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("credential not kept"))
    );
    app.stop().await;
}

#[tokio::test]
async fn refusals_still_queued_at_shutdown_are_written_before_the_gateway_stops() {
    let mut app = spawn_app(&github(RIGHT, "")).await;
    // Another connection holds the database's write lock, so the writer waits on its first
    // batch and the rest stay queued in the channel, as on a busy store.
    let url = format!("sqlite://{}", app.db_path.display());
    let mut locker = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open db");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut locker)
        .await
        .expect("write lock taken");
    let app_ref = &app;
    let statuses: Vec<StatusCode> = futures_util::stream::iter(0..200)
        .map(|n| async move { send_github(app_ref, WRONG, &format!("d-{n}"), b"{}").await })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    let db = app.db_path.clone();
    // The lock goes once the shutdown has begun: what is queued is written only if the writer
    // drains at shutdown instead of being aborted.
    let release = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::query("COMMIT")
            .execute(&mut locker)
            .await
            .expect("write lock released");
    };
    tokio::join!(app.stop(), release);
    drop(locker);
    let url = format!("sqlite://{}?mode=ro", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open db");
    let (kept,): (i64,) = sqlx::query_as("SELECT count(*) FROM refusals WHERE source = 'github'")
        .fetch_one(&mut conn)
        .await
        .expect("count refusals");
    assert_eq!(kept, 200, "every refusal answered before the stop is kept");
}
