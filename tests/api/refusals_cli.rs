//! `hookwall refusals list|show|retest` as an operator runs them: the real binary against a real
//! listening server, after a secret rotation, with a forged body that carries a terminal escape
//! sequence, and with a viewer's token.

use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json as json_value};

use crate::access_cli::{hookwall, text};
use crate::helpers::{ADMIN_TOKEN, TestApp, json, spawn_app_with};
use crate::roles::{OPERATOR_TOKEN, VIEWER_TOKEN, every_role};

const RIGHT: &str = "the-secret-github-has";
const WRONG: &str = "a-secret-from-before-the-rotation";

fn github(secret: &str) -> String {
    format!("[sources.github]\nprovider = \"github\"\nsecrets = [\"{secret}\"]\n")
}

async fn send_github(app: &TestApp, secret: &str, delivery: &str, body: &[u8]) -> StatusCode {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let headers = [
        ("content-type", "application/json"),
        ("x-hub-signature-256", signature.as_str()),
        ("x-github-delivery", delivery),
        ("x-github-event", "push"),
    ];
    app.post("/hooks/github", &headers, body.to_vec())
        .await
        .status()
}

/// The id of the newest kept refusal, once the writer has written one (off the request path).
async fn newest_refusal(app: &TestApp) -> Value {
    let started = Instant::now();
    loop {
        let response = app.admin_get("/admin/refusals?limit=1").await;
        assert_eq!(response.status(), StatusCode::OK);
        let page = json(response).await;
        if let Some(record) = page["refusals"].get(0) {
            return record.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no refusal was kept"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn admin_env(app: &TestApp, token: &'static str) -> [(&'static str, String); 2] {
    [
        ("HOOKWALL_ADMIN_URL", format!("http://{}", app.admin_addr)),
        ("HOOKWALL_ADMIN_TOKEN", token.to_owned()),
    ]
}

async fn refusals_cli(
    args: &[&str],
    env: &[(&'static str, String); 2],
) -> (Option<i32>, String, String) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut full = vec!["refusals"];
    full.extend_from_slice(args);
    let output = hookwall(&full, &env, b"").await;
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

#[tokio::test]
async fn an_operator_lists_shows_retests_and_admits_a_webhook_refused_before_a_secret_rotation() {
    let mut app = spawn_app_with("", &github(WRONG)).await;
    let push = br#"{"ref":"refs/heads/main","n":24}"#;
    assert_eq!(
        send_github(&app, RIGHT, "d-rotated", push).await,
        StatusCode::UNAUTHORIZED
    );
    let id = newest_refusal(&app).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let env = admin_env(&app, ADMIN_TOKEN);

    let (code, list, stderr) = refusals_cli(&["list", "--source", "github"], &env).await;
    assert_eq!(code, Some(0), "{stderr}");
    let line = list
        .lines()
        .find(|line| line.contains(&id))
        .unwrap_or_else(|| panic!("the record is listed: {list}"));
    for column in [
        "github",
        "401",
        "127.0.0.1",
        &push.len().to_string(),
        "bad_signature: ",
    ] {
        assert!(line.contains(column), "{column:?} in {line:?}");
    }
    let (code, filtered, _) = refusals_cli(&["list", "--reason", "schema_invalid"], &env).await;
    assert_eq!(code, Some(0));
    assert!(!filtered.contains(&id), "{filtered}");

    let (code, shown, stderr) = refusals_cli(&["show", &id], &env).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(shown.contains("x-github-delivery: d-rotated"), "{shown}");
    assert!(shown.contains(&hex::encode(<sha2::Sha256 as sha2::Digest>::digest(push))));
    assert!(
        shown.contains("yes: the sample is the whole body"),
        "{shown}"
    );
    assert!(
        shown.contains(std::str::from_utf8(push).expect("utf-8")),
        "{shown}"
    );

    let (code, report, _) = refusals_cli(&["retest", &id], &env).await;
    assert_eq!(code, Some(1), "the verdict is reject: {report}");
    assert!(
        report
            .lines()
            .any(|line| line.starts_with("signature") && line.contains("fail")),
        "{report}"
    );
    assert!(report.contains("verdict: reject"), "{report}");
    let (code, refused, _) = refusals_cli(&["retest", &id, "--admit"], &env).await;
    assert_eq!(code, Some(1));
    assert!(refused.contains("not admitted: still failing"), "{refused}");

    // The operator fixes the secret and reloads; the kept webhook now passes and is admitted.
    let config = std::fs::read_to_string(&app.config_path).expect("config");
    std::fs::write(&app.config_path, config.replace(WRONG, RIGHT)).expect("config written");
    let reloaded = app.admin_post("/admin/reload", &json_value!({})).await;
    assert_eq!(reloaded.status(), StatusCode::OK);
    let (code, report, stderr) = refusals_cli(&["retest", &id], &env).await;
    assert_eq!(code, Some(0), "{report}{stderr}");
    assert!(report.contains("verdict: accept"), "{report}");
    let (code, admitted, stderr) = refusals_cli(&["retest", &id, "--admit"], &env).await;
    assert_eq!(code, Some(0), "{stderr}");
    let event = admitted
        .strip_prefix("admitted: event ")
        .and_then(|rest| rest.strip_suffix(" (accepted)\n"))
        .unwrap_or_else(|| panic!("the event id: {admitted:?}"));
    let stored = app.admin_get(&format!("/admin/events/{event}")).await;
    assert_eq!(stored.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_forged_escape_sequence_is_printed_escaped_and_a_viewer_cannot_retest() {
    let mut app = spawn_app_with(&every_role(), &github(RIGHT)).await;
    // A clear-screen sequence and a line break that would forge a line of the output.
    let forged = b"{\"x\":\"\x1b[2J\nstatus       200\"}";
    assert_eq!(
        send_github(&app, WRONG, "d-forged", forged).await,
        StatusCode::UNAUTHORIZED
    );
    let id = newest_refusal(&app).await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let viewer = admin_env(&app, VIEWER_TOKEN);
    let (code, shown, stderr) = refusals_cli(&["show", &id], &viewer).await;
    assert_eq!(code, Some(0), "a viewer may read: {stderr}");
    assert!(!shown.contains('\x1b'), "{shown:?}");
    assert!(shown.contains(r"\u{1b}[2J\nstatus       200"), "{shown}");
    assert!(
        !shown
            .lines()
            .any(|line| line.starts_with("status       200")),
        "{shown}"
    );
    let (code, list, _) = refusals_cli(&["list"], &viewer).await;
    assert_eq!(code, Some(0));
    assert!(list.contains(&id), "{list}");
    assert!(!list.contains('\x1b'), "{list:?}");

    let (code, stdout, stderr) = refusals_cli(&["retest", &id], &viewer).await;
    assert_eq!(code, Some(1));
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(
            "the token `dashboard` has role viewer; retesting a refusal needs operator — ask an \
             admin for an operator token"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains(VIEWER_TOKEN), "{stderr}");

    // The operator may: the report comes back, with the verdict the forged body still gets.
    let operator = admin_env(&app, OPERATOR_TOKEN);
    let (code, report, _) = refusals_cli(&["retest", &id], &operator).await;
    assert_eq!(code, Some(1));
    assert!(report.contains("verdict: reject"), "{report}");
    app.stop().await;
}
