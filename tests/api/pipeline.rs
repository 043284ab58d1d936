//! Every status code of SPEC section 1, over real HTTP.

use std::time::Duration;

use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use sha2::Sha256;

use crate::helpers::{json, schemas_dir, spawn_app, spawn_app_with, stored_in, unsigned_id_key};

const SECRET: &str = "pipeline-test-secret";

fn github_source(extra: &str) -> String {
    format!("[sources.github]\nprovider = \"github\"\nsecrets = [\"{SECRET}\"]\n{extra}\n")
}

fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn github_headers<'a>(signature: &'a str, delivery: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("content-type", "application/json"),
        ("x-hub-signature-256", signature),
        ("x-github-delivery", delivery),
        ("x-github-event", "push"),
    ]
}

#[tokio::test]
async fn a_signed_webhook_is_answered_202_with_its_event_id_and_stored() {
    let mut app = spawn_app(&github_source("")).await;
    let body = br#"{"action":"opened","number":1}"#;
    let signature = github_signature(SECRET, body);

    let response = app
        .post(
            "/hooks/github",
            &github_headers(&signature, "d-1"),
            body.to_vec(),
        )
        .await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(response.headers().contains_key("x-request-id"));
    assert!(!response.headers().contains_key("server"));
    let answer = json(response).await;
    assert_eq!(answer["status"], "accepted");
    let id = answer["id"].as_str().expect("id is a string");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    app.stop().await;
    let stored = stored_in(&app.db_path).await;
    assert_eq!(
        stored,
        vec![(
            "github".to_owned(),
            unsigned_id_key("d-1", body),
            body.to_vec()
        )]
    );
}

#[tokio::test]
async fn a_duplicate_delivery_id_is_acknowledged_200_but_stored_once() {
    let mut app = spawn_app(&github_source("")).await;
    let body = br#"{"n":1}"#;
    let signature = github_signature(SECRET, body);

    let first = json(
        app.post(
            "/hooks/github",
            &github_headers(&signature, "dup-1"),
            body.to_vec(),
        )
        .await,
    )
    .await;
    let again = app
        .post(
            "/hooks/github",
            &github_headers(&signature, "dup-1"),
            body.to_vec(),
        )
        .await;

    assert_eq!(again.status(), StatusCode::OK);
    let again = json(again).await;
    assert_eq!(again["status"], "duplicate");
    assert_eq!(again["id"], first["id"]);
    app.stop().await;
    assert_eq!(stored_in(&app.db_path).await.len(), 1);
}

#[tokio::test]
async fn concurrent_copies_of_one_event_are_stored_exactly_once() {
    let mut app = spawn_app(&github_source("")).await;
    let mut statuses = Vec::new();
    for round in 0..20 {
        let body = format!(r#"{{"round":{round}}}"#);
        let signature = github_signature(SECRET, body.as_bytes());
        let delivery = format!("race-{round}");
        let headers = github_headers(&signature, &delivery);
        let (a, b) = tokio::join!(
            app.post("/hooks/github", &headers, body.clone()),
            app.post("/hooks/github", &headers, body.clone())
        );
        let mut pair = [a.status().as_u16(), b.status().as_u16()];
        pair.sort_unstable();
        statuses.push(pair);
    }
    assert!(
        statuses.iter().all(|pair| *pair == [200, 202]),
        "{statuses:?}"
    );
    app.stop().await;
    assert_eq!(stored_in(&app.db_path).await.len(), 20);
}

#[tokio::test]
async fn a_bad_signature_is_401_problem_json_that_names_only_the_category() {
    let mut app = spawn_app(&github_source("")).await;
    let body = br#"{"n":1}"#;
    let signature = github_signature("some-other-secret", body);

    let response = app
        .post(
            "/hooks/github",
            &github_headers(&signature, "bad-1"),
            body.to_vec(),
        )
        .await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers().get("connection").is_none(),
        "the body was read: the connection stays open"
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let problem = json(response).await;
    assert_eq!(problem["status"], 401);
    assert_eq!(problem["title"], "Unauthorized");
    assert_eq!(problem["detail"], "invalid signature");
    assert_eq!(problem["request_id"], request_id.as_str());
    let text = problem.to_string();
    assert!(!text.contains(SECRET) && !text.contains("tried"), "{text}");
    app.stop().await;
    assert!(stored_in(&app.db_path).await.is_empty());
}

#[tokio::test]
async fn a_flipped_body_byte_is_401() {
    let mut app = spawn_app(&github_source("")).await;
    let signature = github_signature(SECRET, br#"{"amount":100}"#);
    let response = app
        .post(
            "/hooks/github",
            &github_headers(&signature, "flip"),
            br#"{"amount":900}"#.to_vec(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn a_request_id_sent_by_the_client_is_echoed_and_one_is_made_otherwise() {
    let mut app = spawn_app(&github_source("")).await;
    let mine = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(mine.status(), StatusCode::OK);
    assert_eq!(mine.headers()["x-request-id"], "abc-123");
    let made = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(made.headers()["x-request-id"].len(), 36);
    app.stop().await;
}

#[tokio::test]
async fn a_stored_event_carries_the_request_id_of_its_answer() {
    let mut app = spawn_app(&github_source("")).await;
    let body = br#"{"n":1}"#;
    let signature = github_signature(SECRET, body);
    let mut stored_ids = Vec::new();
    for (delivery, sent) in [("rid-1", None), ("rid-2", Some("client-chosen-7"))] {
        let mut headers = github_headers(&signature, delivery);
        headers.extend(sent.map(|id| ("x-request-id", id)));
        let response = app.post("/hooks/github", &headers, body.to_vec()).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let answered = response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        if let Some(sent) = sent {
            assert_eq!(answered, sent);
        }
        let id = json(response).await["id"].as_str().expect("id").to_owned();
        let event = json(app.admin_get(&format!("/admin/events/{id}")).await).await;
        assert_eq!(event["request_id"], answered.as_str(), "{event}");
        stored_ids.push(answered);
    }
    assert_ne!(stored_ids[0], stored_ids[1]);
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_source_is_404_with_the_body_of_any_404() {
    let mut app = spawn_app(&github_source("")).await;
    let unknown = app
        .post("/hooks/nope", &[("content-type", "application/json")], "{}")
        .await;
    let elsewhere = app
        .post("/elsewhere", &[("content-type", "application/json")], "{}")
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    let (mut a, mut b) = (json(unknown).await, json(elsewhere).await);
    a.as_object_mut().expect("object").remove("request_id");
    b.as_object_mut().expect("object").remove("request_id");
    assert_eq!(a, b);
    app.stop().await;
}

#[tokio::test]
async fn a_get_on_a_webhook_route_is_405_with_allow_post() {
    let mut app = spawn_app(&github_source("")).await;
    let response = app
        .client
        .get(app.url("/hooks/github"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    app.stop().await;
}

#[tokio::test]
async fn a_content_type_the_provider_never_sends_is_415() {
    let mut app = spawn_app(&github_source("")).await;
    let body = b"<xml/>";
    let signature = github_signature(SECRET, body);
    let response = app
        .post(
            "/hooks/github",
            &[
                ("content-type", "application/xml"),
                ("x-hub-signature-256", &signature),
            ],
            body.to_vec(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_413_whether_declared_or_chunked() {
    let mut app = spawn_app(&github_source("max_body_bytes = \"1KiB\"")).await;
    let big = vec![b' '; 4096];
    let signature = github_signature(SECRET, &big);
    let declared = app
        .post(
            "/hooks/github",
            &github_headers(&signature, "big"),
            big.clone(),
        )
        .await;
    assert_eq!(declared.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // No Content-Length: the body streams in chunks and passes the cap midway.
    let chunks =
        futures_util::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b' '; 512])));
    let chunked = app
        .client
        .post(app.url("/hooks/github"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", &signature)
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("sent");
    assert_eq!(chunked.status(), StatusCode::PAYLOAD_TOO_LARGE);
    app.stop().await;
    assert!(stored_in(&app.db_path).await.is_empty());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("in-memory");
    encoder.finish().expect("in-memory")
}

#[tokio::test]
async fn a_gzip_bomb_is_413_and_broken_gzip_is_400() {
    let mut app = spawn_app(&github_source("max_body_bytes = \"64KiB\"")).await;
    let bomb = gzip(&vec![b' '; 32 * 1024 * 1024]);
    assert!(bomb.len() < 64 * 1024);
    let response = app
        .post(
            "/hooks/github",
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            bomb,
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let response = app
        .post(
            "/hooks/github",
            &[
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            b"\x1f\x8bnot gzip".to_vec(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

/// The credential of a token source is a header: it is checked before the body is read, so a
/// client without it gets 401 whatever it sends, and never makes the gateway read a body past
/// the cap or inflate a bomb (which would have answered 413 after the work).
#[tokio::test]
async fn a_header_credential_is_checked_before_the_body_is_read_or_inflated() {
    let mut app = spawn_app(
        "[sources.brightdata]\nprovider = \"brightdata\"\nsecrets = [\"Bearer good-token\"]\nmax_body_bytes = \"1KiB\"\n",
    )
    .await;
    let bomb = gzip(&vec![0u8; 512 * 1024]);
    assert!(bomb.len() < 1024, "the bomb fits under the cap compressed");
    let far_over_the_cap = vec![b'x'; 256 * 1024];
    for (name, body) in [("bomb", bomb.clone()), ("oversized", far_over_the_cap)] {
        for credential in [None, Some("Bearer wrong-token")] {
            let mut headers = vec![("content-type", "application/json")];
            headers.extend(credential.map(|c| ("authorization", c)));
            let response = app.post("/hooks/brightdata", &headers, body.clone()).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{name} with credential {credential:?}"
            );
        }
    }
    // With the credential, the cap still holds: the same bomb is 413.
    let response = app
        .post(
            "/hooks/brightdata",
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer good-token"),
            ],
            bomb,
        )
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // And a good gzip delivery is inflated and stored.
    let response = app
        .post(
            "/hooks/brightdata",
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer good-token"),
            ],
            gzip(br#"{"snapshot_id":"s_1"}"#),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.stop().await;
    let stored = stored_in(&app.db_path).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].2, br#"{"snapshot_id":"s_1"}"#.to_vec());
}

#[tokio::test]
async fn a_gzip_body_is_verified_and_stored_inflated() {
    let mut app = spawn_app(&github_source("")).await;
    let body = br#"{"zipped":true}"#;
    let signature = github_signature(SECRET, body);
    let mut headers = github_headers(&signature, "gz-1");
    headers.push(("content-encoding", "gzip"));
    let response = app.post("/hooks/github", &headers, gzip(body)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.stop().await;
    assert_eq!(stored_in(&app.db_path).await[0].2, body.to_vec());
}

#[tokio::test]
async fn invalid_or_absurdly_nested_json_is_400_after_a_valid_signature() {
    let mut app = spawn_app(&github_source("")).await;
    for (i, body) in [
        b"{not json".to_vec(),
        ("[".repeat(100_000) + &"]".repeat(100_000)).into_bytes(),
        b"{\"a\":\"\xff\"}".to_vec(),
    ]
    .into_iter()
    .enumerate()
    {
        let signature = github_signature(SECRET, &body);
        let delivery = format!("bad-json-{i}");
        let response = app
            .post(
                "/hooks/github",
                &github_headers(&signature, &delivery),
                body,
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "case {i}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_payload_that_breaks_the_schema_is_422() {
    let schema = schemas_dir().join("github-push.json");
    let mut app = spawn_app(&github_source(&format!(
        "schema = {:?}",
        schema.display().to_string()
    )))
    .await;
    let body = br#"{"ref":"refs/heads/main"}"#;
    let signature = github_signature(SECRET, body);
    let response = app
        .post(
            "/hooks/github",
            &github_headers(&signature, "schema-1"),
            body.to_vec(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem = json(response).await;
    assert_eq!(problem["detail"], "payload does not match the schema");
    app.stop().await;
}

#[tokio::test]
async fn a_client_outside_allow_ips_is_403_and_x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    // The test client is 127.0.0.1, which is not a trusted proxy here.
    let mut app = spawn_app_with(
        "trusted_proxies = [\"10.0.0.0/8\"]",
        &github_source("allow_ips = [\"192.30.252.0/22\"]"),
    )
    .await;
    let body = br#"{"n":1}"#;
    let signature = github_signature(SECRET, body);
    let mut headers = github_headers(&signature, "ip-1");
    headers.push(("x-forwarded-for", "192.30.252.10"));
    let response = app.post("/hooks/github", &headers, body.to_vec()).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Refused before the body was read: the connection is closed, never reused.
    assert_eq!(response.headers()["connection"], "close");
    assert_eq!(json(response).await["detail"], "client address not allowed");
    app.stop().await;
}

#[tokio::test]
async fn a_trusted_proxy_s_x_forwarded_for_names_the_client_for_the_allowlist() {
    let mut app = spawn_app_with(
        "trusted_proxies = [\"127.0.0.1/32\"]",
        &github_source("allow_ips = [\"192.30.252.0/22\", \"2606:50c0::/32\"]"),
    )
    .await;
    let body = br#"{"n":1}"#;
    let signature = github_signature(SECRET, body);
    let cases = [
        ("192.30.252.10", "allowed-v4", StatusCode::ACCEPTED),
        ("2606:50c0::1", "allowed-v6", StatusCode::ACCEPTED),
        ("203.0.113.5", "denied", StatusCode::FORBIDDEN),
        // A client that prepends an allowed address: the proxy appended the real one.
        (
            "192.30.252.10, 203.0.113.5",
            "spoofed",
            StatusCode::FORBIDDEN,
        ),
    ];
    for (xff, delivery, expected) in cases {
        let mut headers = github_headers(&signature, delivery);
        headers.push(("x-forwarded-for", xff));
        let response = app.post("/hooks/github", &headers, body.to_vec()).await;
        assert_eq!(response.status(), expected, "X-Forwarded-For: {xff}");
    }
    app.stop().await;
}

#[tokio::test]
async fn require_https_believes_x_forwarded_proto_only_from_a_trusted_proxy() {
    let sources = github_source("");
    let mut trusted = spawn_app_with(
        "require_https = true\ntrusted_proxies = [\"127.0.0.1/32\"]",
        &sources,
    )
    .await;
    let body = br#"{"n":1}"#;
    let signature = github_signature(SECRET, body);
    let plain = trusted
        .post(
            "/hooks/github",
            &github_headers(&signature, "h-1"),
            body.to_vec(),
        )
        .await;
    assert_eq!(plain.status(), StatusCode::FORBIDDEN);
    let mut headers = github_headers(&signature, "h-2");
    headers.push(("x-forwarded-proto", "https"));
    let https = trusted.post("/hooks/github", &headers, body.to_vec()).await;
    assert_eq!(https.status(), StatusCode::ACCEPTED);
    trusted.stop().await;

    let mut untrusted = spawn_app_with(
        "require_https = true\ntrusted_proxies = [\"10.0.0.0/8\"]",
        &sources,
    )
    .await;
    let claimed = untrusted
        .post("/hooks/github", &headers, body.to_vec())
        .await;
    assert_eq!(claimed.status(), StatusCode::FORBIDDEN);
    untrusted.stop().await;
}

#[tokio::test]
async fn past_the_burst_a_client_gets_429_with_a_retry_after_of_at_least_one_second() {
    let mut app = spawn_app(&github_source("rate_limit = { per_second = 1, burst = 2 }")).await;
    let body = br#"{"n":1}"#;
    let signature = github_signature(SECRET, body);
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..4 {
        let delivery = format!("rl-{i}");
        let response = app
            .post(
                "/hooks/github",
                &github_headers(&signature, &delivery),
                body.to_vec(),
            )
            .await;
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().expect("ascii").to_owned());
        }
    }
    assert_eq!(&statuses[..2], &[202, 202]);
    assert_eq!(statuses[3], 429);
    let retry_after: u64 = retry_after
        .expect("Retry-After on 429")
        .parse()
        .expect("whole seconds");
    assert!(retry_after >= 1);
    app.stop().await;
}

/// An IPv6 client has its whole /64 to pick addresses from: ten addresses of one /64 are one
/// client for the rate limit (`server.client_prefix`, ipv6 = 64 by default), and an address of
/// another /64 has its own bucket. The addresses reach the server from a trusted proxy.
#[tokio::test]
async fn ten_addresses_of_one_ipv6_64_share_one_rate_limit_bucket() {
    let mut app = spawn_app_with(
        "trusted_proxies = [\"127.0.0.1/32\"]",
        &github_source("rate_limit = { per_second = 1, burst = 3 }"),
    )
    .await;
    let body = br#"{"n":1}"#;
    let signature = github_signature(SECRET, body);
    let mut statuses = Vec::new();
    for i in 0..10 {
        let client = format!("2001:db8:1:2:{:x}::{:x}", i * 4099 + 1, i + 7);
        let delivery = format!("v6-{i}");
        let mut headers = github_headers(&signature, &delivery);
        headers.push(("x-forwarded-for", &client));
        let response = app.post("/hooks/github", &headers, body.to_vec()).await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..3], &[202, 202, 202], "{statuses:?}");
    assert!(
        statuses[3..].iter().filter(|s| **s == 429).count() >= 6,
        "the /64 is one client past its burst: {statuses:?}"
    );
    let mut headers = github_headers(&signature, "v6-other");
    headers.push(("x-forwarded-for", "2001:db8:1:3::1"));
    let response = app.post("/hooks/github", &headers, body.to_vec()).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "another /64");
    app.stop().await;
}

/// `client_prefix` widens or narrows what one client is: with ipv4 = 24, two addresses of one
/// /24 share a bucket.
#[tokio::test]
async fn client_prefix_sets_what_one_client_is() {
    let mut app = spawn_app_with(
        "trusted_proxies = [\"127.0.0.1/32\"]\nclient_prefix = { ipv4 = 24, ipv6 = 128 }",
        &github_source("rate_limit = { per_second = 1, burst = 1 }"),
    )
    .await;
    let body = br#"{"n":2}"#;
    let signature = github_signature(SECRET, body);
    let mut statuses = Vec::new();
    for (i, client) in [
        "198.51.100.1",
        "198.51.100.200",
        "2001:db8::1",
        "2001:db8::2",
    ]
    .iter()
    .enumerate()
    {
        let delivery = format!("p-{i}");
        let mut headers = github_headers(&signature, &delivery);
        headers.push(("x-forwarded-for", client));
        statuses.push(
            app.post("/hooks/github", &headers, body.to_vec())
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses[1], 429, "one /24: {statuses:?}");
    assert_eq!(
        statuses[3], 202,
        "IPv6 /128: every address its own client: {statuses:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn past_max_in_flight_the_gateway_sheds_load_with_503_and_retry_after() {
    let mut app = spawn_app_with("max_in_flight = 1", &github_source("")).await;
    // Hold the only slot with a body that never finishes.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(b"{".to_vec())).await.expect("channel open");
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let slow = app
        .client
        .post(app.url("/hooks/github"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", "sha256=00")
        .body(reqwest::Body::wrap_stream(stream))
        .send();
    let slow = tokio::spawn(slow);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let shed = app
        .post(
            "/hooks/github",
            &[("content-type", "application/json")],
            "{}",
        )
        .await;
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_eq!(json(shed).await["title"], "Service Unavailable");
    drop(tx);
    let _ = slow.await;
    app.stop().await;
}

/// Another process's connection to the store's file, holding its write lock until
/// [`release_write_lock`].
async fn hold_write_lock(db_path: &std::path::Path) -> sqlx::SqliteConnection {
    use sqlx::Connection;
    let mut locker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .expect("open db");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut locker)
        .await
        .expect("lock");
    locker
}

async fn release_write_lock(mut locker: sqlx::SqliteConnection) {
    sqlx::query("ROLLBACK")
        .execute(&mut locker)
        .await
        .expect("unlock");
}

#[tokio::test]
async fn when_the_store_cannot_write_the_answer_is_503_and_readyz_says_not_ready() {
    let mut app = spawn_app(&github_source("")).await;
    assert_eq!(
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("sent")
            .status(),
        StatusCode::OK
    );
    // Another process holds the database's write lock longer than the busy timeout.
    let locker = hold_write_lock(&app.db_path).await;

    let body = br#"{"n":1}"#;
    let signature = github_signature(SECRET, body);
    let response = app
        .post(
            "/hooks/github",
            &github_headers(&signature, "locked"),
            body.to_vec(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    release_write_lock(locker).await;
    // The provider's retry now succeeds: the refusal lost nothing.
    let retried = app
        .post(
            "/hooks/github",
            &github_headers(&signature, "locked"),
            body.to_vec(),
        )
        .await;
    assert_eq!(retried.status(), StatusCode::ACCEPTED);
    app.stop().await;
    assert_eq!(stored_in(&app.db_path).await.len(), 1);
}

#[tokio::test]
async fn while_another_process_holds_the_lock_every_waiting_webhook_gets_503_not_a_timeout() {
    let mut app = spawn_app(&github_source("")).await;
    let locker = hold_write_lock(&app.db_path).await;

    // Webhooks arriving together share the writer's batches. Each one waits for the lock at
    // most the store's busy wait (5 s) from when it was queued, so all are refused 503 well
    // before the 10 s request timeout: waiting once per statement, the third of a batch would
    // have waited 15 s and been cut off with 408 instead.
    let body = br#"{"n":1}"#;
    let signature = github_signature(SECRET, body);
    let deliveries: Vec<String> = (0..4).map(|i| format!("locked-{i}")).collect();
    let headers: Vec<_> = deliveries
        .iter()
        .map(|delivery| github_headers(&signature, delivery))
        .collect();
    let responses = futures_util::future::join_all(
        headers
            .iter()
            .map(|headers| app.post("/hooks/github", headers, body.to_vec())),
    )
    .await;
    for response in &responses {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
    }

    release_write_lock(locker).await;
    // Nothing refused was stored, and the retries now succeed.
    for delivery in &deliveries {
        let retried = app
            .post(
                "/hooks/github",
                &github_headers(&signature, delivery),
                body.to_vec(),
            )
            .await;
        assert_eq!(retried.status(), StatusCode::ACCEPTED);
    }
    app.stop().await;
    assert_eq!(stored_in(&app.db_path).await.len(), deliveries.len());
}

#[tokio::test]
async fn the_sqlite_file_holds_exactly_the_accepted_events_after_the_server_stops() {
    let mut app = spawn_app(&github_source("")).await;
    let mut accepted = Vec::new();
    for i in 0..30 {
        let body = format!(r#"{{"i":{i}}}"#);
        let good = github_signature(SECRET, body.as_bytes());
        let bad = github_signature("wrong", body.as_bytes());
        let delivery = format!("mix-{i}");
        let signature = if i % 3 == 0 { &bad } else { &good };
        let response = app
            .post(
                "/hooks/github",
                &github_headers(signature, &delivery),
                body.clone(),
            )
            .await;
        if response.status() == StatusCode::ACCEPTED {
            accepted.push((
                "github".to_owned(),
                unsigned_id_key(&delivery, body.as_bytes()),
                body.into_bytes(),
            ));
        } else {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
    }
    app.stop().await;
    let mut stored = stored_in(&app.db_path).await;
    stored.sort();
    accepted.sort();
    assert_eq!(accepted.len(), 20);
    assert_eq!(stored, accepted);
}

#[tokio::test]
async fn health_endpoints_answer_on_the_public_listener() {
    let mut app = spawn_app(&github_source("")).await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(ready.status(), StatusCode::OK);
    app.stop().await;
}
