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

/// Runs `hookwall check` on the config file `config`: its exit code and what it printed.
fn check(config: &std::path::Path) -> (Option<i32>, String) {
    let output = hookwall()
        .args(["check", "--config"])
        .arg(config)
        .output()
        .expect("runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
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
    let (code, stderr) = check(&config);
    assert_eq!(code, Some(1), "{stderr}");
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
    let (code, stderr) = check(&config);
    assert_eq!(code, Some(1), "{stderr}");
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
        // GitHub's delivery id is unsigned: it is keyed with the body's hash.
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE dedup_key LIKE 'id:proc-1|body:%'")
            .fetch_one(&mut conn)
            .await
            .expect("count");
    assert_eq!(count, 1);
}

/// Waits until the gateway's /readyz answers 200.
async fn wait_ready(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    loop {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status() == 200
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{base} did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process killed (and reaped) when the test ends, also when it panics.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const UNSIGNED_TIMESTAMP: &str = "[sources.github]\nprovider = \"github\"\nsecrets = [\"s\"]\n\
                                  timestamp_header = \"x-sent-at\"\n";

#[test]
fn check_reports_keys_secrets_and_schemas_in_one_run_each_with_its_key_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookwall.toml");
    std::fs::write(dir.path().join("not-a-schema.json"), r#"{"type": 12}"#).expect("write");
    std::fs::write(dir.path().join("not-json.json"), "{").expect("write");
    std::fs::write(
        &config,
        r#"[server]
trusted_proxies = ["10.0.0.0/33"]
max_in_flihgt = 10

[sources.open]
provider = "token"
allow_ips = ["192.0.2.0/40"]
secrets = ["${HOOKWALL_TEST_UNSET_VARIABLE:-}"]

[sources.blank]
provider = "github"
secrets = [" "]

[sources.missing]
provider = "github"
secrets = ["s"]
schema = "schemas/nope.json"

[sources.invalid]
provider = "github"
secrets = ["s"]
schema = "not-a-schema.json"

[sources.broken]
provider = "github"
secrets = ["s"]
schema = "not-json.json"

[sources.sw]
provider = "standard-webhooks"
secrets = ["whsec_!!!"]
"#,
    )
    .expect("write");
    let output = hookwall()
        .args(["check", "--config"])
        .arg(&config)
        .env_remove("HOOKWALL_TEST_UNSET_VARIABLE")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for expected in [
        "server.trusted_proxies[0] (line 2)",
        "server.max_in_flihgt (line 3)",
        "sources.open.allow_ips[0] (line 7)",
        "sources.open.secrets (line 8)",
        "sources.blank.secrets[0] (line 12): is only whitespace",
        "sources.missing.schema (line 17): cannot read",
        "sources.invalid.schema (line 22)",
        "is not a valid JSON Schema",
        "sources.broken.schema (line 27)",
        "is not JSON",
        "sources.sw.secrets (line 31)",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn check_refuses_an_unsigned_timestamp_header_with_the_reason_and_the_fix() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookwall.toml");
    std::fs::write(&config, UNSIGNED_TIMESTAMP).expect("write");
    let (code, stderr) = check(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("sources.github.timestamp_header (line 4)")
            && stderr.contains("does not sign this timestamp")
            && stderr.contains("remove timestamp_header"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_and_reload_refuse_an_unsigned_timestamp_header() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookwall.toml");

    // Start-up: refused, exit 1, with the reason.
    std::fs::write(&config, UNSIGNED_TIMESTAMP).expect("write");
    let output = hookwall()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not sign this timestamp"), "{stderr}");

    // Reload: the running config stays, and the answer says why.
    let (port, admin_port) = (free_port(), free_port());
    let good = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin_port}\"\n\
         admin_token = \"a-long-enough-admin-token\"\n\
         [sources.github]\nprovider = \"github\"\nsecrets = [\"s\"]\n"
    );
    std::fs::write(&config, &good).expect("write");
    let _server = Killed(
        hookwall()
            .args(["serve", "--config"])
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns"),
    );
    let client = reqwest::Client::new();
    wait_ready(&client, &format!("http://127.0.0.1:{port}")).await;
    std::fs::write(&config, format!("{good}timestamp_header = \"x-sent-at\"\n")).expect("write");
    let response = client
        .post(format!("http://127.0.0.1:{admin_port}/admin/reload"))
        .bearer_auth("a-long-enough-admin-token")
        .send()
        .await
        .expect("reload answered");
    assert_eq!(response.status(), 422);
    let body = response.text().await.expect("body");
    assert!(
        body.contains("sources.github.timestamp_header") && body.contains("does not sign"),
        "{body}"
    );
}

#[tokio::test]
async fn a_relative_sqlite_path_is_relative_to_the_config_file_not_the_working_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let elsewhere = tempfile::tempdir().expect("another directory");
    let conf_dir = dir.path().join("conf");
    std::fs::create_dir_all(conf_dir.join("schemas")).expect("mkdir");
    std::fs::write(conf_dir.join("schemas/any.json"), r#"{"type": "object"}"#).expect("write");
    let port = free_port();
    let config = conf_dir.join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\nurl = \"sqlite://./data/hw.db\"\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"s\"]\nschema = \"schemas/any.json\"\n"
        ),
    )
    .expect("write");
    let server = Killed(
        hookwall()
            .args(["serve", "--config"])
            .arg(&config)
            .current_dir(elsewhere.path())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns"),
    );
    wait_ready(&reqwest::Client::new(), &format!("http://127.0.0.1:{port}")).await;
    drop(server);
    assert!(
        conf_dir.join("data/hw.db").exists(),
        "the database is not beside the config file"
    );
    assert!(
        !elsewhere.path().join("data").exists(),
        "the database was created in the working directory"
    );
}

#[tokio::test]
async fn the_command_sign_prints_runs_in_a_shell_and_is_accepted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\nurl = \"sqlite://data/hw.db\"\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"s3cret\"]\n"
        ),
    )
    .expect("write");
    let _server = Killed(
        hookwall()
            .args(["serve", "--config"])
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns"),
    );
    wait_ready(&reqwest::Client::new(), &format!("http://127.0.0.1:{port}")).await;

    // Quotes, shell syntax, a line break and non-ASCII: all must reach the gateway as signed.
    let body = "{\"msg\": \"it's $HOME `id` $(id) \\\\ caf\u{e9}\",\n \"at\": \"@now\"}\n";
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, body).expect("write");
    let signed = hookwall()
        .args(["sign", "github", "--id", "sign-curl-1", "--config"])
        .arg(&config)
        .arg("--body")
        .arg(&body_file)
        .output()
        .expect("sign runs");
    let command = String::from_utf8_lossy(&signed.stdout).into_owned();
    assert!(
        signed.status.success(),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    assert!(command.starts_with("curl "), "{command}");
    assert!(
        !command.contains("s3cret"),
        "the secret was printed: {command}"
    );

    let ran = Command::new("bash")
        .arg("-c")
        .arg(&command)
        .output()
        .expect("bash runs");
    let answer = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(
        answer.contains("\"status\":\"accepted\""),
        "{answer}\n{command}"
    );

    // The same command again: the same signed bytes and id, so a duplicate.
    let again = Command::new("bash")
        .arg("-c")
        .arg(&command)
        .output()
        .expect("bash runs");
    assert!(String::from_utf8_lossy(&again.stdout).contains("\"status\":\"duplicate\""));
}

#[test]
fn cli_commands_say_connection_refused_to_the_url_when_nothing_listens() {
    // A port that was free a moment ago: nothing listens on it.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"s\"]\n"
        ),
    )
    .expect("write");
    let runs: [(&str, Vec<String>); 3] = [
        (
            "events",
            vec![
                "events".into(),
                "list".into(),
                "--admin-url".into(),
                base.clone(),
            ],
        ),
        (
            "health",
            vec!["health".into(), "--url".into(), base.clone()],
        ),
        (
            "send",
            vec![
                "send".into(),
                "github".into(),
                "--config".into(),
                config.display().to_string(),
            ],
        ),
    ];
    for (name, args) in runs {
        let output = hookwall()
            .args(&args)
            .env("HOOKWALL_ADMIN_TOKEN", "a-long-enough-admin-token")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("connection refused to {base}")),
            "{name}: {stderr}"
        );
        assert!(
            !stderr.contains("error sending request"),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn check_says_the_admin_api_is_closed_without_an_admin_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        "[sources.github]\nprovider = \"github\"\nsecrets = [\"s\"]\n",
    )
    .expect("write");
    let (code, stderr) = check(&config);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("no admin token is configured (neither server.admin_token nor"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_an_event_type_pointer_that_is_not_rfc_6901_and_both_event_type_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        "[sources.relay]\nprovider = \"token\"\nsecrets = [\"Bearer t\"]\n\
         event_type_pointer = \"data.type\"\n\
         [sources.github]\nprovider = \"github\"\nsecrets = [\"s\"]\n\
         event_type_header = \"X-Kind\"\nevent_type_pointer = \"/kind\"\n",
    )
    .expect("write");
    let (code, stderr) = check(&config);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("sources.relay.event_type_pointer (line 4)")
            && stderr.contains("not a JSON Pointer (RFC 6901)")
            && stderr.contains("must start with `/`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("sources.github.event_type_pointer (line 9)")
            && stderr.contains("not both"),
        "{stderr}"
    );
}

#[tokio::test]
async fn events_list_shows_each_events_type_escaped_and_filters_by_it() {
    const TOKEN: &str = "cli-event-types-admin-token";
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, admin_port) = (free_port(), free_port());
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin_port}\"\n\
             admin_token = \"{TOKEN}\"\n[storage]\nurl = \"sqlite://{}\"\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"gh-types\"]\n\
             [sources.relay]\nprovider = \"token\"\nsecrets = [\"Bearer relay\"]\n\
             event_type_pointer = \"/kind\"\n",
            dir.path().join("hookwall.db").display()
        ),
    )
    .expect("write");
    let _server = Killed(
        hookwall()
            .args(["serve", "--config"])
            .arg(&config)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawns"),
    );
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &base).await;

    for (delivery, event) in [("d-1", "push"), ("d-2", "pull_request"), ("d-3", "push")] {
        let body = format!(r#"{{"delivery":"{delivery}"}}"#);
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"gh-types").expect("any key");
        mac.update(body.as_bytes());
        let response = client
            .post(format!("{base}/hooks/github"))
            .header("content-type", "application/json")
            .header("x-github-delivery", delivery)
            .header("x-github-event", event)
            .header(
                "x-hub-signature-256",
                format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
            )
            .body(body)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 202);
    }
    // A type that would clear the operator's screen if printed as is.
    let response = client
        .post(format!("{base}/hooks/relay"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer relay")
        .body("{\"kind\":\"evil\\u001b[2Jname\"}")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 202);

    let admin_url = format!("http://127.0.0.1:{admin_port}");
    let events = |args: &[&str]| {
        let output = hookwall()
            .args(["events", "list", "--admin-url", &admin_url])
            .args(args)
            .env("HOOKWALL_ADMIN_TOKEN", TOKEN)
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let table = events(&[]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("TYPE"), "{table}");
    assert_eq!(lines.len(), 5, "a header and four events: {table}");
    assert!(lines[1].contains("evil\\u{1b}[2Jname"), "{table}");
    assert!(
        !table.contains('\u{1b}'),
        "a control character reached the terminal"
    );
    assert!(lines[2].contains("push") && lines[3].contains("pull_request"));

    let pushes = events(&["--event-type", "push"]);
    assert_eq!(
        pushes.lines().count(),
        3,
        "a header and two pushes: {pushes}"
    );
    assert!(!pushes.contains("pull_request"), "{pushes}");

    let json: serde_json::Value =
        serde_json::from_str(&events(&["--event-type", "pull_request", "--json"])).expect("json");
    let listed = json["events"].as_array().expect("events");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["event_type"], "pull_request");
    assert_eq!(listed[0]["source"], "github");
}
