//! `mode = "proxy"`: the provider gets the internal handler's own answer, and the event is
//! stored with the outcome recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;

use crate::helpers::{TestApp, json, spawn_app};

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A handler that answers `status` with a JSON reply naming the body it got.
async fn handler(status: u16) -> (Seen, SocketAddr) {
    async fn answer(
        State((seen, status)): State<(Seen, u16)>,
        headers: HeaderMap,
        body: Bytes,
    ) -> impl IntoResponse {
        let reply = format!("{{\"text\":\"got {} bytes\"}}", body.len());
        seen.lock().expect("lock").push((headers, body));
        (
            StatusCode::from_u16(status).expect("status"),
            [
                ("content-type", "application/json"),
                ("x-internal", "secret-ish"),
            ],
            reply,
        )
    }
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route("/slash", axum::routing::post(answer))
        .with_state((seen.clone(), status));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (seen, addr)
}

fn source(downstream: &str) -> String {
    format!(
        "[sources.cmd]\nprovider = \"token\"\nsecrets = [\"Bearer cmd-token\"]\nmode = \"proxy\"\n\n\
         [[sources.cmd.destinations]]\nurl = \"{downstream}\"\ntimeout = \"2s\"\n"
    )
}

async fn command(app: &TestApp, body: &str) -> reqwest::Response {
    app.post(
        "/hooks/cmd",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", "Bearer cmd-token"),
        ],
        body.to_owned(),
    )
    .await
}

async fn only_event(app: &TestApp) -> serde_json::Value {
    let page = json(app.admin_get("/admin/events").await).await;
    let events = page["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{page}");
    events[0].clone()
}

#[tokio::test]
async fn the_provider_gets_the_handler_s_answer_and_the_event_is_stored_delivered() {
    let (seen, addr) = handler(200).await;
    let mut app = spawn_app(&source(&format!("http://{addr}/slash"))).await;
    let response = command(&app, "command=%2Fdeploy&text=prod").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(
        response.headers().get("x-internal").is_none(),
        "only the content type is passed back"
    );
    assert_eq!(
        response.text().await.expect("text"),
        "{\"text\":\"got 27 bytes\"}"
    );
    let event = only_event(&app).await;
    assert_eq!(event["status"], "delivered");
    assert_eq!(event["attempts"], 1);
    {
        let seen = seen.lock().expect("lock");
        assert_eq!(seen.len(), 1);
        assert_eq!(&seen[0].1[..], b"command=%2Fdeploy&text=prod");
        assert_eq!(seen[0].0["webhook-id"], event["id"].as_str().expect("id"));
    }
    // Give a worker a chance to (wrongly) deliver the held event a second time.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(seen.lock().expect("lock").len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_failing_handler_s_status_reaches_the_provider_and_the_event_is_dead() {
    let (_seen, addr) = handler(500).await;
    let mut app = spawn_app(&source(&format!("http://{addr}/slash"))).await;
    let response = command(&app, "command=%2Fdeploy").await;
    assert_eq!(response.status(), 500);
    let event = only_event(&app).await;
    assert_eq!(event["status"], "dead");
    assert_eq!(
        event["last_error"],
        "proxy: HTTP 500, returned to the provider"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_handler_is_502_and_the_event_is_kept_for_replay() {
    let mut app = spawn_app(&source("http://127.0.0.1:9/slash")).await;
    let response = command(&app, "command=%2Fdeploy").await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let event = only_event(&app).await;
    assert_eq!(event["status"], "dead");
    app.stop().await;
}

#[test]
fn a_proxy_source_without_exactly_one_http_destination_is_refused_at_start() {
    let text =
        "[sources.cmd]\nprovider = \"token\"\nsecrets = [\"Bearer cmd-token\"]\nmode = \"proxy\"\n";
    let errors = hookwall::config::Config::from_str_with_env(
        text,
        std::path::Path::new("hookwall.toml"),
        &|_| None,
    )
    .expect_err("refused");
    let text = errors.to_string();
    assert!(
        text.contains("sources.cmd") && text.contains("of type \"http\""),
        "{text}"
    );
}
