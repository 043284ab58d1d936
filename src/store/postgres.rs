//! The shared store: PostgreSQL, for several instances behind one load balancer.
//!
//! What makes several instances safe on one database:
//! - **De-duplication** is the unique constraint on `(source, dedup_key)` with `ON CONFLICT DO
//!   NOTHING`: two copies of one event sent to two instances at once store one row; the second
//!   insert waits for the first transaction and then reads the winner's id.
//! - **Claims** are `FOR UPDATE SKIP LOCKED` plus a lease (`lease_owner`, `lease_until`): workers
//!   on different instances never wait on each other's rows, and a delivery whose owner died is
//!   due again once its lease lapses. Lease times come from the database clock, so instances
//!   whose clocks disagree still agree on when a lease has lapsed.
//! - **Per-event writes** (recording an outcome, replay) lock the event row first, then its
//!   deliveries: one order everywhere, so they cannot deadlock, and the aggregate `events.status`
//!   is computed after every other writer of that event has committed.
//!
//! Inserts are group-committed like the SQLite store's: one writer task takes every insert that
//! is waiting (up to [`MAX_BATCH`] events or [`MAX_BATCH_BYTES`] of bodies) and stores them with
//! two multi-row statements (events, then their deliveries) in one transaction. Nobody is
//! answered before the commit that holds their event. If the database refuses the batch (one
//! event it cannot take, a deadlock), each event is retried in a transaction of its own, so one
//! bad event cannot fail its neighbours. Everything else runs directly on the pool: claims and
//! outcomes are already one statement (or one short transaction) each.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    Claim, Depth, EventFilter, Inserted, NewEvent, Page, Purged, Recorded, Room, Store, StoreError,
    StoredEvent, event_from_row, now_ms, push_filter,
};

/// The most events one insert transaction carries (see the SQLite store for the trade-off).
const MAX_BATCH: usize = 256;
/// The most body bytes one insert transaction carries, so a batch of large BrightData bodies
/// stays one reasonable message (PostgreSQL refuses a single parameter over 1 GiB). A body
/// larger than this goes alone.
const MAX_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// How many inserts may wait for the writer; beyond it callers wait (backpressure).
const QUEUE: usize = 4096;
/// How long a caller waits for a pooled connection before the store reports itself unavailable
/// (a 503 the provider retries), well inside the default request timeout.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest lease the store writes: a century, far past any configured value, so the
/// arithmetic in SQL cannot overflow a BIGINT.
const MAX_LEASE_MS: i64 = 100 * 365 * 86_400_000;
/// Advisory lock key held (per transaction) by the instance that purges, so instances started
/// together do not purge the same rows at the same moment. "hookwall" in ASCII.
const PURGE_LOCK: i64 = 0x686f_6f6b_7761_6c6c;

/// Work for the writer task.
enum Job {
    Insert(Box<NewEvent>, oneshot::Sender<Result<Inserted, StoreError>>),
    Close(oneshot::Sender<()>),
}

pub struct PostgresStore {
    pool: PgPool,
    writer: mpsc::Sender<Job>,
    /// Claims made, for which destination goes first ([`super::shares`]).
    turns: AtomicUsize,
    fingerprint_key: Vec<u8>,
}

fn migrator() -> Migrator {
    // sqlx takes an advisory lock while it migrates, so instances started together run each
    // migration once.
    super::migrator(&[
        (
            1,
            "events",
            include_str!("../../migrations/postgres/0001_events.sql"),
        ),
        (
            2,
            "deliveries",
            include_str!("../../migrations/postgres/0002_deliveries.sql"),
        ),
        (
            3,
            "replay budget",
            include_str!("../../migrations/postgres/0003_replay_budget.sql"),
        ),
        (
            4,
            "claims per destination",
            include_str!("../../migrations/postgres/0004_claims_per_destination.sql"),
        ),
        (
            5,
            "ignored",
            include_str!("../../migrations/postgres/0005_ignored.sql"),
        ),
        (
            6,
            "install keys",
            include_str!("../../migrations/postgres/0006_install_keys.sql"),
        ),
    ])
}

impl PostgresStore {
    /// Connects a pool of at most `max_connections` to `url`, runs the migrations and starts the
    /// writer. Claims found in the database belong to other instances (or to a dead one, whose
    /// leases lapse on their own): unlike the SQLite store, nothing is taken back at start.
    pub async fn open(url: &str, max_connections: u32) -> Result<PostgresStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("hookwall");
        // Over TCP, every new connection gets TCP_NODELAY, which sqlx 0.9.0 does not set: a
        // round trip otherwise waits about 40 ms for the server's delayed ACK (`nodelay`).
        let tcp_port = options.get_socket().is_none().then(|| options.get_port());
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .after_connect(move |_, _| {
                Box::pin(async move {
                    // A look at every descriptor of the process: off the async workers.
                    if let Some(port) = tcp_port {
                        let set = tokio::task::spawn_blocking(move || {
                            super::nodelay::set_on_connections_to(port)
                        })
                        .await
                        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
                        if let Err(err) = set {
                            warn_no_nodelay(&err);
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        migrator().run(&pool).await?;
        sqlx::query(
            "INSERT INTO install_keys (name, key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(super::FINGERPRINT_KEY)
        .bind(super::fresh_key()?)
        .execute(&pool)
        .await?;
        let fingerprint_key: Vec<u8> =
            sqlx::query_scalar("SELECT key FROM install_keys WHERE name = $1")
                .bind(super::FINGERPRINT_KEY)
                .fetch_one(&pool)
                .await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(pool.clone(), rx));
        Ok(PostgresStore {
            pool,
            writer: tx,
            turns: AtomicUsize::new(0),
            fingerprint_key,
        })
    }
}

/// Said once per process: the store works without TCP_NODELAY, but each round trip over TCP
/// may wait about 40 ms, and the operator can avoid it with the Unix socket.
fn warn_no_nodelay(err: &std::io::Error) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            error = %err,
            "could not set TCP_NODELAY on the PostgreSQL connections (sqlx 0.9.0 leaves it off): \
             each round trip may wait about 40 ms; connect through PostgreSQL's Unix socket \
             to avoid it (storage.url = \"postgres://USER@%2Fvar%2Frun%2Fpostgresql/DB\")"
        );
    });
}

/// A closed pool means the store was closed, not that the database is down.
fn closed<T>(result: Result<T, StoreError>) -> Result<T, StoreError> {
    match result {
        Err(StoreError::Unavailable(sqlx::Error::PoolClosed)) => Err(StoreError::Closed),
        other => other,
    }
}

fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::from_str(text).map_err(|e| StoreError::Corrupt(format!("event id {text:?}: {e}")))
}

/// PostgreSQL `text` cannot hold NUL, which a provider's event id taken from a JSON body can
/// (`"\u0000"`). Such a key is stored as a hash instead: the mapping is the same for insert and
/// find, and no other key starts with `nul:` (the pipeline's keys are `id:`, `idh:`, `body:`).
fn dedup_key(key: &str) -> Cow<'_, str> {
    if key.contains('\0') {
        Cow::Owned(format!(
            "nul:{}",
            hex::encode(Sha256::digest(key.as_bytes()))
        ))
    } else {
        Cow::Borrowed(key)
    }
}

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

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn insert(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        let (done, answer) = oneshot::channel();
        self.writer
            .send(Job::Insert(Box::new(event), done))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn ping(&self) -> Result<(), StoreError> {
        if self.writer.is_closed() {
            return Err(StoreError::Closed);
        }
        // A standby, or a database set read-only, answers queries but would refuse every insert.
        let writable: bool = closed(
            sqlx::query_scalar(
                "SELECT NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'",
            )
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::from),
        )?;
        if writable {
            Ok(())
        } else {
            Err(StoreError::NotWritable(
                "the PostgreSQL server is read-only (a standby, or default_transaction_read_only)"
                    .into(),
            ))
        }
    }

    async fn get_many(&self, ids: &[Uuid]) -> Result<Vec<StoredEvent>, StoreError> {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        closed(
            async {
                let rows = sqlx::query(
                    "SELECT id::text AS id, source, dedup_key, received_at, client_ip, request_id, \
                     content_type, headers, body, status, attempts, next_attempt_at, last_error \
                     FROM events WHERE id = ANY($1::uuid[])",
                )
                .bind(&ids)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(event_from_row).collect()
            }
            .await,
        )
    }

    async fn claim(
        &self,
        owner: &str,
        room: &Room,
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError> {
        let turn = self.turns.fetch_add(1, Ordering::Relaxed);
        closed(
            async {
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
                .bind(i64::try_from(super::MAX_DESTINATIONS).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
                let (destinations, shares): (Vec<String>, Vec<i64>) =
                    super::shares(&waiting, room, turn)
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
                       FROM now, UNNEST($2::text[], $3::bigint[]) AS w(destination, share) \
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
                       e.source",
                )
                .bind(owner)
                .bind(&destinations)
                .bind(&shares)
                .bind(lease_ms(lease))
                .bind(i64::try_from(room.total).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
                let mut claims = rows
                    .iter()
                    .map(|row| {
                        let attempts: i64 = row.try_get("attempts")?;
                        let due: i64 = row.try_get("next_attempt_at")?;
                        let claim = Claim {
                            event_id: uuid(&row.try_get::<String, _>("event_id")?)?,
                            source: row.try_get("source")?,
                            destination: row.try_get("destination")?,
                            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                            budget_from_ms: row.try_get("budget_from")?,
                        };
                        Ok((due, claim))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                // RETURNING does not keep the CTE's order: longest due first.
                claims.sort_by_key(|(due, claim)| (*due, claim.event_id));
                Ok(claims.into_iter().map(|(_, claim)| claim).collect())
            }
            .await,
        )
    }

    async fn record(
        &self,
        owner: &str,
        claim: &Claim,
        outcome: Recorded,
    ) -> Result<bool, StoreError> {
        closed(
            async {
                let now = now_ms();
                let (status, next, error, delivered_at) = match &outcome {
                    Recorded::Delivered => ("delivered", now, None, Some(now)),
                    Recorded::Retry { at_ms, error } => ("failed", *at_ms, Some(text(error)), None),
                    Recorded::Dead { error } => ("dead", now, Some(text(error)), None),
                };
                let id = claim.event_id.to_string();
                let mut tx = self.pool.begin().await?;
                if !lock_events(&mut tx, std::slice::from_ref(&id)).await? {
                    return Ok(false);
                }
                let updated = sqlx::query(
                    "UPDATE deliveries SET status = $1, attempts = attempts + 1, \
                     next_attempt_at = $2, last_error = $3, delivered_at = $4, \
                     lease_owner = NULL, lease_until = NULL \
                     WHERE event_id = $5::uuid AND destination = $6 AND lease_owner = $7",
                )
                .bind(status)
                .bind(next)
                .bind(error.as_deref())
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
                refresh_events(&mut tx, &[id]).await?;
                tx.commit().await?;
                Ok(true)
            }
            .await,
        )
    }

    async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        closed(
            async {
                let released = sqlx::query(
                    "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL \
                     WHERE lease_owner = $1",
                )
                .bind(owner)
                .execute(&self.pool)
                .await?;
                Ok(released.rows_affected())
            }
            .await,
        )
    }

    async fn replay(&self, id: Uuid) -> Result<bool, StoreError> {
        closed(
            async {
                let mut tx = self.pool.begin().await?;
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
                tx.commit().await?;
                Ok(true)
            }
            .await,
        )
    }

    async fn list(
        &self,
        filter: &EventFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        closed(
            async {
                let limit = limit.clamp(1, 1000);
                let mut query = sqlx::QueryBuilder::new(
                    "SELECT id::text AS id, source, dedup_key, received_at, client_ip, request_id, \
                     content_type, headers, NULL::bytea AS body, status, attempts, \
                     next_attempt_at, last_error FROM events WHERE TRUE",
                );
                push_filter(&mut query, filter);
                if let Some(cursor) = cursor {
                    // Cursors are event ids (a page's `next`); anything else cannot have come
                    // from this store.
                    let after = Uuid::from_str(cursor).map_err(|_| {
                        StoreError::Corrupt("the cursor is not an event id".to_owned())
                    })?;
                    query
                        .push(" AND id < ")
                        .push_bind(after.to_string())
                        .push("::uuid");
                }
                query
                    .push(" ORDER BY id DESC LIMIT ")
                    .push_bind(i64::from(limit) + 1);
                let rows = query.build().fetch_all(&self.pool).await?;
                let mut events = rows
                    .iter()
                    .map(event_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                let next = if events.len() > limit as usize {
                    events.truncate(limit as usize);
                    events.last().map(|e| e.id.clone())
                } else {
                    None
                };
                Ok(Page { events, next })
            }
            .await,
        )
    }

    async fn find(&self, source: &str, key: &str) -> Result<Option<Uuid>, StoreError> {
        closed(
            async {
                let id: Option<String> = sqlx::query_scalar(
                    "SELECT id::text FROM events WHERE source = $1 AND dedup_key = $2",
                )
                .bind(source)
                .bind(dedup_key(key).as_ref())
                .fetch_optional(&self.pool)
                .await?;
                id.as_deref().map(uuid).transpose()
            }
            .await,
        )
    }

    async fn replay_matching(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        closed(
            async {
                let mut tx = self.pool.begin().await?;
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
                tx.commit().await?;
                Ok(ids.len() as u64)
            }
            .await,
        )
    }

    async fn purge(
        &self,
        bodies_before_ms: i64,
        keys_before_ms: i64,
    ) -> Result<Purged, StoreError> {
        closed(
            async {
                let mut tx = self.pool.begin().await?;
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
            .await,
        )
    }

    async fn depths(&self) -> Result<Vec<Depth>, StoreError> {
        closed(
            async {
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
                .fetch_all(&self.pool)
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
            .await,
        )
    }

    fn fingerprint_key(&self) -> &[u8] {
        &self.fingerprint_key
    }

    async fn close(&self) {
        let (done, answer) = oneshot::channel();
        if self.writer.send(Job::Close(done)).await.is_ok() {
            let _ = answer.await;
        }
        self.pool.close().await;
    }
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
        "UPDATE deliveries SET status = 'pending', attempts = 0, \
         next_attempt_at = FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT, \
         budget_from = FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT, \
         lease_owner = NULL, lease_until = NULL, delivered_at = NULL \
         WHERE event_id = ANY($1::uuid[])",
    )
    .bind(ids)
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
             MAX(attempts) AS attempts, \
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

/// One insert waiting for its commit.
struct Waiting {
    event: Box<NewEvent>,
    done: oneshot::Sender<Result<Inserted, StoreError>>,
}

/// The writer task: batches inserts into transactions, one batch at a time.
async fn writer(pool: PgPool, mut jobs: mpsc::Receiver<Job>) {
    let mut carried: Option<Waiting> = None;
    loop {
        let first = match carried.take() {
            Some(waiting) => waiting,
            None => match jobs.recv().await {
                Some(Job::Insert(event, done)) => Waiting { event, done },
                Some(Job::Close(done)) => {
                    jobs.close();
                    let _ = done.send(());
                    return;
                }
                None => return,
            },
        };
        let mut bytes = first.event.body.len();
        let mut batch = vec![first];
        let mut close = None;
        // Take what is waiting now, without waiting for more: latency stays one commit.
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(Job::Insert(event, done)) => {
                    if bytes.saturating_add(event.body.len()) > MAX_BATCH_BYTES {
                        carried = Some(Waiting { event, done });
                        break;
                    }
                    bytes += event.body.len();
                    batch.push(Waiting { event, done });
                }
                Ok(Job::Close(done)) => {
                    close = Some(done);
                    break;
                }
                Err(_) => break,
            }
        }
        commit(&pool, batch).await;
        if let Some(done) = close {
            // Inserts queued behind the close (and a carried one) are answered `Closed` as
            // their senders drop.
            jobs.close();
            let _ = done.send(());
            return;
        }
    }
}

/// Stores a batch and answers each waiter after the commit.
async fn commit(pool: &PgPool, batch: Vec<Waiting>) {
    let events: Vec<&NewEvent> = batch.iter().map(|w| w.event.as_ref()).collect();
    let size = batch.len();
    let batch_size = &crate::telemetry::metrics::metrics().store_commit_batch_size;
    let results = match insert_batch(pool, &events).await {
        Ok(results) => {
            batch_size.observe(size as f64);
            results
        }
        // The server refused the batch as a whole (an event it cannot store, a deadlock, a
        // serialization failure): nothing of it was committed, so each event is tried alone.
        Err(sqlx::Error::Database(err)) if size > 1 => {
            tracing::warn!(error = %err, events = size, "batch insert refused; inserting one by one");
            let mut results = Vec::with_capacity(size);
            for event in &events {
                results.push(
                    match insert_batch(pool, std::slice::from_ref(event)).await {
                        Ok(mut one) => {
                            batch_size.observe(1.0);
                            one.pop().unwrap_or_else(|| {
                                Err(StoreError::Corrupt("insert answered nothing".into()))
                            })
                        }
                        Err(err) => Err(failed(err, 1)),
                    },
                );
            }
            results
        }
        // The connection failed, possibly during the commit, so the batch may or may not have
        // landed: every waiter gets the error (503), and a provider's retry meets the unique
        // key if it did.
        Err(err) => {
            let message = err.to_string();
            let error = failed(err, size);
            let mut results = vec![Err(error)];
            results.extend((1..size).map(|_| {
                Err(StoreError::Unavailable(sqlx::Error::Protocol(
                    message.clone(),
                )))
            }));
            results
        }
    };
    for (waiting, result) in batch.into_iter().zip(results) {
        let _ = waiting.done.send(result);
    }
}

/// Logs and reports a failed insert transaction.
fn failed(err: sqlx::Error, events: usize) -> StoreError {
    tracing::error!(error = %err, events, "store commit failed");
    crate::telemetry::report::capture(
        &format!("store commit failed: {err}"),
        sentry::Level::Error,
        &[("store", "postgres")],
    );
    if matches!(err, sqlx::Error::PoolClosed) {
        StoreError::Closed
    } else {
        StoreError::Unavailable(err)
    }
}

/// Inserts `events` and their deliveries in one transaction; one result per event, in order.
/// An `Err` means nothing was committed.
async fn insert_batch(
    pool: &PgPool,
    events: &[&NewEvent],
) -> Result<Vec<Result<Inserted, StoreError>>, sqlx::Error> {
    // Rows are inserted in key order. Two instances inserting overlapping keys then wait for
    // each other's unique-index entries in one order and cannot deadlock; a stable sort keeps
    // arrival order among copies of one key, so the first copy received is the one stored.
    let mut order: Vec<usize> = (0..events.len()).collect();
    let keys: Vec<Cow<'_, str>> = events.iter().map(|e| dedup_key(&e.dedup_key)).collect();
    order.sort_by(|&a, &b| (&events[a].source, &keys[a]).cmp(&(&events[b].source, &keys[b])));

    let mut ids = Vec::with_capacity(events.len());
    let mut sources = Vec::with_capacity(events.len());
    let mut dedup_keys = Vec::with_capacity(events.len());
    let mut received = Vec::with_capacity(events.len());
    let mut client_ips = Vec::with_capacity(events.len());
    let mut request_ids = Vec::with_capacity(events.len());
    let mut content_types = Vec::with_capacity(events.len());
    let mut headers = Vec::with_capacity(events.len());
    let mut bodies: Vec<&[u8]> = Vec::with_capacity(events.len());
    let mut statuses = Vec::with_capacity(events.len());
    let mut unencodable = HashMap::new();
    for &i in &order {
        let event = events[i];
        let encoded = match serde_json::to_string(&event.headers) {
            Ok(encoded) => encoded,
            Err(err) => {
                unencodable.insert(i, err.to_string());
                continue;
            }
        };
        ids.push(event.id.to_string());
        sources.push(event.source.as_str());
        dedup_keys.push(keys[i].as_ref());
        received.push(event.received_at_ms);
        client_ips.push(event.client_ip.to_string());
        request_ids.push(event.request_id.as_deref());
        content_types.push(event.content_type.as_deref());
        headers.push(encoded);
        bodies.push(event.body.as_ref());
        // An event with nowhere to go is kept for inspection, never reported as delivered
        // (SPEC section 10); retention treats it as it treats a delivered one.
        statuses.push(if event.destinations.is_empty() {
            "ignored"
        } else {
            "pending"
        });
    }

    let mut tx = pool.begin().await?;
    // New work is due at once: at the instance's receipt time, or at the database's now if the
    // instance's clock runs ahead of it (claims compare with the database clock).
    let inserted: Vec<String> = sqlx::query_scalar(
        "INSERT INTO events (id, source, dedup_key, received_at, client_ip, request_id, \
           content_type, headers, body, status, next_attempt_at) \
         SELECT u.id::uuid, u.source, u.dedup_key, u.received_at, u.client_ip, u.request_id, \
           u.content_type, u.headers, u.body, u.status, \
           LEAST(u.received_at, FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT) \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], \
           $7::text[], $8::text[], $9::bytea[], $10::text[]) WITH ORDINALITY \
           AS u(id, source, dedup_key, received_at, client_ip, request_id, content_type, \
             headers, body, status, n) \
         ORDER BY u.n \
         ON CONFLICT (source, dedup_key) DO NOTHING \
         RETURNING id::text",
    )
    .bind(&ids)
    .bind(&sources)
    .bind(&dedup_keys)
    .bind(&received)
    .bind(&client_ips)
    .bind(&request_ids)
    .bind(&content_types)
    .bind(&headers)
    .bind(&bodies)
    .bind(&statuses)
    .fetch_all(&mut *tx)
    .await?;
    let inserted: HashSet<String> = inserted.into_iter().collect();

    // The ids the other copies were stored under, whether by this batch or an earlier one.
    let mut existing: HashMap<(String, String), String> = HashMap::new();
    if inserted.len() < ids.len() {
        let (dup_sources, dup_keys): (Vec<&str>, Vec<&str>) = ids
            .iter()
            .zip(sources.iter().zip(&dedup_keys))
            .filter(|(id, _)| !inserted.contains(*id))
            .map(|(_, (source, key))| (*source, *key))
            .unzip();
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT e.source, e.dedup_key, e.id::text FROM events e \
             JOIN UNNEST($1::text[], $2::text[]) AS k(source, dedup_key) \
               ON e.source = k.source AND e.dedup_key = k.dedup_key",
        )
        .bind(&dup_sources)
        .bind(&dup_keys)
        .fetch_all(&mut *tx)
        .await?;
        existing = rows
            .into_iter()
            .map(|(source, key, id)| ((source, key), id))
            .collect();
    }

    let mut delivery_events = Vec::new();
    let mut destinations = Vec::new();
    let mut owners = Vec::new();
    let mut untils = Vec::new();
    for &i in &order {
        let event = events[i];
        if !inserted.contains(&event.id.to_string()) {
            continue;
        }
        for destination in &event.destinations {
            let hold = event
                .hold
                .as_ref()
                .filter(|hold| &hold.destination == destination);
            delivery_events.push(event.id.to_string());
            destinations.push(destination.as_str());
            owners.push(hold.map(|h| h.owner.as_str()));
            untils.push(hold.map(|h| h.until_ms));
        }
    }
    if !delivery_events.is_empty() {
        sqlx::query(
            "INSERT INTO deliveries (event_id, destination, next_attempt_at, lease_owner, lease_until) \
             SELECT d.event_id::uuid, d.destination, e.next_attempt_at, d.lease_owner, d.lease_until \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[]) \
               AS d(event_id, destination, lease_owner, lease_until) \
             JOIN events e ON e.id = d.event_id::uuid",
        )
        .bind(&delivery_events)
        .bind(&destinations)
        .bind(&owners)
        .bind(&untils)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;

    Ok(events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            if let Some(err) = unencodable.remove(&i) {
                return Err(StoreError::Corrupt(err));
            }
            if inserted.contains(&event.id.to_string()) {
                return Ok(Inserted::Stored(event.id));
            }
            match existing.get(&(event.source.clone(), keys[i].to_string())) {
                Some(id) => uuid(id).map(Inserted::Duplicate),
                // The other copy was purged between this insert and the look-up: rare, and
                // the provider's retry stores the event anew.
                None => Err(StoreError::Unavailable(sqlx::Error::RowNotFound)),
            }
        })
        .collect())
}
