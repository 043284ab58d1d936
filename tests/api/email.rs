//! E-mail destinations against a real SMTP server: `tests/support/smtp_sink.py` (aiosmtpd),
//! which records every message it is sent and can answer 451 or 550 on purpose.
//!
//! Without aiosmtpd the tests that need it say so and pass; `.ci/run` installs it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection;

use crate::helpers::{TestApp, json, spawn_app};

/// A running `smtp_sink.py`; killed when dropped, so a failing test leaves no process behind.
struct Sink {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sink {
    /// Starts the sink with `args` (`--transient N`, `--permanent`), or returns `None` (after
    /// saying so) when aiosmtpd is not installed.
    async fn start(args: &[&str]) -> Option<Sink> {
        let installed = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            println!("skipped: aiosmtpd not installed (pip install aiosmtpd)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("received.jsonl");
        let addr = free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(addr.port().to_string())
            .arg(&log)
            .args(args)
            // The sink exits when this pipe closes, even if the test process is killed.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn python3 smtp_sink.py");
        let mut sink = Sink {
            child,
            addr,
            log,
            _dir: dir,
        };
        sink.wait_until_listening(Duration::from_secs(15)).await;
        Some(sink)
    }

    async fn wait_until_listening(&mut self, limit: Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("sink status") {
                panic!("smtp_sink.py exited before listening: {status}");
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return;
            }
            assert!(
                started.elapsed() < limit,
                "smtp_sink.py not listening on {} after {limit:?}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every message that reached the end of DATA, with the answer it got.
    fn received(&self) -> Vec<Value> {
        match std::fs::read_to_string(&self.log) {
            Ok(text) => text
                .lines()
                .map(|line| serde_json::from_str(line).expect("a JSON line"))
                .collect(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => panic!("cannot read the sink's log: {err}"),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (bound, then released).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

const FAST_RETRY: &str =
    "{ initial = \"20ms\", max = \"100ms\", max_attempts = 5, max_age = \"1m\" }";

/// A `token` source (`Authorization: Bearer t0ken`) with one e-mail destination.
fn config(smtp: SocketAddr, extra: &str) -> String {
    format!(
        "[sources.particle]\nprovider = \"token\"\nsecrets = [\"Bearer t0ken\"]\n\n\
         [[sources.particle.destinations]]\ntype = \"email\"\nsmtp_url = \"smtp://{smtp}\"\n\
         from = \"Hookwall <hookwall@example.com>\"\nto = [\"ops@example.com\", \"oncall@example.com\"]\n\
         subject = \"Particle {{{{event}}}} from {{{{coreid}}}}\"\ntimeout = \"5s\"\nretry = {FAST_RETRY}\n{extra}\n"
    )
}

async fn send(app: &TestApp, content_type: &str, body: &str) -> String {
    let headers = [
        ("authorization", "Bearer t0ken"),
        ("content-type", content_type),
    ];
    let response = app
        .post("/hooks/particle", &headers, body.as_bytes().to_vec())
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    json(response).await["id"].as_str().expect("id").to_owned()
}

/// (status, attempts, last_error) of the event's delivery, from the SQLite file.
async fn event_row(app: &TestApp, id: &str) -> (String, i64, Option<String>) {
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", app.db_path.display()))
            .await
            .expect("db");
    sqlx::query_as("SELECT status, attempts, last_error FROM events WHERE id = ?")
        .bind(id)
        .fetch_one(&mut conn)
        .await
        .expect("event row")
}

async fn wait_for_status(app: &TestApp, id: &str, status: &str) -> (String, i64, Option<String>) {
    let started = Instant::now();
    loop {
        let row = event_row(app, id).await;
        if row.0 == status {
            return row;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "event {id} stuck at {row:?}, wanted {status}"
        );
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

const PARTICLE_JSON: &str =
    r#"{"event":"temp","data":"21.5","coreid":"abc123","published_at":"2026-11-23T09:00:00.000Z"}"#;

#[tokio::test]
async fn a_particle_event_becomes_one_email_with_the_rendered_subject() {
    let Some(sink) = Sink::start(&[]).await else {
        return;
    };
    let mut app = spawn_app(&config(sink.addr, "")).await;
    let id = send(&app, "application/json", PARTICLE_JSON).await;

    let (_, attempts, _) = wait_for_status(&app, &id, "delivered").await;
    assert_eq!(attempts, 1);
    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    let message = &received[0];
    assert_eq!(message["answer"], "250");
    assert_eq!(message["mail_from"], "hookwall@example.com");
    assert_eq!(
        message["rcpt_tos"],
        serde_json::json!(["ops@example.com", "oncall@example.com"])
    );
    let content = message["content"].as_str().expect("content");
    for expected in [
        "From: Hookwall <hookwall@example.com>\r\n",
        "To: ops@example.com, oncall@example.com\r\n",
        "Subject: Particle temp from abc123\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        &format!("Message-ID: <{id}.particle-1@example.com>\r\n"),
        // The default body: a summary and the payload pretty-printed.
        "Source:      particle\r\n",
        &format!("Event id:    {id}\r\n"),
        "\"coreid\": \"abc123\",\r\n",
        "\"data\": \"21.5\",\r\n",
    ] {
        assert!(
            content.contains(expected),
            "{expected:?} not in:\n{content}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_form_event_fills_the_body_template() {
    let Some(sink) = Sink::start(&[]).await else {
        return;
    };
    let body_template = "body = \"Device {{coreid}} reported {{data}} at {{published_at}}.\\nEvent {{id}} of {{source}}, received {{received_at}}.{{missing}}\"";
    let mut app = spawn_app(&config(sink.addr, body_template)).await;
    let id = send(
        &app,
        "application/x-www-form-urlencoded",
        "event=temp&data=21.5%20C&coreid=abc123&published_at=2026-11-23T09%3A00%3A00.000Z",
    )
    .await;

    wait_for_status(&app, &id, "delivered").await;
    let received = sink.received();
    assert_eq!(received.len(), 1, "{received:#?}");
    let content = received[0]["content"].as_str().expect("content");
    assert!(
        content.contains("Subject: Particle temp from abc123\r\n"),
        "{content}"
    );
    assert!(
        content.contains("\r\n\r\nDevice abc123 reported 21.5 C at 2026-11-23T09:00:00.000Z.\r\n"),
        "{content}"
    );
    let line = format!("Event {id} of particle, received 20");
    assert!(content.contains(&line), "{line:?} not in:\n{content}");
    assert!(content.trim_end().ends_with("Z."), "{content}");
    app.stop().await;
}

#[tokio::test]
async fn a_451_is_retried_and_the_next_attempt_delivers() {
    let Some(sink) = Sink::start(&["--transient", "1"]).await else {
        return;
    };
    let mut app = spawn_app(&config(sink.addr, "")).await;
    let id = send(&app, "application/json", PARTICLE_JSON).await;

    let (_, attempts, _) = wait_for_status(&app, &id, "delivered").await;
    assert_eq!(attempts, 2);
    let answers: Vec<Value> = sink
        .received()
        .iter()
        .map(|m| m["answer"].clone())
        .collect();
    assert_eq!(answers, ["451", "250"]);
    app.stop().await;
}

#[tokio::test]
async fn a_550_makes_the_event_dead_at_once() {
    let Some(sink) = Sink::start(&["--permanent"]).await else {
        return;
    };
    let mut app = spawn_app(&config(sink.addr, "")).await;
    let id = send(&app, "application/json", PARTICLE_JSON).await;

    let (_, attempts, error) = wait_for_status(&app, &id, "dead").await;
    assert_eq!(attempts, 1);
    let error = error.expect("last_error");
    assert!(error.contains("550"), "{error}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.received().len(), 1, "a dead delivery is not retried");
    app.stop().await;
}

#[tokio::test]
async fn an_unreachable_mail_server_is_retried_until_max_attempts() {
    let nobody = free_port();
    let retry =
        "retry = { initial = \"10ms\", max = \"20ms\", max_attempts = 2, max_age = \"1m\" }";
    let sources = config(nobody, "").replace(&format!("retry = {FAST_RETRY}"), retry);
    let mut app = spawn_app(&sources).await;
    let id = send(&app, "application/json", PARTICLE_JSON).await;

    let (_, attempts, error) = wait_for_status(&app, &id, "dead").await;
    assert_eq!(attempts, 2);
    let error = error.expect("last_error");
    assert!(error.starts_with("SMTP "), "{error}");
    app.stop().await;
}
