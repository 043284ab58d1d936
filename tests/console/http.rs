//! The console over plain HTTP: where it lives, its headers, its redirects, its cookie, its
//! CSRF check, the login limit, expiry and logout. No browser needed.

use std::time::Duration;

use reqwest::StatusCode;

use crate::downstream::{Answer, Downstream};
use crate::helpers::ADMIN_TOKEN;
use crate::session::{
    HOSTILE_HEADER, HOSTILE_ID, HOSTILE_TYPE, get, login, login_as, plain_client, post, post_event,
    post_hostile, post_login, spawn,
};

const CSP: &str =
    "default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'";

fn assert_security_headers(response: &reqwest::Response) {
    let headers = response.headers();
    let path = response.url().path().to_owned();
    assert_eq!(
        headers
            .get("content-security-policy")
            .map(|v| v.to_str().ok()),
        Some(Some(CSP)),
        "{path}"
    );
    assert_eq!(
        headers.get("x-content-type-options").map(|v| v.as_bytes()),
        Some(&b"nosniff"[..]),
        "{path}"
    );
    assert_eq!(
        headers.get("referrer-policy").map(|v| v.as_bytes()),
        Some(&b"no-referrer"[..]),
        "{path}"
    );
}

fn location(response: &reqwest::Response) -> Option<&str> {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn the_console_is_not_on_the_public_listener() {
    let downstream = Downstream::start().await;
    let mut app = spawn("", &downstream).await;
    for path in ["/ui/", "/ui/login", "/ui"] {
        let response = plain_client()
            .get(app.url(path))
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let admin = plain_client()
        .get(app.admin_url("/ui/login"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(admin.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn every_page_without_a_session_redirects_to_the_login_with_the_security_headers() {
    let downstream = Downstream::start().await;
    let mut app = spawn("", &downstream).await;
    for path in [
        "/ui/",
        "/ui/events",
        "/ui/events/0196b0a0-0000-7000-8000-000000000000",
        "/ui/dead",
        "/ui/destinations",
        "/ui/test",
        "/ui/no-such-page",
    ] {
        let response = get(&app, "hookwall_session=forged", path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), Some("/ui/login"), "{path}");
        assert_security_headers(&response);
    }
    let logout = post(&app, "", "/ui/logout", &[]).await;
    assert_eq!(logout.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&logout), Some("/ui/login"));
    let form = plain_client()
        .get(app.admin_url("/ui/login"))
        .send()
        .await
        .expect("request sent");
    assert_eq!(form.status(), StatusCode::OK);
    assert_security_headers(&form);
    assert_eq!(
        form.headers().get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_a_right_one_gets_a_strict_http_only_cookie() {
    let downstream = Downstream::start().await;
    let mut app = spawn("", &downstream).await;
    let wrong = post_login(&app, "not-the-token").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert_security_headers(&wrong);
    let body = wrong.text().await.expect("page");
    assert!(
        !body.contains("not-the-token"),
        "the typed token is never echoed"
    );

    let right = post_login(&app, ADMIN_TOKEN).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&right), Some("/ui/"));
    let cookie = right
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie")
        .to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=28800"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP without require_https: {cookie}"
    );
    let value = cookie
        .split(';')
        .next()
        .and_then(|p| p.split_once('='))
        .map(|(_, v)| v)
        .expect("value");
    assert_eq!(value.len(), 64, "256 random bits in hex");
    assert!(!value.contains(ADMIN_TOKEN));
    app.stop().await;
}

#[tokio::test]
async fn the_cookie_is_secure_when_https_is_required() {
    let downstream = Downstream::start().await;
    let mut app = spawn("require_https = true\n", &downstream).await;
    let right = post_login(&app, ADMIN_TOKEN).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let cookie = right
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    app.stop().await;
}

#[tokio::test]
async fn login_attempts_beyond_a_few_a_minute_get_429_even_with_the_right_token() {
    let downstream = Downstream::start().await;
    let mut app = spawn("", &downstream).await;
    for _ in 0..5 {
        assert_eq!(
            post_login(&app, "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = post_login(&app, "guess").await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get("retry-after").is_some());
    let right = post_login(&app, ADMIN_TOKEN).await;
    assert_eq!(
        right.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "no oracle for a right guess"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_post_without_the_csrf_token_or_with_a_wrong_one_is_403() {
    let downstream = Downstream::start().await;
    let mut app = spawn("", &downstream).await;
    let id = post_event(&app, "order-1", "order.paid", r#"{"n":1}"#).await;
    downstream.wait_for(1, Duration::from_secs(10)).await;
    let session = login(&app).await;
    let replay = format!("/ui/events/{id}/replay");
    for pairs in [
        vec![],
        vec![("csrf", "0".repeat(64))],
        vec![("csrf", String::new())],
    ] {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = post(&app, &session.cookie, &replay, &pairs).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{pairs:?}");
        assert_security_headers(&refused);
    }
    let logout = post(&app, &session.cookie, "/ui/logout", &[]).await;
    assert_eq!(
        logout.status(),
        StatusCode::FORBIDDEN,
        "logout needs the token too"
    );
    assert_eq!(downstream.count(), 1, "nothing was replayed");

    let replayed = post(&app, &session.cookie, &replay, &[("csrf", &session.csrf)]).await;
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&replayed),
        Some(format!("/ui/events/{id}?replayed=1").as_str())
    );
    downstream.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(downstream.count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_session_ends_after_console_session_ttl_and_at_logout() {
    let downstream = Downstream::start().await;
    let mut app = spawn("console_session_ttl = \"1s\"\n", &downstream).await;
    let short = login(&app).await;
    assert_eq!(
        get(&app, &short.cookie, "/ui/events").await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let expired = get(&app, &short.cookie, "/ui/events").await;
    assert_eq!(expired.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&expired), Some("/ui/login"));

    let session = login(&app).await;
    let out = post(
        &app,
        &session.cookie,
        "/ui/logout",
        &[("csrf", &session.csrf)],
    )
    .await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), Some("/ui/login"));
    let cleared = out
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("cookie");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        get(&app, &session.cookie, "/ui/").await.status(),
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

#[tokio::test]
async fn the_assets_come_from_the_binary_with_their_type_and_a_long_cache() {
    let downstream = Downstream::start().await;
    let mut app = spawn("", &downstream).await;
    let page = plain_client()
        .get(app.admin_url("/ui/login"))
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("page");
    for (kind, content_type) in [(".css", "text/css"), (".js", "text/javascript")] {
        let start = html.find("/ui/assets/console.").expect("an asset link");
        let rest = &html[start..];
        let path = rest[..rest.find('"').expect("end")].to_owned();
        let path = if path.ends_with(kind) {
            path
        } else {
            let other = &html[start + path.len()..];
            let start = other.find("/ui/assets/console.").expect("the other asset");
            other[start..start + other[start..].find('"').expect("end")].to_owned()
        };
        let asset = plain_client()
            .get(app.admin_url(&path))
            .send()
            .await
            .expect("sent");
        assert_eq!(asset.status(), StatusCode::OK, "{path}");
        assert_security_headers(&asset);
        let header = |name: &str| {
            asset
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert!(header("content-type").starts_with(content_type), "{path}");
        assert!(
            header("cache-control").contains("max-age=31536000"),
            "{path}"
        );
    }
    let missing = plain_client()
        .get(app.admin_url("/ui/assets/console.css"))
        .send()
        .await
        .expect("sent");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn every_page_renders_real_data_with_hostile_values_escaped() {
    let downstream = Downstream::builder()
        .script([Answer::status(500)])
        .start()
        .await;
    let mut app = spawn("", &downstream).await;
    let hostile = post_hostile(&app).await;
    downstream.wait_for(1, Duration::from_secs(10)).await;
    let session = login(&app).await;
    // The one attempt failed: the event is dead.
    let mut dead = String::new();
    for _ in 0..100 {
        dead = get(&app, &session.cookie, "/ui/dead")
            .await
            .text()
            .await
            .expect("page");
        if dead.contains("Replay all 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(dead.contains("Replay all 1"), "{dead}");

    let detail = get(&app, &session.cookie, &format!("/ui/events/{hostile}")).await;
    assert_eq!(detail.status(), StatusCode::OK);
    let html = detail.text().await.expect("page");
    for raw in [
        HOSTILE_HEADER,
        HOSTILE_ID,
        HOSTILE_TYPE,
        "<img src=x onerror",
    ] {
        assert!(!html.contains(raw), "{raw} appears unescaped");
    }
    assert!(
        html.contains("&lt;script&gt;window.__pwned='type'&lt;/script&gt;"),
        "the type is shown as text"
    );
    assert!(
        html.contains("&lt;img src=x onerror=window.__pwned='id'&gt;"),
        "the id is shown as text"
    );
    assert!(html.contains("HTTP 500"), "the attempt's error is shown");

    let pages = [
        ("/ui/", "shop"),
        (
            "/ui/events",
            "&lt;script&gt;window.__pwned='type'&lt;/script&gt;",
        ),
        ("/ui/events?status=dead&source=shop", &hostile[..8]),
        ("/ui/destinations", "shop-backend"),
        ("/ui/test", "Run the checks"),
    ];
    for (path, expected) in pages {
        let response = get(&app, &session.cookie, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_security_headers(&response);
        let html = response.text().await.expect("page");
        assert!(html.contains(expected), "{path} lacks {expected}");
        assert!(!html.contains(HOSTILE_TYPE), "{path}");
        assert!(!html.contains(" style="), "{path}: no inline style");
        assert!(!html.contains("<script>"), "{path}: no inline script");
    }
    let searched = get(&app, &session.cookie, &format!("/ui/events?q={hostile}")).await;
    assert_eq!(searched.status(), StatusCode::SEE_OTHER);
    let unknown = get(&app, &session.cookie, "/ui/events/not-an-id").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn bulk_replay_pause_resume_and_the_security_test_work_through_forms() {
    let downstream = Downstream::builder()
        .script([Answer::status(500)])
        .start()
        .await;
    let mut app = spawn("", &downstream).await;
    post_event(&app, "order-9", "order.paid", r#"{"n":9}"#).await;
    downstream.wait_for(1, Duration::from_secs(10)).await;
    let session = login(&app).await;
    for _ in 0..100 {
        let page = get(&app, &session.cookie, "/ui/dead")
            .await
            .text()
            .await
            .expect("page");
        if page.contains("Replay all 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bulk = post(
        &app,
        &session.cookie,
        "/ui/dead/replay",
        &[("csrf", &session.csrf), ("source", "shop")],
    )
    .await;
    assert_eq!(bulk.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&bulk), Some("/ui/dead?replayed=1"));
    downstream.wait_for(2, Duration::from_secs(10)).await;

    let pause = post(
        &app,
        &session.cookie,
        "/ui/destinations/shop-backend/pause",
        &[("csrf", &session.csrf)],
    )
    .await;
    assert_eq!(pause.status(), StatusCode::SEE_OTHER);
    let page = get(&app, &session.cookie, "/ui/destinations")
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains(">paused<"), "{page}");
    let resume = post(
        &app,
        &session.cookie,
        "/ui/destinations/shop-backend/resume",
        &[("csrf", &session.csrf)],
    )
    .await;
    assert_eq!(resume.status(), StatusCode::SEE_OTHER);
    let unknown = post(
        &app,
        &session.cookie,
        "/ui/destinations/nope/pause",
        &[("csrf", &session.csrf)],
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let report = post(
        &app,
        &session.cookie,
        "/ui/test",
        &[
            ("csrf", &session.csrf),
            ("source", "shop"),
            (
                "headers",
                "Authorization: Bearer wrong\nContent-Type: application/json",
            ),
            ("body", "{\"n\":1}"),
            ("client_ip", "203.0.113.7"),
        ],
    )
    .await;
    assert_eq!(report.status(), StatusCode::OK);
    let html = report.text().await.expect("page");
    assert!(html.contains("id=\"report\""), "{html}");
    assert!(html.contains(">reject<") && html.contains("401"), "{html}");
    app.stop().await;
}

const VIEWER_TOKEN: &str = "console-viewer-token-0123456789";
const OPERATOR_TOKEN: &str = "console-operator-token-0123456789";

#[tokio::test]
async fn a_viewer_sees_no_replay_button_and_a_forged_replay_is_403_while_an_operators_is_audited() {
    let downstream = Downstream::start().await;
    let tokens = format!(
        "[[server.admin_tokens]]\nname = \"dashboard\"\ntoken = \"{VIEWER_TOKEN}\"\nrole = \"viewer\"\n\
         [[server.admin_tokens]]\nname = \"oncall\"\ntoken = \"{OPERATOR_TOKEN}\"\nrole = \"operator\"\n"
    );
    let mut app = spawn(&tokens, &downstream).await;
    let id = post_event(&app, "order-1", "order.paid", r#"{"n":1}"#).await;
    downstream.wait_for(1, Duration::from_secs(10)).await;
    let page = format!("/ui/events/{id}");
    let replay = format!("/ui/events/{id}/replay");

    let viewer = login_as(&app, VIEWER_TOKEN).await;
    let shown = get(&app, &viewer.cookie, &page).await;
    assert_eq!(shown.status(), StatusCode::OK);
    let html = shown.text().await.expect("page");
    assert!(html.contains("order.paid"), "the viewer reads the event");
    assert!(
        !html.contains("id=\"replay\""),
        "no Replay button for a viewer"
    );
    let forged = post(&app, &viewer.cookie, &replay, &[("csrf", &viewer.csrf)]).await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(downstream.count(), 1, "the viewer replayed nothing");

    let operator = login_as(&app, OPERATOR_TOKEN).await;
    let html = get(&app, &operator.cookie, &page)
        .await
        .text()
        .await
        .expect("page");
    assert!(html.contains("id=\"replay\""), "an operator has the button");
    let replayed = post(&app, &operator.cookie, &replay, &[("csrf", &operator.csrf)]).await;
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    downstream.wait_for(2, Duration::from_secs(10)).await;

    let trail = app.admin_get("/admin/audit").await;
    assert_eq!(trail.status(), StatusCode::OK);
    let trail: serde_json::Value = trail.json().await.expect("JSON");
    let records: Vec<_> = trail["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter(|record| record["action"] != "login")
        .collect();
    assert_eq!(records.len(), 1, "only the operator's replay: {trail}");
    assert_eq!(records[0]["action"], "replay");
    assert_eq!(records[0]["actor"], "oncall");
    assert_eq!(records[0]["target"], id.as_str());
    app.stop().await;
}
