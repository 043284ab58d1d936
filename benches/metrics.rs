//! What the metrics cost a request, against what verifying it costs, measured in one run.
//!
//!     cargo bench --bench metrics
//!
//! Prints nanoseconds per operation and the ratio; absolute figures vary with the machine, the
//! ratio much less. The per-request metric work is what `pipeline::observe::count` does for an
//! accepted webhook: one counter, one histogram observation (and the in-flight gauge up and
//! down).

use std::hint::black_box;
use std::time::Instant;

use hookwall::providers::{Inbound, Overrides, Preset};
use http::{HeaderMap, HeaderValue};
use secrecy::SecretString;

const ROUNDS: u32 = 200_000;

fn per_op(rounds: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..rounds / 10 {
        f();
    }
    let started = Instant::now();
    for _ in 0..rounds {
        f();
    }
    started.elapsed().as_nanos() as f64 / f64::from(rounds)
}

fn main() {
    let m = hookwall::telemetry::metrics::metrics();
    let metrics_ns = per_op(ROUNDS, || {
        m.in_flight_requests.inc();
        m.requests
            .with_label_values(black_box(&["github", "accepted", "202"]))
            .inc();
        m.request_duration
            .with_label_values(black_box(&["github"]))
            .observe(black_box(0.002));
        m.in_flight_requests.dec();
    });

    let secret = "bench-secret";
    let preset = Preset::build(
        "github",
        &[SecretString::from(secret.to_owned())],
        &[],
        &Overrides::default(),
    )
    .expect("the github preset builds");
    let body = vec![b'x'; 1024];
    let mut headers = HeaderMap::new();
    for (name, value) in preset.sign(&body, 0, "bench").expect("signs") {
        headers.insert(name, HeaderValue::from_str(&value).expect("header value"));
    }
    let verify_ns = per_op(ROUNDS / 4, || {
        let inbound = Inbound {
            headers: &headers,
            body: black_box(&body),
            url: None,
            now: 0,
        };
        assert!(preset.verify(&inbound).is_ok());
    });

    println!("metrics per request:          {metrics_ns:>8.1} ns");
    println!("HMAC-SHA256 verify of 1 KiB:  {verify_ns:>8.1} ns");
    println!(
        "metrics / verification:       {:>8.3}",
        metrics_ns / verify_ns
    );
}
