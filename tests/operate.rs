//! Operating a running gateway as a user does, with the real binary: `hookwall send`/`sign` for
//! every core provider, secret rotation by SIGHUP, and `events`/`dlq` through the admin API.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};

#[path = "support/downstream.rs"]
mod downstream;
#[path = "support/process.rs"]
mod process;
use downstream::{Answer, Downstream};
use process::free_port;

const ADMIN_TOKEN: &str = "operate-admin-token-0123456789";

fn hookwall() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookwall"));
    command
        .env_remove("HOOKWALL_CONFIG")
        .env("HOOKWALL_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("HOOKWALL_LOG", "warn");
    command
}

/// Runs a CLI command to completion off the async runtime.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("join")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn config_toml(
    port: u16,
    admin_port: u16,
    db: &Path,
    downstream: SocketAddr,
    github_secret: &str,
) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:{port}"
admin_listen = "127.0.0.1:{admin_port}"
admin_token = "{ADMIN_TOKEN}"

[storage]
url = "sqlite://{db}"

[sources.github]
provider = "github"
secrets = ["{github_secret}"]

[[sources.github.destinations]]
url = "http://{downstream}/hook"
retry = {{ initial = "10ms", max = "50ms", max_attempts = 1, max_age = "1m" }}

[sources.stripe]
provider = "stripe"
secrets = ["whsec_operate_stripe"]

[sources.svix]
provider = "standard-webhooks"
secrets = ["whsec_aW50ZXJuYWwtc2lnbmluZy1rZXktZm9yLXRlc3Rz"]

[sources.slack]
provider = "slack"
secrets = ["operate-slack-signing-secret"]

[sources.shopify]
provider = "shopify"
secrets = ["operate-shopify-secret"]

[sources.particle]
provider = "particle"
secrets = ["particle:operate-password"]

[sources.brightdata]
provider = "brightdata"
secrets = ["Bearer operate-brightdata-token"]

[sources.tok]
provider = "token"
secrets = ["Bearer operate-token"]

[sources.generic]
provider = "hmac"
signature_header = "x-signature"
secrets = ["operate-generic-secret"]

[sources.bitbucket]
provider = "bitbucket"
secrets = ["operate-bitbucket"]

[sources.gitlab]
provider = "gitlab"
secrets = ["whsec_Z2l0bGFiLXNpZ25pbmctdG9rZW4tMzItYnl0ZXMhISE="]

[sources.linear]
provider = "linear"
secrets = ["operate-linear"]

[sources.intercom]
provider = "intercom"
secrets = ["operate-intercom"]

[sources.typeform]
provider = "typeform"
secrets = ["operate-typeform"]

[sources.paddle]
provider = "paddle"
secrets = ["pdl_ntfset_operate"]

[sources.zoom]
provider = "zoom"
secrets = ["operate-zoom"]

[sources.mailgun]
provider = "mailgun"
secrets = ["operate-mailgun"]

[sources.square]
provider = "square"
secrets = ["operate-square"]
public_url = "https://hooks.example.com/hooks/square"

[sources.twilio]
provider = "twilio"
secrets = ["operate-twilio"]
public_url = "https://hooks.example.com/hooks/twilio"
"#,
        db = db.display()
    )
}

struct Gateway {
    child: Child,
    config: std::path::PathBuf,
    base: String,
    admin: String,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(downstream: SocketAddr) -> Gateway {
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, admin_port) = (free_port(), free_port());
    let config = dir.path().join("hookwall.toml");
    let db = dir.path().join("hookwall.db");
    std::fs::write(
        &config,
        config_toml(port, admin_port, &db, downstream, "first-secret"),
    )
    .expect("write");
    let child = hookwall()
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns");
    let gateway = Gateway {
        child,
        config,
        base: format!("http://127.0.0.1:{port}"),
        admin: format!("http://127.0.0.1:{admin_port}"),
        _dir: dir,
    };
    let started = Instant::now();
    loop {
        let mut health = hookwall();
        health.args(["health", "--url", &gateway.base]);
        if run(health).await.status.success() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "gateway did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    gateway
}

impl Gateway {
    fn cli(&self, args: &[&str]) -> Command {
        let mut command = hookwall();
        command.args(args).arg("--config").arg(&self.config);
        command
    }

    fn admin_cli(&self, args: &[&str]) -> Command {
        let mut command = hookwall();
        command.args(args).args(["--admin-url", &self.admin]);
        command
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_signs_for_every_provider_rotates_on_sighup_and_works_the_dead_letter_queue() {
    // Refuses its first request with 400, then answers 200.
    let downstream = Downstream::builder()
        .script([Answer::status(400)])
        .start()
        .await;
    let downstream_addr = downstream.addr;
    let gateway = start(downstream_addr).await;

    // `sign` prints headers that verify with an independent HMAC over the given body.
    let dir = tempfile::tempdir().expect("temp dir");
    let body_file = dir.path().join("push.json");
    let body = br#"{"ref":"refs/heads/main","zen":"Design for failure."}"#;
    std::fs::write(&body_file, body).expect("write");
    let signed = run(gateway.cli(&[
        "sign",
        "github",
        "--body",
        body_file.to_str().expect("utf-8 path"),
        "--event",
        "push",
        "--id",
        "sign-1",
    ]))
    .await;
    assert!(signed.status.success(), "{}", text(&signed.stderr));
    let printed = text(&signed.stdout);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"first-secret").expect("any key");
    mac.update(body);
    let expected = format!(
        "x-hub-signature-256: sha256={}",
        hex::encode(mac.finalize().into_bytes())
    );
    assert!(printed.contains(&expected), "{printed}");
    assert!(printed.contains("x-github-event: push"), "{printed}");
    assert!(printed.contains("x-github-delivery: sign-1"), "{printed}");
    assert!(
        printed.starts_with(&format!(
            "curl -sS -g -X POST '{}/hooks/github'",
            gateway.base
        )),
        "{printed}"
    );

    // `send` for every core provider: the gateway accepts each with 202.
    let providers = [
        "stripe",
        "svix",
        "slack",
        "shopify",
        "particle",
        "brightdata",
        "tok",
        "generic",
        "bitbucket",
        "gitlab",
        "linear",
        "intercom",
        "typeform",
        "paddle",
        "zoom",
        "mailgun",
        "square",
        "twilio",
    ];
    for source in providers {
        let sent = run(gateway.cli(&["send", source])).await;
        assert!(
            sent.status.success(),
            "{source}: {}{}",
            text(&sent.stdout),
            text(&sent.stderr)
        );
        assert!(
            text(&sent.stdout).starts_with("202 "),
            "{source}: {}",
            text(&sent.stdout)
        );
    }
    let unknown = run(gateway.cli(&["send", "nope"])).await;
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("no source \"nope\""));

    // The GitHub event goes to the downstream, which refuses it with 400: dead at once.
    let sent = run(gateway.cli(&[
        "send",
        "github",
        "--body",
        body_file.to_str().expect("utf-8 path"),
        "--id",
        "dead-1",
    ]))
    .await;
    assert!(sent.status.success(), "{}", text(&sent.stdout));
    let started = Instant::now();
    let dead_id = loop {
        let listed = run(gateway.admin_cli(&["dlq", "list", "--json"])).await;
        assert!(listed.status.success(), "{}", text(&listed.stderr));
        let page: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
        if let Some(id) = page["events"][0]["id"].as_str() {
            break id.to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(15), "no dead event");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let table = run(gateway.admin_cli(&["events", "list", "--source", "github"])).await;
    let table = text(&table.stdout);
    assert!(
        table.contains(&dead_id) && table.contains("dead") && table.contains("HTTP 400"),
        "{table}"
    );

    let replayed = run(gateway.admin_cli(&["dlq", "replay", "--source", "github"])).await;
    assert!(replayed.status.success(), "{}", text(&replayed.stderr));
    assert!(text(&replayed.stdout).contains("replayed 1 of 1 events"));
    let started = Instant::now();
    loop {
        let shown = run(gateway.admin_cli(&["events", "show", &dead_id])).await;
        let event: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
        if event["status"] == "delivered" {
            assert_eq!(event["body"], text(body));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "replay not delivered: {event}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(downstream.count(), 2);

    let export = dir.path().join("events.csv");
    let exported = run(gateway.admin_cli(&[
        "events",
        "export",
        "--format",
        "csv",
        "--output",
        export.to_str().expect("utf-8 path"),
    ]))
    .await;
    assert!(exported.status.success(), "{}", text(&exported.stderr));
    let csv = std::fs::read_to_string(&export).expect("export written");
    // A header line, one event per provider sent above, and the GitHub one.
    assert_eq!(csv.lines().count(), 1 + providers.len() + 1, "{csv}");

    let no_token = run({
        let mut command = gateway.admin_cli(&["events", "list"]);
        command.env("HOOKWALL_ADMIN_TOKEN", "wrong-token");
        command
    })
    .await;
    assert!(!no_token.status.success());
    assert!(
        text(&no_token.stderr).contains("401"),
        "{}",
        text(&no_token.stderr)
    );

    // Rotation: the file gets a new secret; the running gateway refuses it until SIGHUP.
    let old = std::fs::read_to_string(&gateway.config).expect("config");
    std::fs::write(
        &gateway.config,
        old.replace("first-secret", "second-secret"),
    )
    .expect("write");
    let before = run(gateway.cli(&["send", "github", "--id", "rot-1"])).await;
    assert!(
        text(&before.stdout).starts_with("401 "),
        "{}",
        text(&before.stdout)
    );
    let hup = Command::new("kill")
        .args(["-HUP", &gateway.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(hup.success());
    let started = Instant::now();
    loop {
        let after = run(gateway.cli(&["send", "github", "--id", "rot-2"])).await;
        if text(&after.stdout).starts_with("202 ") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIGHUP did not rotate the secret: {}",
            text(&after.stdout)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The process survived SIGHUP (its default action would have killed it).
    let mut health = hookwall();
    health.args(["health", "--url", &gateway.base]);
    assert!(run(health).await.status.success());
}
