//! Step 6: a token bucket per (source, client), through `tower_governor`; a client is an address
//! block (`server.client_prefix`: an IPv4 /32 and an IPv6 /64 by default).
//!
//! The key comes from [`ClientIp`], the trusted-proxy resolution of step 3, never from
//! tower_governor's own `SmartIpKeyExtractor`, which believes the left-most (client-written)
//! `X-Forwarded-For` entry. The limiter is built per source with that source's quota; the
//! [`Limiter`] handle lets the app prune idle keys so a scan from many addresses cannot grow
//! memory without bound.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::Request;
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;

use super::client_ip::ClientIp;
use crate::config::RateLimit;
use crate::config::frontdoor::ClientPrefix;
use crate::http::problem::{Rejection, RejectionKind};

/// Keys the bucket by (source, client), the client being the address block of
/// `server.client_prefix` (an IPv6 /64 by default: one host has the whole /64 to pick from).
#[derive(Debug, Clone)]
pub struct SourceClientKey {
    source: Arc<str>,
    prefix: ClientPrefix,
}

impl KeyExtractor for SourceClientKey {
    type Key = (Arc<str>, IpAddr);

    fn extract<T>(&self, request: &Request<T>) -> Result<Self::Key, GovernorError> {
        request
            .extensions()
            .get::<ClientIp>()
            .map(|ClientIp(ip)| (self.source.clone(), self.prefix.block(*ip)))
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

pub type GovernorSettings = GovernorConfig<
    SourceClientKey,
    governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
>;
pub type Layer = tower_governor::GovernorLayer<
    SourceClientKey,
    governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
    Body,
>;

/// A handle on a source's buckets, for pruning.
#[derive(Clone)]
pub struct Limiter(Arc<GovernorSettings>);

impl Limiter {
    /// Forgets buckets that are full again (idle clients).
    pub fn prune(&self) {
        self.0.limiter().retain_recent();
    }

    pub fn len(&self) -> usize {
        self.0.limiter().len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.limiter().is_empty()
    }
}

/// Builds the layer for a source's quota: `per_second` tokens a second, `burst` at once.
pub fn layer(
    source: Arc<str>,
    quota: &RateLimit,
    prefix: ClientPrefix,
) -> Option<(Layer, Limiter)> {
    let period = Duration::from_secs(1) / quota.per_second.max(1);
    let config = GovernorConfigBuilder::default()
        .period(period)
        .burst_size(quota.burst.max(1))
        .key_extractor(SourceClientKey { source, prefix })
        .finish()?;
    let config = Arc::new(config);
    let layer = tower_governor::GovernorLayer::new(config.clone()).error_handler(to_rejection);
    Some((layer, Limiter(config)))
}

/// tower_governor reports the wait in whole seconds, truncated: 0.4 s reads as `0`. The true
/// wait is under `wait_time + 1` seconds, so that is what `Retry-After` says (never 0).
fn to_rejection(error: GovernorError) -> Response {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => Rejection::new(
            RejectionKind::RateLimited {
                retry_after: Duration::from_secs(wait_time.saturating_add(1)),
            },
            "rate limit exceeded for this source and client",
        )
        .into_response(),
        other => Rejection::new(
            RejectionKind::Overloaded {
                retry_after: Duration::from_secs(1),
            },
            format!("rate limiter could not key the request: {other}"),
        )
        .into_response(),
    }
}
