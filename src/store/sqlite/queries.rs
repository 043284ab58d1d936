//! The SQLite store's write statements, one function per write, each run by the writer inside
//! its batch's transaction (see `writer.rs`) on the one write connection.
//!
//! Every function here runs synchronously on the writer's thread and must never commit, begin
//! or roll back: the batch's transaction and the write's savepoint are the writer's.

use std::time::Duration;

use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use crate::clock::now_ms;
use crate::store::error::event_id;
use crate::store::sql::{Bound, conditions};
use crate::store::{
    AuditRecord, Claim, DeliveryStatus, DestinationState, EventFilter, EventStatus, Inserted,
    NewAudit, NewEvent, Purged, Recorded, Room, StoreError, Timing,
};

/// An event with its text columns already made. The writer is the store's one serial stage
/// (every insert waits for it), so what can be done before it (the headers' JSON, the id and the
/// address as text) is done on the caller's task instead.
pub(super) struct Row {
    pub event: NewEvent,
    pub id: String,
    pub client_ip: String,
    pub headers: String,
}

impl Row {
    pub fn new(event: NewEvent) -> Result<Row, StoreError> {
        let headers =
            serde_json::to_string(event.headers()).map_err(crate::store::Corrupt::from)?;
        Ok(Row {
            id: event.id().to_string(),
            client_ip: event.client_ip().to_string(),
            headers,
            event,
        })
    }
}

pub(super) fn insert(conn: &rusqlite::Connection, row: &Row) -> Result<Inserted, StoreError> {
    let event = &row.event;
    // An event with nowhere to go is kept for inspection, never reported as delivered (SPEC
    // section 10); retention treats it as it treats a delivered one.
    let status = EventStatus::of_new(event.destinations()).as_str();
    let id = &row.id;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO events (id, source, dedup_key, received_at, client_ip, request_id, \
             content_type, headers, body, next_attempt_at, status, event_type, trace_context) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?4, ?10, ?11, ?12) \
             ON CONFLICT (source, dedup_key) DO NOTHING",
        )?
        .execute(params![
            id,
            event.source(),
            event.dedup_key(),
            event.received_at_ms(),
            row.client_ip,
            event.request_id(),
            event.content_type(),
            row.headers,
            event.body().as_ref(),
            status,
            event.event_type(),
            event.trace_context().map(|context| context.to_string()),
        ])?;
    if inserted == 0 {
        let existing: String = conn
            .prepare_cached("SELECT id FROM events WHERE source = ?1 AND dedup_key = ?2")?
            .query_row(params![event.source(), event.dedup_key()], |row| row.get(0))?;
        return Ok(Inserted::Duplicate(event_id(&existing)?));
    }
    let mut deliveries = conn.prepare_cached(
        "INSERT INTO deliveries (event_id, destination, next_attempt_at, lease_owner, lease_until) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for destination in event.destinations() {
        let hold = event.hold_of(destination);
        deliveries.execute(params![
            id,
            destination,
            // A held delivery is due when its hold lapses, like any claim (see `claim`).
            hold.map_or(event.received_at_ms(), |h| h.until_ms),
            hold.map(|h| h.owner.as_str()),
            hold.map(|h| h.until_ms),
        ])?;
    }
    Ok(Inserted::Stored(event.id()))
}

/// Claims due deliveries, destination by destination ([`crate::store::shares`]), paused ones
/// left out. The claim moves
/// `next_attempt_at` to the end of the lease: claimed deliveries leave the front of their
/// destination's range of the `deliveries_waiting` index (no claim walks over work in flight),
/// and a lapsed lease makes the delivery due again by itself.
pub(super) fn claim(
    conn: &rusqlite::Connection,
    owner: &str,
    room: &Room,
    turn: usize,
    lease: Duration,
) -> Result<Vec<Claim>, StoreError> {
    let now = now_ms();
    let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
    // The destinations with waiting deliveries, by name: one seek in the index per destination
    // (a loose index scan), however long any destination's backlog is.
    let waiting: Vec<String> = conn
        .prepare_cached(
            "WITH RECURSIVE names(name) AS ( \
               SELECT MIN(destination) FROM deliveries INDEXED BY deliveries_waiting \
               WHERE status IN ('pending', 'failed') \
               UNION ALL \
               SELECT (SELECT MIN(destination) FROM deliveries INDEXED BY deliveries_waiting \
                 WHERE status IN ('pending', 'failed') AND destination > names.name) \
               FROM names WHERE names.name IS NOT NULL) \
             SELECT name FROM names WHERE name IS NOT NULL LIMIT ?1",
        )?
        .query_map(
            [i64::try_from(crate::store::MAX_DESTINATIONS).unwrap_or(i64::MAX)],
            |row| row.get(0),
        )?
        .collect::<Result<_, _>>()?;
    // In the same transaction as the claim: a pause committed before it holds.
    let paused: Vec<String> = conn
        .prepare_cached("SELECT name FROM destination_states WHERE paused = 1")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let waiting: Vec<String> = if paused.is_empty() {
        waiting
    } else {
        waiting
            .into_iter()
            .filter(|name| !paused.contains(name))
            .collect()
    };
    let mut statement = conn.prepare_cached(
        "UPDATE deliveries SET lease_owner = ?1, lease_until = ?2, next_attempt_at = ?2 \
         WHERE rowid IN ( \
           SELECT rowid FROM deliveries INDEXED BY deliveries_waiting \
           WHERE destination = ?5 AND status IN ('pending', 'failed') AND next_attempt_at <= ?3 \
             AND (lease_until IS NULL OR lease_until < ?3) \
           ORDER BY next_attempt_at LIMIT ?4) \
         RETURNING event_id, destination, attempts, \
           COALESCE(budget_from, \
             (SELECT received_at FROM events WHERE events.id = deliveries.event_id)), \
           (SELECT source FROM events WHERE events.id = deliveries.event_id), replays",
    )?;
    let mut claims: Vec<Claim> = Vec::new();
    for (destination, share) in crate::store::shares(&waiting, room, turn) {
        let share = share.min(room.total.saturating_sub(claims.len()));
        if share == 0 {
            break;
        }
        let rows = statement.query_map(
            params![
                owner,
                until,
                now,
                i64::try_from(share).unwrap_or(i64::MAX),
                destination
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, i64>(5)?,
                ))
            },
        )?;
        for row in rows {
            let (id, destination, attempts, budget_from_ms, source, replays) = row?;
            claims.push(Claim {
                event_id: event_id(&id)?,
                source,
                destination,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                budget_from_ms,
                replays: u32::try_from(replays).unwrap_or(u32::MAX),
            });
        }
    }
    Ok(claims)
}

pub(super) fn record(
    conn: &rusqlite::Connection,
    owner: &str,
    claim: &Claim,
    outcome: &Recorded,
    timing: Timing,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let (status, next, error, delivered_at) = outcome.columns(now);
    let id = claim.event_id.to_string();
    let updated = conn
        .prepare_cached(
            "UPDATE deliveries SET status = ?1, attempts = attempts + 1, next_attempt_at = ?2, \
             last_error = ?3, delivered_at = ?4, lease_owner = NULL, lease_until = NULL \
             WHERE event_id = ?5 AND destination = ?6 AND lease_owner = ?7",
        )?
        .execute(params![
            status.as_str(),
            next,
            error,
            delivered_at,
            id,
            claim.destination,
            owner
        ])?;
    if updated == 0 {
        return Ok(false);
    }
    conn.prepare_cached(
        "INSERT INTO attempts (event_id, destination, at, duration_ms, outcome, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        claim.destination,
        timing.started_at_ms,
        timing.duration_ms,
        outcome.outcome(),
        error
    ])?;
    refresh_event(conn, &id)?;
    Ok(true)
}

/// Keeps `events.status` (and its attempt count, error and next attempt) the aggregate of the
/// event's deliveries: dead if any is dead, else failed if any failed, else pending if any is
/// pending, else delivered. Every subquery goes through the primary key of `deliveries` (a
/// handful of rows per event); `+status` keeps SQLite from walking the status index instead,
/// which holds the whole queue.
fn refresh_event(conn: &rusqlite::Connection, id: &str) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE events SET \
           status = COALESCE((SELECT CASE \
               WHEN SUM(status = 'dead') > 0 THEN 'dead' \
               WHEN SUM(status = 'failed') > 0 THEN 'failed' \
               WHEN SUM(status = 'pending') > 0 THEN 'pending' \
               ELSE 'delivered' END FROM deliveries WHERE event_id = events.id), status), \
           attempts = COALESCE((SELECT SUM(attempts) FROM deliveries WHERE event_id = events.id), attempts), \
           next_attempt_at = COALESCE((SELECT MIN(next_attempt_at) FROM deliveries \
               WHERE event_id = events.id AND +status IN ('pending', 'failed')), next_attempt_at), \
           last_error = (SELECT last_error FROM deliveries WHERE event_id = events.id \
               AND last_error IS NOT NULL ORDER BY next_attempt_at DESC LIMIT 1) \
         WHERE id = ?1",
    )?
    .execute([id])?;
    Ok(())
}

pub(super) fn release(conn: &rusqlite::Connection, owner: &str) -> Result<u64, StoreError> {
    // Claims moved next_attempt_at to the lease's end: due again now.
    let released = conn
        .prepare_cached(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, \
             next_attempt_at = MIN(next_attempt_at, ?1) WHERE lease_owner = ?2",
        )?
        .execute(params![now_ms(), owner])?;
    Ok(released as u64)
}

pub(super) fn give_back(
    conn: &rusqlite::Connection,
    owner: &str,
    claims: &[Claim],
) -> Result<u64, StoreError> {
    // The claim moved next_attempt_at to the lease's end: due again now. `attempts` is left
    // alone: nothing was attempted.
    let mut statement = conn.prepare_cached(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, \
         next_attempt_at = MIN(next_attempt_at, ?1) \
         WHERE event_id = ?2 AND destination = ?3 AND lease_owner = ?4",
    )?;
    let now = now_ms();
    let mut given = 0;
    for claim in claims {
        given += statement.execute(params![
            now,
            claim.event_id.to_string(),
            claim.destination,
            owner
        ])? as u64;
    }
    Ok(given)
}

/// The compare-and-set of [`crate::store::Store::save_destination_state`].
pub(super) fn save_destination_state(
    conn: &rusqlite::Connection,
    state: &DestinationState,
) -> Result<bool, StoreError> {
    let values = params![
        state.name,
        state.paused,
        state.circuit.as_str(),
        i64::from(state.consecutive_failures),
        state.opened_at_ms,
        state.next_probe_at_ms,
        state.cooldown_ms,
        state.probe,
        state.version,
    ];
    let saved = if state.version == 0 {
        conn.prepare_cached(
            "INSERT INTO destination_states (name, paused, circuit, consecutive_failures, \
               opened_at, next_probe_at, cooldown, probe, version) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 + 1) ON CONFLICT (name) DO NOTHING",
        )?
        .execute(values)?
    } else {
        conn.prepare_cached(
            "UPDATE destination_states SET paused = ?2, circuit = ?3, consecutive_failures = ?4, \
               opened_at = ?5, next_probe_at = ?6, cooldown = ?7, probe = ?8, version = ?9 + 1 \
             WHERE name = ?1 AND version = ?9",
        )?
        .execute(values)?
    };
    Ok(saved == 1)
}

pub(super) fn replay(conn: &rusqlite::Connection, id: Uuid) -> Result<bool, StoreError> {
    let id = id.to_string();
    let has_body: Option<bool> = conn
        // An ignored event has no delivery to make due again.
        .prepare_cached(
            "SELECT body IS NOT NULL AND status <> 'ignored' FROM events WHERE id = ?1",
        )?
        .query_row([&id], |row| row.get(0))
        .optional()?;
    if has_body != Some(true) {
        return Ok(false);
    }
    conn.prepare_cached(
        "UPDATE deliveries SET status = ?3, attempts = 0, next_attempt_at = ?1, \
         budget_from = ?1, lease_owner = NULL, lease_until = NULL, delivered_at = NULL, \
         replays = replays + 1 \
         WHERE event_id = ?2",
    )?
    .execute(params![now_ms(), id, DeliveryStatus::Pending.as_str()])?;
    refresh_event(conn, &id)?;
    Ok(true)
}

pub(super) fn replay_matching(
    conn: &rusqlite::Connection,
    filter: &EventFilter,
) -> Result<u64, StoreError> {
    let mut sql = String::from("SELECT id FROM events WHERE body IS NOT NULL");
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    for (condition, value) in conditions(filter) {
        sql.push_str(condition);
        sql.push('?');
        values.push(match value {
            Bound::Text(text) => text.to_owned().into(),
            Bound::Int(int) => int.into(),
        });
    }
    let ids: Vec<String> = conn
        .prepare(&sql)?
        .query_map(rusqlite::params_from_iter(values), |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut replayed = 0;
    for id in ids {
        if replay(conn, event_id(&id)?)? {
            replayed += 1;
        }
    }
    Ok(replayed)
}

pub(super) fn purge(
    conn: &rusqlite::Connection,
    bodies_before_ms: i64,
    keys_before_ms: i64,
) -> Result<Purged, StoreError> {
    let bodies = conn.execute(
        "UPDATE events SET body = NULL WHERE status IN ('delivered', 'ignored') \
         AND body IS NOT NULL AND received_at < ?1",
        [bodies_before_ms],
    )?;
    let events = conn.execute(
        "DELETE FROM events WHERE status IN ('delivered', 'ignored') AND received_at < ?1",
        [keys_before_ms],
    )?;
    Ok(Purged {
        bodies: bodies as u64,
        events: events as u64,
    })
}

/// Appends `audit` after the newest record. The writer is the file's only writer, so the head
/// read here is still the head when the record is inserted: the chain cannot fork.
pub(super) fn append_audit(
    conn: &rusqlite::Connection,
    audit: &NewAudit,
) -> Result<AuditRecord, StoreError> {
    let head: Option<(i64, String)> = conn
        .prepare_cached("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let record = audit.chained(head, now_ms());
    conn.prepare_cached(
        "INSERT INTO audit (id, time, actor, action, target, outcome, client_ip, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        record.id,
        record.time_ms,
        record.actor,
        record.action,
        record.target,
        record.outcome,
        record.client_ip,
        record.prev_hash,
        record.hash,
    ])?;
    Ok(record)
}
