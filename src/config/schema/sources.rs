//! `[defaults]` and `[sources.NAME]`: one webhook route each, how it is verified and what
//! happens to its events.
//!
//! - **Order.** Sources are kept in file order (the order of the `[sources.NAME]` headers).
//! - **`[defaults]`** holds `timestamp_tolerance`, `rate_limit`, `allow_ips`, `max_body_bytes`,
//!   `accept_status`, `max_json_depth` and `dedup`. A source key replaces the default wholesale
//!   (lists and tables are not merged). Preset overrides (`signature_header`, …) are per source
//!   only: they mean something only next to their provider.
//! - **Source paths** default to `/hooks/<name>`, must start with `/`, use only
//!   `A-Za-z0-9/._~-` (no `{}`/`*`, which the router would treat as parameters), have no empty,
//!   `.` or `..` segment, be unique, and may not be `/healthz` or `/readyz`.
//! - **Preset overrides** are checked for form only: header names are RFC 9110 tokens,
//!   `algorithm` is `sha256`/`sha512`/`sha1`, `encoding` is `hex`/`base64` (SPEC section 2),
//!   `public_url` is an absolute http(s) URL. Whether a preset accepts them is the preset's call
//!   (`super::super::rules::preset`).
//! - **`rate_limit`** needs `per_second`; `burst` defaults to `per_second`. Both are ≥ 1.
//! - **`max_json_depth`** is 1..=128 (serde_json refuses deeper documents anyway).
//! - **Secrets are verbatim.** Only empty entries are dropped; surrounding whitespace is kept but
//!   warned about (a trailing newline from a secrets file is the classic cause of 401s).
//!
//! Once a source's values are read, this reader runs the per-source rules on them (key
//! material, the preset, destinations) and reports what they find.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;

use super::super::env::shown;
use super::super::error::{ConfigErrorKind, Finding};
use super::super::files::SchemaCheck;
use super::super::forms;
use super::super::model::{DedupMode, Mode, RateLimit, Source};
use super::super::reader::{Ctx, Item, Key, Tbl, field, field_or, key, names, quoted, required};
use super::super::rules::{self, Material, preset};
use super::destinations;
use crate::providers::Overrides;

/// Every key of a `[sources.NAME]` table, as listed when an unknown one has no close match.
pub(crate) const SOURCE_KEYS: &[&str] = &[
    "provider",
    "secrets",
    "public_keys",
    "verify_token",
    "allow_ips",
    "rate_limit",
    "schema",
    "path",
    "accept_status",
    "max_body_bytes",
    "max_json_depth",
    "mode",
    "dedup",
    "destinations",
    "timestamp_tolerance",
    "signature_header",
    "algorithm",
    "encoding",
    "prefix",
    "signed_payload",
    "timestamp_header",
    "id_header",
    "id_field",
    "public_url",
];
const DEFAULT_JSON_DEPTH: usize = 64;
const MAX_JSON_DEPTH: u64 = 128;

/// `[defaults]`: values every source inherits unless it sets its own.
#[derive(Default)]
pub(crate) struct Defaults {
    timestamp_tolerance: Option<Duration>,
    rate_limit: Option<RateLimit>,
    allow_ips: Option<Vec<IpNet>>,
    max_body_bytes: Option<u64>,
    accept_status: Option<u16>,
    max_json_depth: Option<usize>,
    dedup: Option<DedupMode>,
}

/// Every key of `[defaults]`, in the order it is read.
pub(crate) const DEFAULTS_KEYS: &[Key<Defaults>] = &[
    key!("timestamp_tolerance", |cx, item| cx.duration(item, false).map(Some) => timestamp_tolerance),
    key!("rate_limit", |cx, item| super::rate_limit::read(cx, item).map(Some) => rate_limit),
    key!("allow_ips", |cx, item| cx.nets(item).map(Some) => allow_ips),
    key!("max_body_bytes", |cx, item| cx.size(item).map(Some) => max_body_bytes),
    key!("accept_status", |cx, item| read_accept_status(cx, item).map(Some) => accept_status),
    key!("max_json_depth", |cx, item| read_json_depth(cx, item).map(Some) => max_json_depth),
    key!("dedup", |cx, item| read_dedup(cx, item).map(Some) => dedup),
];

/// `[defaults]`, or none.
pub(crate) fn read_defaults(cx: &mut Ctx, item: Option<Item>) -> Defaults {
    let mut defaults = Defaults::default();
    let Some(table) = item.and_then(|item| cx.table(&item)) else {
        return defaults;
    };
    cx.check_keys(&table, &names(DEFAULTS_KEYS), &|key| {
        SOURCE_KEYS
            .contains(&key)
            .then(|| format!("; `{key}` is set on each [sources.NAME], not in [defaults]"))
    });
    cx.read_known(&table, DEFAULTS_KEYS, &mut defaults);
    defaults
}

/// What every source is read against.
pub(crate) struct Context<'a> {
    pub(crate) defaults: &'a Defaults,
    /// `server.max_body_bytes`, the body limit when neither the source nor `[defaults]` sets one.
    pub(crate) server_max_body: u64,
    /// The config file's directory, against which `schema` paths are resolved.
    pub(crate) config_dir: &'a Path,
    /// Reads and compiles a `schema` file; `None` keeps the load pure (no file system).
    pub(crate) schema_check: Option<&'a SchemaCheck>,
}

/// Each source with the byte span of its key, in file order.
pub(crate) fn read(
    cx: &mut Ctx,
    item: Option<Item>,
    context: &Context,
) -> Vec<(Source, Range<usize>)> {
    let Some(item) = item else {
        return Vec::new();
    };
    let Some(table) = cx.table_as(
        &item,
        "a table of sources",
        "; write one [sources.NAME] table per source",
    ) else {
        return Vec::new();
    };
    let mut sources = Vec::new();
    for (name, key_span, item) in table.entries() {
        if !forms::source_name(name) {
            cx.fail(
                &item.place,
                Some(key_span.clone()),
                ConfigErrorKind::Invalid(
                    "source names are lower-case letters, digits, `_` and `-`, starting with a \
                     letter or digit (the name is the route /hooks/NAME and a metrics label)"
                        .to_owned(),
                ),
            );
        }
        if let Some(source) = read_source(cx, name, &item, context) {
            sources.push((source, key_span));
        }
    }
    cx.report(rules::unique_paths(&sources));
    cx.report(rules::unique_destination_names(&sources));
    sources
}

fn read_source(cx: &mut Ctx, name: &str, item: &Item, context: &Context) -> Option<Source> {
    let defaults = context.defaults;
    let table = cx.table(item)?;
    cx.check_keys(&table, SOURCE_KEYS, &|key| {
        destinations::takes(key).then(|| {
            format!(
                "; `{key}` is a destination key: put it in a [[{}.destinations]] table",
                table.place
            )
        })
    });

    let provider = required(
        cx,
        &table,
        "provider",
        || {
            format!(
                "a source must say how its requests are verified: provider = one of {}",
                quoted(crate::providers::KNOWN)
            )
        },
        read_provider,
    );
    let secrets = field_or(cx, &table, "secrets", Material::absent(), |cx, i| {
        read_secret_list(cx, i, "secrets = [\"${MY_WEBHOOK_SECRET}\"]")
    });
    let public_keys = field_or(cx, &table, "public_keys", Material::absent(), |cx, i| {
        read_secret_list(cx, i, "public_keys = [\"whpk_…\"]")
    });
    let allow_ips = field_or(
        cx,
        &table,
        "allow_ips",
        defaults.allow_ips.clone().unwrap_or_default(),
        |cx, i| cx.nets(i),
    );
    let rate_limit = field_or(cx, &table, "rate_limit", defaults.rate_limit, |cx, i| {
        super::rate_limit::read(cx, i).map(Some)
    });
    let schema = field(cx, &table, "schema", |cx, i| {
        let path = context.config_dir.join(cx.non_empty(i)?);
        check_schema(cx, i, &path, context.schema_check);
        Some(path)
    });
    let path = field_or(
        cx,
        &table,
        "path",
        format!("/hooks/{name}"),
        read_route_path,
    );
    let errors_before_overrides = cx.errors.len();
    let overrides = read_overrides(cx, &table, defaults);
    let overrides_ok = cx.errors.len() == errors_before_overrides;
    let accept_status =
        field(cx, &table, "accept_status", read_accept_status).or(defaults.accept_status);
    let max_body_bytes = field(cx, &table, "max_body_bytes", |cx, i| cx.size(i))
        .or(defaults.max_body_bytes)
        .unwrap_or(context.server_max_body);
    let max_json_depth = field(cx, &table, "max_json_depth", read_json_depth)
        .or(defaults.max_json_depth)
        .unwrap_or(DEFAULT_JSON_DEPTH);
    let mode = field(cx, &table, "mode", |cx, i| {
        match cx.choice(i, &["queue", "proxy"])? {
            "proxy" => Some(Mode::Proxy),
            _ => Some(Mode::Queue),
        }
    })
    .unwrap_or_default();
    let dedup = field(cx, &table, "dedup", read_dedup)
        .or(defaults.dedup)
        .unwrap_or_default();
    let destinations = field_or(cx, &table, "destinations", Vec::new(), |cx, i| {
        destinations::read(cx, name, i)
    });
    let verify_token = field(cx, &table, "verify_token", read_verify_token);

    // Fail closed: only judge key material when every piece of it was read; otherwise the error
    // already reported is the one to fix first. A bad `allow_ips` does not hide a secrets error.
    let (provider, secrets, public_keys) = (provider?, secrets?, public_keys?);
    let key_findings = rules::key_material(&rules::SourceKeys {
        source: name,
        table: &table.spot(),
        provider,
        secrets: &secrets,
        public_keys: &public_keys,
        allow_ips: allow_ips.as_deref(),
        allow_ips_at: table.get("allow_ips").map(|i| i.spot()),
    });
    let keys_ok = !key_findings
        .iter()
        .any(|finding| matches!(finding, Finding::Error { .. }));
    cx.report(key_findings);
    if overrides_ok && keys_ok {
        cx.report(preset::check(
            &|key| table.spot_of(key),
            provider,
            &secrets.values,
            &public_keys.values,
            &overrides,
        ));
    }
    let allow_ips = allow_ips?;
    let destinations = destinations?;
    cx.report(rules::destinations(&table.spot(), mode, &destinations));

    Some(Source {
        name: name.to_owned(),
        path: path?,
        provider: provider.to_owned(),
        secrets: secrets.values.into_iter().map(SecretString::from).collect(),
        public_keys: public_keys.values,
        allow_ips,
        rate_limit: rate_limit?,
        schema,
        overrides,
        accept_status: accept_status.unwrap_or(202),
        max_body_bytes,
        max_json_depth,
        mode,
        dedup,
        destinations,
        verify_token,
    })
}

/// Runs the load's schema checker, if any, on the resolved `path` of a `schema` key.
fn check_schema(cx: &mut Ctx, item: &Item, path: &Path, check: Option<&SchemaCheck>) {
    if let Some(check) = check
        && let Err(message) = check(path)
    {
        cx.invalid(item, message);
    }
}

fn read_accept_status(cx: &mut Ctx, item: &Item) -> Option<u16> {
    cx.integer(item, 200..=299)
        .and_then(|n| u16::try_from(n).ok())
}

fn read_json_depth(cx: &mut Ctx, item: &Item) -> Option<usize> {
    cx.integer(item, 1..=MAX_JSON_DEPTH)
        .and_then(|n| usize::try_from(n).ok())
}

fn read_dedup(cx: &mut Ctx, item: &Item) -> Option<DedupMode> {
    match cx.choice(item, &["provider", "body"])? {
        "body" => Some(DedupMode::Body),
        _ => Some(DedupMode::Provider),
    }
}

fn read_route_path(cx: &mut Ctx, item: &Item) -> Option<String> {
    cx.checked(item, |text, shown| {
        forms::route_path(text, shown).map(|()| text.to_owned())
    })
}

fn read_provider(cx: &mut Ctx, item: &Item) -> Option<&'static str> {
    let done = cx.interpolated(item)?;
    match crate::providers::KNOWN
        .iter()
        .find(|known| **known == done.value)
    {
        Some(known) => Some(known),
        None => {
            cx.invalid(
                item,
                format!(
                    "unknown provider {}; known providers: {}",
                    shown(&done),
                    quoted(crate::providers::KNOWN)
                ),
            );
            None
        }
    }
}

/// `secrets` or `public_keys`: always a list; empty entries (an unset `${VAR:-}`) are dropped.
fn read_secret_list(cx: &mut Ctx, item: &Item, example: &str) -> Option<Material> {
    let hint = format!(
        "; it is always a list, even with one entry: {example} (several entries = rotation)"
    );
    let entries = cx.strings(item, &hint)?;
    let mut material = Material {
        present: true,
        at: item.spot(),
        values: Vec::new(),
        vars: Vec::new(),
    };
    for (entry, done) in entries {
        cx.warn_defaulted(&entry.place, &done.defaulted);
        if !done.value.is_empty() && done.value.trim().is_empty() {
            // Nothing a provider could sign with; SPEC refuses empty secrets and this is one.
            cx.invalid(
                &entry,
                "is only whitespace: write the secret, or leave the entry empty to drop it",
            );
        }
        if done.value.trim() != done.value {
            // Used verbatim (a Basic or bearer value may hold inner spaces), but a trailing
            // newline from a secrets file is the usual reason every request then gets 401.
            cx.warn(format!(
                "{} starts or ends with whitespace (a line break?); it is used verbatim",
                entry.place
            ));
        }
        material.vars.extend(done.used);
        if !done.value.is_empty() {
            material.values.push(done.value);
        }
    }
    Some(material)
}

/// `verify_token`: answers Meta-style subscription checks; never empty.
fn read_verify_token(cx: &mut Ctx, item: &Item) -> Option<SecretString> {
    let done = cx.secret_text(item)?;
    if done.value.trim().is_empty() {
        cx.invalid(
            item,
            "is empty (or only whitespace): set it to the verify token typed in the provider's dashboard, or \
             remove verify_token",
        );
        return None;
    }
    Some(SecretString::from(done.value))
}

#[allow(
    clippy::needless_update,
    reason = "Overrides belongs to the providers module and may grow fields; they keep their defaults"
)]
fn read_overrides(cx: &mut Ctx, table: &Tbl, defaults: &Defaults) -> Overrides {
    Overrides {
        signature_header: field(cx, table, "signature_header", read_header_name),
        timestamp_header: field(cx, table, "timestamp_header", read_header_name),
        id_header: field(cx, table, "id_header", read_header_name),
        algorithm: field(cx, table, "algorithm", |cx, i| {
            cx.choice(i, &["sha256", "sha512", "sha1"])
                .map(str::to_owned)
        }),
        encoding: field(cx, table, "encoding", |cx, i| {
            cx.choice(i, &["hex", "base64"]).map(str::to_owned)
        }),
        prefix: field(cx, table, "prefix", |cx, i| cx.string(i)),
        signed_payload: field(cx, table, "signed_payload", |cx, i| cx.non_empty(i)),
        id_field: field(cx, table, "id_field", |cx, i| cx.non_empty(i)),
        public_url: field(cx, table, "public_url", |cx, i| {
            cx.checked(i, |text, shown| {
                forms::http_url(text, shown).map(|_| text.to_owned())
            })
        }),
        timestamp_tolerance: field(cx, table, "timestamp_tolerance", |cx, i| {
            cx.duration(i, false)
        })
        .or(defaults.timestamp_tolerance),
        ..Overrides::default()
    }
}

fn read_header_name(cx: &mut Ctx, item: &Item) -> Option<String> {
    let done = cx.interpolated(item)?;
    if forms::header_name(&done.value) {
        Some(done.value)
    } else {
        cx.invalid(item, format!("{} is not an HTTP header name", shown(&done)));
        None
    }
}
