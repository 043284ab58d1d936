//! Delivery control as an operator meets it (SPEC section 10, "Pace" and "Circuit breaker"):
//! the real `hookwall` binary, a real downstream, the admin API, the metrics and the CLI. A
//! failing handler opens its circuit and nothing reaches it until the probe; a rate limit spaces
//! the deliveries and loses none; a pause keeps events queued until resume, also across two
//! instances on one PostgreSQL database (skipped, saying so, without
//! `HOOKWALL_TEST_DATABASE_URL`).
//!
//! Nothing here asserts that something happens fast: times are lower bounds (the limit's
//! spacing, the cooldown) and generous timeouts.

#[path = "support/downstream.rs"]
mod downstream;
#[path = "support/pg.rs"]
mod pg;
#[path = "support/process.rs"]
mod process;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use downstream::{Answer, Downstream};
use process::{Killed, free_port, wait_ready};
use serde_json::Value;

const ADMIN_TOKEN: &str = "destinations-admin-token-0123456789";
const SOURCE_TOKEN: &str = "Bearer destinations-source-token";
/// Long enough for anything a loaded 2-core machine does here.
const PATIENCE: Duration = Duration::from_secs(60);

struct Gateway {
    _child: Killed,
    public: String,
    admin: String,
    client: reqwest::Client,
}

/// Starts the binary on `storage_url` with one source `app` (token auth) whose one
/// destination, `handler`, posts to `downstream` with the extra TOML `keys`.
async fn start(
    dir: &Path,
    i: usize,
    storage_url: &str,
    downstream: &Downstream,
    keys: &str,
) -> Gateway {
    let (public, admin) = (free_port(), free_port());
    let config = dir.join(format!("hookwall-{i}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{public}\"\nadmin_listen = \"127.0.0.1:{admin}\"\n\
             admin_token = \"{ADMIN_TOKEN}\"\nshutdown_timeout = \"1s\"\n\
             [storage]\nurl = \"{storage_url}\"\nlease = \"30s\"\n\
             [sources.app]\nprovider = \"token\"\nsecrets = [\"{SOURCE_TOKEN}\"]\n\
             [[sources.app.destinations]]\nname = \"handler\"\nurl = \"{}\"\ntimeout = \"5s\"\n{keys}\n",
            downstream.url("/hook"),
        ),
    )
    .expect("write config");
    let child = Command::new(env!("CARGO_BIN_EXE_hookwall"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("HOOKWALL_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("hookwall-{i}.log"))).expect("log"))
        .spawn()
        .expect("hookwall spawns");
    let gateway = Gateway {
        _child: Killed(child),
        public: format!("http://127.0.0.1:{public}"),
        admin: format!("http://127.0.0.1:{admin}"),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client"),
    };
    wait_ready(&gateway.client, &format!("{}/readyz", gateway.public)).await;
    gateway
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("hookwall.db").display())
}

impl Gateway {
    /// Sends event `n` (`{"n": n}`) and asserts it was accepted.
    async fn send(&self, n: u64) {
        let response = self
            .client
            .post(format!("{}/hooks/app", self.public))
            .header("authorization", SOURCE_TOKEN)
            .header("content-type", "application/json")
            .body(format!(r#"{{"n":{n}}}"#))
            .send()
            .await
            .expect("the gateway answers");
        assert!(
            response.status().is_success(),
            "event {n}: {}",
            response.status()
        );
    }

    async fn admin_post(&self, path: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.admin))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("the admin API answers")
    }

    /// `handler` as `GET /admin/destinations` shows it.
    async fn handler(&self) -> Value {
        let response = self
            .client
            .get(format!("{}/admin/destinations", self.admin))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("the admin API answers");
        assert_eq!(response.status(), 200);
        let all: Vec<Value> = response.json().await.expect("a JSON array");
        assert_eq!(all.len(), 1, "one destination configured: {all:?}");
        all.into_iter().next().expect("one")
    }

    /// Polls `handler` until `until` holds of it (bounded by [`PATIENCE`]).
    async fn wait_handler(&self, what: &str, until: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let handler = self.handler().await;
            if until(&handler) {
                return handler;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "handler never {what}: {handler}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn wait_state(&self, state: &str) -> Value {
        self.wait_handler(state, |h| h["state"] == state).await
    }

    /// The value of the metric line that starts with `series` (0 when absent).
    async fn metric(&self, series: &str) -> f64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.admin))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find(|line| line.starts_with(series))
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    }
}

/// Unix milliseconds of an RFC 3339 time the admin API gave.
fn ms(time: &Value) -> i64 {
    let text = time
        .as_str()
        .unwrap_or_else(|| panic!("a time, not {time}"));
    text.parse::<jiff::Timestamp>()
        .expect("RFC 3339")
        .as_millisecond()
}

fn wall_ms(at: SystemTime) -> i64 {
    i64::try_from(
        at.duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_opens_its_circuit_gets_nothing_until_the_probe_and_closes_once_it_recovers()
 {
    let healthy = Arc::new(AtomicBool::new(false));
    let first_answer = Arc::new(AtomicBool::new(true));
    let downstream = Downstream::builder()
        .respond({
            let (healthy, first_answer) = (healthy.clone(), first_answer.clone());
            move |_| {
                if !healthy.load(Ordering::SeqCst) {
                    Answer::status(503)
                } else if first_answer.swap(false, Ordering::SeqCst) {
                    // The recovering probe takes a while: long enough to be seen half-open.
                    Answer::status(200).after(Duration::from_secs(2))
                } else {
                    Answer::status(200)
                }
            }
        })
        .start()
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = start(
        dir.path(),
        0,
        &sqlite_url(dir.path()),
        &downstream,
        "concurrency = 1\ncircuit = { failures = 3, cooldown = \"1s\" }\n\
         retry = { initial = \"50ms\", max = \"100ms\", max_attempts = 1000, max_age = \"5m\" }",
    )
    .await;
    for n in 1..=3 {
        gateway.send(n).await;
    }

    // Three failures in a row open it.
    let opened = gateway.wait_state("open").await;
    assert_eq!(opened["consecutive_failures"], 3);
    let (opened_at, first_probe) = (ms(&opened["opened_at"]), ms(&opened["next_probe_at"]));
    assert!(first_probe - opened_at >= 1000, "the cooldown: {opened}");
    // The first probe fails: open again, for twice the cooldown.
    let reopened = gateway
        .wait_handler("reopened", |h| {
            h["state"] == "open" && h["next_probe_at"] != opened["next_probe_at"]
        })
        .await;
    let second_probe = ms(&reopened["next_probe_at"]);
    assert!(
        second_probe - first_probe >= 2000,
        "doubled: {opened} then {reopened}"
    );
    assert_eq!(
        reopened["opened_at"], opened["opened_at"],
        "open since the first opening"
    );

    // The handler recovers: the next probe goes through half-open and closes the circuit.
    healthy.store(true, Ordering::SeqCst);
    gateway.wait_state("half_open").await;
    let closed = gateway
        .wait_handler("closed and drained", |h| {
            h["state"] == "closed" && h["queue_depth"] == 0
        })
        .await;
    assert_eq!(closed["consecutive_failures"], 0);
    assert_eq!(closed["opened_at"], Value::Null);
    assert_eq!(closed["next_probe_at"], Value::Null);

    let arrivals: Vec<i64> = downstream
        .received()
        .iter()
        .map(|r| wall_ms(r.wall))
        .collect();
    assert_eq!(
        arrivals.iter().filter(|&&at| at <= opened_at).count(),
        3,
        "exactly the three failures before it opened: {arrivals:?}"
    );
    let during = |from: i64, until: i64| {
        arrivals
            .iter()
            .filter(|&&at| at > from && at < until)
            .count()
    };
    assert_eq!(
        during(opened_at, first_probe),
        0,
        "nothing while open: {arrivals:?}"
    );
    assert_eq!(
        during(second_probe - 2000, second_probe),
        0,
        "nothing while open again: {arrivals:?}"
    );
    let mut delivered: Vec<u64> = downstream.received().iter().filter_map(|r| r.n()).collect();
    delivered.sort_unstable();
    delivered.dedup();
    assert_eq!(delivered, [1, 2, 3], "every event delivered in the end");

    let series = |to: &str| {
        format!("hookwall_circuit_transitions_total{{destination=\"handler\",to=\"{to}\"}}")
    };
    assert!(gateway.metric(&series("open")).await >= 2.0);
    assert!(gateway.metric(&series("half_open")).await >= 2.0);
    assert!(gateway.metric(&series("closed")).await >= 1.0);
    let state = |state: &str| {
        format!("hookwall_destination_state{{destination=\"handler\",state=\"{state}\"}}")
    };
    assert_eq!(gateway.metric(&state("closed")).await, 1.0);
    assert_eq!(gateway.metric(&state("open")).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_handler_gets_every_event_no_faster_than_its_limit() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = start(
        dir.path(),
        0,
        &sqlite_url(dir.path()),
        &downstream,
        "rate_limit = { per_second = 5, burst = 1 }",
    )
    .await;

    for n in 1..=15 {
        gateway.send(n).await;
    }
    downstream.wait_for(15, PATIENCE).await;

    let mut received = downstream.received();
    received.sort_by_key(|r| r.at);
    let mut numbers: Vec<u64> = received.iter().filter_map(|r| r.n()).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=15).collect::<Vec<_>>(),
        "all arrive, once each"
    );
    // 5 a second with a burst of 1: the 15th starts at least 14 × 200 ms after the first. The
    // first may travel slower than the last (a new connection): 300 ms of slack for that.
    let span = received[14].at - received[0].at;
    assert!(
        span >= Duration::from_millis(2500),
        "15 deliveries in {span:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_handler_keeps_its_events_queued_and_resume_delivers_them() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = start(dir.path(), 0, &sqlite_url(dir.path()), &downstream, "").await;
    gateway.send(0).await;
    downstream.wait_for(1, PATIENCE).await;

    assert_eq!(
        gateway
            .admin_post("/admin/destinations/handler/pause")
            .await
            .status(),
        204
    );
    for n in 1..=5 {
        gateway.send(n).await;
    }

    let paused = gateway
        .wait_handler("queued", |h| h["queue_depth"] == 5)
        .await;
    assert_eq!(paused["state"], "paused");
    assert_eq!(
        (paused["source"].as_str(), paused["type"].as_str()),
        (Some("app"), Some("http"))
    );
    assert_eq!(
        gateway
            .metric("hookwall_destination_state{destination=\"handler\",state=\"paused\"}")
            .await,
        1.0
    );
    // Longer than a worker's refresh of the shared state: still nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(downstream.count(), 1, "nothing delivered while paused");

    assert_eq!(
        gateway
            .admin_post("/admin/destinations/handler/resume")
            .await
            .status(),
        204
    );
    downstream.wait_for(6, PATIENCE).await;
    let resumed = gateway
        .wait_handler("drained", |h| h["queue_depth"] == 0)
        .await;
    assert_eq!(resumed["state"], "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_or_resuming_a_destination_that_is_not_configured_is_404() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = start(dir.path(), 0, &sqlite_url(dir.path()), &downstream, "").await;

    for verb in ["pause", "resume"] {
        let response = gateway
            .admin_post(&format!("/admin/destinations/nope/{verb}"))
            .await;
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.expect("problem+json");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("nope")),
            "{problem}"
        );
    }
    let unauthenticated = gateway
        .client
        .post(format!(
            "{}/admin/destinations/handler/pause",
            gateway.admin
        ))
        .send()
        .await
        .expect("answers");
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(
        gateway.handler().await["state"],
        "closed",
        "nothing was paused"
    );
}

/// Runs `hookwall destinations ARGS` against `gateway`'s admin API.
async fn cli(gateway: &Gateway, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookwall"));
    command
        .arg("destinations")
        .args(args)
        .args(["--admin-url", &gateway.admin])
        .env("HOOKWALL_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("HOOKWALL_LOG", "warn");
    tokio::task::spawn_blocking(move || command.output().expect("runs"))
        .await
        .expect("join")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_pauses_and_resumes_destinations() {
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let gateway = start(dir.path(), 0, &sqlite_url(dir.path()), &downstream, "").await;

    let listed = cli(&gateway, &["list"]).await;
    assert!(listed.status.success(), "{listed:?}");
    let table = stdout(&listed);
    assert!(table.starts_with("NAME"), "a header first:\n{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("handler"))
        .expect("a row for handler");
    assert!(
        row.contains("app") && row.contains("http") && row.contains("closed"),
        "{row}"
    );

    let paused = cli(&gateway, &["pause", "handler"]).await;
    assert!(paused.status.success(), "{paused:?}");
    assert_eq!(stdout(&paused).trim(), "handler: paused");
    let json = cli(&gateway, &["list", "--json"]).await;
    let listing: Value = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    assert_eq!(listing[0]["state"], "paused");

    let resumed = cli(&gateway, &["resume", "handler"]).await;
    assert!(resumed.status.success(), "{resumed:?}");
    assert_eq!(stdout(&resumed).trim(), "handler: resumed");
    assert_eq!(gateway.handler().await["state"], "closed");

    let unknown = cli(&gateway, &["pause", "nope"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    let error = String::from_utf8_lossy(&unknown.stderr);
    assert!(error.contains("404") && error.contains("nope"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_made_on_one_instance_holds_on_another_sharing_the_postgres_store() {
    let Some(database) = pg::TestDatabase::create().await else {
        return;
    };
    let downstream = Downstream::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let first = start(dir.path(), 0, &database.url, &downstream, "").await;
    let second = start(dir.path(), 1, &database.url, &downstream, "").await;
    second.send(0).await;
    downstream.wait_for(1, PATIENCE).await;

    assert_eq!(
        first
            .admin_post("/admin/destinations/handler/pause")
            .await
            .status(),
        204
    );
    // The other instance claims nothing of a paused destination from the pause's commit on.
    for n in 1..=5 {
        second.send(n).await;
    }
    let seen = second
        .wait_handler("queued", |h| h["queue_depth"] == 5)
        .await;
    assert_eq!(seen["state"], "paused");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        downstream.count(),
        1,
        "neither instance delivered while paused"
    );
    // Its own view caught up within its refresh.
    let started = Instant::now();
    while second
        .metric("hookwall_destination_state{destination=\"handler\",state=\"paused\"}")
        .await
        != 1.0
    {
        assert!(
            started.elapsed() < PATIENCE,
            "the second instance's gauge never said paused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(
        second
            .admin_post("/admin/destinations/handler/resume")
            .await
            .status(),
        204
    );
    downstream.wait_for(6, PATIENCE).await;
    let resumed = first
        .wait_handler("drained", |h| h["queue_depth"] == 0)
        .await;
    assert_eq!(resumed["state"], "closed");
}
