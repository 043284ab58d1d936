//! The typed configuration: what the rest of the crate reads once the file has loaded.
//!
//! Nothing here parses or judges text: durations are [`Duration`]s, sizes are byte counts, CIDRs
//! are [`IpNet`]s, URLs are [`url::Url`]s and secrets are [`SecretString`]s whose `Debug` says
//! `[REDACTED]`. `Debug` shows URLs with their password, and query values whose name looks like
//! a credential, replaced by `***`. The defaults written here are the documented ones
//! (docs/configuration.md). This file must never import the reader: the model is what the
//! reader produces, and what rules and the rest of the crate consume.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;

use http::HeaderName;

use super::frontdoor;
use crate::providers::{EventTypeRule, Overrides};

/// The whole configuration, as loaded from one file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from (as given; used to resolve `schema` paths and to reload).
    pub path: PathBuf,
    pub server: Server,
    pub storage: Storage,
    /// `[quarantine]`: what is kept of refused requests.
    pub quarantine: Quarantine,
    /// In file order (the order of the `[sources.NAME]` headers).
    pub sources: Vec<Source>,
    /// Things that load but deserve an operator's attention; log each one at WARN at start-up.
    pub warnings: Vec<String>,
}

impl Config {
    /// The source called `name`, if any.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }
}

/// What an admin token may do (SPEC section 12); each role may do all the one before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything under `/admin/*`.
    Viewer,
    /// Also replays, pauses and resumes, and runs the security test.
    Operator,
    /// Also reloads and exports.
    Admin,
}

impl Role {
    /// The name the config file and the answers use.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The role the config file calls `word`.
    pub fn from_name(word: &str) -> Option<Role> {
        [Role::Viewer, Role::Operator, Role::Admin]
            .into_iter()
            .find(|role| role.name() == word)
    }
}

/// One admin token (`server.admin_token`, or one of `[[server.admin_tokens]]`): who holds it and
/// what it may do. Only the SHA-256 of the token's text is kept, whichever way the file gave it,
/// so a presented token is hashed once and compared with every digest alike.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken {
    /// Matches `[a-z0-9][a-z0-9_-]*`; unique. `admin` for `server.admin_token`.
    pub name: Arc<str>,
    /// SHA-256 of the token's text.
    pub digest: [u8; 32],
    pub role: Role,
}

impl fmt::Debug for AdminToken {
    // The digest of a short token can be reversed by trying candidates: it stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminToken")
            .field("name", &self.name)
            .field("digest", &"[REDACTED]")
            .field("role", &self.role)
            .finish()
    }
}

/// `[server]`: the listeners and the limits that hold for every request.
#[derive(Debug, Clone)]
pub struct Server {
    /// Public listener (`host:port`): `/hooks/*`, `/healthz`, `/readyz`.
    pub listen: String,
    /// Operators' listener (`host:port`): `/metrics`, `/admin/*`.
    pub admin_listen: String,
    /// Every admin token: `server.admin_token` first (as an `admin` named `admin`), then
    /// `[[server.admin_tokens]]` in file order. Names and digests are unique. Empty: the admin
    /// API answers 401 to everything.
    pub admin_tokens: Vec<AdminToken>,
    /// Whether `/metrics` needs a token (of any role); off by default so Prometheus scrapes it
    /// as before.
    pub metrics_require_token: bool,
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
    /// How long an operator console session lasts after its login (SPEC section 11).
    pub console_session_ttl: Duration,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            listen: "0.0.0.0:8080".to_owned(),
            admin_listen: "127.0.0.1:9091".to_owned(),
            admin_tokens: Vec::new(),
            metrics_require_token: false,
            trusted_proxies: Vec::new(),
            require_https: false,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            max_in_flight: 4096,
            shutdown_timeout: Duration::from_secs(30),
            client_prefix: frontdoor::ClientPrefix::default(),
            max_in_flight_per_client: None,
            console_session_ttl: Duration::from_secs(8 * 3600),
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

/// `[quarantine]`: the records kept of refused requests (SPEC section 13). Every key applies on
/// reload: `enabled` and `sample_bytes` to requests that arrive after the swap, `max_per_source`
/// and `retention` at the quarantine writer's next batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    pub enabled: bool,
    /// How many bytes of a refused body are kept, as received (before gunzip).
    pub sample_bytes: u64,
    /// At most this many records per source; the oldest go first. At least 1.
    pub max_per_source: u64,
    /// Records older than this are deleted.
    pub retention: Duration,
}

impl Default for Quarantine {
    fn default() -> Self {
        Quarantine {
            enabled: true,
            sample_bytes: 4 * 1024,
            max_per_source: 1000,
            retention: Duration::from_secs(72 * 3600),
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
    /// Where its events' `event_type` comes from: `event_type_header` or `event_type_pointer`,
    /// else the provider's rule.
    pub event_type: EventTypeFrom,
}

/// Where a source's events take their `event_type` (SPEC section 10), resolved when the config
/// loads: the source's `event_type_header` or `event_type_pointer` when it sets one, else its
/// provider's [`EventTypeRule`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EventTypeFrom {
    /// Events have no type.
    #[default]
    Nothing,
    /// The first value of this request header.
    Header(HeaderName),
    /// The first of these JSON Pointers (RFC 6901, already checked) that names a value in the
    /// parsed body.
    Pointers(Vec<String>),
}

impl EventTypeFrom {
    /// The provider's own rule, for a source that sets neither key.
    pub fn of_provider(rule: EventTypeRule) -> EventTypeFrom {
        match rule {
            EventTypeRule::None => EventTypeFrom::Nothing,
            // Descriptions hold lowercase constants, which `from_static` accepts (a registry
            // test checks every one).
            EventTypeRule::Header(name) => EventTypeFrom::Header(HeaderName::from_static(name)),
            EventTypeRule::Pointers(pointers) => {
                EventTypeFrom::Pointers(pointers.iter().map(|p| (*p).to_owned()).collect())
            }
        }
    }
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

/// `[[sources.NAME.destinations]]`: what every destination has, whatever its kind.
#[derive(Debug, Clone)]
pub struct Destination {
    /// `name`, or `<source>-<n>` counting from 1; unique across the file.
    pub name: String,
    pub kind: DestinationKind,
    /// Per attempt: 10s by default, 30s for e-mail (SMTP handshakes are slow).
    pub timeout: Duration,
    pub retry: Retry,
    /// `concurrency`: attempts in flight to this destination; 16 by default, 4 for e-mail.
    pub concurrency: usize,
    /// Which events it takes; every event when `None` (SPEC section 10).
    pub filter: Option<Filter>,
    /// `rate_limit`: deliveries started per second; unlimited when `None`.
    pub rate_limit: Option<RateLimit>,
    /// `circuit`; `None` when turned off with `circuit = false`.
    pub circuit: Option<Circuit>,
}

impl Destination {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn retry(&self) -> &Retry {
        &self.retry
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// `type`: how a destination is reached, with the keys only that kind has.
#[derive(Debug, Clone)]
pub enum DestinationKind {
    Http(HttpDestination),
    Email(EmailDestination),
    Nats(NatsDestination),
    Redis(RedisDestination),
    Amqp(AmqpDestination),
}

impl DestinationKind {
    /// The `type = "…"` value.
    pub fn type_name(&self) -> &'static str {
        match self {
            DestinationKind::Http(_) => "http",
            DestinationKind::Email(_) => "email",
            DestinationKind::Nats(_) => "nats",
            DestinationKind::Redis(_) => "redis",
            DestinationKind::Amqp(_) => "amqp",
        }
    }
}

/// `filter = { event_types, body, headers }`: every given condition must hold; within one list
/// any value matches (SPEC section 10). Lists are never empty (`hookwall check` refuses them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Event types; an entry ending in `*` matches by prefix.
    pub event_types: Option<Vec<String>>,
    /// JSON Pointer (RFC 6901, checked) → accepted values.
    pub body: Vec<(String, Vec<String>)>,
    /// Lower-cased header name → accepted values, compared exactly.
    pub headers: Vec<(String, Vec<String>)>,
}

/// `circuit = { failures, cooldown }`: after `failures` consecutive failed attempts no delivery
/// is attempted for `cooldown` (doubling on each failed probe, capped at 10 minutes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Circuit {
    /// ≥ 1; 5 by default.
    pub failures: u32,
    /// ≥ 1s; 30s by default.
    pub cooldown: Duration,
}

impl Default for Circuit {
    fn default() -> Self {
        Circuit {
            failures: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

/// `type = "http"` (the default).
#[derive(Clone)]
pub struct HttpDestination {
    /// http or https.
    pub url: url::Url,
    /// Standard Webhooks key the forwarded request is signed with.
    pub signing_secret: Option<SecretString>,
    /// Lower-cased names of original headers to forward.
    pub forward_headers: Vec<String>,
    /// Retry 4xx answers other than 408/409/425/429 instead of dead-lettering them.
    pub retry_4xx: bool,
}

impl fmt::Debug for HttpDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpDestination")
            .field("url", &redact_url(&self.url))
            .field("signing_secret", &self.signing_secret)
            .field("forward_headers", &self.forward_headers)
            .field("retry_4xx", &self.retry_4xx)
            .finish()
    }
}

/// `type = "email"`: an SMTP notification per event.
#[derive(Clone)]
pub struct EmailDestination {
    /// smtp or smtps; may carry `user:password` (redacted in `Debug`).
    pub smtp_url: url::Url,
    pub from: String,
    /// Never empty.
    pub to: Vec<String>,
    /// Template over the event; `"{{source}} event {{id}}"` by default.
    pub subject: String,
    pub body: Option<String>,
}

impl fmt::Debug for EmailDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailDestination")
            .field("smtp_url", &redact_url(&self.smtp_url))
            .field("from", &self.from)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("body", &self.body)
            .finish()
    }
}

/// `type = "nats"`: a JetStream publish, acknowledged by the stream that captures `subject`.
#[derive(Clone)]
pub struct NatsDestination {
    /// nats or tls; may carry `user:password` or a token as the user name (both redacted in
    /// `Debug`).
    pub url: url::Url,
    /// A publish subject: dot-separated tokens, no wildcards or whitespace.
    pub subject: String,
    /// Standard Webhooks key the message headers are signed with.
    pub signing_secret: Option<SecretString>,
}

impl fmt::Debug for NatsDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A token is written as the user name (`nats://TOKEN@host`): hidden too.
        let mut url = self.url.clone();
        if url.password().is_none() && !url.username().is_empty() {
            // Only fails for URLs that cannot have a user name, and this one has one.
            let _ = url.set_username("***");
        }
        f.debug_struct("NatsDestination")
            .field("url", &redact_url(&url))
            .field("subject", &self.subject)
            .field("signing_secret", &self.signing_secret)
            .finish()
    }
}

/// `type = "redis"`: an `XADD` to a stream.
#[derive(Clone)]
pub struct RedisDestination {
    /// redis or rediss, with an optional `/db`; may carry a password (redacted in `Debug`).
    pub url: url::Url,
    pub stream: String,
    /// `MAXLEN ~ n` on every `XADD` when set (approximate trimming).
    pub maxlen: Option<u64>,
    pub signing_secret: Option<SecretString>,
}

impl fmt::Debug for RedisDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDestination")
            .field("url", &redact_url(&self.url))
            .field("stream", &self.stream)
            .field("maxlen", &self.maxlen)
            .field("signing_secret", &self.signing_secret)
            .finish()
    }
}

/// `type = "amqp"`: a persistent, mandatory publish with publisher confirms (RabbitMQ).
#[derive(Clone)]
pub struct AmqpDestination {
    /// amqp or amqps, the vhost as its path (`%2f` for `/`); may carry `user:password`
    /// (redacted in `Debug`).
    pub url: url::Url,
    /// `""` is the default exchange (the routing key then names a queue).
    pub exchange: String,
    pub routing_key: String,
    pub signing_secret: Option<SecretString>,
}

impl fmt::Debug for AmqpDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpDestination")
            .field("url", &redact_url(&self.url))
            .field("exchange", &self.exchange)
            .field("routing_key", &self.routing_key)
            .field("signing_secret", &self.signing_secret)
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
