//! The audit trail over real HTTP (SPEC section 12): each operator action leaves one record
//! with its actor, target, outcome and client address, in a chain; `GET /admin/audit` pages it
//! newest first. A request the token check refuses is not an action and leaves none.

use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use crate::downstream::Downstream;
use crate::helpers::{TestApp, json, spawn_app};

const SECRET: &str = "audit-test-github-secret";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn config(downstream: &Downstream) -> String {
    format!(
        "[sources.github]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n\n\
         [[sources.github.destinations]]\nname = \"ci\"\nurl = \"{}\"\n",
        downstream.url("/ci")
    )
}

async fn send(app: &TestApp, delivery: &str) -> reqwest::Response {
    let body = format!("{{\"delivery\":\"{delivery}\"}}");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key");
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    app.post(
        "/hooks/github",
        &[
            ("content-type", "application/json"),
            ("x-github-delivery", delivery),
            ("x-github-event", "push"),
            ("x-hub-signature-256", &signature),
        ],
        body,
    )
    .await
}

/// Every record, oldest first.
async fn trail(app: &TestApp) -> Vec<Value> {
    let response = app.admin_get("/admin/audit?limit=1000").await;
    assert_eq!(response.status(), 200);
    let page = json(response).await;
    assert_eq!(page["next_cursor"], Value::Null);
    let mut records = page["records"].as_array().expect("records").clone();
    records.reverse();
    records
}

/// (action, target, outcome) of each record.
fn actions(records: &[Value]) -> Vec<(String, String, String)> {
    records
        .iter()
        .map(|r| {
            let text = |key: &str| r[key].as_str().expect("a string").to_owned();
            (text("action"), text("target"), text("outcome"))
        })
        .collect()
}

fn triple(action: &str, target: &str, outcome: &str) -> (String, String, String) {
    (action.to_owned(), target.to_owned(), outcome.to_owned())
}

#[tokio::test]
async fn every_operator_action_leaves_a_record_with_its_actor_target_outcome_and_address() {
    let downstream = Downstream::start().await;
    let mut app = spawn_app(&config(&downstream)).await;
    assert_eq!(send(&app, "audit-1").await.status(), 202);
    let listed = json(app.admin_get("/admin/events").await).await;
    let id = listed["events"][0]["id"]
        .as_str()
        .expect("an event")
        .to_owned();

    let replayed = app
        .admin_post(&format!("/admin/events/{id}/replay"), &json!({}))
        .await;
    assert_eq!(replayed.status(), 202);
    let unknown = app
        .admin_post(
            "/admin/events/0190e4d4-0000-7000-8000-000000000000/replay",
            &json!({}),
        )
        .await;
    assert_eq!(unknown.status(), 404, "changed nothing: not recorded");
    let bulk = app
        .admin_post("/admin/events/replay?source=github", &json!({}))
        .await;
    assert_eq!(bulk.status(), 202);
    assert_eq!(json(bulk).await["replayed"], 0);
    for action in ["pause", "resume"] {
        let response = app
            .admin_post(&format!("/admin/destinations/ci/{action}"), &json!({}))
            .await;
        assert_eq!(response.status(), 204, "{action}");
    }
    let reloaded = app.admin_post("/admin/reload", &json!({})).await;
    assert_eq!(reloaded.status(), 200);
    let original = std::fs::read_to_string(&app.config_path).expect("config");
    std::fs::write(
        &app.config_path,
        original.replace("provider = \"github\"", "provider = \"gitbub\""),
    )
    .expect("write");
    let refused = app.admin_post("/admin/reload", &json!({})).await;
    assert_eq!(refused.status(), 422);
    let errors = json(refused).await["errors"]
        .as_array()
        .expect("errors")
        .len();
    std::fs::write(&app.config_path, &original).expect("write");
    let export = app
        .admin_get("/admin/events/export?format=csv&source=github")
        .await;
    assert_eq!(export.status(), 200);
    assert!(export.text().await.expect("body").contains(&id));

    let records = trail(&app).await;
    let config_path = app.config_path.display().to_string();
    assert_eq!(
        actions(&records),
        [
            triple("replay", &id, "ok"),
            triple("bulk_replay", "source=github status=dead", "ok replayed=0"),
            triple("pause", "ci", "ok"),
            triple("resume", "ci", "ok"),
            triple("reload", &config_path, "ok"),
            triple("reload", &config_path, &format!("refused errors={errors}")),
            triple("export", "source=github format=csv", "ok"),
        ]
    );
    let mut prev_hash = GENESIS.to_owned();
    for (n, record) in records.iter().enumerate() {
        assert_eq!(record["id"], n as i64 + 1);
        assert_eq!(record["actor"], "admin");
        assert_eq!(record["client_ip"], "127.0.0.1");
        assert_eq!(record["prev_hash"], prev_hash.as_str(), "chained: {record}");
        assert!(record["time"].as_str().expect("time").ends_with('Z'));
        prev_hash = record["hash"].as_str().expect("hash").to_owned();
        assert_eq!(prev_hash.len(), 64);
    }
    app.stop().await;
}

#[tokio::test]
async fn the_audit_listing_pages_newest_first_with_a_cursor_and_a_refused_token_leaves_nothing() {
    let downstream = Downstream::start().await;
    let mut app = spawn_app(&config(&downstream)).await;
    for action in ["pause", "pause", "resume", "pause", "resume"] {
        let response = app
            .admin_post(&format!("/admin/destinations/ci/{action}"), &json!({}))
            .await;
        assert_eq!(response.status(), 204, "{action}");
    }
    let no_token = app
        .client
        .post(app.admin_url("/admin/destinations/ci/pause"))
        .send()
        .await
        .expect("sent");
    assert_eq!(no_token.status(), 401);

    let first = json(app.admin_get("/admin/audit?limit=2").await).await;
    let second_url = format!(
        "/admin/audit?limit=2&cursor={}",
        first["next_cursor"].as_str().expect("a cursor")
    );
    let second = json(app.admin_get(&second_url).await).await;
    let third_url = format!(
        "/admin/audit?limit=2&cursor={}",
        second["next_cursor"].as_str().expect("a cursor")
    );
    let third = json(app.admin_get(&third_url).await).await;

    let ids = |page: &Value| -> Vec<i64> {
        page["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect()
    };
    assert_eq!(ids(&first), [5, 4], "newest first; the 401 left no record");
    assert_eq!(ids(&second), [3, 2]);
    assert_eq!(ids(&third), [1]);
    assert_eq!(third["next_cursor"], Value::Null);
    assert_eq!(
        second["records"][1]["outcome"], "ok unchanged",
        "a second pause changed nothing and says so"
    );
    let bad = app.admin_get("/admin/audit?cursor=abc").await;
    assert_eq!(bad.status(), 400);
    let unauthenticated = app
        .client
        .get(app.admin_url("/admin/audit"))
        .send()
        .await
        .expect("sent");
    assert_eq!(unauthenticated.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_named_tokens_actions_carry_its_name_and_a_viewers_refused_pause_leaves_nothing() {
    use crate::roles::{OPERATOR_TOKEN, VIEWER_TOKEN, every_role};
    let downstream = Downstream::start().await;
    let mut app = crate::helpers::spawn_app_with(&every_role(), &config(&downstream)).await;
    let pause = |token: &'static str| {
        app.client
            .post(app.admin_url("/admin/destinations/ci/pause"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(pause(VIEWER_TOKEN).await.expect("sent").status(), 403);
    assert_eq!(pause(OPERATOR_TOKEN).await.expect("sent").status(), 204);

    let records = trail(&app).await;
    assert_eq!(
        records.len(),
        1,
        "the viewer's 403 is not an action: {records:?}"
    );
    assert_eq!(records[0]["actor"], "oncall", "the operator token's name");
    assert_eq!(records[0]["action"], "pause");
    assert_eq!(records[0]["target"], "ci");
    assert_eq!(records[0]["client_ip"], "127.0.0.1");
    app.stop().await;
}
