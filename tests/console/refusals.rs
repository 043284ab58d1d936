//! The refusal quarantine in the console (SPEC sections 11 and 13), over plain HTTP: a webhook
//! refused for a stale secret is found, read (its hostile sample as text), retested, the file
//! fixed and reloaded from the console, retested again and admitted: delivered once, audited.

use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::Value;

use crate::downstream::Downstream;
use crate::helpers::{TestApp, json, spawn_app_with};
use crate::session::{Login, get, login, login_as, post};

pub const RIGHT: &str = "the-secret-github-has";
pub const WRONG: &str = "a-secret-from-before-the-rotation";
const VIEWER_TOKEN: &str = "refusals-viewer-token-0123456789";
/// A push whose text would run script if a page interpolated it as markup.
pub const PUSH: &str = r#"{"ref":"refs/heads/main","note":"<script>window.__pwned=1</script>"}"#;

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn github(secret: &str, downstream: &Downstream) -> String {
    format!(
        "[sources.github]\nprovider = \"github\"\nsecrets = [\"{secret}\"]\n\n\
         [[sources.github.destinations]]\nurl = \"{}\"\n\
         retry = {{ initial = \"20ms\", max = \"100ms\", max_attempts = 5, max_age = \"1m\" }}\n",
        downstream.url("/hook")
    )
}

/// GitHub sends `PUSH` signed with `secret`; the status it got.
pub async fn send_github(app: &TestApp, secret: &str) -> StatusCode {
    let signature = sign(secret, PUSH.as_bytes());
    let headers = [
        ("content-type", "application/json"),
        ("x-hub-signature-256", signature.as_str()),
        ("x-github-delivery", "d-rotated"),
        ("x-github-event", "push"),
    ];
    app.post("/hooks/github", &headers, PUSH).await.status()
}

/// The id of the newest kept refusal, once the writer has stored it.
pub async fn kept_refusal(app: &TestApp) -> String {
    let started = Instant::now();
    loop {
        let page = json(app.admin_get("/admin/refusals").await).await;
        if let Some(id) = page["refusals"][0]["id"].as_str() {
            return id.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no refusal kept: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn page_of(app: &TestApp, login: &Login, path: &str) -> String {
    let response = get(app, &login.cookie, path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    response.text().await.expect("page")
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a redirect")
        .to_owned()
}

async fn trail(app: &TestApp) -> Vec<Value> {
    let trail = json(app.admin_get("/admin/audit").await).await;
    trail["records"].as_array().cloned().expect("records")
}

#[tokio::test]
async fn a_refused_webhook_is_found_read_retested_reloaded_and_admitted_from_the_console() {
    let downstream = Downstream::start().await;
    let mut app = spawn_app_with("", &github(WRONG, &downstream)).await;
    assert_eq!(send_github(&app, RIGHT).await, StatusCode::UNAUTHORIZED);
    let id = kept_refusal(&app).await;
    let admin = login(&app).await;

    let list = page_of(&app, &admin, "/ui/refusals").await;
    assert!(
        list.contains(&format!("href=\"/ui/refusals/{id}\"")),
        "{list}"
    );
    assert!(list.contains("bad_signature"));
    let filtered = page_of(&app, &admin, "/ui/refusals?reason=schema_invalid").await;
    assert!(!filtered.contains(&id), "the reason filter applies");

    let detail_path = format!("/ui/refusals/{id}");
    let detail = page_of(&app, &admin, &detail_path).await;
    assert!(detail.contains("signature"), "why it was refused");
    assert!(detail.contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;"));
    assert!(!detail.contains("<script>window"), "the sample is text");
    assert!(detail.contains("id=\"retest\""));
    assert!(!detail.contains("id=\"admit\""), "no admit before a retest");

    let retest_path = format!("/ui/refusals/{id}/retest");
    let admit_path = format!("/ui/refusals/{id}/admit");
    let csrf = [("csrf", admin.csrf.as_str())];
    let retested = post(&app, &admin.cookie, &retest_path, &csrf).await;
    assert_eq!(retested.status(), StatusCode::OK);
    let retested = retested.text().await.expect("page");
    assert!(retested.contains("id=\"report\""));
    assert!(retested.contains("id=\"not-admissible\""), "{retested}");
    assert!(!retested.contains("id=\"admit\""));
    assert!(
        retested.contains("id=\"reload\""),
        "an admin may reload here"
    );
    let forced = post(&app, &admin.cookie, &admit_path, &csrf).await;
    assert_eq!(forced.status(), StatusCode::CONFLICT, "still failing");

    // The operator fixes the secret in the file and reloads from the page.
    let config = std::fs::read_to_string(&app.config_path).expect("config");
    std::fs::write(&app.config_path, config.replace(WRONG, RIGHT)).expect("config written");
    let reloaded = post(
        &app,
        &admin.cookie,
        "/ui/reload",
        &[("csrf", &admin.csrf), ("back", &id)],
    )
    .await;
    assert_eq!(reloaded.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&reloaded), format!("{detail_path}?reloaded=1"));

    let retested = post(&app, &admin.cookie, &retest_path, &csrf).await;
    let retested = retested.text().await.expect("page");
    assert!(retested.contains("id=\"admit\""), "{retested}");
    let admitted = post(&app, &admin.cookie, &admit_path, &csrf).await;
    assert_eq!(admitted.status(), StatusCode::SEE_OTHER);
    let event_page = location(&admitted);
    assert!(event_page.ends_with("?admitted=stored"), "{event_page}");
    downstream.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(downstream.received()[0].body.as_ref(), PUSH.as_bytes());
    let shown = page_of(&app, &admin, &event_page).await;
    assert!(shown.contains("Admitted from the refusal quarantine"));

    let again = post(&app, &admin.cookie, &admit_path, &csrf).await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&again).replace("duplicate", "stored"),
        event_page,
        "the same event, not a second one"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(downstream.count(), 1, "delivered exactly once");

    let actions: Vec<String> = trail(&app)
        .await
        .iter()
        .map(|record| format!("{} {}", record["actor"], record["action"]))
        .collect();
    assert_eq!(
        actions,
        [
            "\"admin\" \"admit\"",
            "\"admin\" \"reload\"",
            "\"admin\" \"login\""
        ],
        "newest first"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_viewer_reads_refusals_but_has_no_retest_and_a_forged_admit_is_403() {
    let downstream = Downstream::start().await;
    let tokens = format!(
        "[[server.admin_tokens]]\nname = \"dashboard\"\ntoken = \"{VIEWER_TOKEN}\"\nrole = \"viewer\"\n"
    );
    let mut app = spawn_app_with(&tokens, &github(RIGHT, &downstream)).await;
    assert_eq!(send_github(&app, WRONG).await, StatusCode::UNAUTHORIZED);
    let id = kept_refusal(&app).await;
    let viewer = login_as(&app, VIEWER_TOKEN).await;
    let detail = page_of(&app, &viewer, &format!("/ui/refusals/{id}")).await;
    assert!(detail.contains("bad_signature"));
    assert!(!detail.contains("id=\"retest\""));
    let csrf = [("csrf", viewer.csrf.as_str())];
    for action in ["retest", "admit"] {
        let forged = post(
            &app,
            &viewer.cookie,
            &format!("/ui/refusals/{id}/{action}"),
            &csrf,
        )
        .await;
        assert_eq!(forged.status(), StatusCode::FORBIDDEN, "{action}");
    }
    let reload = post(&app, &viewer.cookie, "/ui/reload", &csrf).await;
    assert_eq!(reload.status(), StatusCode::FORBIDDEN);
    assert_eq!(downstream.count(), 0);
    let actions: Vec<_> = trail(&app)
        .await
        .iter()
        .map(|record| record["action"].clone())
        .collect();
    assert_eq!(actions, ["login"], "a refused action records nothing");
    app.stop().await;
}
