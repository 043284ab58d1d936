//! `mode = "proxy"`: the provider gets the internal handler's own answer, and the event is
//! stored with the outcome recorded.

use crate::downstream::{Answer, Downstream};
use crate::helpers::{TestApp, json, spawn_app};

/// A handler that answers `status` with a JSON reply naming the body it got.
async fn handler(status: u16) -> Downstream {
    Downstream::builder()
        .respond(move |request| {
            Answer::status(status)
                .header("content-type", "application/json")
                .header("x-internal", "secret-ish")
                .body(format!("{{\"text\":\"got {} bytes\"}}", request.body.len()))
        })
        .start()
        .await
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
    let downstream = handler(200).await;
    let addr = downstream.addr;
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
        let seen = downstream.received();
        assert_eq!(seen.len(), 1);
        assert_eq!(&seen[0].body[..], b"command=%2Fdeploy&text=prod");
        assert_eq!(
            seen[0].headers["webhook-id"],
            event["id"].as_str().expect("id")
        );
    }
    // Give a worker a chance to (wrongly) deliver the held event a second time.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(downstream.count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_failing_handler_s_status_reaches_the_provider_and_the_event_is_dead() {
    let addr = handler(500).await.addr;
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
