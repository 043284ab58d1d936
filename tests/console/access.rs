//! Who is in the console, and the record of it (SPEC sections 11 and 12), over plain HTTP:
//! logins and failed logins in the audit trail (failed ones at a bounded pace), the audit page
//! and its chain check, a session that follows its token through reloads, and forms sent from
//! another site's page.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Connection;

use crate::downstream::Downstream;
use crate::helpers::{ADMIN_TOKEN, TestApp, json};
use crate::session::{
    form, get, login, login_as, plain_client, post, post_event, post_login, spawn,
};

const ONCALL_TOKEN: &str = "console-oncall-token-0123456789";

async fn trail(app: &TestApp) -> Vec<Value> {
    let trail = json(app.admin_get("/admin/audit?limit=1000").await).await;
    trail["records"].as_array().cloned().expect("records")
}

#[tokio::test]
async fn logins_and_failed_logins_are_audited_and_the_audit_page_checks_the_chain() {
    let downstream = Downstream::start().await;
    let mut app = spawn("", &downstream).await;
    let wrong = post_login(&app, "not-a-token-this-gateway-knows").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let admin = login(&app).await;

    let records = trail(&app).await;
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["action"], "login");
    assert_eq!(records[0]["actor"], "admin");
    assert_eq!(records[0]["client_ip"], "127.0.0.1");
    assert_eq!(records[1]["action"], "login_failed");
    assert_eq!(records[1]["actor"], "unknown");
    assert_eq!(records[1]["outcome"], "unknown token");
    let trail_text = serde_json::to_string(&records).expect("JSON");
    assert!(
        !trail_text.contains("not-a-token"),
        "what was typed is not kept"
    );

    let page = get(&app, &admin.cookie, "/ui/audit").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("page");
    assert!(html.contains("login_failed") && html.contains("id=\"verify\""));
    let holds = get(&app, &admin.cookie, "/ui/audit?verify=1")
        .await
        .text()
        .await
        .expect("page");
    assert!(holds.contains("The chain holds: 2 record(s)"), "{holds}");

    // Someone with the database file rewrites history.
    let url = format!("sqlite://{}", app.db_path.display());
    let mut file = sqlx::SqliteConnection::connect(&url).await.expect("open");
    sqlx::raw_sql(
        "DROP TRIGGER audit_append_only_update; \
         UPDATE audit SET outcome = 'ok' WHERE id = 1;",
    )
    .execute(&mut file)
    .await
    .expect("tampered");
    file.close().await.expect("closed");
    let broken = get(&app, &admin.cookie, "/ui/audit?verify=1")
        .await
        .text()
        .await
        .expect("page");
    assert!(
        broken.contains("The chain is broken at record 1"),
        "{broken}"
    );
    app.stop().await;
}

#[tokio::test]
async fn failed_logins_from_many_addresses_are_recorded_at_a_bounded_pace() {
    let downstream = Downstream::start().await;
    // Through a trusted proxy each attempt comes from its own address, so no per-address
    // limit stops them.
    let mut app = spawn("trusted_proxies = [\"127.0.0.1/32\"]", &downstream).await;
    let attempt = |n: u32| {
        plain_client()
            .post(app.admin_url("/ui/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "x-forwarded-for",
                format!("198.51.{}.{}", n / 250, n % 250 + 1),
            )
            .body(form(&[("token", "guess")]))
            .send()
    };
    let flood = 120;
    let started = std::time::Instant::now();
    for n in 0..flood {
        let answer = attempt(n).await.expect("sent");
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    }
    // A burst of 60, and one more a second while the flood lasts.
    let recorded = trail(&app).await.len();
    let bound = 60 + started.elapsed().as_secs() as usize + 1;
    assert!((60..=bound).contains(&recorded), "{recorded} > {bound}");
    assert!(recorded < flood as usize, "some were left out");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    attempt(flood).await.expect("sent");
    let records = trail(&app).await;
    assert_eq!(records.len(), recorded + 1);
    assert_eq!(records[0]["client_ip"], format!("198.51.0.{}", flood + 1));
    // Each record after a gap counts the failures left out since the record before it.
    let left_out: usize = records
        .iter()
        .filter_map(|record| record["outcome"].as_str())
        .filter_map(|outcome| outcome.strip_prefix("unknown token; "))
        .map(|rest| {
            let n = rest.split(' ').next().expect("a count");
            n.parse::<usize>().expect("a number")
        })
        .sum();
    assert!(
        records[0]["outcome"]
            .as_str()
            .is_some_and(|o| o.ends_with("failed login(s) before this one not recorded")),
        "{}",
        records[0]
    );
    assert_eq!(
        records.len() + left_out,
        flood as usize + 1,
        "every failure is either recorded or counted"
    );
    app.stop().await;
}

/// Writes `config` and reloads it through the admin API; the answer's status.
async fn reload(app: &TestApp, config: String) -> StatusCode {
    std::fs::write(&app.config_path, config).expect("config written");
    app.admin_post("/admin/reload", &serde_json::json!({}))
        .await
        .status()
}

#[tokio::test]
async fn a_session_acts_with_its_tokens_role_now_and_ends_when_a_reload_removes_the_token() {
    let downstream = Downstream::start().await;
    let oncall = format!(
        "[[server.admin_tokens]]\nname = \"oncall\"\ntoken = \"{ONCALL_TOKEN}\"\nrole = \"operator\"\n"
    );
    let mut app = spawn(&oncall, &downstream).await;
    let id = post_event(&app, "order-1", "order.paid", r#"{"n":1}"#).await;
    let session = login_as(&app, ONCALL_TOKEN).await;
    let event = format!("/ui/events/{id}");
    let html = get(&app, &session.cookie, &event).await.text().await;
    assert!(html.expect("page").contains("id=\"replay\""));

    let config = std::fs::read_to_string(&app.config_path).expect("config");
    let demoted = config.replace("role = \"operator\"", "role = \"viewer\"");
    assert_eq!(reload(&app, demoted).await, StatusCode::OK);
    let html = get(&app, &session.cookie, &event).await.text().await;
    assert!(
        !html.expect("page").contains("id=\"replay\""),
        "now a viewer"
    );
    let replay = format!("/ui/events/{id}/replay");
    let refused = post(&app, &session.cookie, &replay, &[("csrf", &session.csrf)]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let removed = config.replace(ONCALL_TOKEN, "console-a-new-oncall-token-9876543210");
    assert_eq!(reload(&app, removed).await, StatusCode::OK);
    let gone = get(&app, &session.cookie, "/ui/").await;
    assert_eq!(gone.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        gone.headers().get("location").map(|v| v.as_bytes()),
        Some(&b"/ui/login"[..])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_login_or_a_form_sent_from_another_sites_page_is_403() {
    let downstream = Downstream::start().await;
    let mut app = spawn("", &downstream).await;
    let login_from = |header: (&'static str, &'static str)| {
        plain_client()
            .post(app.admin_url("/ui/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(header.0, header.1)
            .body(form(&[("token", ADMIN_TOKEN)]))
            .send()
    };
    for header in [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
    ] {
        let refused = login_from(header).await.expect("sent");
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{header:?}");
        assert!(refused.headers().get("set-cookie").is_none());
    }
    let same = login_from(("sec-fetch-site", "same-origin"))
        .await
        .expect("sent");
    assert_eq!(same.status(), StatusCode::SEE_OTHER);

    let admin = login(&app).await;
    let forged = plain_client()
        .post(app.admin_url("/ui/logout"))
        .header("cookie", &admin.cookie)
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &admin.csrf)]))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "even with the token"
    );
    let still = get(&app, &admin.cookie, "/ui/").await;
    assert_eq!(still.status(), StatusCode::OK, "still logged in");
    app.stop().await;
}
