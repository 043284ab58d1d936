//! A flood of refusals against the real binary (SPEC section 13: "a flood of refusals can never
//! grow the store past the bound"): 10,000 bad signatures at one source, 32 at a time, with
//! `max_per_source = 100`. Every answer stays 401, the source keeps at most 100 records, and the
//! store file and the process's peak memory stay bounded; the figures are printed.
//!
//! The real binary, not `spawn_app`: its memory is its own (`/proc/<pid>/status` VmHWM), not
//! the test process's.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use hmac::{KeyInit, Mac};
use reqwest::StatusCode;

use crate::process::{Killed, free_port, wait_ready};

const SECRET: &str = "flood-test-secret";
const FLOOD: usize = 10_000;
const MAX_PER_SOURCE: usize = 100;
const IN_FLIGHT: usize = 32;
const ADMIN: &str = "flood-admin-token-0123456789";
const MIB: u64 = 1024 * 1024;

struct Gateway {
    process: Killed,
    db: std::path::PathBuf,
    base: String,
    admin: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start() -> Gateway {
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, admin_port) = (free_port(), free_port());
    let db = dir.path().join("hookwall.db");
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nadmin_listen = \"127.0.0.1:{admin_port}\"\n\
             admin_token = \"{ADMIN}\"\n[storage]\nurl = \"sqlite://{}\"\n\
             [quarantine]\nmax_per_source = {MAX_PER_SOURCE}\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n",
            db.display()
        ),
    )
    .expect("write config");
    let child = Command::new(env!("CARGO_BIN_EXE_hookwall"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("HOOKWALL_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("hookwall serve runs");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&client, &format!("{base}/readyz")).await;
    Gateway {
        process: Killed(child),
        db,
        base,
        admin: format!("http://127.0.0.1:{admin_port}"),
        client,
        _dir: dir,
    }
}

/// A push of about 600 bytes signed with a secret the gateway does not have.
fn forged(n: usize) -> (String, String) {
    let body = format!(
        r#"{{"ref":"refs/heads/main","n":{n},"pad":"{}"}}"#,
        "x".repeat(560)
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"not-the-secret").expect("any key");
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    (body, signature)
}

/// Sends forged pushes numbered `from..to`, `IN_FLIGHT` at a time; the statuses other than 401.
async fn flood(gateway: &Gateway, from: usize, to: usize) -> Vec<String> {
    futures_util::stream::iter(from..to)
        .map(|n| async move {
            let (body, signature) = forged(n);
            let response = gateway
                .client
                .post(format!("{}/hooks/github", gateway.base))
                .header("content-type", "application/json")
                .header("x-github-event", "push")
                .header("x-github-delivery", format!("flood-{n}"))
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
                .await;
            match response {
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED => None,
                Ok(response) => Some(format!("#{n}: {}", response.status())),
                Err(err) => Some(format!("#{n}: {err}")),
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .filter_map(|wrong| async move { wrong })
        .collect()
        .await
}

/// The kept records of `github`, newest first (ids and delivery ids).
async fn kept(gateway: &Gateway) -> Vec<serde_json::Value> {
    let response = gateway
        .client
        .get(format!(
            "{}/admin/refusals?source=github&limit=1000",
            gateway.admin
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("admin request sent");
    assert_eq!(response.status(), StatusCode::OK);
    let page: serde_json::Value = response.json().await.expect("JSON");
    page["refusals"].as_array().cloned().unwrap_or_default()
}

/// Sends one last forged push and waits until the writer has kept it: the channel is FIFO, so
/// everything refused before it has been written (or dropped) by then. The per-source pace or a
/// full channel may drop the marker itself, so it is sent again until one is kept.
async fn wait_for_the_writer(gateway: &Gateway, round: usize) {
    let started = Instant::now();
    for attempt in 0.. {
        let marker = FLOOD + round * 1000 + attempt;
        assert!(flood(gateway, marker, marker + 1).await.is_empty());
        let wanted = format!("flood-{marker}");
        let poll_started = Instant::now();
        while poll_started.elapsed() < Duration::from_secs(2) {
            let newest = kept(gateway).await;
            let is_marker = |record: &serde_json::Value| {
                record["headers"].as_array().is_some_and(|headers| {
                    headers
                        .iter()
                        .any(|pair| pair[0] == "x-github-delivery" && pair[1] == wanted.as_str())
                })
            };
            if newest.first().is_some_and(is_marker) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the quarantine writer never caught up"
        );
    }
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The database and its write-ahead log, in bytes.
fn store_size(db: &Path) -> u64 {
    let wal = db.with_file_name(format!(
        "{}-wal",
        db.file_name()
            .and_then(|n| n.to_str())
            .expect("a file name")
    ));
    file_size(db) + file_size(&wal)
}

/// A line of `/proc/<pid>/status` (`VmHWM`, `VmRSS`) in bytes.
fn proc_status_bytes(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|line| line.starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

/// The value of a metric line `name{source="github"}` on `/metrics`, 0 when absent.
async fn github_metric(gateway: &Gateway, name: &str) -> f64 {
    let response = gateway
        .client
        .get(format!("{}/metrics", gateway.admin))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("metrics request sent");
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("metrics text");
    let prefix = format!("{name}{{source=\"github\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_ten_thousand_bad_signatures_keeps_at_most_a_hundred_records_in_bounded_space() {
    let gateway = start().await;
    let pid = gateway.process.0.id();

    let wrong = flood(&gateway, 0, MAX_PER_SOURCE).await;
    assert!(wrong.is_empty(), "not 401: {wrong:?}");
    wait_for_the_writer(&gateway, 0).await;
    let after_bound = store_size(&gateway.db);
    let rss_after_bound = proc_status_bytes(pid, "VmRSS");

    let started = Instant::now();
    let wrong = flood(&gateway, MAX_PER_SOURCE, FLOOD).await;
    let took = started.elapsed();
    assert!(
        wrong.is_empty(),
        "{} answers not 401: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    wait_for_the_writer(&gateway, 1).await;

    let records = kept(&gateway).await;
    assert_eq!(records.len(), MAX_PER_SOURCE, "the per-source bound");
    let gauge = github_metric(&gateway, "hookwall_quarantine_records").await;
    let dropped = github_metric(&gateway, "hookwall_quarantine_dropped_total").await;
    assert_eq!(gauge, MAX_PER_SOURCE as f64);
    // Some are dropped (the per-source pace, a full channel) or written and trimmed; the newest
    // were written, so not all can have been dropped.
    assert!(dropped < FLOOD as f64, "dropped {dropped}");
    let after_flood = store_size(&gateway.db);
    let peak = proc_status_bytes(pid, "VmHWM");
    println!(
        "flood: {FLOOD} refusals in {took:?} ({:.0}/s), {IN_FLIGHT} in flight; kept {} records, \
         dropped {dropped} (hookwall_quarantine_dropped_total); store (db + wal) {:.2} MiB after \
         {MAX_PER_SOURCE} refusals, {:.2} MiB after the flood; VmRSS {:.1} MiB after \
         {MAX_PER_SOURCE}, VmHWM {:.1} MiB after the flood",
        FLOOD as f64 / took.as_secs_f64(),
        records.len(),
        after_bound as f64 / MIB as f64,
        after_flood as f64 / MIB as f64,
        rss_after_bound as f64 / MIB as f64,
        peak as f64 / MIB as f64,
    );
    // The WAL grows to its checkpoint size before it is reused; 8 MiB covers it.
    assert!(
        after_flood < 4 * after_bound + 8 * MIB,
        "the store grew from {after_bound} to {after_flood} bytes"
    );
    assert!(peak < 64 * MIB, "peak RSS {peak} bytes");
}
