//! The log as an operator reads it: the real binary writing JSON lines to a file, through its
//! buffer (stderr is not a terminal). Lines appear while it runs, none is lost when it stops,
//! and every line is one JSON object.

#[path = "support/process.rs"]
mod process;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use process::{Killed, free_port, wait_ready};

const SECRET: &str = "logs-test-github-secret";

fn signed(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn send(client: &reqwest::Client, base: &str, request_id: &str) {
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let response = client
        .post(format!("{base}/hooks/github"))
        .header("content-type", "application/json")
        .header("x-github-delivery", request_id)
        .header("x-hub-signature-256", signed(body))
        .header("x-request-id", request_id)
        .body(body.to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);
}

fn handled(log: &str, request_id: &str) -> bool {
    log.lines().any(|line| {
        line.contains("\"request handled\"") && line.contains(&format!("\"{request_id}\""))
    })
}

#[tokio::test]
async fn request_lines_reach_the_log_file_while_running_and_all_of_them_at_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, admin_port) = (free_port(), free_port());
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin_port}\"\n\
             admin_token = \"logs-admin-token-0123456789\"\n\n\
             [storage]\nurl = \"sqlite://{}\"\n\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n",
            dir.path().join("events.db").display()
        ),
    )
    .expect("config written");
    let log_path = dir.path().join("hookwall.log");
    let log_file = std::fs::File::create(&log_path).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_hookwall"))
        .args(["serve", "--config"])
        .arg(&config)
        .env_remove("HOOKWALL_CONFIG")
        .env("HOOKWALL_LOG", "info")
        .env("HOOKWALL_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("hookwall spawns");
    // Killed (and reaped) if an assertion fails before the test stops it.
    let mut hookwall = Killed(child);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &format!("{base}/readyz")).await;
    // The config warning (no destinations) is a WARN line: written at once, before serving.
    assert!(log().contains("has no destinations"), "{}", log());

    // While it runs, an INFO line is written out by the buffer's thread, unprompted.
    send(&client, &base, "log-line-while-running").await;
    let started = Instant::now();
    while !handled(&log(), "log-line-while-running") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the request line never reached the file:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A line still buffered when the process is asked to stop is written before it exits.
    send(&client, &base, "log-line-at-shutdown").await;
    let status = Command::new("kill")
        .args(["-TERM", &hookwall.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || hookwall.0.wait().expect("waited"))
        .await
        .expect("join");
    assert!(exit.success(), "{exit:?}");

    let text = log();
    assert!(handled(&text, "log-line-at-shutdown"), "{text}");
    assert!(text.contains("\"message\":\"stopped\""), "{text}");
    for line in text.lines() {
        let parsed: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|err| panic!("not one JSON object per line ({err}): {line}"));
        assert!(
            parsed["timestamp"].is_string() && parsed["level"].is_string(),
            "{line}"
        );
    }
}
