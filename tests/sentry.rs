//! Sentry for real: the binary runs with `SENTRY_DSN` pointing at a local HTTP server that
//! receives the envelopes. A 5xx answer and a dead delivery must arrive tagged with source,
//! destination and request id, and no secret or body may be in anything sent.

#[path = "support/downstream.rs"]
mod downstream;
#[path = "support/process.rs"]
mod process;
use downstream::{Answer, Downstream};

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use process::{free_port, wait_ready};

/// The text of every envelope the Sentry endpoint (a downstream at `/api/1/envelope/`) got.
fn envelopes(sentry: &Downstream) -> Vec<String> {
    sentry
        .received()
        .into_iter()
        .filter(|request| request.path == "/api/1/envelope/")
        .map(|request| {
            let gzip = request
                .headers
                .get("content-encoding")
                .is_some_and(|v| v.as_bytes() == b"gzip");
            if gzip {
                let mut out = String::new();
                let _ = flate2::read::GzDecoder::new(&request.body[..]).read_to_string(&mut out);
                out
            } else {
                String::from_utf8_lossy(&request.body).into_owned()
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundreds_and_dead_deliveries_reach_sentry_tagged_and_without_secrets_or_bodies() {
    let sentry = Downstream::start().await;
    let sentry_port = sentry.addr.port();
    let handler = Downstream::builder()
        .always(Answer::status(400))
        .start()
        .await;
    let handler_port = handler.addr.port();
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:0\"\n\
             [storage]\nurl = \"sqlite://{db}\"\n\n\
             [sources.px]\nprovider = \"token\"\nsecrets = [\"Bearer px-secret-token-123\"]\nmode = \"proxy\"\n\
             [[sources.px.destinations]]\nurl = \"http://127.0.0.1:9/unreachable\"\n\n\
             [sources.gh]\nprovider = \"github\"\nsecrets = [\"gh-secret-456\"]\n\
             [[sources.gh.destinations]]\nurl = \"http://127.0.0.1:{handler_port}/hook\"\n",
            db = dir.path().join("hookwall.db").display()
        ),
    )
    .expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookwall"))
        .args(["serve", "--config"])
        .arg(&config)
        .env(
            "SENTRY_DSN",
            format!("http://public@127.0.0.1:{sentry_port}/1"),
        )
        .env("SENTRY_ENVIRONMENT", "test")
        .env("HOOKWALL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &format!("{base}/readyz")).await;

    let proxied = client
        .post(format!("{base}/hooks/px"))
        .header("authorization", "Bearer px-secret-token-123")
        .header("content-type", "application/json")
        .header("x-request-id", "req-sentry-1")
        .body(r#"{"marker":"BODY-MARKER-42"}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(proxied.status(), 502);

    let body = br#"{"marker":"BODY-MARKER-43"}"#;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"gh-secret-456").expect("key");
    mac.update(body);
    let accepted = client
        .post(format!("{base}/hooks/gh"))
        .header("content-type", "application/json")
        .header("x-github-delivery", "sentry-1")
        .header(
            "x-hub-signature-256",
            format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        )
        .body(body.to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(accepted.status(), 202);

    let started = Instant::now();
    let all = loop {
        let all = envelopes(&sentry).join("\n");
        if all.contains("webhook answered 502") && all.contains("delivery dead") {
            break all;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "Sentry did not receive both events:\n{all}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    assert!(all.contains("\"source\":\"px\""), "{all}");
    assert!(all.contains("\"request_id\":\"req-sentry-1\""), "{all}");
    assert!(all.contains("\"reason\":\"destination_failed\""), "{all}");
    assert!(all.contains("\"source\":\"gh\""), "{all}");
    assert!(all.contains("\"destination\":\"gh-1\""), "{all}");
    assert!(all.contains("\"environment\":\"test\""), "{all}");
    for secret in [
        "px-secret-token-123",
        "gh-secret-456",
        "BODY-MARKER-42",
        "BODY-MARKER-43",
    ] {
        assert!(!all.contains(secret), "{secret} reached Sentry:\n{all}");
    }
}
