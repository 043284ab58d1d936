//! `[[sources.NAME.destinations]]`: where a source's events go, HTTP (the default) or e-mail,
//! and `retry`, the backoff both share.
//!
//! `name` defaults to `<source>-<index>` with a 0-based index (the same index as in error
//! places like `destinations[0]`); names match the source-name pattern (uniqueness is a rule:
//! `super::super::rules`). `forward_headers` are lower-cased and may not name credentials or
//! headers hookwall sets itself (`super::super::forms::forwardable_header`). An empty
//! `signing_secret` is an error (remove the key to send unsigned). E-mail `timeout` defaults
//! to 30s (SMTP handshakes are slow); `from`, `to` and `subject` may not contain line breaks
//! (header injection). `retry.max` is never below `retry.initial`.

use std::time::Duration;

use secrecy::SecretString;

use super::super::env::shown;
use super::super::error::ConfigErrorKind;
use super::super::forms;
use super::super::model::{Destination, EmailDestination, HttpDestination, Retry};
use super::super::reader::{Ctx, Item, Tbl, field, field_or, join, required};

/// Keys of an HTTP destination.
pub(crate) const HTTP_KEYS: &[&str] = &[
    "type",
    "name",
    "url",
    "signing_secret",
    "timeout",
    "retry",
    "forward_headers",
    "retry_4xx",
    "concurrency",
];
/// Keys of an e-mail destination.
pub(crate) const EMAIL_KEYS: &[&str] = &[
    "type", "name", "smtp_url", "from", "to", "subject", "body", "timeout", "retry",
];
/// Keys of `retry`.
pub(crate) const RETRY_KEYS: &[&str] = &["initial", "max", "max_attempts", "max_age"];

const MAX_CONCURRENCY: u64 = 100_000;
const DEFAULT_CONCURRENCY: usize = 16;
const DEFAULT_SUBJECT: &str = "{{source}} event {{id}}";
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const EMAIL_TIMEOUT: Duration = Duration::from_secs(30);

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
    let kind = field_or(cx, &table, "type", "http", |cx, i| {
        cx.choice(i, &["http", "email"])
    });
    let name = field_or(cx, &table, "name", format!("{source}-{index}"), read_name);
    let timeout = field(cx, &table, "timeout", |cx, i| cx.duration(i, false));
    let retry = field_or(cx, &table, "retry", Retry::default(), read_retry);
    match kind {
        Some("email") => {
            cx.check_keys(&table, EMAIL_KEYS, &|key| {
                HTTP_KEYS.contains(&key).then(|| {
                    format!("; `{key}` belongs to HTTP destinations, this one has type = \"email\"")
                })
            });
            read_email(cx, &table).and_then(|mut email| {
                email.name = name?;
                email.timeout = timeout.unwrap_or(EMAIL_TIMEOUT);
                email.retry = retry?;
                Some(Destination::Email(email))
            })
        }
        Some(_) => {
            cx.check_keys(&table, HTTP_KEYS, &|key| {
                EMAIL_KEYS.contains(&key).then(|| {
                    format!(
                        "; `{key}` belongs to e-mail destinations: add type = \"email\" (HTTP destinations use `url`)"
                    )
                })
            });
            read_http(cx, &table).and_then(|mut http| {
                http.name = name?;
                http.timeout = timeout.unwrap_or(HTTP_TIMEOUT);
                http.retry = retry?;
                Some(Destination::Http(http))
            })
        }
        None => {
            let all: Vec<&str> = HTTP_KEYS.iter().chain(EMAIL_KEYS).copied().collect();
            cx.check_keys(&table, &all, &|_| None);
            None
        }
    }
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

/// The HTTP-specific keys; name, timeout and retry are filled in by the caller.
fn read_http(cx: &mut Ctx, table: &Tbl) -> Option<HttpDestination> {
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
    let signing_secret = field_or(cx, table, "signing_secret", None, |cx, i| {
        read_signing_secret(cx, i).map(Some)
    });
    let forward_headers = field_or(
        cx,
        table,
        "forward_headers",
        Vec::new(),
        read_forward_headers,
    );
    let retry_4xx = field(cx, table, "retry_4xx", |cx, i| cx.boolean(i));
    let concurrency = field(cx, table, "concurrency", |cx, i| {
        cx.integer(i, 1..=MAX_CONCURRENCY)
    });
    Some(HttpDestination {
        name: String::new(),
        url: url?,
        signing_secret: signing_secret?,
        timeout: HTTP_TIMEOUT,
        retry: Retry::default(),
        forward_headers: forward_headers?,
        retry_4xx: retry_4xx.unwrap_or(false),
        max_concurrency: concurrency
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_CONCURRENCY),
    })
}

fn read_signing_secret(cx: &mut Ctx, item: &Item) -> Option<SecretString> {
    let done = cx.secret_text(item)?;
    if done.value.trim().is_empty() {
        let hint = match done.used.first() {
            Some(var) => format!("set {var}, or "),
            None => String::new(),
        };
        cx.invalid(
            item,
            format!(
                "is empty (or only whitespace); {hint}remove signing_secret to send events unsigned"
            ),
        );
        return None;
    }
    Some(SecretString::from(done.value))
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

/// The e-mail-specific keys; name, timeout and retry are filled in by the caller.
fn read_email(cx: &mut Ctx, table: &Tbl) -> Option<EmailDestination> {
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
    Some(EmailDestination {
        name: String::new(),
        smtp_url: smtp_url?,
        from: from?,
        to: to?,
        subject: subject?,
        body,
        timeout: EMAIL_TIMEOUT,
        retry: Retry::default(),
    })
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
