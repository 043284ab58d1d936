//! The admin listener over real HTTP: token checks, sources, events (pagination, filters,
//! export), replay, reload with secret rotation, and the security test endpoint.

use std::collections::BTreeSet;

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_TOKEN, TestApp, json, schemas_dir, spawn_app, spawn_app_with};

const SECRET: &str = "admin-test-github-secret";

fn github(secret: &str, extra: &str) -> String {
    format!("[sources.github]\nprovider = \"github\"\nsecrets = [\"{secret}\"]\n{extra}\n")
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn send(app: &TestApp, secret: &str, delivery: &str, body: &str) -> reqwest::Response {
    let signature = sign(secret, body.as_bytes());
    app.post(
        "/hooks/github",
        &[
            ("content-type", "application/json"),
            ("x-github-delivery", delivery),
            ("x-github-event", "push"),
            ("x-hub-signature-256", &signature),
        ],
        body.to_owned(),
    )
    .await
}

#[tokio::test]
async fn admin_routes_need_the_token_compared_exactly() {
    let mut app = spawn_app(&github(SECRET, "")).await;
    let url = app.admin_url("/admin/events");
    let none = app.client.get(&url).send().await.expect("sent");
    assert_eq!(none.status(), 401);
    assert!(none.headers().contains_key("www-authenticate"));
    for wrong in [
        "wrong",
        "test-admin-token-012345678",
        "test-admin-token-01234567890",
        "",
    ] {
        let response = app
            .client
            .get(&url)
            .bearer_auth(wrong)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 401, "token {wrong:?}");
    }
    let basic = app
        .client
        .get(&url)
        .basic_auth("admin", Some(ADMIN_TOKEN))
        .send()
        .await
        .expect("sent");
    assert_eq!(basic.status(), 401);
    assert_eq!(app.admin_get("/admin/events").await.status(), 200);
    // The admin routes are not on the public listener.
    let public = app
        .client
        .get(app.url("/admin/events"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("sent");
    assert_eq!(public.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn without_an_admin_token_the_admin_api_is_closed() {
    let mut app = spawn_app_with("# no admin_token", &github(SECRET, "")).await;
    for token in ["", ADMIN_TOKEN, "anything"] {
        let response = app
            .client
            .get(app.admin_url("/admin/sources"))
            .bearer_auth(token)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 401);
    }
    app.stop().await;
}

#[tokio::test]
async fn sources_show_fingerprints_never_secrets() {
    let secret = "do-not-show-this-secret-anywhere";
    let sources = format!(
        "{}\n[[sources.github.destinations]]\nurl = \"http://user:hunter2hunter2@127.0.0.1:9/x\"\n\
         signing_secret = \"whsec_aW50ZXJuYWwtc2lnbmluZy1rZXktZm9yLXRlc3Rz\"\n",
        github(
            secret,
            "allow_ips = [\"10.0.0.0/8\"]\nrate_limit = { per_second = 5 }"
        )
    );
    let mut app = spawn_app(&sources).await;
    let response = app.admin_get("/admin/sources").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    assert!(!text.contains(secret), "{text}");
    assert!(!text.contains("hunter2hunter2"), "{text}");
    assert!(
        !text.contains("aW50ZXJuYWwtc2lnbmluZy1rZXktZm9yLXRlc3Rz"),
        "{text}"
    );
    let value: Value = serde_json::from_str(&text).expect("json");
    let source = &value["sources"][0];
    assert_eq!(source["name"], "github");
    assert_eq!(source["path"], "/hooks/github");
    // Keyed by the installation's key, kept in the store: whoever reads the admin API cannot
    // test guesses at the secret (an unsalted SHA-256 could be), and the store gives the same
    // key again after a restart.
    let key: Vec<u8> = {
        use sqlx::Connection;
        let url = format!("sqlite://{}?mode=ro", app.db_path.display());
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("open db");
        sqlx::query_scalar("SELECT key FROM install_keys WHERE name = 'fingerprint'")
            .fetch_one(&mut conn)
            .await
            .expect("the installation's key")
    };
    assert_eq!(key.len(), 32);
    let fingerprints = hookwall::providers::fingerprint::Fingerprints::new(&key);
    assert_eq!(source["secrets"][0], fingerprints.of(secret.as_bytes()));
    let unkeyed = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(secret.as_bytes()))
    };
    let shown = source["secrets"][0].as_str().expect("a fingerprint");
    assert!(!unkeyed.starts_with(&shown["hmac:".len()..]), "{shown}");
    assert_eq!(source["allow_ips"][0], "10.0.0.0/8");
    assert_eq!(source["rate_limit"]["per_second"], 5);
    let destination = &source["destinations"][0];
    assert!(
        destination["signing_secret"]
            .as_str()
            .expect("fingerprint")
            .starts_with("hmac:")
    );
    app.stop().await;
}

#[tokio::test]
async fn events_page_newest_first_with_a_cursor_and_filters() {
    let mut app = spawn_app(&github(SECRET, "")).await;
    let mut sent = Vec::new();
    for n in 0..5 {
        let response = send(
            &app,
            SECRET,
            &format!("page-{n}"),
            &format!("{{\"n\":{n}}}"),
        )
        .await;
        assert_eq!(response.status(), 202);
        sent.push(json(response).await["id"].as_str().expect("id").to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/events?limit=2&cursor={c}"),
            None => "/admin/events?limit=2".to_owned(),
        };
        let page = json(app.admin_get(&path).await).await;
        pages += 1;
        for event in page["events"].as_array().expect("events") {
            assert_eq!(event["source"], "github");
            assert!(event["received_at"].as_str().expect("time").ends_with('Z'));
            seen.push(event["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
        assert!(pages < 10, "the cursor does not end");
    }
    assert_eq!(pages, 3);
    sent.reverse();
    assert_eq!(seen, sent, "newest first, each once");

    let none = json(app.admin_get("/admin/events?source=nope").await).await;
    assert_eq!(none["events"].as_array().expect("events").len(), 0);
    let future = json(
        app.admin_get("/admin/events?since=2999-01-01T00:00:00Z")
            .await,
    )
    .await;
    assert_eq!(future["events"].as_array().expect("events").len(), 0);
    let ignored = json(app.admin_get("/admin/events?status=ignored").await).await;
    assert_eq!(
        ignored["events"].as_array().expect("events").len(),
        5,
        "a source without destinations has nothing to deliver: its events are ignored"
    );
    let delivered = json(app.admin_get("/admin/events?status=delivered").await).await;
    assert_eq!(delivered["events"].as_array().expect("events").len(), 0);
    assert_eq!(
        app.admin_get("/admin/events?status=bogus").await.status(),
        400
    );
    assert_eq!(
        app.admin_get("/admin/events?cursor=x'--").await.status(),
        400
    );
    assert_eq!(
        app.admin_get("/admin/events?since=yesterday")
            .await
            .status(),
        400
    );
    app.stop().await;
}

#[tokio::test]
async fn show_returns_headers_and_the_exact_body_with_credentials_redacted() {
    let sources = "[sources.tok]\nprovider = \"token\"\nsecrets = [\"Bearer very-secret-token\"]\n";
    let mut app = spawn_app(sources).await;
    let body = "{\"hello\":\"w\\u00f6rld\",\"n\":1}";
    let response = app
        .post(
            "/hooks/tok",
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer very-secret-token"),
                ("x-custom", "kept"),
            ],
            body.to_owned(),
        )
        .await;
    assert_eq!(response.status(), 202);
    let id = json(response).await["id"].as_str().expect("id").to_owned();
    let response = app.admin_get(&format!("/admin/events/{id}")).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("text");
    assert!(!text.contains("very-secret-token"), "{text}");
    let event: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(event["body"], body);
    assert_eq!(event["headers"]["x-custom"], "kept");
    assert_eq!(event["headers"]["authorization"], "[redacted]");
    assert_eq!(
        app.admin_get("/admin/events/0190a0a0-0000-7000-8000-000000000000")
            .await
            .status(),
        404
    );
    assert_eq!(
        app.admin_get("/admin/events/not-a-uuid").await.status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn export_streams_every_event_as_ndjson_or_csv() {
    // 520 concurrent webhooks from one client (127.0.0.1): past the default per-client share.
    let mut app =
        crate::helpers::spawn_app_with("max_in_flight_per_client = 1024", &github(SECRET, ""))
            .await;
    // More than one export page (500), so the stream really pages.
    let total = 520;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let client = app.client.clone();
        let url = app.url("/hooks/github");
        tasks.spawn(async move {
            let body = format!("{{\"n\":{n}}}");
            client
                .post(url)
                .header("content-type", "application/json")
                .header("x-github-delivery", format!("export-{n}"))
                .header("x-hub-signature-256", sign(SECRET, body.as_bytes()))
                .body(body)
                .send()
                .await
                .expect("sent")
                .status()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.expect("task"), 202);
    }
    let ndjson = app.admin_get("/admin/events/export?format=ndjson").await;
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let text = ndjson.text().await.expect("text");
    let ids: BTreeSet<String> = text
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).expect("each line is JSON")["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), total);

    let csv = app
        .admin_get("/admin/events/export?format=csv&source=github")
        .await
        .text()
        .await
        .expect("text");
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .expect("header")
            .starts_with("id,source,status")
    );
    assert_eq!(lines.count(), total);

    let with_body = app
        .admin_get("/admin/events/export?format=ndjson&body=true&limit=1")
        .await
        .text()
        .await
        .expect("text");
    let first: Value =
        serde_json::from_str(with_body.lines().next().expect("a line")).expect("json");
    assert!(first["body"].as_str().expect("body").starts_with("{\"n\":"));
    assert_eq!(
        app.admin_get("/admin/events/export?format=xml")
            .await
            .status(),
        400
    );
    app.stop().await;
}

#[tokio::test]
async fn bulk_replay_takes_the_dead_letters_by_default() {
    // A destination that refuses the connection (port 9, discard, is closed here) with one
    // attempt: every event goes dead at once.
    let sources = format!(
        "{}\n[[sources.github.destinations]]\nurl = \"http://127.0.0.1:9/x\"\n\
         retry = {{ initial = \"10ms\", max = \"10ms\", max_attempts = 1, max_age = \"1m\" }}\n",
        github(SECRET, "")
    );
    let mut app = spawn_app(&sources).await;
    for n in 0..3 {
        assert_eq!(
            send(&app, SECRET, &format!("dlq-{n}"), &format!("{{\"n\":{n}}}"))
                .await
                .status(),
            202
        );
    }
    let started = std::time::Instant::now();
    loop {
        let dead = json(app.admin_get("/admin/events?status=dead").await).await;
        if dead["events"].as_array().expect("events").len() == 3 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "events did not go dead: {dead}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let replayed = app
        .admin_post("/admin/events/replay?source=github", &json!({}))
        .await;
    assert_eq!(replayed.status(), 202);
    assert_eq!(json(replayed).await["replayed"], 3);
    let none = app
        .admin_post("/admin/events/replay?source=other", &json!({}))
        .await;
    assert_eq!(json(none).await["replayed"], 0);
    app.stop().await;
}

/// The security test endpoint on one recorded request.
async fn dry_run(app: &TestApp, source: &str, recorded: Value) -> Value {
    let response = app
        .admin_post(&format!("/admin/sources/{source}/test"), &recorded)
        .await;
    assert_eq!(response.status(), 200);
    json(response).await
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

fn recorded(secret: &str, delivery: &str, body: &str, client_ip: &str) -> Value {
    json!({
        "headers": {
            "content-type": "application/json",
            "x-github-delivery": delivery,
            "x-github-event": "push",
            "x-hub-signature-256": sign(secret, body.as_bytes()),
        },
        "body": body,
        "client_ip": client_ip,
    })
}

#[tokio::test]
async fn the_security_test_endpoint_reports_each_check_and_changes_nothing() {
    let schema = schemas_dir().join("github-push.json");
    let sources = github(
        SECRET,
        &format!(
            "allow_ips = [\"192.0.2.0/24\"]\nrate_limit = {{ per_second = 1, burst = 1 }}\nschema = \"{}\"",
            schema.display()
        ),
    );
    let mut app = spawn_app_with("trusted_proxies = [\"127.0.0.1/32\"]", &sources).await;
    let push = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github-push.json"),
    )
    .expect("fixture");

    // A good request: every check passes and nothing is stored.
    let good = dry_run(
        &app,
        "github",
        recorded(SECRET, "dry-1", &push, "192.0.2.7"),
    )
    .await;
    assert_eq!(good["verdict"], "accept", "{good}");
    assert_eq!(good["status"], 202);
    for name in [
        "https",
        "ip_allowlist",
        "content_type",
        "body",
        "signature",
        "timestamp",
        "schema",
        "duplicate",
    ] {
        assert_eq!(check(&good, name)["result"], "pass", "{name}: {good}");
    }
    assert_eq!(check(&good, "rate_limit")["result"], "skip");
    assert!(crate::helpers::stored_in(&app.db_path).await.is_empty());

    // The wrong secret: the signature fails with the reason; the rest is still judged.
    let forged = dry_run(
        &app,
        "github",
        recorded("guess", "dry-2", &push, "192.0.2.7"),
    )
    .await;
    assert_eq!(forged["verdict"], "reject");
    assert_eq!(forged["status"], 401);
    let signature = check(&forged, "signature");
    assert_eq!(signature["result"], "fail");
    assert_eq!(signature["reason"], "no active secret matches (1 tried)");
    assert_eq!(check(&forged, "ip_allowlist")["result"], "pass");
    assert_eq!(check(&forged, "schema")["result"], "pass");

    // An address outside the allowlist is the first failure, so it decides the status.
    let outside = dry_run(
        &app,
        "github",
        recorded("guess", "dry-3", &push, "203.0.113.9"),
    )
    .await;
    assert_eq!(outside["status"], 403);
    assert_eq!(check(&outside, "ip_allowlist")["result"], "fail");
    assert_eq!(check(&outside, "signature")["result"], "fail");

    // A body the schema refuses.
    let bad = r#"{"ref": 42}"#;
    let invalid = dry_run(&app, "github", recorded(SECRET, "dry-4", bad, "192.0.2.7")).await;
    assert_eq!(invalid["status"], 422, "{invalid}");
    assert_eq!(check(&invalid, "schema")["result"], "fail");
    assert_eq!(check(&invalid, "signature")["result"], "pass");

    // The dry runs took no rate-limit token: a real request from that client still passes,
    // and then a dry run of the same delivery reports the duplicate (answered 200).
    let real = app
        .client
        .post(app.url("/hooks/github"))
        .header("x-forwarded-for", "192.0.2.7")
        .header("content-type", "application/json")
        .header("x-github-delivery", "dry-1")
        .header("x-github-event", "push")
        .header("x-hub-signature-256", sign(SECRET, push.as_bytes()))
        .body(push.clone())
        .send()
        .await
        .expect("sent");
    assert_eq!(real.status(), 202);
    let again = dry_run(
        &app,
        "github",
        recorded(SECRET, "dry-1", &push, "192.0.2.7"),
    )
    .await;
    assert_eq!(again["verdict"], "accept");
    assert_eq!(again["status"], 200);
    assert_eq!(check(&again, "duplicate")["result"], "fail");
    assert_eq!(crate::helpers::stored_in(&app.db_path).await.len(), 1);

    // A recorded request that cannot be a request is the operator's 400, not a report.
    let broken = app
        .admin_post(
            "/admin/sources/github/test",
            &json!({"headers": {"bad header": "x"}, "body": ""}),
        )
        .await;
    assert_eq!(broken.status(), 400);
    let unknown = app
        .admin_post("/admin/sources/nope/test", &json!({"body": ""}))
        .await;
    assert_eq!(unknown.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn the_security_test_endpoint_separates_stale_from_forged() {
    let sources = "[sources.stripe]\nprovider = \"stripe\"\nsecrets = [\"whsec_test_secret\"]\n";
    let mut app = spawn_app(sources).await;
    let body = r#"{"id":"evt_1","object":"event"}"#;
    let at = |t: i64| {
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec_test_secret").expect("any key");
        mac.update(format!("{t}.{body}").as_bytes());
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    };
    let request = |header: String| {
        json!({
            "headers": {"content-type": "application/json", "stripe-signature": header},
            "body": body,
        })
    };
    let stale = dry_run(&app, "stripe", request(at(1_000_000_000))).await;
    assert_eq!(stale["status"], 401);
    assert_eq!(check(&stale, "signature")["result"], "pass");
    assert_eq!(check(&stale, "timestamp")["result"], "fail");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let fresh = dry_run(&app, "stripe", request(at(now))).await;
    assert_eq!(fresh["verdict"], "accept", "{fresh}");
    let missing = dry_run(
        &app,
        "stripe",
        json!({"headers": {"content-type": "application/json"}, "body": body}),
    )
    .await;
    assert_eq!(
        check(&missing, "signature")["reason"],
        "missing stripe-signature header"
    );
    assert_eq!(check(&missing, "timestamp")["result"], "skip");
    app.stop().await;
}

#[tokio::test]
async fn reload_rotates_a_secret_without_a_restart_and_refuses_a_bad_file() {
    let mut app = spawn_app(&github("old-secret", "")).await;
    assert_eq!(send(&app, "old-secret", "rot-1", "{}").await.status(), 202);

    // The operator adds the new secret beside the old one, then drops the old one.
    let original = std::fs::read_to_string(&app.config_path).expect("config");
    let both = original.replace(
        "secrets = [\"old-secret\"]",
        "secrets = [\"old-secret\", \"new-secret\"]",
    );
    std::fs::write(&app.config_path, &both).expect("write");
    let reloaded = app.admin_post("/admin/reload", &json!({})).await;
    assert_eq!(reloaded.status(), 200);
    assert_eq!(json(reloaded).await["status"], "reloaded");
    assert_eq!(send(&app, "new-secret", "rot-2", "{}").await.status(), 202);
    assert_eq!(send(&app, "old-secret", "rot-3", "{}").await.status(), 202);

    std::fs::write(
        &app.config_path,
        original.replace("secrets = [\"old-secret\"]", "secrets = [\"new-secret\"]"),
    )
    .expect("write");
    assert_eq!(
        app.admin_post("/admin/reload", &json!({})).await.status(),
        200
    );
    assert_eq!(send(&app, "old-secret", "rot-4", "{}").await.status(), 401);
    assert_eq!(send(&app, "new-secret", "rot-5", "{}").await.status(), 202);

    // A broken file is refused with its errors; the running config stays.
    std::fs::write(
        &app.config_path,
        original.replace("provider = \"github\"", "provider = \"gitbub\""),
    )
    .expect("write");
    let refused = app.admin_post("/admin/reload", &json!({})).await;
    assert_eq!(refused.status(), 422);
    let errors = json(refused).await;
    assert!(
        errors["errors"][0]
            .as_str()
            .expect("error")
            .contains("gitbub"),
        "{errors}"
    );
    assert_eq!(send(&app, "new-secret", "rot-6", "{}").await.status(), 202);

    // A change to a listener is reported as needing a restart.
    std::fs::write(
        &app.config_path,
        original
            .replace("secrets = [\"old-secret\"]", "secrets = [\"new-secret\"]")
            .replacen("[server]\n", "[server]\nmax_in_flight = 7\n", 1),
    )
    .expect("write");
    let restart = json(app.admin_post("/admin/reload", &json!({})).await).await;
    assert_eq!(
        restart["restart_needed"][0], "server.max_in_flight",
        "{restart}"
    );
    app.stop().await;
}
