//! `[quarantine]`: what is kept of refused requests (SPEC section 13), and its bounds.
//!
//! `sample_bytes` is a size (`"4KiB"`), at most 1 MiB: a sample is held in memory while it
//! waits for the writer, and a larger one says nothing more about why a request was refused.
//! `max_per_source` is at least 1 (`enabled = false` is how to keep nothing).

use super::super::model::Quarantine;
use super::super::reader::{Ctx, Item, Key, key};

/// The largest `sample_bytes`.
const MAX_SAMPLE_BYTES: u64 = 1024 * 1024;

/// Every key of `[quarantine]`, in the order it is read.
pub(crate) const KEYS: &[Key<Quarantine>] = &[
    key!("enabled", |cx, item| cx.boolean(item) => enabled),
    key!("sample_bytes", |cx, item| read_sample_bytes(cx, item) => sample_bytes),
    key!("max_per_source", |cx, item| cx.integer(item, 1..=1_000_000) => max_per_source),
    key!("retention", |cx, item| cx.duration(item, false) => retention),
];

/// `[quarantine]`, or the defaults when the file has none.
pub(crate) fn read(cx: &mut Ctx, item: Option<Item>) -> Quarantine {
    let mut quarantine = Quarantine::default();
    if let Some(table) = item.and_then(|item| cx.table(&item)) {
        cx.read_keys(&table, KEYS, &mut quarantine);
    }
    quarantine
}

fn read_sample_bytes(cx: &mut Ctx, item: &Item) -> Option<u64> {
    let size = cx.size(item)?;
    if size > MAX_SAMPLE_BYTES {
        cx.invalid(
            item,
            format!("at most {MAX_SAMPLE_BYTES} bytes (1MiB); a sample is held in memory until it is written"),
        );
        return None;
    }
    Some(size)
}
