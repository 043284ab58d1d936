//! What the two SQL stores share on the sqlx side: decoding an event row, a listing's query and
//! page, the embedded migrator and the installation key.
//!
//! Both schemas use the same table and column names, so one decoder and one filter serve both;
//! where the dialects differ (PostgreSQL's `uuid` ids read as text), the store passes its
//! spelling in. Nothing here decides what a store does: it only builds and reads SQL.

use super::{
    AttemptRecord, AuditRecord, DeliveryRecord, DestinationState, EventFilter, Page, StoreError,
    StoredEvent,
};
use crate::store::error::Corrupt;

/// The name, in `install_keys`, of the key of the admin API's fingerprints
/// ([`crate::providers::fingerprint`]).
pub(super) const FINGERPRINT_KEY: &str = "fingerprint";

/// 32 bytes from the operating system's generator, offered as the installation's fingerprint
/// key: kept only when the store has none yet, so every process of one store uses the first.
pub(super) fn fresh_key() -> Result<Vec<u8>, StoreError> {
    let mut key = vec![0; 32];
    getrandom::fill(&mut key).map_err(|err| StoreError::Setup(std::io::Error::other(err)))?;
    Ok(key)
}

/// The most events one page of a listing holds.
const MAX_PAGE: u32 = 1000;

/// The query of one page of a listing, newest first: `select` is the store's `SELECT … FROM
/// events WHERE <true>` (bodies left out), `after` the cursor as an id literal of its dialect
/// (PostgreSQL casts it). One row more than the page is asked for, to know whether another
/// page follows ([`page`]).
pub(super) fn list_query<DB>(
    select: &str,
    filter: &EventFilter,
    after: Option<(String, &str)>,
    limit: u32,
) -> sqlx::QueryBuilder<DB>
where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::QueryBuilder::new(select);
    push_filter(&mut query, filter);
    if let Some((id, cast)) = after {
        query.push(" AND id < ").push_bind(id).push(cast);
    }
    query
        .push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit.clamp(1, MAX_PAGE)) + 1);
    query
}

/// The page [`list_query`]'s rows make: at most `limit` events, and the cursor of the next page
/// when there was one row more.
pub(super) fn page(mut events: Vec<StoredEvent>, limit: u32) -> Page {
    let limit = limit.clamp(1, MAX_PAGE) as usize;
    let next = if events.len() > limit {
        events.truncate(limit);
        events.last().map(|e| e.id.clone())
    } else {
        None
    };
    Page { events, next }
}

/// An event row of either SQL store (the same column names in both schemas; PostgreSQL's
/// queries cast `id` to text).
pub(super) fn event_from_row<R>(row: &R) -> Result<StoredEvent, StoreError>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let headers: String = row.try_get("headers")?;
    Ok(StoredEvent {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        dedup_key: row.try_get("dedup_key")?,
        received_at_ms: row.try_get("received_at")?,
        client_ip: row.try_get("client_ip")?,
        request_id: row.try_get("request_id")?,
        content_type: row.try_get("content_type")?,
        event_type: row.try_get("event_type")?,
        trace_context: row.try_get("trace_context")?,
        headers: serde_json::from_str(&headers).map_err(Corrupt::Headers)?,
        body: row.try_get("body")?,
        status: row.try_get::<String, _>("status")?.parse()?,
        attempts: row.try_get("attempts")?,
        next_attempt_at_ms: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
    })
}

/// The most attempts of one event [`deliveries`] is given (the newest): a delivery retried for
/// days with `max_attempts` in the thousands shows its recent history, not all of it.
pub(super) const MAX_ATTEMPTS_SHOWN: i64 = 1000;

/// A `deliveries` row as [`deliveries`] reads it.
pub(super) type DeliveryRow = (String, String, i64, Option<String>, Option<i64>);
/// An `attempts` row as [`deliveries`] reads it.
pub(super) type AttemptRow = (String, i64, i64, String, Option<String>);

/// The deliveries of one event from its `deliveries` rows (destination, status, attempts,
/// last_error, delivered_at) and its `attempts` rows (destination, at, duration_ms, outcome,
/// error), both in any order; deliveries come out by destination name, attempts oldest first.
pub(super) fn deliveries(
    rows: Vec<DeliveryRow>,
    attempts: Vec<AttemptRow>,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let mut out = rows
        .into_iter()
        .map(
            |(destination, status, attempts, last_error, delivered_at_ms)| {
                Ok(DeliveryRecord {
                    destination,
                    status: status.parse()?,
                    attempts,
                    last_error,
                    delivered_at_ms,
                    history: Vec::new(),
                })
            },
        )
        .collect::<Result<Vec<_>, StoreError>>()?;
    out.sort_by(|a, b| a.destination.cmp(&b.destination));
    let mut attempts = attempts;
    attempts.sort_by_key(|(_, at_ms, ..)| *at_ms);
    for (destination, at_ms, duration_ms, outcome, error) in attempts {
        if let Some(delivery) = out.iter_mut().find(|d| d.destination == destination) {
            delivery.history.push(AttemptRecord {
                at_ms,
                duration_ms,
                outcome,
                error,
            });
        }
    }
    Ok(out)
}

/// A `destination_states` row of either SQL store (the same columns in both schemas).
pub(super) fn destination_state_from_row<R>(row: &R) -> Result<DestinationState, StoreError>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let failures: i64 = row.try_get("consecutive_failures")?;
    Ok(DestinationState {
        name: row.try_get("name")?,
        paused: row.try_get("paused")?,
        circuit: row.try_get::<String, _>("circuit")?.parse()?,
        consecutive_failures: u32::try_from(failures.max(0)).unwrap_or(u32::MAX),
        opened_at_ms: row.try_get("opened_at")?,
        next_probe_at_ms: row.try_get("next_probe_at")?,
        cooldown_ms: row.try_get("cooldown")?,
        probe: row.try_get("probe")?,
        version: row.try_get("version")?,
    })
}

/// An `audit` row of either SQL store (the same columns in both schemas).
pub(super) fn audit_from_row<R>(row: &R) -> Result<AuditRecord, StoreError>
where
    R: sqlx::Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AuditRecord {
        id: row.try_get("id")?,
        time_ms: row.try_get("time")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome: row.try_get("outcome")?,
        client_ip: row.try_get("client_ip")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// A value a filter binds.
pub(super) enum Bound<'a> {
    Text(&'a str),
    Int(i64),
}

/// The filter's conditions: each an ` AND <column> <operator> ` to follow with one bound value.
/// The one list of what an [`EventFilter`] filters on, for both stores and both drivers.
pub(super) fn conditions(filter: &EventFilter) -> impl Iterator<Item = (&'static str, Bound<'_>)> {
    let EventFilter {
        source,
        status,
        event_type,
        since_ms,
        until_ms,
    } = filter;
    [
        source
            .as_deref()
            .map(|s| (" AND source = ", Bound::Text(s))),
        status
            .as_deref()
            .map(|s| (" AND status = ", Bound::Text(s))),
        event_type
            .as_deref()
            .map(|t| (" AND event_type = ", Bound::Text(t))),
        since_ms.map(|ms| (" AND received_at >= ", Bound::Int(ms))),
        until_ms.map(|ms| (" AND received_at < ", Bound::Int(ms))),
    ]
    .into_iter()
    .flatten()
}

/// Appends the filter's conditions to a query of either SQL store (bound, never interpolated).
pub(super) fn push_filter<DB>(query: &mut sqlx::QueryBuilder<DB>, filter: &EventFilter)
where
    DB: sqlx::Database,
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    for (condition, value) in conditions(filter) {
        query.push(condition);
        match value {
            Bound::Text(text) => query.push_bind(text.to_owned()),
            Bound::Int(int) => query.push_bind(int),
        };
    }
}

/// An embedded migrator of `migrations/<dir>/`, from `(version, description, file)` each.
macro_rules! embedded_migrations {
    ($dir:literal: $(($version:literal, $description:literal, $file:literal)),* $(,)?) => {
        $crate::store::sql::migrator(&[$((
            $version,
            $description,
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/", $dir, "/", $file)),
        )),*])
    };
}
pub(super) use embedded_migrations;

/// An embedded migrator from `(version, description, sql)`, the SQL `include_str!`-ed from
/// `migrations/<store>/`.
pub(super) fn migrator(
    migrations: &[(i64, &'static str, &'static str)],
) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    sqlx::migrate::Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                sqlx::migrate::Migration::new(
                    version,
                    description.into(),
                    sqlx::migrate::MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}
