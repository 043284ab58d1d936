//! Verification handshakes over HTTP: answered, authenticated, and never stored.

use hmac::{KeyInit, Mac};
use hookwall::providers::{Overrides, Preset};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{TestApp, json, spawn_app, stored_in, toml_str, vectors};

fn signed_now(provider: &str, secret: &str, body: &[u8]) -> Vec<(String, String)> {
    Preset::build(
        provider,
        &[SecretString::from(secret.to_owned())],
        &[],
        &Overrides::default(),
    )
    .expect("preset builds")
    .sign(body, hookwall::clock::unix_now(), "hs-1")
    .expect("signs")
    .into_iter()
    .map(|(k, v)| (k.as_str().to_owned(), v))
    .collect()
}

async fn post(
    app: &TestApp,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> reqwest::Response {
    let mut all: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.push(("content-type", "application/json"));
    app.post(path, &all, body.to_vec()).await
}

#[tokio::test]
async fn slack_zoom_and_discord_handshakes_are_answered_only_when_signed_and_never_stored() {
    let discord = vectors("discord").remove(0);
    let discord_key = discord.public_key.clone().expect("discord public key");
    let sources = format!(
        "[sources.slack]\nprovider = \"slack\"\nsecrets = [\"slack-signing\"]\n\n\
         [sources.zoom]\nprovider = \"zoom\"\nsecrets = [\"zoom-secret-token\"]\n\n\
         [sources.discord]\nprovider = \"discord\"\npublic_keys = [{}]\n",
        toml_str(&discord_key)
    );
    let mut app = spawn_app(&sources).await;

    let body = br#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let response = post(
        &app,
        "/hooks/slack",
        &signed_now("slack", "slack-signing", body),
        body,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        json(response).await,
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
    let forged = post(
        &app,
        "/hooks/slack",
        &signed_now("slack", "guess", body),
        body,
    )
    .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let response = post(
        &app,
        "/hooks/zoom",
        &signed_now("zoom", "zoom-secret-token", body),
        body,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"zoom-secret-token").expect("key");
    mac.update(b"qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        json(response).await,
        json!({"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": hex::encode(mac.finalize().into_bytes())})
    );

    let response = app
        .post("/hooks/discord", &discord.headers(), discord.body.clone())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response).await, json!({"type": 1}));
    // Discord's deliberate bad-signature probe must get 401.
    let mut probe = discord.headers();
    let zeros = "00".repeat(64);
    probe.retain(|(k, _)| !k.eq_ignore_ascii_case("x-signature-ed25519"));
    probe.push(("x-signature-ed25519", zeros.as_str()));
    let response = app
        .post("/hooks/discord", &probe, discord.body.clone())
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    assert!(
        stored_in(&app.db_path).await.is_empty(),
        "handshakes are not events"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_hub_challenge_is_echoed_only_for_the_right_verify_token() {
    let sources = "[sources.meta]\nprovider = \"hmac\"\nsignature_header = \"x-hub-signature-256\"\n\
                   prefix = \"sha256=\"\nsecrets = [\"app-secret\"]\nverify_token = \"meta-verify-token\"\n\n\
                   [sources.plain]\nprovider = \"token\"\nsecrets = [\"Bearer t\"]\n";
    let mut app = spawn_app(sources).await;
    let get = |path: &str| app.client.get(app.url(path)).send();
    let ok = get("/hooks/meta?hub.mode=subscribe&hub.verify_token=meta-verify-token&hub.challenge=1158201444")
        .await
        .expect("sent");
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.expect("text"), "1158201444");
    let wrong =
        get("/hooks/meta?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444")
            .await
            .expect("sent");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(!wrong.text().await.expect("text").contains("1158201444"));
    let injected = get("/hooks/meta?hub.mode=subscribe&hub.verify_token=meta-verify-token&hub.challenge=%3Cscript%3E%20x")
        .await
        .expect("sent");
    assert_eq!(injected.status(), StatusCode::BAD_REQUEST);
    let no_token = get("/hooks/plain?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1")
        .await
        .expect("sent");
    assert_eq!(no_token.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(stored_in(&app.db_path).await.is_empty());
    app.stop().await;
}
