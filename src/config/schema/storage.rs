//! `[storage]`: where events are stored and how long they are kept.
//!
//! `url` is `sqlite://PATH` (a relative path is relative to the config file's directory:
//! resolved by the loader through `super::super::files`; `?options` are refused, the store
//! sets its own) or `postgres://…`; a password in it that falls back to a `:-default` warns.

use super::super::env::shown;
use super::super::forms;
use super::super::model::{Storage, StoreUrl};
use super::super::reader::{Ctx, Item, Key, key};

/// Every key of `[storage]`, in the order it is read.
pub(crate) const KEYS: &[Key<Storage>] = &[
    key!("url", |cx, item| read_url(cx, item) => url),
    key!("retention", |cx, item| cx.duration(item, false) => retention),
    key!("dedup_window", |cx, item| cx.duration(item, false) => dedup_window),
    key!("lease", |cx, item| cx.duration(item, false) => lease),
    key!("max_connections", |cx, item| read_pool_size(cx, item) => max_connections),
];

/// `[storage]`, or the defaults when the file has none.
pub(crate) fn read(cx: &mut Ctx, item: Option<Item>) -> Storage {
    let mut storage = Storage::default();
    if let Some(table) = item.and_then(|item| cx.table(&item)) {
        cx.read_keys(&table, KEYS, &mut storage);
    }
    storage
}

/// A pool larger than 1,000 is a mistake a PostgreSQL server would refuse anyway (its own
/// max_connections is shared by every instance).
fn read_pool_size(cx: &mut Ctx, item: &Item) -> Option<u32> {
    let size = cx.integer(item, 1..=1000)?;
    // In 1..=1000 by the range above.
    Some(u32::try_from(size).unwrap_or(1000))
}

fn read_url(cx: &mut Ctx, item: &Item) -> Option<StoreUrl> {
    let done = cx.interpolated(item)?;
    match forms::store_url(&done.value, &shown(&done)) {
        Ok((url, has_password)) => {
            if has_password {
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
