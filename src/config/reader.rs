//! The spanned-TOML reader: a walk by hand over `toml::de::DeTable` that keeps what an operator
//! needs in an error: the dotted place of every key, its line, every error of the file at once,
//! and an unknown key answered with the closest accepted one (or the list of them).
//!
//! [`Ctx`] is the walk's state (where lines start, the environment, the errors and warnings
//! found); [`Tbl`] and [`Item`] are a table and a value with their places. The typed readers
//! (`boolean`, `integer`, `duration`, `size`, `nets`, …) read one value and report what is wrong
//! with it at its place; a section's schema (`schema/*.rs`) is written with them. Rules never
//! see this file: they return [`Finding`]s, which [`Ctx::report`] turns into errors.
//!
//! Why by hand and not serde with spans: serde stops at the first error of a struct and cannot
//! say "did you mean" or name the keys accepted where an unknown one stands, and `${VAR}` must be
//! substituted per value, after parsing, with errors naming the key.

mod typed;

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{ConfigError, ConfigErrorKind, Finding, Spot};

type Value<'i> = Spanned<DeValue<'i>>;

/// The walk's state: where lines start (for error lines), the environment, and what was found.
pub(crate) struct Ctx<'e> {
    text: &'e str,
    line_starts: Vec<usize>,
    env: &'e dyn Fn(&str) -> Option<String>,
    pub(crate) errors: Vec<ConfigError>,
    pub(crate) warnings: Vec<String>,
}

/// A table being read, with its place for messages.
pub(crate) struct Tbl<'a, 'i> {
    pub(crate) place: String,
    map: &'a DeTable<'i>,
    /// The header (or inline table) span; `None` for the root.
    span: Option<Range<usize>>,
}

/// One value being read, with its place for messages.
#[derive(Clone)]
pub(crate) struct Item<'a, 'i> {
    pub(crate) place: String,
    value: &'a Value<'i>,
}

impl<'a, 'i> Tbl<'a, 'i> {
    /// The document itself: no place, no span.
    pub(crate) fn root(doc: &'a Spanned<DeTable<'i>>) -> Self {
        Tbl {
            place: String::new(),
            map: doc.get_ref(),
            span: None,
        }
    }

    pub(crate) fn span(&self) -> Option<Range<usize>> {
        self.span.clone()
    }

    /// Where a finding about the whole table goes: its place, at its header.
    pub(crate) fn spot(&self) -> Spot {
        Spot::new(self.place.clone(), self.span.clone())
    }

    /// The spot of `key` when the table writes it, else the table's own.
    pub(crate) fn spot_of(&self, key: Option<&str>) -> Spot {
        match key.and_then(|key| self.get(key)) {
            Some(item) => item.spot(),
            None => self.spot(),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Item<'a, 'i>> {
        self.map.get(key).map(|value| Item {
            place: join(&self.place, key),
            value,
        })
    }

    /// Entries in file order.
    pub(crate) fn entries(&self) -> Vec<(&'a str, Range<usize>, Item<'a, 'i>)> {
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
    /// Whether the value is a table (a key that takes a table or a boolean, like `circuit`).
    pub(crate) fn is_table(&self) -> bool {
        matches!(self.value.get_ref(), DeValue::Table(_))
    }

    pub(crate) fn span(&self) -> Range<usize> {
        self.value.span()
    }

    pub(crate) fn spot(&self) -> Spot {
        Spot::new(self.place.clone(), Some(self.span()))
    }
}

/// `parent.key`, quoting keys that are not bare TOML keys so the place can be pasted back.
pub(crate) fn join(parent: &str, key: &str) -> String {
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
    pub(crate) fn new(text: &'e str, env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Ctx {
            text,
            line_starts,
            env,
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

    pub(crate) fn fail(&mut self, place: &str, span: Option<Range<usize>>, kind: ConfigErrorKind) {
        let line = span.map(|s| self.line(s.start));
        self.errors.push(ConfigError {
            place: place.to_owned(),
            line,
            kind,
        });
    }

    pub(crate) fn invalid(&mut self, item: &Item, message: impl Into<String>) {
        self.fail(
            &item.place,
            Some(item.span()),
            ConfigErrorKind::Invalid(message.into()),
        );
    }

    /// An error about a whole table (a missing key, a rule across its keys), at its header.
    pub(crate) fn invalid_table(&mut self, table: &Tbl, message: impl Into<String>) {
        self.fail(
            &table.place,
            table.span.clone(),
            ConfigErrorKind::Invalid(message.into()),
        );
    }

    pub(crate) fn missing(&mut self, table: &Tbl, key: &'static str, fix: String) {
        self.fail(
            &table.place,
            table.span.clone(),
            ConfigErrorKind::Missing { key, fix },
        );
    }

    pub(crate) fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    /// Turns a rule's findings into errors (with lines) and warnings, in their order.
    pub(crate) fn report(&mut self, findings: impl IntoIterator<Item = Finding>) {
        for finding in findings {
            match finding {
                Finding::Error { at, kind } => self.fail(&at.place, at.span, kind),
                Finding::Warning(message) => self.warn(message),
            }
        }
    }

    /// Parses the TOML syntax of the text the walk was made for. On syntax errors reports each
    /// with its line and column (parser messages name tokens, never echo values, so no secret
    /// leaks) and returns `None`: the tree of such a file is a guess, and checking its meaning
    /// would only add confusing errors.
    pub(crate) fn parse_toml(&mut self) -> Option<Spanned<DeTable<'e>>> {
        let (doc, syntax_errors) = DeTable::parse_recoverable(self.text);
        if syntax_errors.is_empty() {
            return Some(doc);
        }
        for error in syntax_errors {
            let offset = error.span().map_or(0, |s| s.start);
            let (line, column) = self.position(offset);
            self.errors.push(ConfigError {
                place: String::new(),
                line: Some(line),
                kind: ConfigErrorKind::Syntax {
                    column,
                    message: error.message().to_owned(),
                },
            });
        }
        None
    }

    /// Every error found, in line order (the walk reads a table's keys by name; line order is
    /// what a reader of the messages expects), or the warnings when there was none.
    pub(crate) fn finish(mut self) -> Result<Vec<String>, Vec<ConfigError>> {
        if self.errors.is_empty() {
            Ok(self.warnings)
        } else {
            self.errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
            Err(self.errors)
        }
    }

    /// Every key of `table` must be in `accepted`. `elsewhere` may explain where a misplaced key
    /// belongs; otherwise the closest accepted key is suggested.
    pub(crate) fn check_keys(
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

    pub(crate) fn wrong_type(
        &mut self,
        item: &Item,
        expected: &'static str,
        hint: impl Into<String>,
    ) {
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

    pub(crate) fn table<'a, 'i>(&mut self, item: &Item<'a, 'i>) -> Option<Tbl<'a, 'i>> {
        self.table_as(item, "a table", "")
    }

    /// A table, where a wrong type is reported as `expected` with `hint`.
    pub(crate) fn table_as<'a, 'i>(
        &mut self,
        item: &Item<'a, 'i>,
        expected: &'static str,
        hint: &str,
    ) -> Option<Tbl<'a, 'i>> {
        match item.value.get_ref() {
            DeValue::Table(map) => Some(Tbl {
                place: item.place.clone(),
                map,
                span: Some(item.span()),
            }),
            _ => {
                self.wrong_type(item, expected, hint);
                None
            }
        }
    }

    pub(crate) fn array<'a, 'i>(
        &mut self,
        item: &Item<'a, 'i>,
        hint: &str,
    ) -> Option<Vec<Item<'a, 'i>>> {
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
}

/// Reads `key` of `table` with `read` if present.
pub(crate) fn field<'a, 'i, T>(
    cx: &mut Ctx,
    table: &Tbl<'a, 'i>,
    key: &str,
    read: impl FnOnce(&mut Ctx, &Item<'a, 'i>) -> Option<T>,
) -> Option<T> {
    let item = table.get(key)?;
    read(cx, &item)
}

/// Reads `key` of `table` with `read`; `absent` when the table does not write it. `None` only
/// when the key was written and its error is reported.
pub(crate) fn field_or<'a, 'i, T>(
    cx: &mut Ctx,
    table: &Tbl<'a, 'i>,
    key: &str,
    absent: T,
    read: impl FnOnce(&mut Ctx, &Item<'a, 'i>) -> Option<T>,
) -> Option<T> {
    match table.get(key) {
        None => Some(absent),
        Some(item) => read(cx, &item),
    }
}

/// Reads `key`, which `table` must write; if it does not, a "missing required key" error at the
/// table says `fix`.
pub(crate) fn required<'a, 'i, T>(
    cx: &mut Ctx,
    table: &Tbl<'a, 'i>,
    key: &'static str,
    fix: impl FnOnce() -> String,
    read: impl FnOnce(&mut Ctx, &Item<'a, 'i>) -> Option<T>,
) -> Option<T> {
    match table.get(key) {
        Some(item) => read(cx, &item),
        None => {
            cx.missing(table, key, fix());
            None
        }
    }
}

/// One key a table accepts and how its value lands in `T`. A section written as a list of
/// these states its schema once: the list is both the accepted keys (for unknown-key errors and
/// did-you-mean) and the reader, in the order of the list.
pub(crate) struct Key<T> {
    pub(crate) name: &'static str,
    pub(crate) read: fn(&mut Ctx, &Item, &mut T),
}

/// `key!("name", |cx, item| read => field)`: a [`Key`] whose value, when `read` gives one (it
/// reports its own errors), is stored in `field` of the section being read.
macro_rules! key {
    ($name:literal, |$cx:ident, $item:ident| $read:expr => $($field:ident).+) => {
        $crate::config::reader::Key {
            name: $name,
            read: |$cx, $item, into| {
                if let Some(value) = $read {
                    into.$($field).+ = value;
                }
            },
        }
    };
}
pub(crate) use key;

/// The names of `keys`, in their order.
pub(crate) fn names<T>(keys: &[Key<T>]) -> Vec<&'static str> {
    keys.iter().map(|key| key.name).collect()
}

impl Ctx<'_> {
    /// Reads `table` by `keys`: a key not in the list is an error, each key the table writes is
    /// read into `into`, in the order of the list (a key may depend on one read before it).
    pub(crate) fn read_keys<T>(&mut self, table: &Tbl, keys: &[Key<T>], into: &mut T) {
        self.check_keys(table, &names(keys), &|_| None);
        self.read_known(table, keys, into);
    }

    /// Reads each key of `keys` that `table` writes into `into`, in the order of the list;
    /// unknown keys are the caller's to check.
    pub(crate) fn read_known<T>(&mut self, table: &Tbl, keys: &[Key<T>], into: &mut T) {
        for key in keys {
            if let Some(item) = table.get(key.name) {
                (key.read)(self, &item, into);
            }
        }
    }
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

pub(crate) fn quoted(options: &[&str]) -> String {
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
