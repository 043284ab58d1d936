//! Routing through a real server to real downstreams (SPEC section 10): each destination gets
//! the events its filter takes, decided when the event is stored; an event no destination takes
//! is stored `ignored` and never delivered.

use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use serde_json::Value;

use crate::downstream::Downstream;
use crate::helpers::{TestApp, json, spawn_app};

const SECRET: &str = "routing-test-secret";

/// A GitHub webhook of `event` with `body`, signed; returns the stored event's id.
async fn send(app: &TestApp, event: &str, body: &str, delivery: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key");
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let headers = [
        ("content-type", "application/json"),
        ("x-hub-signature-256", signature.as_str()),
        ("x-github-delivery", delivery),
        ("x-github-event", event),
    ];
    let response = app
        .post("/hooks/github", &headers, body.as_bytes().to_vec())
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    json(response).await["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

async fn event(app: &TestApp, id: &str) -> Value {
    json(app.admin_get(&format!("/admin/events/{id}")).await).await
}

/// Waits until every event of `ids` has left `pending`.
async fn settled(app: &TestApp, ids: &[&str]) {
    let started = Instant::now();
    for id in ids {
        loop {
            let status = event(app, id).await["status"].clone();
            if status != "pending" && status != "failed" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "event {id} still {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn bodies(downstream: &Downstream) -> Vec<String> {
    let mut seen: Vec<String> = downstream
        .received()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    seen.sort();
    seen
}

#[tokio::test]
async fn each_destination_receives_only_the_events_its_filter_takes() {
    let everything = Downstream::start().await;
    let api_pushes = Downstream::start().await;
    let big_orders = Downstream::start().await;
    let config = format!(
        r#"[sources.github]
provider = "github"
secrets = ["{SECRET}"]

[[sources.github.destinations]]
name = "everything"
url = "{everything}"

[[sources.github.destinations]]
name = "api-pushes"
url = "{api_pushes}"
filter = {{ body = {{ "/repository/full_name" = ["acme/api"] }}, headers = {{ "X-GitHub-Event" = ["push"] }} }}

[[sources.github.destinations]]
name = "big-orders"
url = "{big_orders}"
filter = {{ body = {{ "/order/total" = ["2000", "3000"], "/order/live" = ["true"] }} }}
"#,
        everything = everything.url("/all"),
        api_pushes = api_pushes.url("/api"),
        big_orders = big_orders.url("/orders"),
    );
    let mut app = spawn_app(&config).await;

    let push_api = r#"{"n":1,"repository":{"full_name":"acme/api"}}"#;
    let push_web = r#"{"n":2,"repository":{"full_name":"acme/web"}}"#;
    let issue_api = r#"{"n":3,"repository":{"full_name":"acme/api"}}"#;
    let order = r#"{"n":4,"order":{"total":2000,"live":true}}"#;
    let test_order = r#"{"n":5,"order":{"total":2000,"live":false}}"#;
    let text_total = r#"{"n":6,"order":{"total":{"amount":2000},"live":true}}"#;
    let ids = [
        send(&app, "push", push_api, "r-1").await,
        send(&app, "push", push_web, "r-2").await,
        send(&app, "issues", issue_api, "r-3").await,
        send(&app, "push", order, "r-4").await,
        send(&app, "push", test_order, "r-5").await,
        send(&app, "push", text_total, "r-6").await,
    ];
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    settled(&app, &refs).await;

    assert_eq!(everything.count(), 6, "no filter: every event");
    assert_eq!(bodies(&api_pushes), [push_api]);
    assert_eq!(bodies(&big_orders), [order]);
    for id in &ids {
        assert_eq!(event(&app, id).await["status"], "delivered", "{id}");
    }
    // The event detail lists each delivery it got, with its attempts.
    let shown = event(&app, &ids[0]).await;
    let deliveries = shown["deliveries"].as_array().expect("deliveries");
    let names: Vec<&str> = deliveries
        .iter()
        .filter_map(|d| d["destination"].as_str())
        .collect();
    assert_eq!(names, ["api-pushes", "everything"], "{shown}");
    for delivery in deliveries {
        assert_eq!(delivery["status"], "delivered", "{delivery}");
        assert_eq!(delivery["attempts"], 1);
        assert!(delivery["delivered_at"].is_string(), "{delivery}");
        let history = delivery["history"].as_array().expect("history");
        assert_eq!(history.len(), 1, "{delivery}");
        assert_eq!(history[0]["outcome"], "delivered");
        assert!(history[0]["at"].is_string() && history[0]["duration_ms"].is_number());
    }
    assert_eq!(shown["attempts"], 2, "the sum of its deliveries' attempts");
    app.stop().await;
}

#[tokio::test]
async fn an_event_no_destination_takes_is_stored_ignored_and_never_delivered() {
    let downstream = Downstream::start().await;
    let config = format!(
        r#"[sources.github]
provider = "github"
secrets = ["{SECRET}"]

[[sources.github.destinations]]
url = "{url}"
filter = {{ headers = {{ "x-github-event" = ["release"] }} }}
"#,
        url = downstream.url("/releases"),
    );
    let mut app = spawn_app(&config).await;
    let ignored = send(&app, "push", r#"{"ref":"main"}"#, "i-1").await;
    let taken = send(&app, "release", r#"{"tag":"v1"}"#, "i-2").await;
    settled(&app, &[ignored.as_str(), taken.as_str()]).await;

    let shown = event(&app, &ignored).await;
    assert_eq!(shown["status"], "ignored", "{shown}");
    assert_eq!(shown["attempts"], 0);
    assert_eq!(event(&app, &taken).await["status"], "delivered");
    assert_eq!(bodies(&downstream), [r#"{"tag":"v1"}"#]);

    // Listed and filtered like any other status, and never part of the dead-letter queue.
    let listed = json(app.admin_get("/admin/events?status=ignored").await).await;
    let listed: Vec<&str> = listed["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(listed, [ignored.as_str()]);
    let replayed = app
        .admin_post(
            "/admin/events/replay?source=github&status=dead",
            &Value::Null,
        )
        .await;
    assert!(replayed.status().is_success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        downstream.count(),
        1,
        "the ignored event was never delivered"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_reload_changes_the_routes_of_new_events_only() {
    let downstream = Downstream::start().await;
    let config = format!(
        r#"[sources.github]
provider = "github"
secrets = ["{SECRET}"]

[[sources.github.destinations]]
url = "{url}"
filter = {{ headers = {{ "x-github-event" = ["push"] }} }}
"#,
        url = downstream.url("/hook"),
    );
    let mut app = spawn_app(&config).await;
    let before = send(&app, "issues", r#"{"n":1}"#, "l-1").await;
    settled(&app, &[before.as_str()]).await;
    assert_eq!(event(&app, &before).await["status"], "ignored");

    let text = std::fs::read_to_string(&app.config_path).expect("config");
    std::fs::write(&app.config_path, text.replace("[\"push\"]", "[\"issues\"]"))
        .expect("rewrite config");
    let reloaded = app.admin_post("/admin/reload", &Value::Null).await;
    assert!(reloaded.status().is_success(), "{:?}", reloaded.status());
    let after = send(&app, "issues", r#"{"n":2}"#, "l-2").await;
    settled(&app, &[after.as_str()]).await;

    assert_eq!(event(&app, &after).await["status"], "delivered");
    assert_eq!(
        event(&app, &before).await["status"],
        "ignored",
        "a past event keeps its routing"
    );
    assert_eq!(bodies(&downstream), [r#"{"n":2}"#]);
    app.stop().await;
}

#[tokio::test]
async fn an_event_types_filter_takes_the_named_types_and_those_a_star_prefix_covers() {
    let downstream = Downstream::start().await;
    let config = format!(
        r#"[sources.github]
provider = "github"
secrets = ["{SECRET}"]

[[sources.github.destinations]]
name = "reviews"
url = "{url}"
filter = {{ event_types = ["pull_request*", "issues"] }}
"#,
        url = downstream.url("/reviews"),
    );
    let mut app = spawn_app(&config).await;
    let sent = [
        ("push", r#"{"n":"push"}"#),
        ("pull_request", r#"{"n":"pull_request"}"#),
        ("pull_request_review", r#"{"n":"pull_request_review"}"#),
        ("issues", r#"{"n":"issues"}"#),
        ("issue_comment", r#"{"n":"issue_comment"}"#),
    ];
    let mut ids = Vec::new();
    for (n, (event_type, body)) in sent.iter().enumerate() {
        ids.push(send(&app, event_type, body, &format!("t-{n}")).await);
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    settled(&app, &refs).await;

    assert_eq!(
        bodies(&downstream),
        [
            r#"{"n":"issues"}"#,
            r#"{"n":"pull_request"}"#,
            r#"{"n":"pull_request_review"}"#
        ]
    );
    let statuses: Vec<(String, String)> = {
        let mut out = Vec::new();
        for id in &ids {
            let shown = event(&app, id).await;
            out.push((
                shown["event_type"].as_str().unwrap_or_default().to_owned(),
                shown["status"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        out
    };
    assert_eq!(
        statuses,
        [
            ("push".to_owned(), "ignored".to_owned()),
            ("pull_request".to_owned(), "delivered".to_owned()),
            ("pull_request_review".to_owned(), "delivered".to_owned()),
            ("issues".to_owned(), "delivered".to_owned()),
            ("issue_comment".to_owned(), "ignored".to_owned()),
        ]
    );
    app.stop().await;
}
