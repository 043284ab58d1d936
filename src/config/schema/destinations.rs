//! `[[sources.NAME.destinations]]`: where a source's events go. Every destination has the
//! common keys (`name`, `timeout`, `retry`, `concurrency`, `filter`, `rate_limit`, `circuit`);
//! its `type` (HTTP by default) adds its own keys, read by that type's reader: HTTP and e-mail
//! here, the queues in `super::queues`.
//!
//! `name` defaults to `<source>-<n>` counting from 1 (SPEC section 10); names match the
//! source-name pattern (uniqueness across the file is a rule: `super::super::rules`).
//! `forward_headers` are lower-cased and may not name credentials or headers hookwall sets
//! itself (`super::super::forms::forwardable_header`). An empty `signing_secret` is an error
//! (remove the key to send unsigned). E-mail `timeout` defaults to 30s (SMTP handshakes are
//! slow) and its `concurrency` to 4; `from`, `to` and `subject` may not contain line breaks
//! (header injection). `retry.max` is never below `retry.initial`. `circuit` is a table or
//! `false`; `filter` is read by `super::filter`.

use std::time::Duration;

use super::super::env::shown;
use super::super::error::ConfigErrorKind;
use super::super::forms;
use super::super::model::{
    Circuit, Destination, DestinationKind, EmailDestination, HttpDestination, Retry,
};
use super::super::reader::{Ctx, Item, Tbl, field, field_or, join, required};
use super::destination_type::{Type, signing_secret};

/// Keys every destination takes, whatever its type.
pub(crate) const COMMON_KEYS: &[&str] = &[
    "type",
    "name",
    "timeout",
    "retry",
    "concurrency",
    "filter",
    "rate_limit",
    "circuit",
];
/// Keys of `retry`.
pub(crate) const RETRY_KEYS: &[&str] = &["initial", "max", "max_attempts", "max_age"];
/// Keys of `circuit`.
pub(crate) const CIRCUIT_KEYS: &[&str] = &["failures", "cooldown"];

const HTTP: Type = Type {
    name: "http",
    keys: &["url", "signing_secret", "forward_headers", "retry_4xx"],
    timeout: Duration::from_secs(10),
    concurrency: 16,
    read: read_http,
};

const EMAIL: Type = Type {
    name: "email",
    keys: &["smtp_url", "from", "to", "subject", "body"],
    timeout: Duration::from_secs(30),
    concurrency: 4,
    read: read_email,
};

/// Every type; the first is the default.
const TYPES: &[&Type] = &[
    &HTTP,
    &EMAIL,
    &super::queues::NATS,
    &super::queues::REDIS,
    &super::queues::AMQP,
];

const MAX_CONCURRENCY: u64 = 100_000;
const DEFAULT_SUBJECT: &str = "{{source}} event {{id}}";

/// Every key some destination takes (the configuration reference lists each).
#[cfg(test)]
pub(crate) fn all_keys() -> Vec<&'static str> {
    COMMON_KEYS
        .iter()
        .chain(TYPES.iter().flat_map(|t| t.keys))
        .copied()
        .collect()
}

/// Whether some destination type takes `key` (a source table holding one gets a hint).
pub(crate) fn takes(key: &str) -> bool {
    TYPES.iter().any(|t| t.keys.contains(&key))
}

/// The `destinations` list of source `source`; `None` when any entry has an error.
pub(crate) fn read(cx: &mut Ctx, source: &str, item: &Item) -> Option<Vec<Destination>> {
    let hint = format!(
        "; write each destination as a [[{}]] table (double brackets)",
        item.place
    );
    let items = cx.array(item, &hint)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (index, entry) in items.iter().enumerate() {
        match read_destination(cx, source, index, entry) {
            Some(d) => out.push(d),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn read_destination(cx: &mut Ctx, source: &str, index: usize, item: &Item) -> Option<Destination> {
    let table = cx.table(item)?;
    let names: Vec<&'static str> = TYPES.iter().map(|t| t.name).collect();
    let written = table.get("type").is_some();
    let kind = field_or(cx, &table, "type", HTTP.name, |cx, i| cx.choice(i, &names));
    let Some(kind) = kind.and_then(|name| TYPES.iter().find(|t| t.name == name)) else {
        let all: Vec<&str> = COMMON_KEYS
            .iter()
            .chain(TYPES.iter().flat_map(|t| t.keys))
            .copied()
            .collect();
        cx.check_keys(&table, &all, &|_| None);
        return None;
    };
    let accepted: Vec<&str> = COMMON_KEYS.iter().chain(kind.keys).copied().collect();
    cx.check_keys(&table, &accepted, &|key| {
        let owner = TYPES.iter().find(|t| t.keys.contains(&key))?;
        Some(if written {
            format!(
                "; `{key}` belongs to {} destinations, this one has type = \"{}\"",
                owner.name, kind.name
            )
        } else {
            format!(
                "; `{key}` belongs to {} destinations: add type = \"{}\"",
                owner.name, owner.name
            )
        })
    });
    let name = field_or(
        cx,
        &table,
        "name",
        format!("{source}-{}", index + 1),
        read_name,
    );
    let timeout = field_or(cx, &table, "timeout", kind.timeout, |cx, i| {
        cx.duration(i, false)
    });
    let retry = field_or(cx, &table, "retry", Retry::default(), read_retry);
    let concurrency = field_or(cx, &table, "concurrency", kind.concurrency, |cx, i| {
        cx.integer(i, 1..=MAX_CONCURRENCY)
            .and_then(|n| usize::try_from(n).ok())
    });
    let filter = field_or(cx, &table, "filter", None, |cx, i| {
        super::filter::read(cx, i).map(Some)
    });
    let rate_limit = field_or(cx, &table, "rate_limit", None, |cx, i| {
        super::rate_limit::read(cx, i).map(Some)
    });
    let circuit = field_or(
        cx,
        &table,
        "circuit",
        Some(Circuit::default()),
        read_circuit,
    );
    let read_kind = (kind.read)(cx, &table);
    Some(Destination {
        name: name?,
        kind: read_kind?,
        timeout: timeout?,
        retry: retry?,
        concurrency: concurrency?,
        filter: filter?,
        rate_limit: rate_limit?,
        circuit: circuit?,
    })
}

/// `circuit = { failures, cooldown }` or `circuit = false`; `true` is the default breaker.
fn read_circuit(cx: &mut Ctx, item: &Item) -> Option<Option<Circuit>> {
    if !item.is_table() {
        let on = cx.boolean(item)?;
        return Some(on.then(Circuit::default));
    }
    let table = cx.table(item)?;
    cx.check_keys(&table, CIRCUIT_KEYS, &|_| None);
    let defaults = Circuit::default();
    let failures = field_or(cx, &table, "failures", defaults.failures, |cx, i| {
        cx.integer(i, 1..=1_000_000)
            .and_then(|n| u32::try_from(n).ok())
    });
    let cooldown = field_or(cx, &table, "cooldown", defaults.cooldown, |cx, i| {
        cx.duration(i, false)
    });
    Some(Some(Circuit {
        failures: failures?,
        cooldown: cooldown?,
    }))
}

fn read_name(cx: &mut Ctx, item: &Item) -> Option<String> {
    let text = cx.string(item)?;
    if forms::source_name(&text) {
        Some(text)
    } else {
        cx.invalid(
            item,
            "destination names are lower-case letters, digits, `_` and `-`, starting with a \
             letter or digit (the name is a metrics label)",
        );
        None
    }
}

/// The keys of `type = "http"`.
fn read_http(cx: &mut Ctx, table: &Tbl) -> Option<DestinationKind> {
    let url = required(
        cx,
        table,
        "url",
        || {
            "write the internal handler's address, e.g. url = \"http://handler:8000/webhooks\" \
             (or type = \"email\" for an e-mail destination)"
                .to_owned()
        },
        |cx, i| cx.checked(i, forms::http_url),
    );
    let signing_secret = signing_secret(cx, table);
    let forward_headers = field_or(
        cx,
        table,
        "forward_headers",
        Vec::new(),
        read_forward_headers,
    );
    let retry_4xx = field(cx, table, "retry_4xx", |cx, i| cx.boolean(i));
    Some(DestinationKind::Http(HttpDestination {
        url: url?,
        signing_secret: signing_secret?,
        forward_headers: forward_headers?,
        retry_4xx: retry_4xx.unwrap_or(false),
    }))
}

fn read_forward_headers(cx: &mut Ctx, item: &Item) -> Option<Vec<String>> {
    let entries = cx.strings(item, "; write a list such as [\"x-github-event\"]")?;
    let mut headers = Vec::with_capacity(entries.len());
    let mut ok = true;
    for (entry, done) in entries {
        let name = done.value.trim().to_ascii_lowercase();
        match forms::forwardable_header(&name, &shown(&done)) {
            Ok(()) => headers.push(name),
            Err(message) => {
                ok = false;
                cx.invalid(&entry, message);
            }
        }
    }
    ok.then_some(headers)
}

/// The keys of `type = "email"`.
fn read_email(cx: &mut Ctx, table: &Tbl) -> Option<DestinationKind> {
    let smtp_url = required(
        cx,
        table,
        "smtp_url",
        || {
            "write the mail server, e.g. smtp_url = \"smtp://mail:25\" or \
             \"smtps://user:${SMTP_PASSWORD}@mail.example.com\""
                .to_owned()
        },
        read_smtp_url,
    );
    let from = required(
        cx,
        table,
        "from",
        || "write the sender, e.g. from = \"hookwall@example.com\"".to_owned(),
        read_address,
    );
    let to = required(
        cx,
        table,
        "to",
        || "write the recipients, e.g. to = [\"ops@example.com\"]".to_owned(),
        read_recipients,
    );
    let subject = field_or(
        cx,
        table,
        "subject",
        DEFAULT_SUBJECT.to_owned(),
        read_subject,
    );
    let body = field(cx, table, "body", |cx, i| cx.string(i).map(Some)).unwrap_or(None);
    Some(DestinationKind::Email(EmailDestination {
        smtp_url: smtp_url?,
        from: from?,
        to: to?,
        subject: subject?,
        body,
    }))
}

fn read_smtp_url(cx: &mut Ctx, item: &Item) -> Option<url::Url> {
    let done = cx.interpolated(item)?;
    match forms::smtp_url(&done.value, &shown(&done)) {
        Ok(url) => {
            if url.password().is_some() {
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

fn read_recipients(cx: &mut Ctx, item: &Item) -> Option<Vec<String>> {
    let items = cx.array(item, "; write a list, e.g. to = [\"ops@example.com\"]")?;
    if items.is_empty() {
        cx.invalid(item, "needs at least one recipient");
        return None;
    }
    let addresses: Vec<Option<String>> = items.iter().map(|i| read_address(cx, i)).collect();
    addresses.into_iter().collect()
}

fn read_subject(cx: &mut Ctx, item: &Item) -> Option<String> {
    let text = cx.non_empty(item)?;
    if text.contains(['\r', '\n']) {
        cx.invalid(item, "must be one line (no line breaks)");
        return None;
    }
    Some(text)
}

fn read_address(cx: &mut Ctx, item: &Item) -> Option<String> {
    cx.checked(item, |text, shown| {
        forms::email_address(text, shown).map(|()| text.to_owned())
    })
}

/// `retry = { initial, max, max_attempts, max_age }`; an absent key keeps its default.
fn read_retry(cx: &mut Ctx, item: &Item) -> Option<Retry> {
    let table = cx.table(item)?;
    cx.check_keys(&table, RETRY_KEYS, &|_| None);
    let defaults = Retry::default();
    let duration = |cx: &mut Ctx, key: &str, fallback: Duration| {
        field_or(cx, &table, key, fallback, |cx, i| cx.duration(i, false))
    };
    let initial = duration(cx, "initial", defaults.initial);
    let max = duration(cx, "max", defaults.max);
    let max_age = duration(cx, "max_age", defaults.max_age);
    let max_attempts = field_or(
        cx,
        &table,
        "max_attempts",
        defaults.max_attempts,
        |cx, i| {
            cx.integer(i, 1..=10_000)
                .and_then(|n| u32::try_from(n).ok())
        },
    );
    let retry = Retry {
        initial: initial?,
        max: max?,
        max_attempts: max_attempts?,
        max_age: max_age?,
    };
    if retry.max < retry.initial {
        let span = table.get("max").map(|i| i.span()).or(table.span());
        cx.fail(
            &join(&table.place, "max"),
            span,
            ConfigErrorKind::Invalid(
                "is shorter than retry.initial; the backoff cap must be at least the first backoff"
                    .to_owned(),
            ),
        );
        return None;
    }
    Some(retry)
}
