//! `rate_limit = { per_second, burst }`: a token bucket, the one form a source's limit (requests
//! per client) and a destination's pace (deliveries started) share. `burst` defaults to
//! `per_second`.

use super::super::model::RateLimit;
use super::super::reader::{Ctx, Item, field};

/// Keys of `rate_limit`.
pub(crate) const KEYS: &[&str] = &["per_second", "burst"];

pub(crate) fn read(cx: &mut Ctx, item: &Item) -> Option<RateLimit> {
    let table = cx.table(item)?;
    cx.check_keys(&table, KEYS, &|_| None);
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
