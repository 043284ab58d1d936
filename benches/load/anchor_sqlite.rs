//! The reference point for a durable gateway, for `scripts/bench.sh` (case r): an axum
//! handler that checks a GitHub HMAC-SHA256 signature and stores the delivery id and body in
//! SQLite with group commit at `synchronous=FULL` (WAL), answering 204 after the commit. No JSON
//! parse, no schema, no de-duplication, no logging or metrics: the least work that makes a
//! webhook durable, on the same tokio, hyper, axum and SQLite as hookwall. It tells what share
//! of the bare-axum ceiling such a floor reaches on the machine the benchmark runs on.
//!
//!     cargo run --release --example bench_anchor_sqlite -- 127.0.0.1:18080 /tmp/anchor.db SECRET

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use tokio::sync::{mpsc, oneshot};

type Insert = (String, Bytes, oneshot::Sender<bool>);

struct Anchor {
    secret: Vec<u8>,
    writer: mpsc::Sender<Insert>,
}

async fn take(State(anchor): State<Arc<Anchor>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|v| hex::decode(v).ok());
    let Some(signature) = signature else {
        return StatusCode::UNAUTHORIZED;
    };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&anchor.secret) else {
        return StatusCode::INTERNAL_SERVER_ERROR;
    };
    mac.update(&body);
    if mac.verify_slice(&signature).is_err() {
        return StatusCode::UNAUTHORIZED;
    }
    let delivery = headers
        .get("x-github-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (done, stored) = oneshot::channel();
    if anchor.writer.send((delivery, body, done)).await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match stored.await {
        Ok(true) => StatusCode::NO_CONTENT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// Group commit: everything waiting goes into one transaction, answered after its fsync.
fn writer(mut conn: rusqlite::Connection, mut inserts: mpsc::Receiver<Insert>) {
    let mut batch = Vec::new();
    while let Some(first) = inserts.blocking_recv() {
        batch.push(first);
        while batch.len() < 256 {
            match inserts.try_recv() {
                Ok(insert) => batch.push(insert),
                Err(_) => break,
            }
        }
        let committed = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut statement =
                    tx.prepare_cached("INSERT INTO events (delivery, body) VALUES (?1, ?2)")?;
                for (delivery, body, _) in &batch {
                    statement.execute(rusqlite::params![delivery, body.as_ref()])?;
                }
            }
            tx.commit()
        })()
        .is_ok();
        for (_, _, done) in batch.drain(..) {
            let _ = done.send(committed);
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18080".to_owned());
    let path = args.next().unwrap_or_else(|| "anchor.db".to_owned());
    let secret = args.next().unwrap_or_default().into_bytes();
    let conn = rusqlite::Connection::open(&path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS events \
         (id INTEGER PRIMARY KEY, delivery TEXT NOT NULL, body BLOB NOT NULL)",
    )?;
    let (tx, rx) = mpsc::channel(4096);
    std::thread::spawn(move || writer(conn, rx));
    let anchor = Arc::new(Anchor { secret, writer: tx });
    let app = axum::Router::new().fallback(take).with_state(anchor);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
