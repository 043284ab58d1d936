//! Named admin tokens and their roles (SPEC section 12) over real HTTP: every admin route ×
//! every role, no token and an unknown token; the `token_sha256` form; tokens added and removed
//! by a reload; `server.admin_token` as an `admin`; `/metrics` with and without
//! `metrics_require_token`.

use hookwall::config::Role;
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::{ADMIN_TOKEN, TestApp, json, spawn_app_with};

pub const VIEWER_TOKEN: &str = "viewer-token-0123456789abcdef";
pub const OPERATOR_TOKEN: &str = "operator-token-0123456789abcdef";
const NAMED_ADMIN_TOKEN: &str = "root-token-0123456789abcdef";

/// Every admin route (method, path) and the least role that may call it. One line per route:
/// a new route is one more line. A POST sends a small JSON body (the security test reads it).
const ROUTES: &[(&str, &str, Role)] = &[
    ("GET", "/admin/sources", Role::Viewer),
    ("GET", "/admin/events", Role::Viewer),
    (
        "GET",
        "/admin/events/00000000-0000-0000-0000-000000000000",
        Role::Viewer,
    ),
    ("GET", "/admin/destinations", Role::Viewer),
    ("GET", "/admin/audit", Role::Viewer),
    ("GET", "/admin/refusals", Role::Viewer),
    (
        "GET",
        "/admin/refusals/00000000-0000-0000-0000-000000000000",
        Role::Viewer,
    ),
    (
        "POST",
        "/admin/refusals/00000000-0000-0000-0000-000000000000/retest",
        Role::Operator,
    ),
    (
        "POST",
        "/admin/events/00000000-0000-0000-0000-000000000000/replay",
        Role::Operator,
    ),
    ("POST", "/admin/events/replay?source=github", Role::Operator),
    ("POST", "/admin/destinations/github-1/pause", Role::Operator),
    (
        "POST",
        "/admin/destinations/github-1/resume",
        Role::Operator,
    ),
    ("POST", "/admin/sources/github/test", Role::Operator),
    ("POST", "/admin/reload", Role::Admin),
    ("GET", "/admin/events/export?format=ndjson", Role::Admin),
];

fn sha256_hex(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// One `[[server.admin_tokens]]` table.
pub fn token_table(name: &str, key: &str, value: &str, role: &str) -> String {
    format!("[[server.admin_tokens]]\nname = \"{name}\"\n{key} = \"{value}\"\nrole = \"{role}\"\n")
}

/// `[server]` lines: `admin_token` ([`ADMIN_TOKEN`]), a viewer, an operator (as a hash) and a
/// named admin.
pub fn every_role() -> String {
    format!(
        "admin_token = \"{ADMIN_TOKEN}\"\n{}{}{}",
        token_table("dashboard", "token", VIEWER_TOKEN, "viewer"),
        token_table(
            "oncall",
            "token_sha256",
            &sha256_hex(OPERATOR_TOKEN),
            "operator"
        ),
        token_table("root", "token", NAMED_ADMIN_TOKEN, "admin"),
    )
}

pub const GITHUB: &str = "[sources.github]\nprovider = \"github\"\nsecrets = [\"roles-secret\"]\n\
                          [[sources.github.destinations]]\nurl = \"http://127.0.0.1:9/hook\"\n";

async fn call(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let method = Method::from_bytes(method.as_bytes()).expect("a method of the table");
    let mut request = app.client.request(method.clone(), app.admin_url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if method == Method::POST {
        request = request.json(&json!({"headers": {}, "body": "{}"}));
    }
    request.send().await.expect("admin request sent")
}

#[tokio::test]
async fn every_admin_route_answers_each_role_no_token_and_an_unknown_token_as_section_12_says() {
    let mut app = spawn_app_with(&every_role(), GITHUB).await;
    let callers: &[(&str, Option<(&str, Role)>)] = &[
        ("no token", None),
        (
            "an unknown token",
            Some(("not-a-token-this-server-knows", Role::Admin)),
        ),
        ("the viewer", Some((VIEWER_TOKEN, Role::Viewer))),
        ("the operator", Some((OPERATOR_TOKEN, Role::Operator))),
        ("the named admin", Some((NAMED_ADMIN_TOKEN, Role::Admin))),
        ("admin_token", Some((ADMIN_TOKEN, Role::Admin))),
    ];
    let mut wrong = Vec::new();
    for (method, path, needed) in ROUTES {
        for (who, caller) in callers {
            let known = caller.filter(|(token, _)| !token.starts_with("not-a-token"));
            let response = call(&app, method, path, caller.map(|(token, _)| token)).await;
            let status = response.status().as_u16();
            let expected = match known {
                None => "401",
                Some((_, role)) if role < *needed => "403",
                Some(_) => "neither 401 nor 403",
            };
            let fits = match expected {
                "401" => status == 401,
                "403" => status == 403,
                _ => status != 401 && status != 403,
            };
            if !fits {
                wrong.push(format!(
                    "{method} {path} by {who}: {status}, expected {expected}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    app.stop().await;
}

#[tokio::test]
async fn a_403_names_the_token_its_role_and_the_role_needed_but_never_the_token() {
    let mut app = spawn_app_with(&every_role(), GITHUB).await;
    let response = call(&app, "POST", "/admin/reload", Some(OPERATOR_TOKEN)).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let text = response.text().await.expect("body");
    assert!(!text.contains(OPERATOR_TOKEN), "{text}");
    assert!(!text.contains(&sha256_hex(OPERATOR_TOKEN)), "{text}");
    let problem: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(problem["status"], 403);
    assert_eq!(problem["token_name"], "oncall");
    assert_eq!(problem["token_role"], "operator");
    assert_eq!(problem["required_role"], "admin");
    assert_eq!(
        problem["detail"],
        "the token `oncall` has role operator; this route needs admin (or a role above it)"
    );
    // A 401 carries the challenge; a 403 does not (the token is known, a new one will not help).
    let unknown = call(&app, "GET", "/admin/sources", Some("nope")).await;
    assert_eq!(unknown.status(), 401);
    assert!(unknown.headers().contains_key("www-authenticate"));
    let unknown_body = unknown.text().await.expect("body");
    assert!(!unknown_body.contains("nope"), "{unknown_body}");
    app.stop().await;
}

#[tokio::test]
async fn a_token_given_as_its_sha256_works_in_either_case_of_hex() {
    let lower = sha256_hex(VIEWER_TOKEN);
    let upper = sha256_hex(OPERATOR_TOKEN).to_uppercase();
    let server = format!(
        "admin_token = \"{ADMIN_TOKEN}\"\n{}{}",
        token_table("lower", "token_sha256", &lower, "viewer"),
        token_table("upper", "token_sha256", &upper, "operator"),
    );
    let mut app = spawn_app_with(&server, GITHUB).await;
    assert_eq!(
        call(&app, "GET", "/admin/sources", Some(VIEWER_TOKEN))
            .await
            .status(),
        200
    );
    let replay = call(
        &app,
        "POST",
        "/admin/events/replay?source=github",
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(replay.status(), 202);
    // The hash itself is not a token.
    assert_eq!(
        call(&app, "GET", "/admin/sources", Some(&lower))
            .await
            .status(),
        401
    );
    app.stop().await;
}

#[tokio::test]
async fn a_reload_adds_a_token_that_works_at_once_and_removes_one_that_then_gets_401() {
    let before = format!(
        "admin_token = \"{ADMIN_TOKEN}\"\n{}",
        token_table("leaving", "token", VIEWER_TOKEN, "viewer")
    );
    let mut app = spawn_app_with(&before, GITHUB).await;
    assert_eq!(
        call(&app, "GET", "/admin/events", Some(VIEWER_TOKEN))
            .await
            .status(),
        200
    );
    assert_eq!(
        call(&app, "GET", "/admin/events", Some(OPERATOR_TOKEN))
            .await
            .status(),
        401
    );

    let config = std::fs::read_to_string(&app.config_path).expect("config");
    let after = config.replace(
        &token_table("leaving", "token", VIEWER_TOKEN, "viewer"),
        &token_table("joining", "token", OPERATOR_TOKEN, "operator"),
    );
    assert_ne!(config, after, "the test rewrites the token table");
    std::fs::write(&app.config_path, after).expect("write config");
    let reloaded = call(&app, "POST", "/admin/reload", Some(ADMIN_TOKEN)).await;
    assert_eq!(reloaded.status(), 200);
    assert_eq!(json(reloaded).await["status"], "reloaded");

    assert_eq!(
        call(&app, "GET", "/admin/events", Some(VIEWER_TOKEN))
            .await
            .status(),
        401
    );
    let added = call(
        &app,
        "POST",
        "/admin/destinations/github-1/pause",
        Some(OPERATOR_TOKEN),
    )
    .await;
    assert_eq!(added.status(), 204);
    app.stop().await;
}

#[tokio::test]
async fn server_admin_token_is_still_an_admin_named_admin() {
    let mut app = spawn_app_with(&every_role(), GITHUB).await;
    let reload = call(&app, "POST", "/admin/reload", Some(ADMIN_TOKEN)).await;
    assert_eq!(reload.status(), 200);
    let export = call(
        &app,
        "GET",
        "/admin/events/export?format=csv",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(export.status(), 200);
    // A viewer's 403 names its own token, not `admin`, though `admin` exists too.
    let refused = call(&app, "POST", "/admin/reload", Some(VIEWER_TOKEN)).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(json(refused).await["token_name"], "dashboard");
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_open_by_default() {
    let mut app = spawn_app_with(&every_role(), GITHUB).await;
    let response = app
        .client
        .get(app.admin_url("/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .text()
            .await
            .expect("body")
            .contains("hookwall_build_info")
    );
    app.stop().await;
}

#[tokio::test]
async fn with_metrics_require_token_metrics_need_a_token_of_any_role() {
    let server = format!("metrics_require_token = true\n{}", every_role());
    let mut app = spawn_app_with(&server, GITHUB).await;
    let metrics = |token: Option<&'static str>| {
        let mut request = app.client.get(app.admin_url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.expect("sent") }
    };
    let anonymous = metrics(None).await;
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert_eq!(metrics(Some("not-a-token")).await.status(), 401);
    let viewer = metrics(Some(VIEWER_TOKEN)).await;
    assert_eq!(viewer.status(), 200);
    assert!(
        viewer
            .text()
            .await
            .expect("body")
            .contains("hookwall_build_info")
    );
    app.stop().await;
}
