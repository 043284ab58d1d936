//! The PostgreSQL store's statements that run on the pool, outside the writer: claims,
//! outcomes, replays, purges and the queue's depths.
//!
//! Each function is one statement or one short transaction. Per-event writes lock the event row
//! first, then its deliveries (one order everywhere, so they cannot deadlock), and times that
//! decide leases come from the database clock. Nothing here is batched: it must never be called
//! from the writer, whose transactions hold only inserts.

use std::borrow::Cow;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::postgres::PgPool;
use uuid::Uuid;

use super::audit;
use crate::clock::now_ms;
use crate::store::error::event_id;
use crate::store::sql::push_filter;
use crate::store::{
    Claim, DeliveryStatus, Depth, DestinationState, EventFilter, NewAudit, Purged, Recorded, Room,
    StoreError, Timing,
};

/// The longest lease the store writes: a century, far past any configured value, so the
/// arithmetic in SQL cannot overflow a BIGINT.
const MAX_LEASE_MS: i64 = 100 * 365 * 86_400_000;
/// Advisory lock key held (per transaction) by the instance that purges, so instances started
/// together do not purge the same rows at the same moment. "hookwall" in ASCII.
const PURGE_LOCK: i64 = 0x686f_6f6b_7761_6c6c;

/// Free text (an attempt's error) without NUL, which `text` refuses.
fn text(value: &str) -> Cow<'_, str> {
    if value.contains('\0') {
        Cow::Owned(value.replace('\0', "\u{fffd}"))
    } else {
        Cow::Borrowed(value)
    }
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).map_or(MAX_LEASE_MS, |ms| ms.min(MAX_LEASE_MS))
}

pub(super) async fn claim(
    pool: &PgPool,
    owner: &str,
    room: &Room,
    turn: usize,
    lease: Duration,
) -> Result<Vec<Claim>, StoreError> {
    // The destinations with waiting deliveries, by name: one seek in the index per
    // destination (a loose index scan), however long any destination's backlog is.
    let waiting: Vec<String> = sqlx::query_scalar(
        "WITH RECURSIVE names AS ( \
           (SELECT destination FROM deliveries \
            WHERE status IN ('pending', 'failed') ORDER BY destination LIMIT 1) \
           UNION ALL \
           SELECT (SELECT d.destination FROM deliveries d \
             WHERE d.status IN ('pending', 'failed') \
               AND d.destination > names.destination \
             ORDER BY d.destination LIMIT 1) \
           FROM names WHERE names.destination IS NOT NULL) \
         SELECT destination FROM names WHERE destination IS NOT NULL LIMIT $1",
    )
    .bind(i64::try_from(crate::store::MAX_DESTINATIONS).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    let (destinations, shares): (Vec<String>, Vec<i64>) =
        crate::store::shares(&waiting, room, turn)
            .into_iter()
            .map(|(name, share)| (name, i64::try_from(share).unwrap_or(i64::MAX)))
            .unzip();
    if destinations.is_empty() {
        return Ok(Vec::new());
    }
    // Each destination's share of its due deliveries, in due order, destination after
    // destination in the order of `shares` (a nested loop over the array, stopped by
    // the LIMIT once the total is claimed: later rows are neither read nor locked,
    // as SQLite's store stops its loop). SKIP LOCKED: rows
    // another instance is claiming or recording right now are skipped, not waited
    // for. The lease is measured on the database clock. The claimed rows are updated
    // through the primary key (`event_id = ANY`): joined on the CTE instead, the
    // planner, which cannot tell how few rows a LIMIT per destination leaves, hashed
    // the whole table.
    let rows = sqlx::query(
        "WITH now AS MATERIALIZED ( \
           SELECT FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT AS ms), \
         due AS MATERIALIZED ( \
           SELECT c.event_id, c.destination \
           FROM now, ( \
             SELECT u.destination, u.share \
             FROM UNNEST($2::text[], $3::bigint[]) AS u(destination, share) \
             WHERE NOT EXISTS (SELECT 1 FROM destination_states s \
               WHERE s.name = u.destination AND s.paused)) w \
           CROSS JOIN LATERAL ( \
             SELECT d.event_id, d.destination FROM deliveries d \
             WHERE d.destination = w.destination \
               AND d.status IN ('pending', 'failed') AND d.next_attempt_at <= now.ms \
               AND (d.lease_until IS NULL OR d.lease_until < now.ms) \
             ORDER BY d.next_attempt_at \
             LIMIT w.share \
             FOR UPDATE OF d SKIP LOCKED) c \
           LIMIT $5) \
         UPDATE deliveries d SET lease_owner = $1, lease_until = now.ms + $4 \
         FROM now, events e \
         WHERE d.event_id = ANY(ARRAY(SELECT event_id FROM due)) \
           AND (d.event_id, d.destination) IN (SELECT event_id, destination FROM due) \
           AND e.id = d.event_id \
         RETURNING d.event_id::text AS event_id, d.destination, d.attempts, \
           d.next_attempt_at, COALESCE(d.budget_from, e.received_at) AS budget_from, \
           e.source, d.replays",
    )
    .bind(owner)
    .bind(&destinations)
    .bind(&shares)
    .bind(lease_ms(lease))
    .bind(i64::try_from(room.total).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    let mut claims = rows
        .iter()
        .map(|row| {
            let attempts: i64 = row.try_get("attempts")?;
            let replays: i64 = row.try_get("replays")?;
            let due: i64 = row.try_get("next_attempt_at")?;
            let claim = Claim {
                event_id: event_id(&row.try_get::<String, _>("event_id")?)?,
                source: row.try_get("source")?,
                destination: row.try_get("destination")?,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                budget_from_ms: row.try_get("budget_from")?,
                replays: u32::try_from(replays).unwrap_or(u32::MAX),
            };
            Ok((due, claim))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // RETURNING does not keep the CTE's order: longest due first.
    claims.sort_by_key(|(due, claim)| (*due, claim.event_id));
    Ok(claims.into_iter().map(|(_, claim)| claim).collect())
}

pub(super) async fn record(
    pool: &PgPool,
    owner: &str,
    claim: &Claim,
    outcome: Recorded,
    timing: Timing,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let (status, next, error, delivered_at) = outcome.columns(now);
    let id = claim.event_id.to_string();
    let mut tx = pool.begin().await?;
    if !lock_events(&mut tx, std::slice::from_ref(&id)).await? {
        return Ok(false);
    }
    let updated = sqlx::query(
        "UPDATE deliveries SET status = $1, attempts = attempts + 1, \
         next_attempt_at = $2, last_error = $3, delivered_at = $4, \
         lease_owner = NULL, lease_until = NULL \
         WHERE event_id = $5::uuid AND destination = $6 AND lease_owner = $7",
    )
    .bind(status.as_str())
    .bind(next)
    .bind(error.map(text).as_deref())
    .bind(delivered_at)
    .bind(&id)
    .bind(&claim.destination)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        // Another worker took the delivery over after the lease lapsed.
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO attempts (event_id, destination, at, duration_ms, outcome, error) \
         VALUES ($1::uuid, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&claim.destination)
    .bind(timing.started_at_ms)
    .bind(timing.duration_ms)
    .bind(outcome.outcome())
    .bind(error.map(text).as_deref())
    .execute(&mut *tx)
    .await?;
    refresh_events(&mut tx, &[id]).await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn release(pool: &PgPool, owner: &str) -> Result<u64, StoreError> {
    let released = sqlx::query(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL \
         WHERE lease_owner = $1",
    )
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(released.rows_affected())
}

pub(super) async fn give_back(
    pool: &PgPool,
    owner: &str,
    claims: &[Claim],
) -> Result<u64, StoreError> {
    let (ids, destinations): (Vec<String>, Vec<&str>) = claims
        .iter()
        .map(|claim| (claim.event_id.to_string(), claim.destination.as_str()))
        .unzip();
    // A claim leaves `next_attempt_at` as it was (the lease decides): due again at once.
    // `attempts` is left alone: nothing was attempted.
    let given = sqlx::query(
        "UPDATE deliveries d SET lease_owner = NULL, lease_until = NULL \
         FROM UNNEST($1::uuid[], $2::text[]) AS g(event_id, destination) \
         WHERE d.event_id = g.event_id AND d.destination = g.destination \
           AND d.lease_owner = $3",
    )
    .bind(&ids)
    .bind(&destinations)
    .bind(owner)
    .execute(pool)
    .await?;
    Ok(given.rows_affected())
}

pub(super) async fn destination_states(pool: &PgPool) -> Result<Vec<DestinationState>, StoreError> {
    let rows = sqlx::query(
        "SELECT name, paused, circuit, consecutive_failures, opened_at, next_probe_at, \
         cooldown, probe, version FROM destination_states ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(crate::store::sql::destination_state_from_row)
        .collect()
}

/// The compare-and-set of [`crate::store::Store::save_destination_state`]. Under READ
/// COMMITTED, an UPDATE that waited for another instance's save of the row re-reads its
/// `version` and matches nothing: the later writer retries on what the earlier one saved.
/// With `audit`, the save and the record are one transaction; without (the circuit breaker's
/// saves, many more), the statement commits on its own.
pub(super) async fn save_destination_state(
    pool: &PgPool,
    state: &DestinationState,
    audit: Option<&NewAudit>,
) -> Result<bool, StoreError> {
    let sql = if state.version == 0 {
        "INSERT INTO destination_states (name, paused, circuit, consecutive_failures, \
           opened_at, next_probe_at, cooldown, probe, version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9 + 1) ON CONFLICT (name) DO NOTHING"
    } else {
        "UPDATE destination_states SET paused = $2, circuit = $3, consecutive_failures = $4, \
           opened_at = $5, next_probe_at = $6, cooldown = $7, probe = $8, version = $9 + 1 \
         WHERE name = $1 AND version = $9"
    };
    let save = sqlx::query(sql)
        .bind(&state.name)
        .bind(state.paused)
        .bind(state.circuit.as_str())
        .bind(i64::from(state.consecutive_failures))
        .bind(state.opened_at_ms)
        .bind(state.next_probe_at_ms)
        .bind(state.cooldown_ms)
        .bind(state.probe.as_deref().map(text).as_deref())
        .bind(state.version);
    let Some(audit) = audit else {
        return Ok(save.execute(pool).await?.rows_affected() == 1);
    };
    let mut tx = pool.begin().await?;
    if save.execute(&mut *tx).await?.rows_affected() != 1 {
        return Ok(false);
    }
    audit::append(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn destination_depths(pool: &PgPool) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT destination, COUNT(*) FROM deliveries \
         WHERE status IN ('pending', 'failed') GROUP BY destination ORDER BY destination",
    )
    .fetch_all(pool)
    .await?)
}

pub(super) async fn replay(pool: &PgPool, id: Uuid, audit: &NewAudit) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    let replayable: Option<bool> = sqlx::query_scalar(
        // An ignored event has no delivery to make due again.
        "SELECT body IS NOT NULL AND status <> 'ignored' FROM events \
         WHERE id = $1::uuid FOR UPDATE",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    if replayable != Some(true) {
        return Ok(false);
    }
    replay_locked(&mut tx, &[id.to_string()]).await?;
    audit::append(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn replay_matching(
    pool: &PgPool,
    filter: &EventFilter,
    audit: &NewAudit,
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    // Locked in id order: two bulk replays, or a bulk replay and a worker recording
    // an outcome, take event rows in one order and cannot deadlock.
    let mut query = sqlx::QueryBuilder::new(
        "SELECT id::text FROM events WHERE body IS NOT NULL AND status <> 'ignored'",
    );
    push_filter(&mut query, filter);
    query.push(" ORDER BY id FOR UPDATE");
    let ids: Vec<String> = query.build_query_scalar().fetch_all(&mut *tx).await?;
    if !ids.is_empty() {
        replay_locked(&mut tx, &ids).await?;
    }
    let replayed = ids.len() as u64;
    audit::append(&mut tx, &audit.with_count("replayed", replayed)).await?;
    tx.commit().await?;
    Ok(replayed)
}

pub(super) async fn purge(
    pool: &PgPool,
    bodies_before_ms: i64,
    keys_before_ms: i64,
) -> Result<Purged, StoreError> {
    let mut tx = pool.begin().await?;
    // Every instance runs the purge on its own timer; one at a time is enough, and
    // two at once would only contend for the same rows.
    let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(PURGE_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    if !ours {
        return Ok(Purged::default());
    }
    let bodies = sqlx::query(
        "UPDATE events SET body = NULL \
         WHERE status IN ('delivered', 'ignored') AND body IS NOT NULL \
           AND received_at < $1",
    )
    .bind(bodies_before_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let events = sqlx::query(
        "DELETE FROM events WHERE status IN ('delivered', 'ignored') \
         AND received_at < $1",
    )
    .bind(keys_before_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(Purged { bodies, events })
}

pub(super) async fn depths(pool: &PgPool) -> Result<Vec<Depth>, StoreError> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT source, SUM(queued)::BIGINT, SUM(dead)::BIGINT FROM ( \
           SELECT e.source, COUNT(*) AS queued, 0 AS dead \
           FROM deliveries d JOIN events e ON e.id = d.event_id \
           WHERE d.status IN ('pending', 'failed') GROUP BY e.source \
           UNION ALL \
           SELECT source, 0, COUNT(*) FROM events WHERE status = 'dead' \
           GROUP BY source) per_source \
         GROUP BY source ORDER BY source",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(source, queued, dead)| Depth {
            source,
            queued,
            dead,
        })
        .collect())
}

type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// Locks the events (by id, in id order); false when none of them exists.
async fn lock_events(tx: &mut Tx, ids: &[String]) -> Result<bool, StoreError> {
    let locked: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM events WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(!locked.is_empty())
}

/// Makes every delivery of the (locked) events due now with a fresh retry budget.
async fn replay_locked(tx: &mut Tx, ids: &[String]) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE deliveries SET status = $2, attempts = 0, \
         next_attempt_at = FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT, \
         budget_from = FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT, \
         lease_owner = NULL, lease_until = NULL, delivered_at = NULL, \
         replays = replays + 1 \
         WHERE event_id = ANY($1::uuid[])",
    )
    .bind(ids)
    .bind(DeliveryStatus::Pending.as_str())
    .execute(&mut **tx)
    .await?;
    refresh_events(tx, ids).await
}

/// Keeps `events.status` (and its attempt count, error and next attempt) the aggregate of the
/// event's deliveries: dead if any is dead, else failed if any failed, else pending if any is
/// pending, else delivered. The caller holds the events' row locks.
async fn refresh_events(tx: &mut Tx, ids: &[String]) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE events e SET status = a.status, attempts = a.attempts, \
           next_attempt_at = COALESCE(a.next_attempt_at, e.next_attempt_at), \
           last_error = a.last_error \
         FROM ( \
           SELECT event_id, \
             CASE WHEN bool_or(status = 'dead') THEN 'dead' \
                  WHEN bool_or(status = 'failed') THEN 'failed' \
                  WHEN bool_or(status = 'pending') THEN 'pending' \
                  ELSE 'delivered' END AS status, \
             SUM(attempts)::bigint AS attempts, \
             MIN(next_attempt_at) FILTER (WHERE status IN ('pending', 'failed')) AS next_attempt_at, \
             (ARRAY_AGG(last_error ORDER BY next_attempt_at DESC) \
                FILTER (WHERE last_error IS NOT NULL))[1] AS last_error \
           FROM deliveries WHERE event_id = ANY($1::uuid[]) GROUP BY event_id) a \
         WHERE e.id = a.event_id",
    )
    .bind(ids)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// PostgreSQL `text` cannot hold NUL, which a provider's event id taken from a JSON body can
/// (`"\u0000"`). Such a key is stored as a hash instead: the mapping is the same for insert and
/// find, and no other key starts with `nul:` (the pipeline's keys are `id:`, `idh:`, `body:`).
pub(super) fn dedup_key(key: &str) -> Cow<'_, str> {
    if key.contains('\0') {
        Cow::Owned(format!(
            "nul:{}",
            hex::encode(Sha256::digest(key.as_bytes()))
        ))
    } else {
        Cow::Borrowed(key)
    }
}
