//! A destination's `filter = { event_types, body, headers }` (SPEC section 10): which events it
//! takes. Every list must hold at least one value (an empty list would match nothing, which is
//! never what was meant); `body` keys must be JSON Pointers (RFC 6901); `headers` names are
//! header names, kept lower-cased. Values are strings: a number or boolean in the body matches
//! the string of its JSON text, so `"2000"` and `"true"` are written as strings here.

use super::super::env::cut;
use super::super::forms;
use super::super::model::Filter;
use super::super::reader::{Ctx, Item, field};

/// Keys of `filter`.
pub(crate) const KEYS: &[&str] = &["event_types", "body", "headers"];

/// Reads `filter`; `None` when anything in it is wrong (every error is reported).
pub(crate) fn read(cx: &mut Ctx, item: &Item) -> Option<Filter> {
    let table = cx.table(item)?;
    cx.check_keys(&table, KEYS, &|_| None);
    if table.entries().is_empty() {
        cx.invalid(
            item,
            "is empty; name at least one of event_types, body, headers (or remove filter to take \
             every event)",
        );
        return None;
    }
    let event_types = field(cx, &table, "event_types", |cx, i| {
        values(
            cx,
            i,
            "; write e.g. event_types = [\"push\", \"pull_request\"]",
        )
    });
    let body = field(cx, &table, "body", |cx, i| {
        conditions(cx, i, |text| {
            forms::json_pointer(text, &format!("`{}`", cut(text)))
        })
    });
    let headers = field(cx, &table, "headers", |cx, i| {
        conditions(cx, i, |text| {
            if forms::header_name(&text.to_ascii_lowercase()) {
                Ok(())
            } else {
                Err(format!("`{}` is not a header name", cut(text)))
            }
        })
    });
    let failed = [
        ("event_types", event_types.is_none()),
        ("body", body.is_none()),
        ("headers", headers.is_none()),
    ]
    .iter()
    .any(|(key, missing)| *missing && table.get(key).is_some());
    if failed {
        return None;
    }
    Some(Filter {
        event_types,
        body: body.unwrap_or_default(),
        headers: headers
            .unwrap_or_default()
            .into_iter()
            .map(|(name, values)| (name.to_ascii_lowercase(), values))
            .collect(),
    })
}

/// A non-empty list of strings.
fn values(cx: &mut Ctx, item: &Item, hint: &str) -> Option<Vec<String>> {
    let entries = cx.strings(item, hint)?;
    if entries.is_empty() {
        cx.invalid(
            item,
            "is an empty list, which matches nothing; give at least one value or remove the key",
        );
        return None;
    }
    Some(entries.into_iter().map(|(_, done)| done.value).collect())
}

/// A table from keys (checked by `key_form`) to non-empty lists of strings, in the file's order.
fn conditions(
    cx: &mut Ctx,
    item: &Item,
    key_form: impl Fn(&str) -> Result<(), String>,
) -> Option<Vec<(String, Vec<String>)>> {
    let table = cx.table(item)?;
    let entries = table.entries();
    if entries.is_empty() {
        cx.invalid(
            item,
            "is empty; give at least one condition or remove the key",
        );
        return None;
    }
    let mut out = Vec::with_capacity(entries.len());
    let mut ok = true;
    for (key, _, value) in entries {
        if let Err(message) = key_form(key) {
            cx.invalid(&value, message);
            ok = false;
            continue;
        }
        let hint = format!("; write a list of strings, e.g. {{ \"{key}\" = [\"value\"] }}");
        match values(cx, &value, &hint) {
            Some(values) => out.push((key.to_owned(), values)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}
