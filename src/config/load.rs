//! Reading the file: TOML syntax first, then one walk over the spanned tree that interpolates
//! `${VAR}` inside string values and turns every key into its typed value.
//!
//! The walk is by hand over `toml::de::DeTable` (not serde) because that keeps what the operator
//! needs in an error: the dotted place of the key, its line, every error of the file at once, and
//! an unknown key reported with the keys accepted there. Interpolation happens per value, after
//! parsing, so an environment value can never change the structure of the file, and the error for
//! an unset variable can name the key that used it.

use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{
    Config, ConfigError, ConfigErrorKind, ConfigErrors, DedupMode, Destination, EmailDestination,
    HttpDestination, Mode, Overrides, RateLimit, Retry, Server, Source, Storage, units,
};
use super::{files, scheme, validate};

type Value<'i> = Spanned<DeValue<'i>>;

pub(super) const TOP_KEYS: &[&str] = &["server", "storage", "defaults", "sources"];
pub(super) const SERVER_KEYS: &[&str] = &[
    "listen",
    "admin_listen",
    "admin_token",
    "trusted_proxies",
    "require_https",
    "max_body_bytes",
    "request_timeout",
    "max_in_flight",
    "shutdown_timeout",
    "client_prefix",
    "max_in_flight_per_client",
];
pub(super) const STORAGE_KEYS: &[&str] = &[
    "url",
    "retention",
    "dedup_window",
    "lease",
    "max_connections",
];
pub(super) const DEFAULTS_KEYS: &[&str] = &[
    "timestamp_tolerance",
    "rate_limit",
    "allow_ips",
    "max_body_bytes",
    "accept_status",
    "max_json_depth",
    "dedup",
];
pub(super) const SOURCE_KEYS: &[&str] = &[
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
pub(super) const RATE_LIMIT_KEYS: &[&str] = &["per_second", "burst"];
pub(super) const CLIENT_PREFIX_KEYS: &[&str] = &["ipv4", "ipv6"];
pub(super) const HTTP_KEYS: &[&str] = &[
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
pub(super) const EMAIL_KEYS: &[&str] = &[
    "type", "name", "smtp_url", "from", "to", "subject", "body", "timeout", "retry",
];
pub(super) const RETRY_KEYS: &[&str] = &["initial", "max", "max_attempts", "max_age"];

const DEFAULT_JSON_DEPTH: usize = 64;
const MAX_JSON_DEPTH: u64 = 128;
const MAX_IN_FLIGHT: u64 = 1_000_000;
const MAX_CONCURRENCY: u64 = 100_000;
const DEFAULT_SUBJECT: &str = "{{source}} event {{id}}";
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
const EMAIL_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_CONCURRENCY: usize = 16;

/// The whole load: syntax, then the walk, then the checks that span several sources.
pub(super) fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    schema_check: Option<&files::SchemaCheck>,
) -> Result<Config, ConfigErrors> {
    let mut cx = Ctx::new(text, env);
    cx.schema_check = schema_check;
    let (doc, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        // The tree of a file with syntax errors is a guess; checking its meaning would only add
        // confusing errors. Parser messages name tokens, never echo values, so no secret leaks.
        for error in syntax_errors {
            let offset = error.span().map_or(0, |s| s.start);
            let (line, column) = cx.position(offset);
            cx.errors.push(ConfigError {
                place: String::new(),
                line: Some(line),
                kind: ConfigErrorKind::Syntax {
                    column,
                    message: error.message().to_owned(),
                },
            });
        }
        return Err(ConfigErrors(cx.errors));
    }

    let root = Tbl {
        place: String::new(),
        map: doc.get_ref(),
        span: None,
    };
    cx.check_keys(&root, TOP_KEYS, &|_| None);
    let server = read_server(&mut cx, root.get("server"));
    let config_dir = path.parent().unwrap_or(Path::new(""));
    let mut storage = read_storage(&mut cx, root.get("storage"));
    files::resolve_store(&mut storage.url, config_dir);
    let defaults = read_defaults(&mut cx, root.get("defaults"));
    let sources = read_sources(&mut cx, root.get("sources"), &defaults, &server, config_dir);
    validate::server_warnings(&mut cx, &server);
    validate::storage_warnings(&mut cx, &storage, sources.iter().map(|(source, _)| source));
    if sources.is_empty() && cx.errors.is_empty() {
        cx.warn("no [sources.NAME] configured: every /hooks request will get 404".to_owned());
    }

    if cx.errors.is_empty() {
        Ok(Config {
            path: path.to_path_buf(),
            server,
            storage,
            sources: sources.into_iter().map(|(source, _)| source).collect(),
            warnings: cx.warnings,
        })
    } else {
        // Reading order is by key name within a table; line order is what a reader expects.
        cx.errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        Err(ConfigErrors(cx.errors))
    }
}

/// The walk's state: where lines start (for error lines), the environment, and what was found.
pub(super) struct Ctx<'e> {
    text: &'e str,
    line_starts: Vec<usize>,
    env: &'e dyn Fn(&str) -> Option<String>,
    /// Reads and compiles a `schema` file; `None` keeps the load pure (no file system).
    pub(super) schema_check: Option<&'e files::SchemaCheck>,
    pub(super) errors: Vec<ConfigError>,
    pub(super) warnings: Vec<String>,
}

/// A table being read, with its place for messages.
pub(super) struct Tbl<'a, 'i> {
    pub(super) place: String,
    map: &'a DeTable<'i>,
    /// The header (or inline table) span; `None` for the root.
    span: Option<Range<usize>>,
}

/// One value being read, with its place for messages.
pub(super) struct Item<'a, 'i> {
    pub(super) place: String,
    value: &'a Value<'i>,
}

/// A string after `${VAR}` substitution.
pub(super) struct Interpolated {
    pub(super) value: String,
    /// Variables named in the string (for messages like "set GITHUB_WEBHOOK_SECRET").
    pub(super) used: Vec<String>,
    /// Variables that were unset or empty and replaced by a non-empty `:-default`.
    pub(super) defaulted: Vec<String>,
}

pub(super) enum InterpolationError {
    Unset(String),
    Syntax(String),
}

impl<'a, 'i> Tbl<'a, 'i> {
    pub(super) fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }

    pub(super) fn get(&self, key: &str) -> Option<Item<'a, 'i>> {
        self.map.get(key).map(|value| Item {
            place: join(&self.place, key),
            value,
        })
    }

    /// Entries in file order.
    fn entries(&self) -> Vec<(&'a str, Range<usize>, Item<'a, 'i>)> {
        let mut entries: Vec<_> = self
            .map
            .iter()
            .map(|(key, value)| {
                let name: &'a str = key.get_ref();
                (
                    name,
                    key.span(),
                    Item {
                        place: join(&self.place, name),
                        value,
                    },
                )
            })
            .collect();
        entries.sort_by_key(|(_, span, _)| span.start);
        entries
    }
}

impl Item<'_, '_> {
    pub(super) fn span(&self) -> Range<usize> {
        self.value.span()
    }
}

/// `parent.key`, quoting keys that are not bare TOML keys so the place can be pasted back.
fn join(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("\"{}\"", key.escape_debug())
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

impl<'e> Ctx<'e> {
    fn new(text: &'e str, env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Ctx {
            text,
            line_starts,
            env,
            schema_check: None,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// 1-based (line, column in characters) of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(start..offset.max(start))
            .map_or(0, |s| s.chars().count());
        (line, column + 1)
    }

    pub(super) fn fail(&mut self, place: &str, span: Option<Range<usize>>, kind: ConfigErrorKind) {
        let line = span.map(|s| self.line(s.start));
        self.errors.push(ConfigError {
            place: place.to_owned(),
            line,
            kind,
        });
    }

    pub(super) fn invalid(&mut self, item: &Item, message: impl Into<String>) {
        self.fail(
            &item.place,
            Some(item.span()),
            ConfigErrorKind::Invalid(message.into()),
        );
    }

    /// An error about a whole table (a missing key, a rule across its keys), at its header.
    pub(super) fn invalid_table(&mut self, table: &Tbl, message: impl Into<String>) {
        self.fail(
            &table.place,
            table.span.clone(),
            ConfigErrorKind::Invalid(message.into()),
        );
    }

    fn missing(&mut self, table: &Tbl, key: &'static str, fix: String) {
        self.fail(
            &table.place,
            table.span.clone(),
            ConfigErrorKind::Missing { key, fix },
        );
    }

    pub(super) fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// Every key of `table` must be in `accepted`. `elsewhere` may explain where a misplaced key
    /// belongs; otherwise the closest accepted key is suggested.
    fn check_keys(
        &mut self,
        table: &Tbl,
        accepted: &[&str],
        elsewhere: &dyn Fn(&str) -> Option<String>,
    ) {
        for (key, _) in table.map.iter() {
            let name: &str = key.get_ref();
            if accepted.contains(&name) {
                continue;
            }
            let hint = match elsewhere(name)
                .or_else(|| closest(name, accepted).map(|near| format!("; did you mean `{near}`?")))
            {
                Some(hint) => hint,
                None => format!("; accepted here: {}", accepted.join(", ")),
            };
            self.fail(
                &join(&table.place, name),
                Some(key.span()),
                ConfigErrorKind::UnknownKey { hint },
            );
        }
    }

    fn wrong_type(&mut self, item: &Item, expected: &'static str, hint: impl Into<String>) {
        self.fail(
            &item.place,
            Some(item.span()),
            ConfigErrorKind::WrongType {
                expected,
                found: found(item.value.get_ref()),
                hint: hint.into(),
            },
        );
    }

    fn table<'a, 'i>(&mut self, item: &Item<'a, 'i>) -> Option<Tbl<'a, 'i>> {
        match item.value.get_ref() {
            DeValue::Table(map) => Some(Tbl {
                place: item.place.clone(),
                map,
                span: Some(item.span()),
            }),
            _ => {
                self.wrong_type(item, "a table", "");
                None
            }
        }
    }

    fn array<'a, 'i>(&mut self, item: &Item<'a, 'i>, hint: &str) -> Option<Vec<Item<'a, 'i>>> {
        match item.value.get_ref() {
            DeValue::Array(values) => Some(
                values
                    .iter()
                    .enumerate()
                    .map(|(index, value)| Item {
                        place: format!("{}[{index}]", item.place),
                        value,
                    })
                    .collect(),
            ),
            _ => {
                self.wrong_type(item, "a list", hint);
                None
            }
        }
    }

    /// The string at `item`, interpolated. Errors for unset variables name the variable and
    /// the key.
    pub(super) fn interpolated(&mut self, item: &Item) -> Option<Interpolated> {
        let DeValue::String(raw) = item.value.get_ref() else {
            self.wrong_type(item, "a string", "");
            return None;
        };
        match interpolate(raw, self.env) {
            Ok(done) => Some(done),
            Err(errors) => {
                for error in errors {
                    let kind = match error {
                        InterpolationError::Unset(var) => ConfigErrorKind::UnsetVariable { var },
                        InterpolationError::Syntax(message) => {
                            ConfigErrorKind::Interpolation(message)
                        }
                    };
                    self.fail(&item.place, Some(item.span()), kind);
                }
                None
            }
        }
    }

    pub(super) fn string(&mut self, item: &Item) -> Option<String> {
        self.interpolated(item).map(|done| done.value)
    }

    /// A string that is never empty after interpolation.
    fn non_empty(&mut self, item: &Item) -> Option<String> {
        let value = self.string(item)?;
        if value.is_empty() {
            self.invalid(item, "must not be empty");
            return None;
        }
        Some(value)
    }

    /// Like [`Ctx::string`] for a key that carries a secret: a non-empty `:-default` standing in
    /// for the real variable is worth a loud warning (the secret is then in the file).
    pub(super) fn secret_text(&mut self, item: &Item) -> Option<Interpolated> {
        let done = self.interpolated(item)?;
        self.warn_defaulted(&item.place, &done.defaulted);
        Some(done)
    }

    pub(super) fn warn_defaulted(&mut self, place: &str, defaulted: &[String]) {
        for var in defaulted {
            self.warn(format!(
                "SECRET FROM DEFAULT: {place} uses the `:-default` written in the config file because \
                 ${var} is unset or empty; set {var} so the secret does not live in the file"
            ));
        }
    }

    fn boolean(&mut self, item: &Item) -> Option<bool> {
        match item.value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            DeValue::String(_) => {
                let text = self.string(item)?;
                match text.trim() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => {
                        self.invalid(item, "expected true or false");
                        None
                    }
                }
            }
            _ => {
                self.wrong_type(item, "true or false", "");
                None
            }
        }
    }

    /// An integer in `range`; a string holding one is accepted so `${VAR}` works.
    fn integer(&mut self, item: &Item, range: RangeInclusive<u64>) -> Option<u64> {
        let number: Option<i128> = match item.value.get_ref() {
            DeValue::Integer(i) => i128::from_str_radix(i.as_str(), i.radix()).ok(),
            DeValue::String(_) => {
                let text = self.string(item)?;
                match text.trim().parse::<i128>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        self.invalid(item, "expected a whole number");
                        return None;
                    }
                }
            }
            _ => {
                self.wrong_type(item, "an integer", "");
                return None;
            }
        };
        match number.and_then(|n| u64::try_from(n).ok()) {
            Some(n) if range.contains(&n) => Some(n),
            _ => {
                self.invalid(
                    item,
                    format!(
                        "must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    fn duration(&mut self, item: &Item, zero_ok: bool) -> Option<Duration> {
        let DeValue::String(_) = item.value.get_ref() else {
            self.wrong_type(
                item,
                "a duration string",
                "; write a number and a unit, e.g. \"10s\", \"5m\", \"7d\"",
            );
            return None;
        };
        let done = self.interpolated(item)?;
        match units::parse_duration(&done.value) {
            Ok(d) if d.is_zero() && !zero_ok => {
                self.invalid(item, "must be longer than zero");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                let e = if done.used.is_empty() {
                    e
                } else {
                    e.describing(shown(&done))
                };
                self.fail(&item.place, Some(item.span()), e.into());
                None
            }
        }
    }

    /// A size in bytes, never zero.
    fn size(&mut self, item: &Item) -> Option<u64> {
        let bytes = match item.value.get_ref() {
            DeValue::Integer(i) => {
                match i128::from_str_radix(i.as_str(), i.radix())
                    .ok()
                    .and_then(|n| u64::try_from(n).ok())
                {
                    Some(n) => n,
                    None => {
                        self.invalid(item, "a size cannot be negative");
                        return None;
                    }
                }
            }
            DeValue::String(_) => {
                let done = self.interpolated(item)?;
                match units::parse_size(&done.value) {
                    Ok(n) => n,
                    Err(e) => {
                        let e = if done.used.is_empty() {
                            e
                        } else {
                            e.describing(shown(&done))
                        };
                        self.fail(&item.place, Some(item.span()), e.into());
                        return None;
                    }
                }
            }
            _ => {
                self.wrong_type(
                    item,
                    "a size",
                    "; write bytes as an integer or a string such as \"1MiB\"",
                );
                return None;
            }
        };
        if bytes == 0 {
            self.invalid(item, "must be larger than zero");
            return None;
        }
        Some(bytes)
    }

    /// One of `options` (lower-case words).
    fn choice(&mut self, item: &Item, options: &[&'static str]) -> Option<&'static str> {
        let done = self.interpolated(item)?;
        match options.iter().find(|o| **o == done.value) {
            Some(o) => Some(*o),
            None => {
                self.invalid(
                    item,
                    format!(
                        "{} is not accepted; use one of: {}",
                        shown(&done),
                        quoted(options)
                    ),
                );
                None
            }
        }
    }

    /// A list of strings, interpolated; the items keep their places.
    fn strings<'a, 'i>(
        &mut self,
        item: &Item<'a, 'i>,
        hint: &str,
    ) -> Option<Vec<(Item<'a, 'i>, Interpolated)>> {
        let items = self.array(item, hint)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for entry in items {
            match self.interpolated(&entry) {
                Some(done) => out.push((entry, done)),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or bare addresses (`/32`, `/128`).
    fn nets(&mut self, item: &Item) -> Option<Vec<IpNet>> {
        let entries = self.strings(
            item,
            "; write a list such as [\"10.0.0.0/8\", \"2001:db8::1\"]",
        )?;
        let mut nets = Vec::with_capacity(entries.len());
        let mut ok = true;
        for (entry, done) in entries {
            match validate::parse_net(done.value.trim()) {
                Some(net) => nets.push(net),
                None => {
                    ok = false;
                    self.invalid(
                        &entry,
                        format!(
                            "{} is not a CIDR or IP address; write e.g. \"192.30.252.0/22\", \"2606:50c0::/32\" or \"203.0.113.7\"",
                            shown(&done)
                        ),
                    );
                }
            }
        }
        ok.then_some(nets)
    }
}

/// Reads `key` of `table` with `read` if present.
fn field<'a, 'i, T>(
    cx: &mut Ctx,
    table: &Tbl<'a, 'i>,
    key: &str,
    read: impl FnOnce(&mut Ctx, &Item<'a, 'i>) -> Option<T>,
) -> Option<T> {
    let item = table.get(key)?;
    read(cx, &item)
}

/// Replaces `${VAR}` and `${VAR:-default}` in `raw`; `$${` is a literal `${`.
pub(super) fn interpolate(
    raw: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, Vec<InterpolationError>> {
    let mut value = String::with_capacity(raw.len());
    let mut used = Vec::new();
    let mut defaulted = Vec::new();
    let mut errors = Vec::new();
    let mut rest = raw;
    while let Some(dollar) = rest.find('$') {
        value.push_str(&rest[..dollar]);
        let at = &rest[dollar..];
        if let Some(tail) = at.strip_prefix("$${") {
            value.push_str("${");
            rest = tail;
            continue;
        }
        let Some(tail) = at.strip_prefix("${") else {
            value.push('$');
            rest = &at[1..];
            continue;
        };
        let Some(close) = tail.find('}') else {
            errors.push(InterpolationError::Syntax(
                "`${` has no closing `}`; write ${VAR} or ${VAR:-default}, or $${ for a literal ${"
                    .to_owned(),
            ));
            rest = "";
            break;
        };
        let inner = &tail[..close];
        rest = &tail[close + 1..];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        if !valid_var_name(name) {
            errors.push(InterpolationError::Syntax(format!(
                "`${{{}}}` is not a variable reference; the forms are ${{VAR}} and ${{VAR:-default}} with VAR made of letters, digits and `_`",
                cut(name)
            )));
            continue;
        }
        used.push(name.to_owned());
        let set = env(name);
        match (set, default) {
            (Some(v), Some(default)) if v.is_empty() => {
                if !default.is_empty() {
                    defaulted.push(name.to_owned());
                }
                value.push_str(default);
            }
            (Some(v), _) => value.push_str(&v),
            (None, Some(default)) => {
                if !default.is_empty() {
                    defaulted.push(name.to_owned());
                }
                value.push_str(default);
            }
            (None, None) => errors.push(InterpolationError::Unset(name.to_owned())),
        }
    }
    value.push_str(rest);
    if errors.is_empty() {
        Ok(Interpolated {
            value,
            used,
            defaulted,
        })
    } else {
        Err(errors)
    }
}

fn valid_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn found(value: &DeValue) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

/// How a message shows a value: quoted and cut short when it was written in the file; when any
/// part came from the environment, only the variables' names (an environment value may be a
/// secret that landed under the wrong key).
pub(super) fn shown(done: &Interpolated) -> String {
    if done.used.is_empty() {
        format!("`{}`", cut(&done.value))
    } else {
        format!("the value from ${}", done.used.join(", $"))
    }
}

/// A value shown in a message, cut short. Only used for values that are not secrets.
pub(super) fn cut(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(MAX).collect();
        short.push('…');
        short
    }
}

pub(super) fn quoted(options: &[&str]) -> String {
    options
        .iter()
        .map(|o| format!("\"{o}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The accepted key closest to a misspelt one, if it is close enough to be the likely intent.
fn closest<'k>(key: &str, accepted: &[&'k str]) -> Option<&'k str> {
    accepted
        .iter()
        .map(|candidate| (edit_distance(key, candidate), *candidate))
        .filter(|(distance, candidate)| *distance <= 2.max(candidate.len() / 4))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

fn read_server(cx: &mut Ctx, item: Option<Item>) -> Server {
    let mut server = Server::default();
    let Some(table) = item.and_then(|item| cx.table(&item)) else {
        return server;
    };
    cx.check_keys(&table, SERVER_KEYS, &|_| None);
    if let Some(v) = field(cx, &table, "listen", read_listen) {
        server.listen = v;
    }
    if let Some(v) = field(cx, &table, "admin_listen", read_listen) {
        server.admin_listen = v;
    }
    if let Some(item) = table.get("admin_token")
        && let Some(done) = cx.secret_text(&item)
    {
        if done.value.trim().is_empty() {
            let hint = match done.used.first() {
                Some(var) => format!("; set {var}"),
                None => String::new(),
            };
            cx.invalid(
                &item,
                format!(
                    "is empty (or only whitespace){hint}, or remove admin_token to run without one"
                ),
            );
        } else if !done.value.chars().all(|c| c.is_ascii_graphic()) {
            cx.invalid(
                &item,
                "contains whitespace, a line break or non-ASCII characters; a bearer token is one \
                 word of visible ASCII (a trailing newline from a secrets file is a common cause)",
            );
        } else {
            if done.value.chars().count() < 16 {
                cx.warn(
                    "server.admin_token is shorter than 16 characters: use a long random token \
                     (e.g. `openssl rand -hex 32`)"
                        .to_owned(),
                );
            }
            server.admin_token = Some(SecretString::from(done.value));
        }
    }
    if let Some(v) = field(cx, &table, "trusted_proxies", |cx, i| cx.nets(i)) {
        server.trusted_proxies = v;
    }
    if let Some(v) = field(cx, &table, "require_https", |cx, i| cx.boolean(i)) {
        server.require_https = v;
    }
    if let Some(v) = field(cx, &table, "max_body_bytes", |cx, i| cx.size(i)) {
        server.max_body_bytes = v;
    }
    if let Some(v) = field(cx, &table, "request_timeout", |cx, i| cx.duration(i, false)) {
        server.request_timeout = v;
    }
    if let Some(v) = field(cx, &table, "max_in_flight", |cx, i| {
        cx.integer(i, 1..=MAX_IN_FLIGHT)
    }) {
        // Bounded by MAX_IN_FLIGHT, which fits a usize on every supported target.
        server.max_in_flight = usize::try_from(v).unwrap_or(usize::MAX);
    }
    if let Some(v) = field(cx, &table, "shutdown_timeout", |cx, i| cx.duration(i, true)) {
        server.shutdown_timeout = v;
    }
    read_front_door(cx, &table, &mut server);
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

/// `client_prefix` and `max_in_flight_per_client` ([`super::frontdoor`]).
fn read_front_door(cx: &mut Ctx, table: &Tbl, server: &mut Server) {
    if let Some(item) = table.get("client_prefix")
        && let Some(prefix) = cx.table(&item)
    {
        cx.check_keys(&prefix, CLIENT_PREFIX_KEYS, &|_| None);
        if let Some(v) = field(cx, &prefix, "ipv4", |cx, i| cx.integer(i, 1..=32)) {
            server.client_prefix.ipv4 = u8::try_from(v).unwrap_or(32);
        }
        if let Some(v) = field(cx, &prefix, "ipv6", |cx, i| cx.integer(i, 1..=128)) {
            server.client_prefix.ipv6 = u8::try_from(v).unwrap_or(64);
        }
    }
    if let Some(item) = table.get("max_in_flight_per_client")
        && let Some(v) = cx.integer(&item, 1..=MAX_IN_FLIGHT)
    {
        // Bounded by MAX_IN_FLIGHT, which fits a usize on every supported target.
        let v = usize::try_from(v).unwrap_or(usize::MAX);
        if v > server.max_in_flight {
            cx.invalid(
                &item,
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
}

fn read_listen(cx: &mut Ctx, item: &Item) -> Option<String> {
    let done = cx.interpolated(item)?;
    match validate::listen_address(&done.value, &shown(&done)) {
        Ok(()) => Some(done.value),
        Err(message) => {
            cx.invalid(item, message);
            None
        }
    }
}

fn read_storage(cx: &mut Ctx, item: Option<Item>) -> Storage {
    let mut storage = Storage::default();
    let Some(table) = item.and_then(|item| cx.table(&item)) else {
        return storage;
    };
    cx.check_keys(&table, STORAGE_KEYS, &|_| None);
    if let Some(item) = table.get("url")
        && let Some(done) = cx.interpolated(&item)
    {
        match validate::store_url(&done.value, &shown(&done)) {
            Ok((url, has_password)) => {
                if has_password {
                    cx.warn_defaulted(&item.place, &done.defaulted);
                }
                storage.url = url;
            }
            Err(message) => cx.invalid(&item, message),
        }
    }
    if let Some(v) = field(cx, &table, "retention", |cx, i| cx.duration(i, false)) {
        storage.retention = v;
    }
    if let Some(v) = field(cx, &table, "dedup_window", |cx, i| cx.duration(i, false)) {
        storage.dedup_window = v;
    }
    if let Some(v) = field(cx, &table, "lease", |cx, i| cx.duration(i, false)) {
        storage.lease = v;
    }
    // A pool larger than this is a mistake a PostgreSQL server would refuse anyway
    // (its own max_connections is shared by every instance).
    if let Some(v) = field(cx, &table, "max_connections", |cx, i| {
        cx.integer(i, 1..=1000)
    }) {
        // In 1..=1000 by the range above.
        storage.max_connections = u32::try_from(v).unwrap_or(1000);
    }
    storage
}

/// `[defaults]`: values every source inherits unless it sets its own.
#[derive(Default)]
struct Defaults {
    timestamp_tolerance: Option<Duration>,
    rate_limit: Option<RateLimit>,
    allow_ips: Option<Vec<IpNet>>,
    max_body_bytes: Option<u64>,
    accept_status: Option<u16>,
    max_json_depth: Option<usize>,
    dedup: Option<DedupMode>,
}

fn read_defaults(cx: &mut Ctx, item: Option<Item>) -> Defaults {
    let Some(table) = item.and_then(|item| cx.table(&item)) else {
        return Defaults::default();
    };
    cx.check_keys(&table, DEFAULTS_KEYS, &|key| {
        SOURCE_KEYS
            .contains(&key)
            .then(|| format!("; `{key}` is set on each [sources.NAME], not in [defaults]"))
    });
    Defaults {
        timestamp_tolerance: field(cx, &table, "timestamp_tolerance", |cx, i| {
            cx.duration(i, false)
        }),
        rate_limit: field(cx, &table, "rate_limit", read_rate_limit),
        allow_ips: field(cx, &table, "allow_ips", |cx, i| cx.nets(i)),
        max_body_bytes: field(cx, &table, "max_body_bytes", |cx, i| cx.size(i)),
        accept_status: field(cx, &table, "accept_status", read_accept_status),
        max_json_depth: field(cx, &table, "max_json_depth", read_json_depth),
        dedup: field(cx, &table, "dedup", read_dedup),
    }
}

fn read_rate_limit(cx: &mut Ctx, item: &Item) -> Option<RateLimit> {
    let table = cx.table(item)?;
    cx.check_keys(&table, RATE_LIMIT_KEYS, &|_| None);
    let max = u64::from(u32::MAX);
    let per_second = field(cx, &table, "per_second", |cx, i| cx.integer(i, 1..=max));
    let burst = field(cx, &table, "burst", |cx, i| cx.integer(i, 1..=max));
    if table.get("per_second").is_none() {
        cx.missing(
            &table,
            "per_second",
            "write e.g. rate_limit = { per_second = 20, burst = 40 }".to_owned(),
        );
        return None;
    }
    let per_second = u32::try_from(per_second?).ok()?;
    let burst = match (table.get("burst"), burst) {
        (None, _) => per_second,
        (Some(_), Some(burst)) => u32::try_from(burst).ok()?,
        (Some(_), None) => return None,
    };
    Some(RateLimit { per_second, burst })
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

/// Each source with the byte span of its key, in file order.
fn read_sources(
    cx: &mut Ctx,
    item: Option<Item>,
    defaults: &Defaults,
    server: &Server,
    config_dir: &Path,
) -> Vec<(Source, Range<usize>)> {
    let Some(item) = item else {
        return Vec::new();
    };
    let DeValue::Table(map) = item.value.get_ref() else {
        cx.wrong_type(
            &item,
            "a table of sources",
            "; write one [sources.NAME] table per source",
        );
        return Vec::new();
    };
    let table = Tbl {
        place: item.place.clone(),
        map,
        span: Some(item.span()),
    };
    let mut sources = Vec::new();
    for (name, key_span, item) in table.entries() {
        if !validate::source_name(name) {
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
        if let Some(source) = read_source(cx, name, &item, defaults, server, config_dir) {
            sources.push((source, key_span));
        }
    }
    validate::unique_paths(cx, &sources);
    validate::unique_destination_names(cx, &sources);
    sources
}

fn read_source(
    cx: &mut Ctx,
    name: &str,
    item: &Item,
    defaults: &Defaults,
    server: &Server,
    config_dir: &Path,
) -> Option<Source> {
    let table = cx.table(item)?;
    cx.check_keys(&table, SOURCE_KEYS, &|key| {
        (HTTP_KEYS.contains(&key) || EMAIL_KEYS.contains(&key)).then(|| {
            format!(
                "; `{key}` is a destination key: put it in a [[{}.destinations]] table",
                table.place
            )
        })
    });

    let provider = match table.get("provider") {
        Some(item) => read_provider(cx, &item),
        None => {
            cx.missing(
                &table,
                "provider",
                format!(
                    "a source must say how its requests are verified: provider = one of {}",
                    quoted(crate::providers::KNOWN)
                ),
            );
            None
        }
    };
    let secrets = match table.get("secrets") {
        None => Some(validate::Material::absent()),
        Some(item) => read_secret_list(cx, &item, "secrets = [\"${MY_WEBHOOK_SECRET}\"]"),
    };
    let public_keys = match table.get("public_keys") {
        None => Some(validate::Material::absent()),
        Some(item) => read_secret_list(cx, &item, "public_keys = [\"whpk_…\"]"),
    };
    let allow_ips = match table.get("allow_ips") {
        None => Some(defaults.allow_ips.clone().unwrap_or_default()),
        Some(item) => cx.nets(&item),
    };
    let rate_limit = match table.get("rate_limit") {
        None => Some(defaults.rate_limit),
        Some(item) => read_rate_limit(cx, &item).map(Some),
    };
    let schema = field(cx, &table, "schema", |cx, i| {
        let text = cx.non_empty(i)?;
        let path = config_dir.join(text);
        files::check_schema(cx, i, &path);
        Some(path)
    });
    let path = match table.get("path") {
        None => Some(format!("/hooks/{name}")),
        Some(item) => read_route_path(cx, &item),
    };
    let errors_before_overrides = cx.errors.len();
    let overrides = read_overrides(cx, &table, defaults);
    let overrides_ok = cx.errors.len() == errors_before_overrides;
    let accept_status =
        field(cx, &table, "accept_status", read_accept_status).or(defaults.accept_status);
    let max_body_bytes = field(cx, &table, "max_body_bytes", |cx, i| cx.size(i))
        .or(defaults.max_body_bytes)
        .unwrap_or(server.max_body_bytes);
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
    let destinations = match table.get("destinations") {
        None => Some(Vec::new()),
        Some(item) => read_destinations(cx, name, &item),
    };
    let verify_token = match table.get("verify_token") {
        None => None,
        Some(item) => match cx.secret_text(&item) {
            Some(done) if done.value.trim().is_empty() => {
                cx.invalid(
                    &item,
                    "is empty (or only whitespace): set it to the verify token typed in the provider's dashboard, or \
                     remove verify_token",
                );
                None
            }
            Some(done) => Some(SecretString::from(done.value)),
            None => None,
        },
    };

    // Fail closed: only judge key material when every piece of it was read; otherwise the error
    // already reported is the one to fix first. A bad `allow_ips` does not hide a secrets error.
    let (provider, secrets, public_keys) = (provider?, secrets?, public_keys?);
    let errors_before_keys = cx.errors.len();
    validate::key_material(
        cx,
        &table,
        validate::Keys {
            source: name,
            provider,
            secrets: &secrets,
            public_keys: &public_keys,
            allow_ips: allow_ips.as_deref(),
            allow_ips_place: table.get("allow_ips").map(|i| (i.place.clone(), i.span())),
        },
    );
    if overrides_ok && cx.errors.len() == errors_before_keys {
        scheme::check(
            cx,
            &table,
            provider,
            &secrets.values,
            &public_keys.values,
            &overrides,
        );
    }
    let allow_ips = allow_ips?;
    let destinations = destinations?;
    validate::destinations(cx, &table, mode, &destinations);

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

fn read_route_path(cx: &mut Ctx, item: &Item) -> Option<String> {
    let done = cx.interpolated(item)?;
    match validate::route_path(&done.value, &shown(&done)) {
        Ok(()) => Some(done.value),
        Err(message) => {
            cx.invalid(item, message);
            None
        }
    }
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
fn read_secret_list(cx: &mut Ctx, item: &Item, example: &str) -> Option<validate::Material> {
    let hint = format!(
        "; it is always a list, even with one entry: {example} (several entries = rotation)"
    );
    let entries = cx.strings(item, &hint)?;
    let mut material = validate::Material {
        present: true,
        place: item.place.clone(),
        span: Some(item.span()),
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
            let done = cx.interpolated(i)?;
            match validate::http_url(&done.value, &shown(&done)) {
                Ok(_) => Some(done.value),
                Err(message) => {
                    cx.invalid(i, message);
                    None
                }
            }
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
    if validate::header_name(&done.value) {
        Some(done.value)
    } else {
        cx.invalid(item, format!("{} is not an HTTP header name", shown(&done)));
        None
    }
}

fn read_destinations(cx: &mut Ctx, source: &str, item: &Item) -> Option<Vec<Destination>> {
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
    let kind = match table.get("type") {
        None => Some("http"),
        Some(item) => cx.choice(&item, &["http", "email"]),
    };
    let name = match table.get("name") {
        None => Some(format!("{source}-{index}")),
        Some(item) => read_destination_name(cx, &item),
    };
    let timeout = field(cx, &table, "timeout", |cx, i| cx.duration(i, false));
    let retry = match table.get("retry") {
        None => Some(Retry::default()),
        Some(item) => read_retry(cx, &item),
    };
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

fn read_destination_name(cx: &mut Ctx, item: &Item) -> Option<String> {
    let text = cx.string(item)?;
    if validate::source_name(&text) {
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
    let url = match table.get("url") {
        Some(item) => read_http_url(cx, &item),
        None => {
            cx.missing(
                table,
                "url",
                "write the internal handler's address, e.g. url = \"http://handler:8000/webhooks\" \
                 (or type = \"email\" for an e-mail destination)"
                    .to_owned(),
            );
            None
        }
    };
    let signing_secret = match table.get("signing_secret") {
        None => Some(None),
        Some(item) => read_signing_secret(cx, &item).map(Some),
    };
    let forward_headers = match table.get("forward_headers") {
        None => Some(Vec::new()),
        Some(item) => read_forward_headers(cx, &item),
    };
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

fn read_http_url(cx: &mut Ctx, item: &Item) -> Option<url::Url> {
    let done = cx.interpolated(item)?;
    match validate::http_url(&done.value, &shown(&done)) {
        Ok(url) => Some(url),
        Err(message) => {
            cx.invalid(item, message);
            None
        }
    }
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
        match validate::forwardable_header(&name, &shown(&done)) {
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
    let smtp_url = match table.get("smtp_url") {
        Some(item) => read_smtp_url(cx, &item),
        None => {
            cx.missing(
                table,
                "smtp_url",
                "write the mail server, e.g. smtp_url = \"smtp://mail:25\" or \
                 \"smtps://user:${SMTP_PASSWORD}@mail.example.com\""
                    .to_owned(),
            );
            None
        }
    };
    let from = match table.get("from") {
        Some(item) => read_address(cx, &item),
        None => {
            cx.missing(
                table,
                "from",
                "write the sender, e.g. from = \"hookwall@example.com\"".to_owned(),
            );
            None
        }
    };
    let to = match table.get("to") {
        Some(item) => read_recipients(cx, &item),
        None => {
            cx.missing(
                table,
                "to",
                "write the recipients, e.g. to = [\"ops@example.com\"]".to_owned(),
            );
            None
        }
    };
    let subject = match table.get("subject") {
        None => Some(DEFAULT_SUBJECT.to_owned()),
        Some(item) => read_subject(cx, &item),
    };
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
    match validate::smtp_url(&done.value, &shown(&done)) {
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
    let done = cx.interpolated(item)?;
    match validate::email_address(&done.value, &shown(&done)) {
        Ok(()) => Some(done.value),
        Err(message) => {
            cx.invalid(item, message);
            None
        }
    }
}

fn read_retry(cx: &mut Ctx, item: &Item) -> Option<Retry> {
    let table = cx.table(item)?;
    cx.check_keys(&table, RETRY_KEYS, &|_| None);
    let defaults = Retry::default();
    let read = |cx: &mut Ctx, key: &str, fallback: Duration| match table.get(key) {
        None => Some(fallback),
        Some(item) => cx.duration(&item, false),
    };
    let initial = read(cx, "initial", defaults.initial);
    let max = read(cx, "max", defaults.max);
    let max_age = read(cx, "max_age", defaults.max_age);
    let max_attempts = match table.get("max_attempts") {
        None => Some(defaults.max_attempts),
        Some(item) => cx
            .integer(&item, 1..=10_000)
            .and_then(|n| u32::try_from(n).ok()),
    };
    let retry = Retry {
        initial: initial?,
        max: max?,
        max_attempts: max_attempts?,
        max_age: max_age?,
    };
    if retry.max < retry.initial {
        let place = join(&table.place, "max");
        let span = table.get("max").map(|i| i.span()).or(table.span.clone());
        cx.fail(
            &place,
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
