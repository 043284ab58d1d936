//! The `hookwall` binary as a user runs it: `check` on good and bad configs, and `serve` as a
//! real process that takes a signed webhook and shuts down cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};

fn hookwall() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookwall"));
    command
        .env_remove("HOOKWALL_CONFIG")
        .env("HOOKWALL_LOG", "info");
    command
}

fn repo(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(path)
        .display()
        .to_string()
}

#[test]
fn check_accepts_the_quick_start_config_and_warns_about_its_dev_secrets() {
    let output = hookwall()
        .args(["check", "--config", &repo("examples/hookwall.toml")])
        .env_remove("GITHUB_WEBHOOK_SECRET")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("OK (5 sources)"));
    assert!(stderr.contains("GITHUB_WEBHOOK_SECRET"), "{stderr}");
    assert!(
        !stderr.contains("dev-github-secret"),
        "a warning must not print the secret: {stderr}"
    );
}

#[test]
fn check_accepts_the_container_config_and_refuses_it_without_its_secrets() {
    let config = repo("deploy/hookwall.toml");
    let output = hookwall()
        .args(["check", "--config", &config])
        .env("HOOKWALL_ADMIN_TOKEN", "an-admin-token-of-some-length")
        .env("GITHUB_WEBHOOK_SECRET", "a-github-secret")
        .env_remove("HOOKWALL_DATABASE_URL")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("OK (1 source)"));

    // No dev fallbacks in the image's config: a missing secret stops it, naming the key.
    let output = hookwall()
        .args(["check", "--config", &config])
        .env("HOOKWALL_ADMIN_TOKEN", "an-admin-token-of-some-length")
        .env_remove("GITHUB_WEBHOOK_SECRET")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("GITHUB_WEBHOOK_SECRET"), "{stderr}");
}

#[test]
fn check_lists_every_error_and_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        r#"
[server]
listen = "127.0.0.1:0"
max_in_flihgt = 10

[sources.github]
provider = "githib"
secrets = ["x"]

[sources.open]
provider = "token"
secrets = ["", "${HOOKWALL_TEST_UNSET_VARIABLE:-}"]

[sources.schema]
provider = "github"
secrets = ["s"]
schema = "missing.json"
"#,
    )
    .expect("write");
    let output = hookwall()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("server.max_in_flihgt"), "{stderr}");
    assert!(stderr.contains("githib"), "{stderr}");
    assert!(stderr.contains("sources.open"), "{stderr}");
}

#[test]
fn check_reports_a_schema_that_does_not_exist() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        "[sources.github]\nprovider = \"github\"\nsecrets = [\"s\"]\nschema = \"schemas/nope.json\"\n",
    )
    .expect("write");
    let output = hookwall()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("sources.github.schema") && stderr.contains("nope.json"),
        "{stderr}"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

#[tokio::test]
async fn serve_accepts_a_signed_webhook_and_exits_0_on_sigterm_with_the_event_on_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let db = dir.path().join("data/hookwall.db");
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\nurl = \"sqlite://{}\"\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"${{GH_SECRET}}\"]\n",
            db.display()
        ),
    )
    .expect("write");
    let mut child = hookwall()
        .args(["serve", "--config"])
        .arg(&config)
        .env("GH_SECRET", "process-secret")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    let stderr = child.stderr.take().expect("piped");
    let logs = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        match client.get(format!("{base}/readyz")).send().await {
            Ok(response) if response.status() == 200 => break,
            _ if started.elapsed() > Duration::from_secs(20) => {
                panic!("gateway did not become ready")
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"process-secret").expect("any key");
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let response = client
        .post(format!("{base}/hooks/github"))
        .header("content-type", "application/json")
        .header("x-github-delivery", "proc-1")
        .header("x-hub-signature-256", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("waits");
    assert_eq!(exit.code(), Some(0));
    let logs = logs.join().expect("log reader").join("\n");
    assert!(
        !logs.contains("process-secret"),
        "the secret leaked into the logs:\n{logs}"
    );
    assert!(logs.contains("request handled"), "{logs}");

    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .expect("db");
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE dedup_key = 'id:proc-1'")
            .fetch_one(&mut conn)
            .await
            .expect("count");
    assert_eq!(count, 1);
}
