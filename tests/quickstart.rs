//! The README's quick start as a new user runs it, with real processes: `hookwall receive` in one
//! terminal, `hookwall serve --config examples/hookwall.toml` in another, and `hookwall send` for
//! every source of the quick-start config. Only the ports are changed (and the files copied, so
//! the test writes no `data/` into the repository).

#[path = "support/process.rs"]
mod process;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{KeyInit, Mac};
use process::{Killed, free_port, wait_ready};

/// The quick start's delivery secret (its `${HOOKWALL_DELIVERY_SECRET:-…}` fallback).
const DELIVERY_SECRET: &str = "whsec_ZGV2LWRlbGl2ZXJ5LXNlY3JldC1jaGFuZ2UtbWU=";

fn hookwall() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookwall"));
    command
        .env_remove("HOOKWALL_CONFIG")
        .env_remove("HOOKWALL_ADMIN_TOKEN")
        .env_remove("HOOKWALL_RECEIVE_SECRET")
        .env_remove("HOOKWALL_DELIVERY_SECRET")
        .env("HOOKWALL_LOG", "warn");
    command
}

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `hookwall receive` on `port`, its standard output lines sent to the returned channel.
fn start_receiver(port: u16, secret: Option<&str>) -> (Killed, mpsc::Receiver<String>) {
    let mut command = hookwall();
    command
        .args(["receive", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(secret) = secret {
        command.args(["--signing-secret", secret]);
    }
    let mut child = command.spawn().expect("receive spawns");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("receive prints where it listens");
    assert!(first.contains(&format!("127.0.0.1:{port}")), "{first}");
    (Killed(child), rx)
}

/// Lines until one contains every needle, or panics after `within`.
fn wait_for_line(rx: &mpsc::Receiver<String>, needles: &[&str], within: Duration) -> String {
    let started = Instant::now();
    let mut seen = Vec::new();
    while let Some(left) = within.checked_sub(started.elapsed()) {
        match rx.recv_timeout(left) {
            Ok(line) if needles.iter().all(|n| line.contains(n)) => return line,
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    panic!("no line with {needles:?}; lines seen:\n{}", seen.join("\n"));
}

/// A Standard Webhooks signature as an independent sender makes it.
fn standard_webhooks_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("base64 key");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let tag = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{tag}")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

#[tokio::test]
async fn receive_prints_a_verified_delivery_and_answers_a_bad_signature_with_401() {
    let port = free_port();
    let (_receiver, lines) = start_receiver(port, Some(DELIVERY_SECRET));
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/github");
    let body = br#"{"zen":"Design for failure."}"#;
    let ts = now();

    let good = client
        .post(&url)
        .header("content-type", "application/json")
        .header("webhook-id", "evt_good_1")
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            standard_webhooks_signature(DELIVERY_SECRET, "evt_good_1", ts, body),
        )
        .header("x-hookwall-source", "github")
        .body(body.to_vec())
        .send()
        .await
        .expect("answered");
    assert_eq!(good.status(), 200);
    let line = wait_for_line(&lines, &["evt_good_1"], Duration::from_secs(10));
    assert!(
        line.contains(" verified ") && line.contains("source=github") && line.contains("bytes=29"),
        "{line}"
    );

    // Signed with another key, and an id with a tab and a right-to-left override (bytes a
    // header may carry) that would garble the terminal if printed as they are.
    let id = "evt_bad\t\u{202e}x";
    let bad = client
        .post(&url)
        .header(
            "webhook-id",
            reqwest::header::HeaderValue::from_bytes(id.as_bytes()).expect("obs-text is allowed"),
        )
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            standard_webhooks_signature("whsec_b3RoZXIta2V5", id, ts, body),
        )
        .header("x-hookwall-source", "github")
        .body(body.to_vec())
        .send()
        .await
        .expect("answered");
    assert_eq!(bad.status(), 401);
    let line = wait_for_line(&lines, &["evt_bad"], Duration::from_secs(10));
    assert!(line.contains(" refused "), "{line}");
    assert!(
        !line.contains('\t') && !line.contains('\u{202e}'),
        "a control character was printed: {line:?}"
    );
    assert!(line.contains("id=evt_bad\\t\\u{202e}x "), "{line}");
    assert!(
        !line.contains(DELIVERY_SECRET) && !line.contains("Design for failure"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_takes_a_default_send_for_every_source_and_delivers_it_to_receive() {
    // The quick-start config and the schemas it names, as laid out in the repository.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("examples")).expect("mkdir");
    std::os::unix::fs::symlink(repo("schemas"), dir.path().join("schemas")).expect("symlink");
    let (port, admin_port, receive_port) = (free_port(), free_port(), free_port());
    let text = std::fs::read_to_string(repo("examples/hookwall.toml"))
        .expect("quick-start config")
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:9091", &format!("127.0.0.1:{admin_port}"))
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{receive_port}"));
    let config = dir.path().join("examples/hookwall.toml");
    std::fs::write(&config, &text).expect("write");
    let sources: Vec<String> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("[sources.")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    assert!(sources.len() >= 5, "{sources:?}");

    let (_receiver, lines) = start_receiver(receive_port, Some(DELIVERY_SECRET));
    let _gateway = Killed(
        hookwall()
            .args(["serve", "--config"])
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .expect("serve spawns"),
    );
    wait_ready(
        &reqwest::Client::new(),
        &format!("http://127.0.0.1:{port}/readyz"),
    )
    .await;
    // The store is beside the config file (../data from examples/), as the README says.
    assert!(dir.path().join("data/hookwall.db").exists());

    for source in &sources {
        // Every default body passes its source's schema: 202, not 422.
        let sent = hookwall()
            .args(["send", source, "--config"])
            .arg(&config)
            .output()
            .expect("send runs");
        let stdout = String::from_utf8_lossy(&sent.stdout);
        assert!(
            sent.status.success() && stdout.starts_with("202 "),
            "{source}: {stdout}{}",
            String::from_utf8_lossy(&sent.stderr)
        );
        // And the delivery arrives, signed as the receiver expects.
        let line = wait_for_line(
            &lines,
            &[&format!("source={source} "), " verified "],
            Duration::from_secs(30),
        );
        assert!(!line.contains("whsec_"), "{line}");
    }
}

#[test]
fn receive_drops_a_client_whose_request_head_never_finishes() {
    use std::io::{Read, Write};
    let port = free_port();
    let (_receiver, _lines) = start_receiver(port, Some(DELIVERY_SECRET));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream
        .write_all(b"POST /github HTTP/1.1\r\nhost: x\r\n")
        .expect("writes half a head");
    // The head timeout is 10 s; a generous margin for a loaded machine.
    stream
        .set_read_timeout(Some(Duration::from_secs(40)))
        .expect("timeout");
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = stream.read_to_end(&mut rest);
    assert!(
        read.is_ok(),
        "the connection was still open after {:?}: {read:?}",
        started.elapsed()
    );
}
