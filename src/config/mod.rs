//! The configuration: one TOML file read into typed values (SPEC section 4).
//!
//! Everything the gateway needs is parsed and checked here, once, so the rest of the crate never
//! re-validates a string: durations are [`Duration`]s, sizes are byte counts, CIDRs are
//! [`ipnet::IpNet`]s, URLs are [`url::Url`]s and secrets are [`SecretString`]s whose `Debug` says
//! `[REDACTED]`. [`Config::load`] reads the file and the process environment;
//! [`Config::from_str_with_env`] is the pure core the tests (and `hookwall check`) use.
//!
//! Loading never stops at the first mistake: every error found in one pass is returned in
//! [`ConfigErrors`], each naming the key's place (`sources.github.rate_limit.per_secnd`), its line
//! and the fix. No error and no warning ever contains a secret value.
//!
//! Choices made where the SPEC is silent:
//! - **Order.** [`Config::sources`] is in file order (the order of the `[sources.NAME]` headers).
//! - **Interpolation** runs on string *values* after TOML parsing, so a value containing `"` or a
//!   newline stays one value. `${VAR}` fails when `VAR` is unset (an empty `VAR` gives an empty
//!   string); `${VAR:-default}` uses the default when `VAR` is unset *or empty* (as POSIX shells
//!   do). `$${` writes a literal `${`; any other `$` is literal, so a password such as `pa$$word`
//!   written in the file stays as it is. A substituted value is never scanned again.
//!   Numbers and booleans may also be written as strings (`max_in_flight = "${MAX:-4096}"`).
//! - **Secret-bearing keys** (`secrets`, `public_keys`, `admin_token`, `signing_secret`, and
//!   `smtp_url` / `storage.url` when they carry a password) that fall back to a non-empty
//!   `:-default` add a warning naming the key and the variable to set, never the value.
//! - **Paths.** One rule: a relative `schema` and a relative `sqlite://` path are resolved
//!   against the directory of the config file (never the working directory), so a config finds
//!   the same files wherever the process starts; `sqlite:///abs/path` is absolute; `?options` are
//!   refused (the store sets its own). [`Config::load`] reads and compiles each schema file so a
//!   bad one is reported with the other errors; [`Config::from_str_with_env`] stays pure.
//! - **Presets** are built while loading (pure), so a preset's own errors come with the others,
//!   and a timestamp the signature does not cover is refused (see `scheme.rs`).
//! - **`[defaults]`** holds `timestamp_tolerance`, `rate_limit`, `allow_ips`, `max_body_bytes`,
//!   `accept_status`, `max_json_depth` and `dedup`. A source key replaces the default wholesale
//!   (lists and tables are not merged). Preset overrides (`signature_header`, …) are per source
//!   only: they mean something only next to their provider.
//! - **Key material (fail closed).** Every provider except `none` needs at least one non-empty
//!   secret; `standard-webhooks`/`svix` may use `public_keys` (`whpk_…`) instead, and the
//!   public-key-only providers (`discord`, `sendgrid`) need `public_keys`. `provider = "none"`
//!   needs a non-empty `allow_ips` that is not `0.0.0.0/0` or `::/0`, refuses `secrets` (they
//!   would protect nothing) and adds a warning.
//! - **Source paths** default to `/hooks/<name>`, must start with `/`, use only
//!   `A-Za-z0-9/._~-` (no `{}`/`*`, which the router would treat as parameters), have no empty,
//!   `.` or `..` segment, be unique, and may not be `/healthz` or `/readyz`.
//! - **Preset overrides** are checked for form only: header names are RFC 9110 tokens,
//!   `algorithm` is `sha256`/`sha512`/`sha1`, `encoding` is `hex`/`base64` (SPEC section 2),
//!   `public_url` is an absolute http(s) URL. Whether a preset accepts them is the preset's call.
//! - **`rate_limit`** needs `per_second`; `burst` defaults to `per_second`. Both are ≥ 1.
//! - **`max_json_depth`** is 1..=128 (serde_json refuses deeper documents anyway);
//!   `server.max_in_flight` is 1..=1,000,000 and `concurrency` 1..=100,000, so no value can make a
//!   semaphore panic. Durations are at most 100 years.
//! - **`mode = "proxy"`** needs exactly one destination, of type `http`: it is the one whose answer
//!   goes back to the provider.
//! - **Destinations.** `name` defaults to `<source>-<index>` with a 0-based index (the same index as
//!   in error places like `destinations[0]`); names match the source-name pattern and are unique
//!   within their source. `forward_headers` are lower-cased and may not name credentials
//!   (`authorization`, `proxy-authorization`, `cookie`, `x-gitlab-token`: they are redacted in the
//!   store), headers hookwall sets on the outgoing request (`host`, `content-length`,
//!   `transfer-encoding`, `connection`, `content-type`, which is always forwarded) or the
//!   `webhook-*` / `x-hookwall-source` headers it signs itself. An empty `signing_secret` is an error (remove the key
//!   to send unsigned). E-mail `timeout` defaults to 30s (SMTP handshakes are slow); `from`, `to`
//!   and `subject` may not contain line breaks (header injection).
//! - **Warnings** (not errors): `provider = "none"`; an `admin_token` under 16 characters; no
//!   `admin_token`; a secret with surrounding whitespace; `require_https` without
//!   `trusted_proxies` (every request would get 403); `trusted_proxies` containing `/0`; a source
//!   without destinations; no sources at all.
//! - **Messages** quote a value only when it was written in the file (cut to 40 characters); a
//!   value built from `${VAR}` is referred to by its variables' names, since an environment value
//!   may be a secret put under the wrong key. TOML syntax errors give line and column, never the
//!   line's text.
//! - **Secrets are verbatim.** Only empty entries are dropped; surrounding whitespace is kept but
//!   warned about (a trailing newline from a secrets file is the classic cause of 401s).
//!   `admin_token` must be one word of visible ASCII, since it is compared with a header.
//! - `Debug` of the model shows secrets as `[REDACTED]` and URLs with their password, and query
//!   values whose name looks like a credential, replaced by `***`.

mod files;
pub mod frontdoor;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
mod load;
mod scheme;
pub mod units;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;

pub use crate::providers::Overrides;

/// The whole configuration, as loaded from one file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (as given; used to resolve `schema` paths and to reload).
    pub path: PathBuf,
    pub server: Server,
    pub storage: Storage,
    /// In file order (the order of the `[sources.NAME]` headers).
    pub sources: Vec<Source>,
    /// Things that load but deserve an operator's attention; log each one at WARN at start-up.
    pub warnings: Vec<String>,
}

impl Config {
    /// Reads `path` and interpolates `${VAR}` from the process environment.
    ///
    /// A variable whose value is not valid UTF-8 counts as unset.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            ConfigErrors(vec![ConfigError {
                place: path.display().to_string(),
                line: None,
                kind: ConfigErrorKind::Read(source),
            }])
        })?;
        load::parse(
            &text,
            path,
            &|name| std::env::var(name).ok(),
            Some(&files::read_schema),
        )
    }

    /// Parses `text` as if read from `path`, taking `${VAR}` values from `env`. Pure: no file
    /// system, no process environment.
    pub fn from_str_with_env(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        load::parse(text, path, env, None)
    }

    /// The source called `name`, if any.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// `[server]`: the listeners and the limits that hold for every request.
#[derive(Debug, Clone)]
pub struct Server {
    /// Public listener (`host:port`): `/hooks/*`, `/healthz`, `/readyz`.
    pub listen: String,
    /// Operators' listener (`host:port`): `/metrics`, `/admin/*`.
    pub admin_listen: String,
    /// Bearer token for `/admin/*`; never empty when present.
    pub admin_token: Option<SecretString>,
    /// Peers whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed. Empty by default: no
    /// header is trusted until the operator names the proxy.
    pub trusted_proxies: Vec<IpNet>,
    pub require_https: bool,
    /// Default body limit of every source.
    pub max_body_bytes: u64,
    /// Header and body read timeout.
    pub request_timeout: Duration,
    /// Global concurrency limit; above it requests are shed with 503.
    pub max_in_flight: usize,
    /// How long in-flight requests may run after SIGTERM. Zero means: do not wait.
    pub shutdown_timeout: Duration,
    /// How addresses are grouped into one client ([`frontdoor`]).
    pub client_prefix: frontdoor::ClientPrefix,
    /// Requests one client may have in flight; `None`: [`frontdoor::default_per_client`].
    pub max_in_flight_per_client: Option<usize>,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: "0.0.0.0:8080".to_owned(),
            admin_listen: "127.0.0.1:9091".to_owned(),
            admin_token: None,
            trusted_proxies: Vec::new(),
            require_https: false,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            max_in_flight: 4096,
            shutdown_timeout: Duration::from_secs(30),
            client_prefix: frontdoor::ClientPrefix::default(),
            max_in_flight_per_client: None,
        }
    }
}

/// `[storage]`.
#[derive(Debug, Clone)]
pub struct Storage {
    pub url: StoreUrl,
    /// Delivered events' bodies are purged after this long.
    pub retention: Duration,
    /// Dedup keys are kept this long, even after the body is purged.
    pub dedup_window: Duration,
    /// How long a delivery worker holds a claim before any instance may take the delivery over.
    pub lease: Duration,
    /// PostgreSQL connection pool size per instance (ignored by SQLite).
    pub max_connections: u32,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            url: StoreUrl::Sqlite(PathBuf::from("./data/hookwall.db")),
            retention: Duration::from_secs(7 * 86_400),
            dedup_window: Duration::from_secs(7 * 86_400),
            lease: Duration::from_secs(300),
            max_connections: 10,
        }
    }
}

/// Where events are stored.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite://PATH`: the file path after `sqlite://`, a relative one already resolved against
    /// the config file's directory.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`, verbatim (it may hold a password: `Debug` redacts it).
    Postgres(String),
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            StoreUrl::Postgres(url) => f
                .debug_tuple("Postgres")
                .field(&redact_str_url(url))
                .finish(),
        }
    }
}

/// `[sources.NAME]`: one webhook route and what happens to its events.
#[derive(Debug, Clone)]
pub struct Source {
    /// Matches `[a-z0-9][a-z0-9_-]*`.
    pub name: String,
    /// Route path; `/hooks/<name>` unless `path` is set.
    pub path: String,
    /// One of `crate::providers::KNOWN`.
    pub provider: String,
    /// Active secrets, oldest or newest in any order (rotation); empty entries dropped.
    pub secrets: Vec<SecretString>,
    /// For public-key providers (`whpk_…`); empty entries dropped.
    pub public_keys: Vec<String>,
    pub allow_ips: Vec<IpNet>,
    pub rate_limit: Option<RateLimit>,
    /// JSON Schema file, already resolved against the config file's directory.
    pub schema: Option<PathBuf>,
    /// Preset parameters set on the source (and `timestamp_tolerance` from `[defaults]`).
    pub overrides: Overrides,
    /// 200..=299; 202 by default.
    pub accept_status: u16,
    pub max_body_bytes: u64,
    pub max_json_depth: usize,
    pub mode: Mode,
    pub dedup: DedupMode,
    pub destinations: Vec<Destination>,
    /// Answers Meta-style `GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`
    /// subscription checks when set (compared in constant time).
    pub verify_token: Option<SecretString>,
}

/// Per (source, client IP) token bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second, ≥ 1.
    pub per_second: u32,
    /// Bucket size, ≥ 1 (defaults to `per_second`).
    pub burst: u32,
}

/// `mode`: how a source answers the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// `"queue"`: store, answer `accept_status`, deliver later.
    #[default]
    Queue,
    /// `"proxy"`: store, forward synchronously, return the destination's answer.
    Proxy,
}

/// `dedup`: what de-duplication is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DedupMode {
    /// `"provider"`: the provider's event id (a body hash when it has none).
    #[default]
    Provider,
    /// `"body"`: a hash of the body, for providers whose id is not signed.
    Body,
}

/// `[[sources.NAME.destinations]]`.
#[derive(Debug, Clone)]
pub enum Destination {
    Http(HttpDestination),
    Email(EmailDestination),
}

impl Destination {
    pub fn name(&self) -> &str {
        match self {
            Destination::Http(d) => &d.name,
            Destination::Email(d) => &d.name,
        }
    }

    pub fn retry(&self) -> &Retry {
        match self {
            Destination::Http(d) => &d.retry,
            Destination::Email(d) => &d.retry,
        }
    }

    pub fn timeout(&self) -> Duration {
        match self {
            Destination::Http(d) => d.timeout,
            Destination::Email(d) => d.timeout,
        }
    }
}

/// `type = "http"` (the default).
#[derive(Clone)]
pub struct HttpDestination {
    /// `name`, or `<source>-<index>` (0-based).
    pub name: String,
    /// http or https.
    pub url: url::Url,
    /// Standard Webhooks key the forwarded request is signed with.
    pub signing_secret: Option<SecretString>,
    /// Per attempt; 10s by default.
    pub timeout: Duration,
    pub retry: Retry,
    /// Lower-cased names of original headers to forward.
    pub forward_headers: Vec<String>,
    /// Retry 4xx answers other than 408/409/425/429 instead of dead-lettering them.
    pub retry_4xx: bool,
    /// `concurrency`: attempts in flight to this destination; 16 by default.
    pub max_concurrency: usize,
}

impl fmt::Debug for HttpDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpDestination")
            .field("name", &self.name)
            .field("url", &redact_url(&self.url))
            .field("signing_secret", &self.signing_secret)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("forward_headers", &self.forward_headers)
            .field("retry_4xx", &self.retry_4xx)
            .field("max_concurrency", &self.max_concurrency)
            .finish()
    }
}

/// `type = "email"`: an SMTP notification per event.
#[derive(Clone)]
pub struct EmailDestination {
    pub name: String,
    /// smtp or smtps; may carry `user:password` (redacted in `Debug`).
    pub smtp_url: url::Url,
    pub from: String,
    /// Never empty.
    pub to: Vec<String>,
    /// Template over the event; `"{{source}} event {{id}}"` by default.
    pub subject: String,
    pub body: Option<String>,
    /// Per attempt; 30s by default.
    pub timeout: Duration,
    pub retry: Retry,
}

impl fmt::Debug for EmailDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailDestination")
            .field("name", &self.name)
            .field("smtp_url", &redact_url(&self.smtp_url))
            .field("from", &self.from)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("body", &self.body)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Exponential backoff with full jitter (SPEC section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// First backoff; 1s.
    pub initial: Duration,
    /// Backoff cap; 10m. Never below `initial`.
    pub max: Duration,
    /// Attempts before the event goes dead; 12.
    pub max_attempts: u32,
    /// Age after which the event goes dead whatever the attempts; 24h.
    pub max_age: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(600),
            max_attempts: 12,
            max_age: Duration::from_secs(86_400),
        }
    }
}

/// Every problem found in one pass over the file. `Display` prints one per line.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.first().map(|e| e as _)
    }
}

/// One problem, with the place it was found. Never holds a secret value.
#[derive(Debug)]
pub struct ConfigError {
    /// Dotted key path (`sources.github.destinations[0].url`); empty for the file as a whole.
    pub place: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    pub kind: ConfigErrorKind,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.place.is_empty(), self.line) {
            (true, Some(line)) => write!(f, "line {line}: {}", self.kind),
            (true, None) => write!(f, "{}", self.kind),
            (false, Some(line)) => write!(f, "{} (line {line}): {}", self.place, self.kind),
            (false, None) => write!(f, "{}: {}", self.place, self.kind),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// What is wrong. Each message says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    #[error("cannot read the config file: {0}")]
    Read(#[source] std::io::Error),
    #[error("TOML syntax error at column {column}: {message}")]
    Syntax { column: usize, message: String },
    #[error("unknown key{hint}")]
    UnknownKey { hint: String },
    #[error("expected {expected}, found {found}{hint}")]
    WrongType {
        expected: &'static str,
        found: &'static str,
        hint: String,
    },
    #[error(
        "environment variable `{var}` is not set; set it, or write `${{{var}:-default}}` to give a fallback"
    )]
    UnsetVariable { var: String },
    #[error("{0}")]
    Interpolation(String),
    #[error("missing required key `{key}`; {fix}")]
    Missing { key: &'static str, fix: String },
    #[error("{0}")]
    Unit(#[from] units::UnitError),
    #[error("{0}")]
    Invalid(String),
}

/// `url` with its password, and the values of credential-looking query parameters, as `***`.
pub fn redact_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    if shown.password().is_some() {
        // Only fails for URLs that cannot have a password, and this one has one.
        let _ = shown.set_password(Some("***"));
    }
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let lower = k.to_ascii_lowercase();
                let secret = ["password", "secret", "token", "key", "sig", "auth"]
                    .iter()
                    .any(|word| lower.contains(word));
                let v = if secret {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

fn redact_str_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(url) => redact_url(&url),
        Err(_) => "<unparseable URL, redacted>".to_owned(),
    }
}

#[cfg(test)]
mod tests;
