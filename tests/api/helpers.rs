//! `spawn_app()`: builds the gateway from a TOML config written to a temporary directory, binds
//! it to port 0 and serves it in the background until `stop()`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Once;

use hookwall::app::App;
use hookwall::config::Config;
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The admin token every test app has, unless the test's `[server]` lines set their own.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub struct TestApp {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub db_path: PathBuf,
    pub config_path: PathBuf,
    /// Kept so the directory (config and database) lives as long as the app.
    _dir: tempfile::TempDir,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

static LOGS: Once = Once::new();

/// The repository's `schemas/` directory, for configs that use the bundled schemas.
pub fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// Starts a gateway whose config is `[server]` on 127.0.0.1:0 (public and admin) plus
/// `extra_server` lines, a fresh SQLite file, and `sources` (TOML for `[sources.*]` tables).
/// The admin token is [`ADMIN_TOKEN`] unless `extra_server` mentions `admin_token` (a
/// `[[server.admin_tokens]]` table is not a mention: it adds to the default token).
pub async fn spawn_app_with(extra_server: &str, sources: &str) -> TestApp {
    LOGS.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            let _ = hookwall::telemetry::init_logging();
        }
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let db_path = dir.path().join("hookwall.db");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{token}{extra_server}\n\n[storage]\nurl = \"sqlite://{}\"\n\n{sources}\n",
        db_path.display(),
        token = if extra_server
            .replace("admin_tokens", "")
            .contains("admin_token")
        {
            String::new()
        } else {
            format!("admin_token = \"{ADMIN_TOKEN}\"\n")
        }
    );
    let config_path = dir.path().join("hookwall.toml");
    std::fs::write(&config_path, text).expect("write config");
    let config = Config::load(&config_path).unwrap_or_else(|e| panic!("test config invalid: {e}"));
    let app = App::build(config).await.expect("app builds");
    let addr = app.public_addr();
    let admin_addr = app.admin_addr();
    let (tx, rx) = oneshot::channel();
    let handle = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        admin_addr,
        db_path,
        config_path,
        _dir: dir,
        client: reqwest::Client::builder().build().expect("client"),
        shutdown: Some(tx),
        handle: Some(handle),
    }
}

pub async fn spawn_app(sources: &str) -> TestApp {
    spawn_app_with("", sources).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.admin_addr, path)
    }

    /// A GET on the admin listener with the admin token.
    pub async fn admin_get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.admin_url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("admin request sent")
    }

    /// A POST on the admin listener with the admin token and a JSON body.
    pub async fn admin_post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.admin_url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .expect("admin request sent")
    }

    /// Graceful shutdown, then the server task's result is checked.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("server task")
                .expect("server ran cleanly");
        }
    }
}

/// Every stored event, straight from the SQLite file: (source, dedup_key, body).
pub async fn stored_in(db: &Path) -> Vec<(String, String, Vec<u8>)> {
    let url = format!("sqlite://{}?mode=ro", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open db");
    sqlx::query_as::<_, (String, String, Vec<u8>)>(
        "SELECT source, dedup_key, body FROM events ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .expect("query events")
}

/// The dedup key of an event whose id the provider does not sign (GitHub's delivery id): the
/// id with the body's hash.
pub fn unsigned_id_key(id: &str, body: &[u8]) -> String {
    use sha2::Digest;
    format!("id:{id}|body:{}", hex::encode(sha2::Sha256::digest(body)))
}

pub async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("json body")
}

pub use crate::vectors::Vector;

/// The cases of `provider` its SDK says verify.
pub fn vectors(provider: &str) -> Vec<Vector> {
    crate::vectors::load(provider)
        .into_iter()
        .filter(|v| v.valid)
        .collect()
}

/// A TOML basic string holding `value` (escapes quotes and backslashes).
pub fn toml_str(value: &str) -> String {
    toml_escape(value)
}

fn toml_escape(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
