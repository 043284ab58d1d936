//! SIGKILL at an arbitrary moment loses no event that was answered 2xx: a few hundred signed
//! webhooks are sent concurrently to the real binary, which is killed mid-stream and restarted
//! on the same database; every event answered 2xx must reach the downstream at least once.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};

#[path = "support/downstream.rs"]
mod downstream;
#[path = "support/process.rs"]
mod process;
use downstream::Downstream;
use process::{free_port, wait_ready};

const SECRET: &str = "crash-test-secret";
const EVENTS: usize = 300;

/// How many times the downstream got each numbered event.
fn per_event(downstream: &Downstream) -> HashMap<u64, usize> {
    let mut seen = HashMap::new();
    for n in downstream.received().iter().filter_map(|r| r.n()) {
        *seen.entry(n).or_default() += 1;
    }
    seen
}

fn start(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hookwall"))
        .args(["serve", "--config"])
        .arg(config)
        .env("HOOKWALL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_answered_2xx_is_delivered_after_a_sigkill_mid_stream() {
    // A slow handler, so deliveries are still queued when the gateway is killed.
    let downstream = Downstream::builder()
        .slow(Duration::from_millis(100))
        .start()
        .await;
    let downstream_addr = downstream.addr;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = dir.path().join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\nurl = \"sqlite://{}\"\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n\
             [[sources.github.destinations]]\nurl = \"http://{downstream_addr}/hook\"\n\
             retry = {{ initial = \"20ms\", max = \"200ms\", max_attempts = 50, max_age = \"5m\" }}\n",
            dir.path().join("hookwall.db").display()
        ),
    )
    .expect("write config");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut child = start(&config);
    wait_ready(&client, &format!("{base}/readyz")).await;

    let answered: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut senders = Vec::new();
    for lane in 0..16u64 {
        let (client, base, answered, sent) =
            (client.clone(), base.clone(), answered.clone(), sent.clone());
        senders.push(tokio::spawn(async move {
            for n in (lane..EVENTS as u64).step_by(16) {
                let body = format!(r#"{{"n":{n},"pad":"{}"}}"#, "x".repeat(200));
                let mut mac =
                    hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key");
                mac.update(body.as_bytes());
                let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let response = client
                    .post(format!("{base}/hooks/github"))
                    .header("content-type", "application/json")
                    .header("x-github-delivery", format!("crash-{n}"))
                    .header("x-hub-signature-256", signature)
                    .body(body)
                    .send()
                    .await;
                if let Ok(response) = response
                    && response.status().is_success()
                {
                    answered.lock().expect("lock").insert(n);
                }
            }
        }));
    }
    // Kill once about a third of the stream is out, while requests are in flight.
    while sent.load(std::sync::atomic::Ordering::Relaxed) < EVENTS / 3 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let answered_before_kill = answered.lock().expect("lock").len();
    let delivered_before_kill = per_event(&downstream).len();
    for sender in senders {
        sender.await.expect("sender task");
    }
    let answered = answered.lock().expect("lock").clone();
    assert!(
        answered_before_kill > 0,
        "nothing was answered before the kill: the test proved nothing"
    );
    assert!(
        delivered_before_kill < answered_before_kill,
        "everything was delivered before the kill: recovery after restart was not exercised"
    );

    let mut child = start(&config);
    wait_ready(&client, &format!("{base}/readyz")).await;
    let started = Instant::now();
    let missing = loop {
        let seen = per_event(&downstream);
        let missing: Vec<u64> = answered
            .iter()
            .copied()
            .filter(|n| !seen.contains_key(n))
            .collect();
        if missing.is_empty() || started.elapsed() > Duration::from_secs(30) {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = child.kill();
    let _ = child.wait();
    let seen = per_event(&downstream);
    let duplicates: usize = seen.values().map(|count| count - 1).sum();
    eprintln!(
        "crash test: sent {EVENTS}, answered 2xx {} ({} before the SIGKILL), delivered before the kill {}, \
         delivered in the end {} distinct, {} delivered twice or more (at-least-once), missing {}",
        answered.len(),
        answered_before_kill,
        delivered_before_kill,
        seen.len(),
        duplicates,
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "answered 2xx but never delivered: {missing:?}"
    );
}
