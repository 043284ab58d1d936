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

/// Runs `hookwall serve` with its log (stderr) written to `log_path`, at `info`, in `format`
/// (`HOOKWALL_LOG_FORMAT`; text when `None`). Killed (and reaped) if an assertion fails before
/// the test stops it.
fn serve_logging_to(
    config: &std::path::Path,
    log_path: &std::path::Path,
    format: Option<&str>,
) -> Killed {
    let log_file = std::fs::File::create(log_path).expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookwall"));
    command
        .args(["serve", "--config"])
        .arg(config)
        .env_remove("HOOKWALL_CONFIG")
        .env_remove("HOOKWALL_LOG_FORMAT")
        .env("HOOKWALL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log_file);
    if let Some(format) = format {
        command.env("HOOKWALL_LOG_FORMAT", format);
    }
    Killed(command.spawn().expect("hookwall spawns"))
}

/// Sends SIGTERM and waits: the process must exit 0, its buffered lines written out.
async fn stop_gracefully(mut hookwall: Killed) {
    let status = Command::new("kill")
        .args(["-TERM", &hookwall.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || hookwall.0.wait().expect("waited"))
        .await
        .expect("join");
    assert!(exit.success(), "{exit:?}");
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
    let hookwall = serve_logging_to(&config, &log_path, Some("json"));
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
    stop_gracefully(hookwall).await;

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

/// A key of the payload is part of a 422's detail (the JSON pointer of the failing value), and
/// the detail is part of the request's log line. Written raw, a newline in the key forged a
/// second log line and an ESC reached the terminal of whoever read the log.
#[tokio::test]
async fn a_payload_key_with_a_newline_and_escape_codes_cannot_forge_a_text_log_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, admin_port) = (free_port(), free_port());
    let schema = dir.path().join("strings.json");
    std::fs::write(
        &schema,
        r#"{"type": "object", "additionalProperties": {"type": "string"}}"#,
    )
    .expect("schema written");
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin_port}\"\n\n\
             [storage]\nurl = \"sqlite://{}\"\n\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\nschema = \"strings.json\"\n",
            dir.path().join("events.db").display()
        ),
    )
    .expect("config written");
    let log_path = dir.path().join("hookwall.log");
    let hookwall = serve_logging_to(&config, &log_path, None);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &format!("{base}/readyz")).await;

    let forged = "2026-12-03T00:00:00.000000Z  INFO hookwall: admin token accepted";
    let body = format!("{{\"x\\n{forged}\\u001b[2J\\u009b31m\\u2028\": 1}}",);
    let response = client
        .post(format!("{base}/hooks/github"))
        .header("content-type", "application/json")
        .header("x-github-delivery", "forged-log-line")
        .header("x-hub-signature-256", signed(body.as_bytes()))
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 422);
    stop_gracefully(hookwall).await;

    let text = std::fs::read_to_string(&log_path).expect("log read");
    let refused: Vec<&str> = text.lines().filter(|l| l.contains("status=422")).collect();
    assert_eq!(refused.len(), 1, "{text}");
    assert!(refused[0].contains("\\n2026-12-03"), "{}", refused[0]);
    assert!(
        !text.lines().any(|line| line.starts_with(forged)),
        "a forged line:\n{text}"
    );
    for forbidden in ['\u{1b}', '\u{9b}', '\u{2028}'] {
        assert!(
            !text.contains(forbidden),
            "{forbidden:?} written raw:\n{text}"
        );
    }
}
