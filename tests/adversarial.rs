//! Adversarial tests against a real server: what an attacker on the internet can send. Requests
//! go over raw TCP where an HTTP client would tidy the attack away.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

use std::net::SocketAddr;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use helpers::spawn_app;

const SECRET: &str = "adversarial-test-secret";

fn github_source(extra: &str) -> String {
    format!("[sources.github]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n{extra}\n")
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn github_signature(body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(SECRET.as_bytes(), &[body]))
    )
}

/// A complete, correctly signed GitHub webhook as raw HTTP/1.1 bytes.
fn signed_github_request(body: &[u8], delivery: &str) -> Vec<u8> {
    let mut request = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: hookwall\r\nContent-Type: application/json\r\n\
         X-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: {}\r\nContent-Length: {}\r\n\r\n",
        github_signature(body),
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// Writes `request` on a new connection; returns what came back and whether the server closed
/// the connection within `limit` (reading stops early once `enough` responses have arrived).
async fn exchange(
    addr: SocketAddr,
    request: &[u8],
    enough: usize,
    limit: Duration,
) -> (Vec<u16>, bool) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return (statuses(&received), true),
            Ok(Ok(n)) => {
                received.extend_from_slice(&buf[..n]);
                if statuses(&received).len() >= enough {
                    return (statuses(&received), false);
                }
            }
            Err(_) => return (statuses(&received), false),
        }
    }
}

/// The status codes of the complete HTTP/1.1 responses in `bytes`, in order (bodies are skipped
/// by their `Content-Length`, which every answer of the gateway and of hyper carries).
fn statuses(bytes: &[u8]) -> Vec<u16> {
    let mut found = Vec::new();
    let mut rest = bytes;
    while let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let Some(after) = rest.get(end + 4 + length..) else {
            break; // the body has not fully arrived yet
        };
        found.push(
            head.split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("not a response head: {head:?}")),
        );
        rest = after;
    }
    found
}

// ---- oversized heads ----

/// Found by this suite: hyper checked `max_buf_size` only while a head was incomplete, and one
/// read can take its buffer past 64 KiB, so a 70 KiB header arriving at once reached the
/// pipeline. `max_header_size` now bounds the parsed head.
#[tokio::test]
async fn regression_a_70_kib_header_arriving_in_one_read_is_431() {
    let mut app = spawn_app(&github_source("")).await;
    let body = br#"{"n":1}"#;
    let padded = |padding: usize| {
        let request = signed_github_request(body, &format!("pad-{padding}"));
        let text = String::from_utf8(request).expect("ascii");
        text.replacen(
            "Host: hookwall\r\n",
            &format!("Host: hookwall\r\nX-Padding: {}\r\n", "a".repeat(padding)),
            1,
        )
        .into_bytes()
    };
    let (answers, closed) =
        exchange(app.addr, &padded(70 * 1024), 2, Duration::from_secs(10)).await;
    assert_eq!((answers, closed), (vec![431], true));
    // Ninety 800-byte headers: 72 KB of head in total.
    let mut many = String::from("POST /hooks/github HTTP/1.1\r\nHost: x\r\n");
    for i in 0..90 {
        many.push_str(&format!("X-H{i}: {}\r\n", "b".repeat(800)));
    }
    many.push_str("Content-Length: 2\r\n\r\n{}");
    let (answers, closed) = exchange(app.addr, many.as_bytes(), 2, Duration::from_secs(10)).await;
    assert_eq!((answers, closed), (vec![431], true));
    // Under the limit, a signed webhook with a 60 KiB header is taken.
    let (answers, _) = exchange(app.addr, &padded(60 * 1024), 1, Duration::from_secs(10)).await;
    assert_eq!(answers, vec![202]);
    app.stop().await;
}
