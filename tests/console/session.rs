//! What the console tests share: a gateway with a token source delivering to a downstream, a
//! hostile event, and a login over plain HTTP (cookie and CSRF token by hand, no redirects
//! followed, so every status is seen).

use crate::downstream::Downstream;
use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app_with};

/// The token source's `Authorization` value.
pub const SOURCE_TOKEN: &str = "Bearer shop-token-0123456789";

/// Markup a hostile sender puts everywhere it can: each piece would set `window.__pwned` if the
/// page ran it.
pub const HOSTILE_BODY: &str = r#"{"note":"<script>window.__pwned='body'</script><img src=x onerror=\"window.__pwned='img'\">","n":1}"#;
pub const HOSTILE_HEADER: &str = "<script>window.__pwned='header'</script>";
pub const HOSTILE_ID: &str = "<img src=x onerror=window.__pwned='id'>";
pub const HOSTILE_TYPE: &str = "<script>window.__pwned='type'</script>";

/// `[sources.shop]`: a token source whose id and event type come from headers, delivering to
/// `downstream`.
pub fn shop_source(downstream: &Downstream) -> String {
    format!(
        "[sources.shop]\nprovider = \"token\"\nsecrets = [\"{SOURCE_TOKEN}\"]\n\
         id_header = \"X-Shop-Id\"\nevent_type_header = \"X-Shop-Event\"\n\n\
         [[sources.shop.destinations]]\nname = \"shop-backend\"\nurl = \"{}\"\n\
         retry = {{ initial = \"100ms\", max = \"100ms\", max_attempts = 1 }}\n",
        downstream.url("/shop")
    )
}

pub async fn spawn(extra_server: &str, downstream: &Downstream) -> TestApp {
    spawn_app_with(extra_server, &shop_source(downstream)).await
}

/// Posts an event to `shop`; its id.
pub async fn post_event(app: &TestApp, id: &str, event_type: &str, body: &str) -> String {
    let response = app
        .post(
            "/hooks/shop",
            &[
                ("authorization", SOURCE_TOKEN),
                ("content-type", "application/json"),
                ("x-shop-id", id),
                ("x-shop-event", event_type),
                ("x-evil", HOSTILE_HEADER),
            ],
            body.to_owned(),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let answer: serde_json::Value = response.json().await.expect("json answer");
    answer["id"].as_str().expect("id").to_owned()
}

/// The hostile event of [`HOSTILE_BODY`] and friends; its id.
pub async fn post_hostile(app: &TestApp) -> String {
    post_event(app, HOSTILE_ID, HOSTILE_TYPE, HOSTILE_BODY).await
}

/// A client that follows no redirect and keeps no cookie.
pub fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A form body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        form.append_pair(name, value);
    }
    form.finish()
}

/// `POST /ui/login` with `token`.
pub async fn post_login(app: &TestApp, token: &str) -> reqwest::Response {
    plain_client()
        .post(app.admin_url("/ui/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", token)]))
        .send()
        .await
        .expect("login sent")
}

/// A logged-in browser, by hand.
pub struct Login {
    /// `hookwall_session=…`, for a `Cookie` header.
    pub cookie: String,
    pub csrf: String,
}

/// Logs in with the admin token; the cookie and the CSRF token of the session.
pub async fn login(app: &TestApp) -> Login {
    login_as(app, ADMIN_TOKEN).await
}

/// Logs in with `token`; the cookie and the CSRF token of the session.
pub async fn login_as(app: &TestApp, token: &str) -> Login {
    let response = post_login(app, token).await;
    assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    let cookie = set_cookie.split(';').next().expect("name=value").to_owned();
    let page = get(app, &cookie, "/ui/").await;
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let html = page.text().await.expect("page");
    Login {
        cookie,
        csrf: csrf_of(&html),
    }
}

/// The CSRF token in a page's forms.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a form with a CSRF field") + marker.len();
    let end = html[start..].find('"').expect("attribute end") + start;
    html[start..end].to_owned()
}

/// `GET path` on the admin listener with the session cookie.
pub async fn get(app: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    plain_client()
        .get(app.admin_url(path))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request sent")
}

/// `POST path` on the admin listener with the session cookie and a form.
pub async fn post(
    app: &TestApp,
    cookie: &str,
    path: &str,
    pairs: &[(&str, &str)],
) -> reqwest::Response {
    plain_client()
        .post(app.admin_url(path))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(pairs))
        .send()
        .await
        .expect("request sent")
}
