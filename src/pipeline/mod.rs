//! The request pipeline of SPEC section 1: one tower stack per source, each step in its own
//! module. [`stack::STEPS`] is the order, and [`stack`] composes the steps in it; what the
//! operator sees of each request (id, log line, metrics, Sentry) is [`observe`].
//!
//! Checks are pure functions of the request and its [`CompiledSource`]; the layers only adapt
//! them to tower. Requests pass information down as typed extensions ([`client_ip::ClientIp`],
//! [`body::Received`], [`crate::event::Authenticated`], [`payload::Payload`]).

#[cfg(feature = "server")]
pub mod accept;
#[cfg(feature = "server")]
pub mod admission;
pub mod body;
pub mod client_ip;
pub mod credential;
pub mod event_type;
pub mod framing;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
pub mod guards;
#[cfg(feature = "server")]
pub mod handshake;
pub mod inflate;
#[cfg(feature = "server")]
pub mod kept_headers;
#[cfg(feature = "server")]
pub mod observe;
pub mod payload;
#[cfg(feature = "server")]
pub mod quarantine;
#[cfg(feature = "server")]
pub mod quarantined;
#[cfg(feature = "server")]
pub mod rate_limit;
pub mod route;
#[cfg(feature = "server")]
pub mod stack;
pub mod strict_json;
#[cfg(feature = "server")]
pub mod trail;
pub mod verify;

use std::sync::Arc;

use http::StatusCode;
use ipnet::IpNet;

use crate::config::frontdoor::ClientPrefix;
use crate::config::{Config, DedupMode, EventTypeFrom, Mode, RateLimit};
use crate::providers::Preset;
use payload::Schema;

/// A source as the pipeline uses it: the config entry with its preset built and its schema
/// compiled, so nothing is parsed or re-validated on the request path.
#[derive(Debug)]
pub struct CompiledSource {
    pub name: Arc<str>,
    pub path: String,
    pub preset: Preset,
    pub allow_ips: Vec<IpNet>,
    pub rate_limit: Option<RateLimit>,
    pub schema: Option<Schema>,
    pub accept_status: StatusCode,
    pub max_body_bytes: u64,
    pub max_json_depth: usize,
    pub dedup: DedupMode,
    /// The URL the provider was told to call, for schemes that sign it.
    pub public_url: Option<String>,
    pub require_https: bool,
    /// The source's destinations and their filters: each stored event gets one delivery per
    /// destination that takes it.
    pub routes: route::Routes,
    /// `mode = "proxy"`: the destination whose answer goes back to the provider.
    pub proxy: Option<Proxy>,
    /// Meta-style subscription checks are answered when set.
    pub verify_token: Option<secrecy::SecretString>,
    /// How client addresses are grouped into one client (`server.client_prefix`).
    pub client_prefix: ClientPrefix,
    /// Where its events' type is read ([`event_type`]).
    pub event_type: EventTypeFrom,
}

impl CompiledSource {
    /// The client `ip` counts as, for the rate limit and the gzip budget.
    pub fn client_block(&self, ip: std::net::IpAddr) -> std::net::IpAddr {
        self.client_prefix.block(ip)
    }
}

/// The synchronous destination of a proxy source.
#[derive(Debug, Clone)]
pub struct Proxy {
    pub destination: String,
    pub timeout: std::time::Duration,
}

/// Builds every source of the config, collecting every error (for `hookwall check`).
pub fn compile(config: &Config) -> Result<Vec<Arc<CompiledSource>>, Vec<String>> {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for source in &config.sources {
        let name = &source.name;
        let proxy = match (source.mode, source.destinations.first()) {
            (Mode::Queue, _) => None,
            (Mode::Proxy, Some(destination))
                if matches!(destination.kind, crate::config::DestinationKind::Http(_)) =>
            {
                Some(Proxy {
                    destination: destination.name.clone(),
                    timeout: destination.timeout,
                })
            }
            (Mode::Proxy, _) => {
                errors.push(format!(
                    "sources.{name}.mode: \"proxy\" needs an http destination first: its answer is returned to the provider"
                ));
                None
            }
        };
        let preset = Preset::build(
            &source.provider,
            &source.secrets,
            &source.public_keys,
            &source.overrides,
        )
        .map_err(|err| errors.push(format!("sources.{name}: {err}")))
        .ok();
        let schema = source
            .schema
            .as_ref()
            .map(|path| {
                Schema::read(path)
                    .map_err(|err| errors.push(format!("sources.{name}.schema: {err}")))
            })
            .transpose()
            .ok()
            .flatten();
        let accept_status = StatusCode::from_u16(source.accept_status)
            .map_err(|_| errors.push(format!("sources.{name}.accept_status: not an HTTP status")))
            .ok();
        if let (Some(preset), Some(accept_status)) = (preset, accept_status) {
            sources.push(Arc::new(CompiledSource {
                name: Arc::from(name.as_str()),
                path: source.path.clone(),
                preset,
                allow_ips: source.allow_ips.clone(),
                rate_limit: source.rate_limit,
                schema,
                accept_status,
                max_body_bytes: source.max_body_bytes,
                max_json_depth: source.max_json_depth,
                dedup: source.dedup,
                public_url: source.overrides.public_url.clone(),
                require_https: config.server.require_https,
                routes: route::Routes::of(&source.destinations),
                proxy,
                verify_token: source.verify_token.clone(),
                client_prefix: config.server.client_prefix,
                event_type: source.event_type.clone(),
            }));
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(errors)
    }
}
