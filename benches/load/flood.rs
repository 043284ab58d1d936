//! The unauthenticated gzip flood of issue 20 (finding 2), for `scripts/flood.sh`: N looping
//! connections POST a 64 KB gzip body that inflates to ~63 MiB, with a wrong credential, to a
//! `brightdata` source (64 MiB cap), while one client sends good GitHub-signed webhooks and
//! records their latency. Loopback only, bounded in time.
//!
//!     cargo run --release --example bench_flood -- ADDR CONNECTIONS SECONDS [PATH] [AUTH]
//!
//! Prints one line: flood requests and their status counts, and the good webhooks' count,
//! status counts, p50 and p99 latency.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hmac::{KeyInit, Mac};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The secret of the `github` source in the script's config.
const GITHUB_SECRET: &str = "flood-github-secret";
/// The good webhooks' pace: one every 20 ms.
const GOOD_EVERY: Duration = Duration::from_millis(20);
/// No single request may take longer than this (a stuck server must not hang the script).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn bomb() -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..63 {
        // Writing into a Vec cannot fail.
        let _ = encoder.write_all(&zeros);
    }
    encoder.finish().unwrap_or_default()
}

/// Sends one request on a fresh connection and returns its status (0: no answer).
async fn send(addr: SocketAddr, head: &str, body: &[u8]) -> u16 {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream.set_nodelay(true).ok()?;
        stream.write_all(head.as_bytes()).await.ok()?;
        // The server may answer and close before taking the whole body: that is fine.
        let _ = stream.write_all(body).await;
        let mut answer = Vec::with_capacity(1024);
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(buf.get(..n)?),
            }
        }
        let line = std::str::from_utf8(answer.get(..12)?).ok()?;
        line.get(9..12)?.parse().ok()
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

fn good_request(n: u64) -> (String, Vec<u8>) {
    let body = format!(r#"{{"action":"opened","number":{n},"zen":"flood probe"}}"#).into_bytes();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(GITHUB_SECRET.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(&body);
    let signature = hex::encode(mac.finalize().into_bytes());
    let head = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         X-Hub-Signature-256: sha256={signature}\r\nX-GitHub-Delivery: probe-{n}-{}\r\n\
         X-GitHub-Event: push\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        std::process::id(),
        body.len()
    );
    (head, body)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted
        .get(rank.min(sorted.len() - 1))
        .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr: SocketAddr = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 18090)));
    let connections: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(16);
    let seconds: u64 = args
        .get(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10)
        .min(120);
    let path = args
        .get(4)
        .cloned()
        .unwrap_or_else(|| "/hooks/brightdata".to_owned());
    let auth = args
        .get(5)
        .cloned()
        .unwrap_or_else(|| "Bearer not-the-token".to_owned());
    assert!(addr.ip().is_loopback(), "the flood is for loopback only");

    let bomb = Arc::new(bomb());
    let head = Arc::new(format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Encoding: gzip\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        bomb.len()
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let mut flooders = Vec::new();
    for _ in 0..connections {
        let (bomb, head, stop) = (bomb.clone(), head.clone(), stop.clone());
        flooders.push(tokio::spawn(async move {
            let mut statuses = BTreeMap::<u16, u64>::new();
            while !stop.load(Ordering::Relaxed) {
                *statuses.entry(send(addr, &head, &bomb).await).or_default() += 1;
            }
            statuses
        }));
    }
    // Let the flood build up before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut latencies = Vec::new();
    let mut good_statuses = BTreeMap::<u16, u64>::new();
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let (head, body) = good_request(n);
        let started = Instant::now();
        let status = send(addr, &head, &body).await;
        latencies.push(started.elapsed());
        *good_statuses.entry(status).or_default() += 1;
        tokio::time::sleep(GOOD_EVERY.saturating_sub(started.elapsed())).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut flood_statuses = BTreeMap::<u16, u64>::new();
    for flooder in flooders {
        if let Ok(statuses) = flooder.await {
            for (status, count) in statuses {
                *flood_statuses.entry(status).or_default() += count;
            }
        }
    }
    latencies.sort();
    println!(
        "connections={connections} bomb_bytes={} flood_requests={} flood_statuses={flood_statuses:?} \
         good={} good_statuses={good_statuses:?} good_p50_ms={:.1} good_p99_ms={:.1} good_max_ms={:.1}",
        bomb.len(),
        flood_statuses.values().sum::<u64>(),
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
}
