//! The console in a real headless Chromium, driven through chromedriver with fantoccini:
//! login, every page with real data, a hostile event shown as text that runs nothing, replay
//! through the button reaching a real downstream, logout; and the quick start's story of a
//! webhook refused for a stale secret, found, fixed, retested and admitted. Skipped, saying so, when Chromium or
//! chromedriver is not installed. With `HOOKWALL_SCREENSHOTS=1` the run saves the main pages
//! as PNG into docs/console/ (docs/console.md shows them).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::downstream::{Answer, Downstream};
use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app_with};
use crate::refusals::{PUSH, RIGHT, WRONG, github, kept_refusal, send_github};
use crate::session::{post_event, post_hostile, spawn};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn installed() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

async fn start_driver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on {port} within 10 s");
}

async fn browser(driver: &Driver) -> Client {
    let mut args = vec![
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ];
    // Chromium refuses to run as root without it (CI containers run as root).
    if std::env::var("USER").is_ok_and(|u| u == "root") || is_root() {
        args.push("--no-sandbox");
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({ "binary": CHROMIUM, "args": args }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Saves the current page as docs/console/`name`.png when `HOOKWALL_SCREENSHOTS=1`.
async fn screenshot(client: &Client, name: &str) {
    if std::env::var("HOOKWALL_SCREENSHOTS").as_deref() != Ok("1") {
        return;
    }
    let png = client.screenshot().await.expect("screenshot");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/console");
    std::fs::create_dir_all(&dir).expect("docs/console");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
}

/// The text of the first element `css` selects, waiting up to 10 s for it to appear: after a
/// click the next page may still be loading (on a busy machine it is).
async fn text(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .expect("text")
}

async fn path(client: &Client) -> String {
    client.current_url().await.expect("url").path().to_owned()
}

/// Waits up to 10 s until the browser is at `path` of the admin listener (a form's answer may
/// still be on its way when the click returns).
async fn arrive(client: &Client, app: &TestApp, path: &str) {
    let url = url::Url::parse(&app.admin_url(path)).expect("url");
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_url(&url)
        .await
        .unwrap_or_else(|e| panic!("never arrived at {path}: {e}"));
}

/// Clicks the element `css` selects, waiting for it as [`text`] does.
async fn click(client: &Client, css: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// No script of the payload ran: no flag set, no dialog open.
async fn assert_nothing_ran(client: &Client) {
    let flag = client
        .execute(
            "return typeof window.__pwned === 'undefined' ? null : String(window.__pwned);",
            vec![],
        )
        .await
        .expect("execute");
    assert_eq!(flag, serde_json::Value::Null, "the payload ran: {flag}");
    assert!(client.get_alert_text().await.is_err(), "a dialog is open");
}

async fn log_in(client: &Client, app: &TestApp, token: &str) {
    client
        .goto(&app.admin_url("/ui/login"))
        .await
        .expect("goto login");
    let field = client
        .find(Locator::Css("input[name=token]"))
        .await
        .expect("token field");
    field.send_keys(token).await.expect("type token");
    client
        .find(Locator::Css("form button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("submit");
}

/// Waits until `check` holds for the page at `url` (reloaded each time), at most 10 s.
async fn until_page(client: &Client, url: &str, css: &str, wanted: &str) {
    for _ in 0..50 {
        client.goto(url).await.expect("goto");
        if let Ok(element) = client.find(Locator::Css(css)).await
            && element.text().await.is_ok_and(|t| t.contains(wanted))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{url}: {css} never showed {wanted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_logs_in_reads_every_page_sees_a_hostile_event_as_text_and_replays_it() {
    if !installed() {
        eprintln!("skipped: chromium/chromedriver not installed");
        return;
    }
    // The first delivery fails for good (one attempt), so the hostile event is dead until the
    // Replay button sends it again; the downstream then answers 200.
    let downstream = Downstream::builder()
        .script([Answer::status(500)])
        .start()
        .await;
    let mut app = spawn("", &downstream).await;
    let hostile = post_hostile(&app).await;
    downstream.wait_for(1, Duration::from_secs(10)).await;
    for n in 2..=4 {
        post_event(
            &app,
            &format!("order-{n}"),
            "order.paid",
            &format!("{{\"order\":{n},\"total\":\"12.50\"}}"),
        )
        .await;
    }
    downstream.wait_for(4, Duration::from_secs(10)).await;
    let driver = start_driver().await;
    let client = browser(&driver).await;

    // Any page without a session lands on the login.
    client
        .goto(&app.admin_url("/ui/events"))
        .await
        .expect("goto");
    assert_eq!(path(&client).await, "/ui/login");
    screenshot(&client, "login").await;
    log_in(&client, &app, "wrong-token-0123456789").await;
    assert_eq!(path(&client).await, "/ui/login");
    assert!(
        text(&client, "p.notice.bad")
            .await
            .contains("not one this gateway knows")
    );
    log_in(&client, &app, ADMIN_TOKEN).await;
    arrive(&client, &app, "/ui/").await;
    assert_eq!(text(&client, "h1").await, "Overview");
    let card = text(&client, "div.card.source").await;
    assert!(card.contains("shop") && card.contains("Received"), "{card}");
    // The script ran under the CSP: times are in the viewer's zone, the UTC string in a title.
    let shown = text(&client, "main time").await;
    assert!(!shown.ends_with('Z'), "the script did not localise {shown}");
    screenshot(&client, "overview").await;
    // The overview refreshes itself (every 10 s): a new event shows without a reload.
    post_event(&app, "order-5", "order.paid", "{\"order\":5}").await;
    let mut refreshed = false;
    for _ in 0..75 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The element may be replaced between finding it and reading it: then read again.
        let now = match client.find(Locator::Css("div.card.source")).await {
            Ok(element) => element.text().await.ok(),
            Err(_) => None,
        };
        if now.is_some_and(|now| now != card) {
            refreshed = true;
            break;
        }
    }
    assert!(refreshed, "the overview never refreshed: {card}");
    assert_eq!(path(&client).await, "/ui/", "no navigation");

    // The list and the hostile event: shown as text, nothing runs.
    until_page(&client, &app.admin_url("/ui/dead"), "main", "Replay all 1").await;
    screenshot(&client, "dead").await;
    client
        .goto(&app.admin_url("/ui/events"))
        .await
        .expect("goto");
    assert_nothing_ran(&client).await;
    assert!(
        text(&client, "main table")
            .await
            .contains("<script>window.__pwned='type'</script>")
    );
    screenshot(&client, "events").await;
    client
        .goto(&app.admin_url(&format!("/ui/events/{hostile}")))
        .await
        .expect("goto");
    assert_nothing_ran(&client).await;
    assert_eq!(
        text(&client, "#event-type").await,
        "<script>window.__pwned='type'</script>"
    );
    assert!(
        text(&client, "#dedup-key")
            .await
            .contains("<img src=x onerror=window.__pwned='id'>")
    );
    assert!(
        text(&client, "#headers")
            .await
            .contains("<script>window.__pwned='header'</script>")
    );
    let body = text(&client, "#body").await;
    assert!(
        body.contains("<script>window.__pwned='body'</script>"),
        "{body}"
    );
    assert!(
        body.contains("onerror=\\\"window.__pwned='img'\\\""),
        "{body}"
    );
    let images = client
        .find_all(Locator::Css("main img"))
        .await
        .expect("find");
    assert!(images.is_empty(), "no element came from the payload");
    screenshot(&client, "event").await;

    // Replay through the button: the downstream gets the event again.
    client
        .find(Locator::Css("#replay"))
        .await
        .expect("Replay button")
        .click()
        .await
        .expect("click");
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_url(
            &url::Url::parse(&app.admin_url(&format!("/ui/events/{hostile}?replayed=1")))
                .expect("url"),
        )
        .await
        .expect("the event page after the replay");
    assert!(text(&client, "p.notice").await.contains("Replay queued"));
    downstream.wait_for(6, Duration::from_secs(10)).await;
    let replayed = downstream
        .received()
        .into_iter()
        .rfind(|request| String::from_utf8_lossy(&request.body).contains("__pwned"))
        .expect("the replayed event");
    assert!(String::from_utf8_lossy(&replayed.body).contains("__pwned='body'"));
    assert_nothing_ran(&client).await;

    client
        .goto(&app.admin_url("/ui/destinations"))
        .await
        .expect("goto");
    assert!(
        text(&client, "#destinations")
            .await
            .contains("shop-backend")
    );
    screenshot(&client, "destinations").await;

    // The security test as a form: a wrong token is reported as the signature check failing.
    client.goto(&app.admin_url("/ui/test")).await.expect("goto");
    client
        .find(Locator::Css("textarea[name=headers]"))
        .await
        .expect("headers")
        .send_keys("Authorization: Bearer wrong\nContent-Type: application/json")
        .await
        .expect("type");
    client
        .find(Locator::Css("textarea[name=body]"))
        .await
        .expect("body")
        .send_keys("{\"order\":1}")
        .await
        .expect("type");
    client
        .find(Locator::Css("input[name=client_ip]"))
        .await
        .expect("ip")
        .send_keys("203.0.113.7")
        .await
        .expect("type");
    client
        .find(Locator::Css("form.stack button[type=submit]"))
        .await
        .expect("run")
        .click()
        .await
        .expect("click");
    let report = text(&client, "#report").await;
    assert!(
        report.contains("reject") && report.contains("signature"),
        "{report}"
    );
    screenshot(&client, "security-test").await;

    // A phone-sized window still shows the overview's navigation.
    client.set_window_size(390, 844).await.expect("resize");
    client.goto(&app.admin_url("/ui/")).await.expect("goto");
    assert!(
        client
            .find(Locator::Css("header.top nav a[href='/ui/events']"))
            .await
            .expect("nav")
            .is_displayed()
            .await
            .expect("displayed")
    );
    screenshot(&client, "overview-phone").await;
    client.set_window_size(1280, 900).await.expect("resize");

    // Logout ends the session: the next page is the login again.
    client
        .find(Locator::Css("form.logout button"))
        .await
        .expect("logout")
        .click()
        .await
        .expect("click");
    arrive(&client, &app, "/ui/login").await;
    client.goto(&app.admin_url("/ui/")).await.expect("goto");
    assert_eq!(path(&client).await, "/ui/login");

    client.close().await.expect("close the browser");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_refused_for_a_stale_secret_is_found_retested_and_admitted_in_the_browser() {
    if !installed() {
        eprintln!("skipped: chromium/chromedriver not installed");
        return;
    }
    let downstream = Downstream::start().await;
    let mut app = spawn_app_with("", &github(WRONG, &downstream)).await;
    assert_eq!(
        send_github(&app, RIGHT).await,
        reqwest::StatusCode::UNAUTHORIZED
    );
    let id = kept_refusal(&app).await;
    let driver = start_driver().await;
    let client = browser(&driver).await;
    log_in(&client, &app, ADMIN_TOKEN).await;
    arrive(&client, &app, "/ui/").await;

    // Found from the navigation, read with the reason it was refused.
    click(&client, "header.top nav a[href='/ui/refusals']").await;
    arrive(&client, &app, "/ui/refusals").await;
    assert!(text(&client, "#refusals").await.contains("bad_signature"));
    screenshot(&client, "refusals").await;
    click(&client, "#refusals tbody a").await;
    arrive(&client, &app, &format!("/ui/refusals/{id}")).await;
    assert!(text(&client, "#why").await.contains("signature"));
    assert!(
        text(&client, "#sample")
            .await
            .contains("<script>window.__pwned=1</script>")
    );
    assert_nothing_ran(&client).await;

    // Retested: still failing, as the file still has the old secret.
    click(&client, "#retest").await;
    assert!(text(&client, "#report").await.contains("reject"));
    assert!(
        text(&client, "#not-admissible")
            .await
            .contains("still failing")
    );

    // The operator puts the new secret in the file and reloads from the page.
    let config = std::fs::read_to_string(&app.config_path).expect("config");
    std::fs::write(&app.config_path, config.replace(WRONG, RIGHT)).expect("config written");
    click(&client, "#reload").await;
    arrive(&client, &app, &format!("/ui/refusals/{id}?reloaded=1")).await;
    click(&client, "#retest").await;
    assert!(text(&client, "#report").await.contains("accept"));
    screenshot(&client, "refusal").await;
    click(&client, "#admit").await;
    for _ in 0..50 {
        if client
            .current_url()
            .await
            .is_ok_and(|url| url.query() == Some("admitted=stored"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(path(&client).await.starts_with("/ui/events/"));
    assert!(text(&client, "p.notice").await.contains("Admitted"));
    downstream.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(downstream.received()[0].body.as_ref(), PUSH.as_bytes());
    assert_nothing_ran(&client).await;

    // The audit page shows who did it.
    click(&client, "header.top nav a[href='/ui/audit']").await;
    arrive(&client, &app, "/ui/audit").await;
    let trail = text(&client, "#audit").await;
    for action in ["admit", "reload", "login"] {
        assert!(trail.contains(action), "{action}: {trail}");
    }
    screenshot(&client, "audit").await;

    client.close().await.expect("close the browser");
    app.stop().await;
}
