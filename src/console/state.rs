//! What every console handler shares: the running config, the session table, the login limit,
//! and how a request's client address and HTTPS-ness are read (through trusted proxies only).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use http::HeaderMap;

use super::limit::{FailureRecords, LoginLimiter};
use super::session::Sessions;
use crate::live::Live;
use crate::pipeline::client_ip;

/// What every console handler shares.
pub struct Console {
    pub live: Arc<Live>,
    pub sessions: Sessions,
    pub logins: LoginLimiter,
    /// Which failed logins the audit trail records.
    pub failures: FailureRecords,
}

impl Console {
    pub fn new(live: Arc<Live>) -> Console {
        Console {
            live,
            sessions: Sessions::new(),
            logins: LoginLimiter::new(),
            failures: FailureRecords::new(),
        }
    }

    /// `server.console_session_ttl` of the running config.
    pub fn session_ttl(&self) -> Duration {
        self.live.snapshot().config.server.console_session_ttl
    }

    /// The client's address: the peer, or what trusted proxies say it is.
    pub fn client_ip(&self, request_peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let snapshot = self.live.snapshot();
        request_peer
            .map(|peer| client_ip::resolve(peer, headers, &snapshot.config.server.trusted_proxies))
    }

    /// Whether the session cookie must be `Secure`: `server.require_https`, or the request came
    /// through a trusted proxy over HTTPS.
    pub fn cookie_secure(&self, request_peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
        let snapshot = self.live.snapshot();
        let server = &snapshot.config.server;
        server.require_https
            || request_peer.is_some_and(|peer| {
                client_ip::forwarded_https(peer, headers, &server.trusted_proxies) == Some(true)
            })
    }
}

/// The peer address of a request served by the listener.
pub fn peer(request_extensions: &http::Extensions) -> Option<IpAddr> {
    request_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip())
}

/// The request's peer and headers, for handlers that need the client address.
pub fn request_origin(request: &Request) -> (Option<IpAddr>, &HeaderMap) {
    (peer(request.extensions()), request.headers())
}
