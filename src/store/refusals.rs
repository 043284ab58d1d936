//! The refusal quarantine's records (SPEC section 13), as the store keeps them: what crosses the
//! [`super::Store`] trait, and what the two SQL stores share to read them back (the row decoder,
//! the listing's query and page).
//!
//! A record is written off the request path, in batches, by the quarantine writer
//! (`crate::quarantine`); each batch is followed, in the same transaction, by the per-source
//! bound, so the table never holds more than `max_per_source` records of a source once a batch
//! has committed. Nothing here judges a request: the record is made by the pipeline.

use serde::Serialize;
use uuid::Uuid;

use super::StoreError;
use super::error::Corrupt;

/// The most records one page of a listing holds.
const MAX_PAGE: u32 = 1000;

/// A refusal to keep, as the pipeline made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefusal {
    /// UUIDv7: time-ordered, so the oldest of a source are the smallest ids.
    pub id: Uuid,
    pub received_at_ms: i64,
    pub source: String,
    pub client_ip: String,
    pub status: u16,
    /// The `rejections_total` reason (`bad_signature`): what the listing filters on.
    pub category: String,
    /// The precise reason, as the request's log line has it.
    pub reason: String,
    /// Credentials redacted; a header credential as its fingerprint.
    pub headers: Vec<(String, String)>,
    /// `None` when the body was not read whole (a 413, or a refusal before the body).
    pub body_sha256: Option<String>,
    /// The bytes read; `None` when the refusal came before the body was read.
    pub body_length: Option<i64>,
    /// The first `sample_bytes` of the body as received (before gunzip).
    pub sample: Vec<u8>,
    pub sample_is_whole_body: bool,
}

/// A kept refusal as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredRefusal {
    pub id: String,
    pub source: String,
    pub received_at_ms: i64,
    pub client_ip: String,
    pub status: u16,
    pub category: String,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body_sha256: Option<String>,
    pub body_length: Option<i64>,
    pub sample: Vec<u8>,
    pub sample_is_whole_body: bool,
}

/// Which records a listing covers. `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusalFilter {
    pub source: Option<String>,
    /// The category (`bad_signature`, `schema_invalid`, …).
    pub reason: Option<String>,
    /// Received at or after (unix milliseconds).
    pub since_ms: Option<i64>,
}

/// One page of a listing, newest first; `next` is the cursor of the following page.
#[derive(Debug, Clone)]
pub struct RefusalPage {
    pub refusals: Vec<StoredRefusal>,
    pub next: Option<String>,
}

/// The columns a listing and a single read select, in the stores' shared names.
pub(super) const COLUMNS: &str = "id, source, received_at, client_ip, status, category, reason, \
     headers, body_sha256, body_length, sample, sample_is_whole_body";

/// The headers as the `headers` column holds them.
pub(super) fn headers_json(headers: &[(String, String)]) -> Result<String, StoreError> {
    Ok(serde_json::to_string(headers).map_err(Corrupt::from)?)
}

/// One page's query, newest first: `SELECT COLUMNS FROM refusals`, the filter, and `after`,
/// the cursor (the last id of the page before).
pub(super) fn list_query<DB>(
    filter: &RefusalFilter,
    after: Option<&str>,
    limit: u32,
) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::QueryBuilder::new(format!("SELECT {COLUMNS} FROM refusals WHERE 1 = 1"));
    if let Some(source) = &filter.source {
        query.push(" AND source = ").push_bind(source.clone());
    }
    if let Some(reason) = &filter.reason {
        query.push(" AND category = ").push_bind(reason.clone());
    }
    if let Some(since) = filter.since_ms {
        query.push(" AND received_at >= ").push_bind(since);
    }
    if let Some(after) = after {
        query.push(" AND id < ").push_bind(after.to_owned());
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit.clamp(1, MAX_PAGE)) + 1);
    query
}

/// The page [`list_query`]'s rows make: at most `limit` records, and the next page's cursor
/// when there are more.
pub(super) fn page(mut refusals: Vec<StoredRefusal>, limit: u32) -> RefusalPage {
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let next = if refusals.len() > limit {
        refusals.truncate(limit);
        refusals.last().map(|r| r.id.clone())
    } else {
        None
    };
    RefusalPage { refusals, next }
}

/// A row of [`COLUMNS`].
pub(super) fn from_row<R>(row: &R) -> Result<StoredRefusal, StoreError>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let headers: String = row.try_get("headers")?;
    let status: i64 = row.try_get("status")?;
    Ok(StoredRefusal {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        received_at_ms: row.try_get("received_at")?,
        client_ip: row.try_get("client_ip")?,
        // Written from a u16; anything else was not written by hookwall.
        status: u16::try_from(status).unwrap_or(0),
        category: row.try_get("category")?,
        reason: row.try_get("reason")?,
        headers: serde_json::from_str(&headers).map_err(Corrupt::Headers)?,
        body_sha256: row.try_get("body_sha256")?,
        body_length: row.try_get("body_length")?,
        sample: row.try_get("sample")?,
        sample_is_whole_body: row.try_get("sample_is_whole_body")?,
    })
}
