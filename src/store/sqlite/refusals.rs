//! The SQLite store's refusal-quarantine writes (SPEC section 13), run by the writer inside its
//! batch's transaction like every other write (see `writer.rs`); the reads are in `mod.rs`.
//!
//! Every function here runs synchronously on the writer's thread and must never commit, begin
//! or roll back.

use std::collections::BTreeSet;

use rusqlite::params;

use crate::store::refusals::headers_json;
use crate::store::{NewRefusal, StoreError};

/// Inserts the batch, then deletes the oldest records beyond `max_per_source` of each source it
/// wrote to; returns how many were deleted.
pub(super) fn keep(
    conn: &rusqlite::Connection,
    batch: &[NewRefusal],
    max_per_source: u64,
) -> Result<u64, StoreError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO refusals (id, source, received_at, client_ip, status, category, reason, \
         headers, body_sha256, body_length, sample, sample_is_whole_body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;
    let mut sources = BTreeSet::new();
    for refusal in batch {
        insert.execute(params![
            refusal.id.to_string(),
            refusal.source,
            refusal.received_at_ms,
            refusal.client_ip,
            refusal.status,
            refusal.category,
            refusal.reason,
            headers_json(&refusal.headers)?,
            refusal.body_sha256,
            refusal.body_length,
            refusal.sample,
            refusal.sample_is_whole_body,
        ])?;
        sources.insert(refusal.source.as_str());
    }
    // The id of the newest record past the bound, then everything at or below it: one index
    // walk of the source's newest `max_per_source` ids; nothing when the source is under it.
    let mut trim = conn.prepare_cached(
        "DELETE FROM refusals WHERE source = ?1 AND id <= \
         (SELECT id FROM refusals WHERE source = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    )?;
    let offset = i64::try_from(max_per_source).unwrap_or(i64::MAX);
    let mut deleted = 0;
    for source in sources {
        deleted += trim.execute(params![source, offset])? as u64;
    }
    Ok(deleted)
}

/// Deletes the refusals received before `before_ms`.
pub(super) fn purge(conn: &rusqlite::Connection, before_ms: i64) -> Result<u64, StoreError> {
    let deleted = conn
        .prepare_cached("DELETE FROM refusals WHERE received_at < ?1")?
        .execute([before_ms])?;
    Ok(deleted as u64)
}
