//! The keys of the queue destinations (SPEC section 10): `type = "nats"` (a JetStream
//! subject), `"redis"` (a stream) and `"amqp"` (an exchange and routing key). Each is one
//! [`Type`] that `super::destinations` lists in its `TYPES`; the common keys (`name`,
//! `timeout`, `retry`, …) are read there.
//!
//! Every queue destination takes `url` (its broker, checked by `super::super::forms`: scheme,
//! host, and what the path may be), where messages go, and `signing_secret` (read as the HTTP
//! destinations read it). A password in a URL that comes from a `:-default` written in the
//! file is warned about, as for `smtp_url`.

use std::time::Duration;

use super::super::env::shown;
use super::super::forms;
use super::super::model::{AmqpDestination, DestinationKind, NatsDestination, RedisDestination};
use super::super::reader::{Ctx, Item, Tbl, field_or, required};
use super::destination_type::{Type, signing_secret};

/// A broker answers in milliseconds; 10 s bounds an attempt like an HTTP one.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Publishes in flight on one connection.
const CONCURRENCY: usize = 16;
/// The most `maxlen` may say (a stream longer than this is not trimmed at all in practice).
const MAX_MAXLEN: u64 = 1_000_000_000_000;

pub(crate) const NATS: Type = Type {
    name: "nats",
    keys: &["url", "subject", "signing_secret"],
    timeout: TIMEOUT,
    concurrency: CONCURRENCY,
    read: read_nats,
};

pub(crate) const REDIS: Type = Type {
    name: "redis",
    keys: &["url", "stream", "maxlen", "signing_secret"],
    timeout: TIMEOUT,
    concurrency: CONCURRENCY,
    read: read_redis,
};

pub(crate) const AMQP: Type = Type {
    name: "amqp",
    keys: &["url", "exchange", "routing_key", "signing_secret"],
    timeout: TIMEOUT,
    concurrency: CONCURRENCY,
    read: read_amqp,
};

fn read_nats(cx: &mut Ctx, table: &Tbl) -> Option<DestinationKind> {
    let url = broker_url(cx, table, "nats://nats:4222", forms::nats_url);
    let subject = required(
        cx,
        table,
        "subject",
        || {
            "write the subject a JetStream stream captures, e.g. subject = \"webhooks.github\""
                .into()
        },
        |cx, i| checked_name(cx, i, forms::nats_subject),
    );
    let signing_secret = signing_secret(cx, table);
    Some(DestinationKind::Nats(NatsDestination {
        url: url?,
        subject: subject?,
        signing_secret: signing_secret?,
    }))
}

fn read_redis(cx: &mut Ctx, table: &Tbl) -> Option<DestinationKind> {
    let url = broker_url(cx, table, "redis://redis:6379/0", forms::redis_url);
    let stream = required(
        cx,
        table,
        "stream",
        || "write the stream's key, e.g. stream = \"webhooks\"".into(),
        |cx, i| checked_name(cx, i, forms::queue_name),
    );
    let maxlen = field_or(cx, table, "maxlen", None, |cx, i| {
        cx.integer(i, 1..=MAX_MAXLEN).map(Some)
    });
    let signing_secret = signing_secret(cx, table);
    Some(DestinationKind::Redis(RedisDestination {
        url: url?,
        stream: stream?,
        maxlen: maxlen?,
        signing_secret: signing_secret?,
    }))
}

fn read_amqp(cx: &mut Ctx, table: &Tbl) -> Option<DestinationKind> {
    let url = broker_url(
        cx,
        table,
        "amqp://user:${AMQP_PASSWORD}@rabbitmq:5672/%2f",
        forms::amqp_url,
    );
    let exchange = required(
        cx,
        table,
        "exchange",
        || {
            "write the exchange to publish to, e.g. exchange = \"webhooks\" (or exchange = \"\" \
             for the default exchange, where routing_key names a queue)"
                .into()
        },
        |cx, i| {
            cx.checked(i, |text, shown| {
                forms::amqp_exchange(text, shown).map(|()| text.to_owned())
            })
        },
    );
    let routing_key = required(
        cx,
        table,
        "routing_key",
        || {
            "write the routing key, e.g. routing_key = \"github\" (a queue's name with exchange = \"\")".into()
        },
        |cx, i| checked_name(cx, i, forms::queue_name),
    );
    let signing_secret = signing_secret(cx, table);
    Some(DestinationKind::Amqp(AmqpDestination {
        url: url?,
        exchange: exchange?,
        routing_key: routing_key?,
        signing_secret: signing_secret?,
    }))
}

/// The required `url` of a broker, read by `form`; `example` is what the missing key's message
/// suggests.
fn broker_url(
    cx: &mut Ctx,
    table: &Tbl,
    example: &'static str,
    form: fn(&str, &str) -> Result<url::Url, String>,
) -> Option<url::Url> {
    required(
        cx,
        table,
        "url",
        || format!("write the broker's address, e.g. url = \"{example}\""),
        |cx, item| read_url(cx, item, form),
    )
}

fn read_url(
    cx: &mut Ctx,
    item: &Item,
    form: fn(&str, &str) -> Result<url::Url, String>,
) -> Option<url::Url> {
    let done = cx.interpolated(item)?;
    match form(&done.value, &shown(&done)) {
        Ok(url) => {
            if url.password().is_some() || !url.username().is_empty() {
                cx.warn_defaulted(&item.place, &done.defaulted);
            }
            Some(url)
        }
        Err(message) => {
            cx.invalid(item, message);
            None
        }
    }
}

/// A subject, stream or routing key, judged by `form`.
fn checked_name(
    cx: &mut Ctx,
    item: &Item,
    form: fn(&str, &str) -> Result<(), String>,
) -> Option<String> {
    let done = cx.interpolated(item)?;
    match form(&done.value, &shown(&done)) {
        Ok(()) => Some(done.value),
        Err(message) => {
            cx.invalid(item, message);
            None
        }
    }
}
