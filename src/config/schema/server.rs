//! `[server]`: the listeners and the limits that hold for every request.
//!
//! `listen` and `admin_listen` are `host:port` and differ (port 0 excepted); `admin_token` and
//! `[[admin_tokens]]` are read by [`admin_tokens`] (in that order: the list may not reuse
//! `admin_token`'s name or token); `max_in_flight` is 1..=1,000,000, so no value can make a semaphore panic, and
//! `max_in_flight_per_client` may not exceed it.

use super::super::forms;
use super::super::frontdoor::ClientPrefix;
use super::super::model::Server;
use super::super::reader::{Ctx, Item, Key, key};
use super::admin_tokens;

/// The largest `max_in_flight` (and `max_in_flight_per_client`).
const MAX_IN_FLIGHT: u64 = 1_000_000;

/// Every key of `[server]`, in the order it is read (`max_in_flight_per_client` is judged
/// against the `max_in_flight` read before it, `admin_tokens` against `admin_token`).
pub(crate) const KEYS: &[Key<Server>] = &[
    key!("listen", |cx, item| read_listen(cx, item) => listen),
    key!("admin_listen", |cx, item| read_listen(cx, item) => admin_listen),
    Key {
        name: "admin_token",
        read: admin_tokens::read_admin_token,
    },
    Key {
        name: "admin_tokens",
        read: admin_tokens::read_admin_tokens,
    },
    key!("metrics_require_token", |cx, item| cx.boolean(item) => metrics_require_token),
    key!("trusted_proxies", |cx, item| cx.nets(item) => trusted_proxies),
    key!("require_https", |cx, item| cx.boolean(item) => require_https),
    key!("max_body_bytes", |cx, item| cx.size(item) => max_body_bytes),
    key!("request_timeout", |cx, item| cx.duration(item, false) => request_timeout),
    key!("max_in_flight", |cx, item| read_count(cx, item) => max_in_flight),
    key!("shutdown_timeout", |cx, item| cx.duration(item, true) => shutdown_timeout),
    key!("console_session_ttl", |cx, item| cx.duration(item, false) => console_session_ttl),
    Key {
        name: "client_prefix",
        read: |cx, item, server| {
            if let Some(prefix) = cx.table(item) {
                cx.read_keys(&prefix, CLIENT_PREFIX_KEYS, &mut server.client_prefix);
            }
        },
    },
    Key {
        name: "max_in_flight_per_client",
        read: read_per_client,
    },
];

/// `client_prefix = { ipv4 = 32, ipv6 = 64 }` ([`super::super::frontdoor`]).
pub(crate) const CLIENT_PREFIX_KEYS: &[Key<ClientPrefix>] = &[
    key!("ipv4", |cx, item| read_prefix_len(cx, item, 32) => ipv4),
    key!("ipv6", |cx, item| read_prefix_len(cx, item, 128) => ipv6),
];

/// A count of requests in 1..=[`MAX_IN_FLIGHT`].
fn read_count(cx: &mut Ctx, item: &Item) -> Option<usize> {
    let count = cx.integer(item, 1..=MAX_IN_FLIGHT)?;
    // Bounded by MAX_IN_FLIGHT, which fits a usize on every supported target.
    Some(usize::try_from(count).unwrap_or(usize::MAX))
}

/// A prefix length in 1..=`bits` (32 or 128, so it fits a u8).
fn read_prefix_len(cx: &mut Ctx, item: &Item, bits: u8) -> Option<u8> {
    let len = cx.integer(item, 1..=u64::from(bits))?;
    Some(u8::try_from(len).unwrap_or(bits))
}

/// `[server]`, or the defaults when the file has none.
pub(crate) fn read(cx: &mut Ctx, item: Option<Item>) -> Server {
    let mut server = Server::default();
    let Some(table) = item.and_then(|item| cx.table(&item)) else {
        return server;
    };
    cx.read_keys(&table, KEYS, &mut server);
    // Port 0 asks the OS for a free port: two such listeners never collide.
    if server.listen == server.admin_listen && !server.listen.ends_with(":0") {
        cx.invalid_table(
            &table,
            "listen and admin_listen are the same address; the admin listener must be separate \
             (e.g. admin_listen = \"127.0.0.1:9091\")",
        );
    }
    server
}

fn read_listen(cx: &mut Ctx, item: &Item) -> Option<String> {
    cx.checked(item, |text, shown| {
        forms::listen_address(text, shown).map(|()| text.to_owned())
    })
}

/// `max_in_flight_per_client`: at most `max_in_flight`, so one client cannot hold every slot.
fn read_per_client(cx: &mut Ctx, item: &Item, server: &mut Server) {
    let Some(v) = read_count(cx, item) else {
        return;
    };
    if v > server.max_in_flight {
        cx.invalid(
            item,
            format!(
                "is {v}, above max_in_flight ({}): one client could then hold every slot; \
                 lower it or raise max_in_flight",
                server.max_in_flight
            ),
        );
    } else {
        server.max_in_flight_per_client = Some(v);
    }
}
