//! The hot pure functions of the request path, with criterion:
//!
//!     cargo bench --bench pipeline
//!
//! - each preset that signs with a shared secret: verification of a 1 KiB and a 64 KiB body
//!   (signed by the preset's own signer, as `hookwall send` does; the signers are checked
//!   against the providers' SDK vectors in the unit tests);
//! - JSON parsing with the depth limit, and JSON Schema validation (schemas/github.json);
//! - client-IP resolution through a trusted proxy chain;
//! - a store insert batch: 64 concurrent inserts into a SQLite file (one group commit each).
//!
//! The public-key presets (Discord, SendGrid, Standard Webhooks v1a) are not here: their
//! signers need a private key the config never holds.

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hookwall::event::Authenticated;
use hookwall::pipeline::{client_ip, payload};
use hookwall::providers::{BodyKind, Inbound, Overrides, Preset};
use hookwall::store::{NewEvent, SqliteStore, Store};
use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::SecretString;

/// (preset, secret, public URL for the presets that sign it)
const PRESETS: &[(&str, &str, Option<&str>)] = &[
    ("github", "bench-secret", None),
    ("stripe", "whsec_bench", None),
    (
        "standard-webhooks",
        "whsec_aW50ZXJuYWwtc2lnbmluZy1rZXktZm9yLXRlc3Rz",
        None,
    ),
    ("slack", "bench-secret", None),
    ("shopify", "bench-secret", None),
    ("particle", "particle:bench-password", None),
    ("brightdata", "Bearer bench-token", None),
    ("bitbucket", "bench-secret", None),
    (
        "gitlab",
        "whsec_Z2l0bGFiLXNpZ25pbmctdG9rZW4tMzItYnl0ZXMhISE=",
        None,
    ),
    ("linear", "bench-secret", None),
    ("intercom", "bench-secret", None),
    ("typeform", "bench-secret", None),
    ("paddle", "pdl_ntfset_bench", None),
    ("zoom", "bench-secret", None),
    ("mailgun", "bench-secret", None),
    (
        "square",
        "bench-secret",
        Some("https://hooks.example.com/hooks/square"),
    ),
    (
        "twilio",
        "bench-secret",
        Some("https://hooks.example.com/hooks/twilio"),
    ),
];

fn json_body(size: usize) -> Vec<u8> {
    // `webhookTimestamp`: Linear's signed freshness field (unix ms at the bench's `now`).
    let head = r#"{"webhookTimestamp":1800000000000,"sender":{"login":"octocat"},"repository":{"full_name":"o/r"},"pad":""#;
    let mut body = head.as_bytes().to_vec();
    body.resize(size.saturating_sub(2).max(head.len()), b'x');
    body.extend_from_slice(b"\"}");
    body
}

struct Signed {
    preset: Preset,
    headers: HeaderMap,
    body: Vec<u8>,
    url: Option<String>,
    now: i64,
}

fn signed(provider: &str, secret: &str, public_url: Option<&str>, size: usize) -> Signed {
    let overrides = Overrides {
        public_url: public_url.map(str::to_owned),
        ..Overrides::default()
    };
    let preset = Preset::build(
        provider,
        &[SecretString::from(secret.to_owned())],
        &[],
        &overrides,
    )
    .unwrap_or_else(|e| panic!("{provider} builds: {e}"));
    let now = 1_800_000_000;
    let outbound = preset
        .sign_request(json_body(size), now, "bench-event-1")
        .unwrap_or_else(|e| panic!("{provider} signs: {e}"));
    let mut headers = HeaderMap::new();
    for (name, value) in &outbound.headers {
        headers.insert(
            HeaderName::clone(name),
            HeaderValue::from_str(value).expect("a signer writes valid header values"),
        );
    }
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let url = public_url.map(|url| match &outbound.query {
        Some(query) => format!("{url}?{query}"),
        None => url.to_owned(),
    });
    Signed {
        preset,
        headers,
        body: outbound.body,
        url,
        now,
    }
}

fn verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    for size in [1024, 64 * 1024] {
        group.throughput(Throughput::Bytes(size as u64));
        for (provider, secret, url) in PRESETS {
            let s = signed(provider, secret, *url, size);
            let inbound = Inbound {
                headers: &s.headers,
                body: &s.body,
                url: s.url.as_deref(),
                now: s.now,
            };
            assert!(
                s.preset.verify(&inbound).is_ok(),
                "{provider}: its own signature verifies"
            );
            group.bench_with_input(BenchmarkId::new(*provider, size), &inbound, |b, inbound| {
                b.iter(|| s.preset.verify(black_box(inbound)))
            });
        }
    }
    group.finish();
}

fn payload_checks(c: &mut Criterion) {
    let schema_text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/github.json"))
            .expect("schemas/github.json");
    let document: serde_json::Value = serde_json::from_str(&schema_text).expect("schema JSON");
    let schema = payload::Schema::compile(&document).expect("schema compiles");
    let body = json_body(1024);
    c.bench_function("json parse 1 KiB (depth limit 64)", |b| {
        b.iter(|| payload::parse(BodyKind::Json, black_box(&body), 64))
    });
    let parsed = payload::parse(BodyKind::Json, &body, 64).expect("valid JSON");
    c.bench_function("schema check 1 KiB (github.json)", |b| {
        b.iter(|| schema.check(black_box(&parsed)))
    });
}

fn client_address(c: &mut Criterion) {
    let trusted: Vec<ipnet::IpNet> = ["10.0.0.0/8", "172.16.0.0/12"]
        .iter()
        .map(|net| net.parse().expect("CIDR"))
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_static("203.0.113.9, 198.51.100.7, 10.1.2.3"),
    );
    headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    let peer: IpAddr = "172.16.0.10".parse().expect("IP");
    c.bench_function("client ip through 2 trusted hops", |b| {
        b.iter(|| client_ip::resolve(black_box(peer), black_box(&headers), &trusted))
    });
}

fn store_batch(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn Store> = Arc::new(
        runtime
            .block_on(SqliteStore::open(&dir.path().join("bench.db")))
            .expect("store opens"),
    );
    let body = Bytes::from(json_body(1024));
    // The proof the store asks for, from a GitHub request its preset verified.
    let github = signed("github", "bench-secret", None, 1024);
    let verified = github
        .preset
        .authenticate(&Inbound {
            headers: &github.headers,
            body: &github.body,
            url: None,
            now: github.now,
        })
        .expect("a signed request verifies");
    let proof = Authenticated::new("github".into(), IpAddr::from([192, 0, 2, 1]), verified);
    let mut n = 0u64;
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(64));
    group.bench_function("64 concurrent inserts, synchronous=FULL", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..64 {
                    n += 1;
                    let store = store.clone();
                    let event = NewEvent::new(
                        &proof,
                        format!("id:bench-{n}"),
                        None,
                        Some("application/json".into()),
                        Vec::new(),
                        body.clone(),
                        vec!["github-0".into()],
                    );
                    tasks.spawn(async move { store.insert(event).await });
                }
                while let Some(done) = tasks.join_next().await {
                    assert!(matches!(done, Ok(Ok(_))), "insert failed");
                }
            })
        })
    });
    group.finish();
    runtime.block_on(store.close());
}

criterion_group!(benches, verify, payload_checks, client_address, store_batch);
criterion_main!(benches);
