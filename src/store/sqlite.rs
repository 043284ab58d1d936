//! The embedded store: one SQLite file in WAL mode, every commit `synchronous=FULL`.
//!
//! An fsync per request would cap the gateway at a few thousand requests a second, so writes are
//! group-committed: one writer task owns the only write connection, takes every write that is
//! waiting (up to [`MAX_BATCH`]: inserts, claims, outcomes, replays) and runs them in one
//! transaction, each inside its own savepoint so one failing operation does not undo the
//! others, then answers each waiter. Nobody is answered before the commit that holds their
//! write, and a failed commit fails every operation in it (an insert then gets 503 and the
//! provider retries). Reads use a separate read-only pool; WAL lets them run beside the writer.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqlSafeStr, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    Claim, Depth, EventFilter, Inserted, NewEvent, Page, Purged, Recorded, Store, StoreError,
    StoredEvent, now_ms,
};

/// The most operations one transaction carries. Larger batches amortise the fsync further but
/// make the first waiter of a batch wait longer; a few hundred is past the point of diminishing
/// gains.
const MAX_BATCH: usize = 256;

/// How many operations may wait for the writer. Beyond it callers wait (bounded by the request
/// timeout), which is the backpressure the load-shedding layer then turns into 503s.
const QUEUE: usize = 4096;

/// One write, with where to send its result.
enum Op {
    Insert(Box<NewEvent>, oneshot::Sender<Result<Inserted, StoreError>>),
    Claim {
        owner: String,
        limit: usize,
        lease: Duration,
        done: oneshot::Sender<Result<Vec<Claim>, StoreError>>,
    },
    Record {
        owner: String,
        claim: Claim,
        outcome: Recorded,
        done: oneshot::Sender<Result<bool, StoreError>>,
    },
    Release {
        owner: String,
        done: oneshot::Sender<Result<u64, StoreError>>,
    },
    Replay {
        id: Uuid,
        done: oneshot::Sender<Result<bool, StoreError>>,
    },
    ReplayMatching {
        filter: EventFilter,
        done: oneshot::Sender<Result<u64, StoreError>>,
    },
    Purge {
        bodies_before_ms: i64,
        keys_before_ms: i64,
        done: oneshot::Sender<Result<Purged, StoreError>>,
    },
}

/// Work for the writer task: operations to batch, or control.
enum Job {
    Op(Op),
    Ping(oneshot::Sender<Result<(), StoreError>>),
    Close(oneshot::Sender<()>),
}

pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    read: SqlitePool,
}

fn migrator() -> Migrator {
    let migration = |version, description: &'static str, sql: &'static str| {
        Migration::new(
            version,
            description.into(),
            MigrationType::Simple,
            sql.into_sql_str(),
            false,
        )
    };
    Migrator::with_migrations(vec![
        migration(
            1,
            "events",
            include_str!("../../migrations/sqlite/0001_events.sql"),
        ),
        migration(
            2,
            "deliveries",
            include_str!("../../migrations/sqlite/0002_deliveries.sql"),
        ),
    ])
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, runs migrations and starts the writer.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let mut write = SqliteConnection::connect_with(&options).await?;
        migrator().run(&mut write).await?;
        // One process uses a SQLite store. Claims left in the file belong to a previous run that
        // died (SIGKILL, power loss): give them back now rather than wait for their leases.
        let released = sqlx::query("UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL")
            .execute(&mut write)
            .await?
            .rows_affected();
        if released > 0 {
            tracing::warn!(released, "took back deliveries claimed by a previous run");
        }
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(write, rx));
        Ok(SqliteStore { writer: tx, read })
    }

    async fn submit<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let (done, answer) = oneshot::channel();
        self.writer
            .send(Job::Op(op(done)))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn insert(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        self.submit(|done| Op::Insert(Box::new(event), done)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.writer
            .send(Job::Ping(done))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn get(&self, id: Uuid) -> Result<Option<StoredEvent>, StoreError> {
        let row = sqlx::query(
            "SELECT id, source, dedup_key, received_at, client_ip, request_id, content_type, headers, \
             body, status, attempts, next_attempt_at, last_error FROM events WHERE id = ?",
        )
        .bind(id.to_string())
        .fetch_optional(&self.read)
        .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    async fn claim(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError> {
        let owner = owner.to_owned();
        self.submit(|done| Op::Claim {
            owner,
            limit,
            lease,
            done,
        })
        .await
    }

    async fn record(
        &self,
        owner: &str,
        claim: &Claim,
        outcome: Recorded,
    ) -> Result<bool, StoreError> {
        let (owner, claim) = (owner.to_owned(), claim.clone());
        self.submit(|done| Op::Record {
            owner,
            claim,
            outcome,
            done,
        })
        .await
    }

    async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        let owner = owner.to_owned();
        self.submit(|done| Op::Release { owner, done }).await
    }

    async fn replay(&self, id: Uuid) -> Result<bool, StoreError> {
        self.submit(|done| Op::Replay { id, done }).await
    }

    async fn list(
        &self,
        filter: &EventFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        let limit = limit.clamp(1, 1000);
        let mut query = sqlx::QueryBuilder::new(
            "SELECT id, source, dedup_key, received_at, client_ip, request_id, content_type, headers, \
             NULL AS body, status, attempts, next_attempt_at, last_error FROM events WHERE 1 = 1",
        );
        push_filter(&mut query, filter);
        if let Some(cursor) = cursor {
            query.push(" AND id < ").push_bind(cursor.to_owned());
        }
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(limit) + 1);
        let rows = query.build().fetch_all(&self.read).await?;
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

    async fn find(&self, source: &str, dedup_key: &str) -> Result<Option<Uuid>, StoreError> {
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM events WHERE source = ? AND dedup_key = ?")
                .bind(source)
                .bind(dedup_key)
                .fetch_optional(&self.read)
                .await?;
        id.map(|id| Uuid::from_str(&id).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn replay_matching(&self, filter: &EventFilter) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.submit(|done| Op::ReplayMatching { filter, done })
            .await
    }

    async fn purge(
        &self,
        bodies_before_ms: i64,
        keys_before_ms: i64,
    ) -> Result<Purged, StoreError> {
        self.submit(|done| Op::Purge {
            bodies_before_ms,
            keys_before_ms,
            done,
        })
        .await
    }

    async fn depths(&self) -> Result<Vec<Depth>, StoreError> {
        let queued: Vec<(String, i64)> = sqlx::query_as(
            "SELECT e.source, COUNT(*) FROM deliveries d JOIN events e ON e.id = d.event_id \
             WHERE d.status IN ('pending', 'failed') GROUP BY e.source",
        )
        .fetch_all(&self.read)
        .await?;
        let dead: Vec<(String, i64)> = sqlx::query_as(
            "SELECT source, COUNT(*) FROM events WHERE status = 'dead' GROUP BY source",
        )
        .fetch_all(&self.read)
        .await?;
        let mut depths: Vec<Depth> = queued
            .into_iter()
            .map(|(source, queued)| Depth {
                source,
                queued,
                dead: 0,
            })
            .collect();
        for (source, n) in dead {
            match depths.iter_mut().find(|d| d.source == source) {
                Some(depth) => depth.dead = n,
                None => depths.push(Depth {
                    source,
                    queued: 0,
                    dead: n,
                }),
            }
        }
        Ok(depths)
    }

    async fn close(&self) {
        let (done, answer) = oneshot::channel();
        if self.writer.send(Job::Close(done)).await.is_ok() {
            let _ = answer.await;
        }
        self.read.close().await;
    }
}

fn event_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredEvent, StoreError> {
    let headers: String = row.try_get("headers")?;
    Ok(StoredEvent {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        dedup_key: row.try_get("dedup_key")?,
        received_at_ms: row.try_get("received_at")?,
        client_ip: row.try_get("client_ip")?,
        request_id: row.try_get("request_id")?,
        content_type: row.try_get("content_type")?,
        headers: serde_json::from_str(&headers).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        body: row.try_get("body")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at_ms: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
    })
}

/// Appends the filter's conditions (bound, never interpolated).
fn push_filter(query: &mut sqlx::QueryBuilder<sqlx::Sqlite>, filter: &EventFilter) {
    if let Some(source) = &filter.source {
        query.push(" AND source = ").push_bind(source.clone());
    }
    if let Some(status) = &filter.status {
        query.push(" AND status = ").push_bind(status.clone());
    }
    if let Some(since) = filter.since_ms {
        query.push(" AND received_at >= ").push_bind(since);
    }
    if let Some(until) = filter.until_ms {
        query.push(" AND received_at < ").push_bind(until);
    }
}

/// The writer task: the only code that writes to the file.
async fn writer(mut conn: SqliteConnection, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Op> = Vec::new();
    while let Some(first) = jobs.recv().await {
        let mut next = Some(first);
        let mut close = None;
        // Take what is waiting now, without waiting for more: latency stays one commit.
        while let Some(job) = next.take() {
            match job {
                Job::Op(op) => batch.push(op),
                Job::Ping(done) => {
                    let _ = done.send(ping(&mut conn).await);
                }
                Job::Close(done) => {
                    close = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = jobs.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            commit(&mut conn, &mut batch).await;
        }
        if let Some(done) = close {
            jobs.close();
            // Operations queued behind the close are answered `Closed` as their senders drop.
            let _ = conn.close().await;
            let _ = done.send(());
            return;
        }
    }
    let _ = conn.close().await;
}

/// A finished operation's answer, held until the commit succeeds.
enum Answer {
    Insert(
        oneshot::Sender<Result<Inserted, StoreError>>,
        Result<Inserted, StoreError>,
    ),
    Claim(
        oneshot::Sender<Result<Vec<Claim>, StoreError>>,
        Result<Vec<Claim>, StoreError>,
    ),
    Flag(
        oneshot::Sender<Result<bool, StoreError>>,
        Result<bool, StoreError>,
    ),
    Count(
        oneshot::Sender<Result<u64, StoreError>>,
        Result<u64, StoreError>,
    ),
    Purge(
        oneshot::Sender<Result<Purged, StoreError>>,
        Result<Purged, StoreError>,
    ),
}

impl Answer {
    /// Sends the operation's own result, or the commit's failure instead.
    fn send(self, commit_error: Option<&str>) {
        fn failed<T>(message: &str) -> Result<T, StoreError> {
            Err(StoreError::Unavailable(sqlx::Error::Protocol(
                message.to_owned(),
            )))
        }
        macro_rules! reply {
            ($done:expr, $result:expr) => {{
                let _ = $done.send(match commit_error {
                    Some(message) => failed(message),
                    None => $result,
                });
            }};
        }
        match self {
            Answer::Insert(done, result) => reply!(done, result),
            Answer::Claim(done, result) => reply!(done, result),
            Answer::Flag(done, result) => reply!(done, result),
            Answer::Count(done, result) => reply!(done, result),
            Answer::Purge(done, result) => reply!(done, result),
        }
    }
}

async fn commit(conn: &mut SqliteConnection, batch: &mut Vec<Op>) {
    let mut answers = Vec::with_capacity(batch.len());
    let outcome: Result<(), sqlx::Error> = async {
        let mut tx = conn.begin().await?;
        for op in batch.drain(..) {
            sqlx::query("SAVEPOINT op").execute(&mut *tx).await?;
            let (answer, ok) = run(&mut tx, op).await;
            let end = if ok {
                "RELEASE op"
            } else {
                "ROLLBACK TO op; RELEASE op"
            };
            sqlx::raw_sql(end).execute(&mut *tx).await?;
            answers.push(answer);
        }
        tx.commit().await
    }
    .await;
    if outcome.is_ok() {
        crate::telemetry::metrics::metrics()
            .store_commit_batch_size
            .observe(answers.len() as f64);
    }
    let commit_error = outcome.err().map(|err| {
        tracing::error!(error = %err, operations = answers.len(), "store commit failed");
        crate::telemetry::report::capture(
            &format!("store commit failed: {err}"),
            sentry::Level::Error,
            &[("store", "sqlite")],
        );
        err.to_string()
    });
    // Operations never reached (the transaction failed before them) drop their senders, which
    // the waiter sees as `Closed`; answered ones get the commit's error.
    for answer in answers {
        answer.send(commit_error.as_deref());
    }
    batch.clear();
}

/// Runs one operation inside the open transaction; `bool` says whether to keep its effects.
async fn run(tx: &mut SqliteConnection, op: Op) -> (Answer, bool) {
    match op {
        Op::Insert(event, done) => {
            let result = insert(tx, &event).await;
            let ok = result.is_ok();
            (Answer::Insert(done, result), ok)
        }
        Op::Claim {
            owner,
            limit,
            lease,
            done,
        } => {
            let result = claim(tx, &owner, limit, lease).await;
            let ok = result.is_ok();
            (Answer::Claim(done, result), ok)
        }
        Op::Record {
            owner,
            claim,
            outcome,
            done,
        } => {
            let result = record(tx, &owner, &claim, &outcome).await;
            let ok = result.is_ok();
            (Answer::Flag(done, result), ok)
        }
        Op::Release { owner, done } => {
            let result = release(tx, &owner).await;
            let ok = result.is_ok();
            (Answer::Count(done, result), ok)
        }
        Op::Replay { id, done } => {
            let result = replay(tx, id).await;
            let ok = result.is_ok();
            (Answer::Flag(done, result), ok)
        }
        Op::ReplayMatching { filter, done } => {
            let result = replay_matching(tx, &filter).await;
            let ok = result.is_ok();
            (Answer::Count(done, result), ok)
        }
        Op::Purge {
            bodies_before_ms,
            keys_before_ms,
            done,
        } => {
            let result = purge(tx, bodies_before_ms, keys_before_ms).await;
            let ok = result.is_ok();
            (Answer::Purge(done, result), ok)
        }
    }
}

async fn insert(tx: &mut SqliteConnection, event: &NewEvent) -> Result<Inserted, StoreError> {
    let headers =
        serde_json::to_string(&event.headers).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // An event with nowhere to go is trivially delivered, so retention applies to it too.
    let status = if event.destinations.is_empty() {
        "delivered"
    } else {
        "pending"
    };
    let inserted = sqlx::query(
        "INSERT INTO events (id, source, dedup_key, received_at, client_ip, request_id, content_type, \
         headers, body, next_attempt_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (source, dedup_key) DO NOTHING",
    )
    .bind(event.id.to_string())
    .bind(&event.source)
    .bind(&event.dedup_key)
    .bind(event.received_at_ms)
    .bind(event.client_ip.to_string())
    .bind(event.request_id.as_deref())
    .bind(event.content_type.as_deref())
    .bind(headers)
    .bind(event.body.as_ref())
    .bind(event.received_at_ms)
    .bind(status)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        let existing: String =
            sqlx::query_scalar("SELECT id FROM events WHERE source = ? AND dedup_key = ?")
                .bind(&event.source)
                .bind(&event.dedup_key)
                .fetch_one(&mut *tx)
                .await?;
        let id = Uuid::from_str(&existing).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        return Ok(Inserted::Duplicate(id));
    }
    for destination in &event.destinations {
        let hold = event
            .hold
            .as_ref()
            .filter(|hold| &hold.destination == destination);
        sqlx::query(
            "INSERT INTO deliveries (event_id, destination, next_attempt_at, lease_owner, lease_until) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(event.id.to_string())
        .bind(destination)
        .bind(event.received_at_ms)
        .bind(hold.map(|h| h.owner.as_str()))
        .bind(hold.map(|h| h.until_ms))
        .execute(&mut *tx)
        .await?;
    }
    Ok(Inserted::Stored(event.id))
}

async fn claim(
    tx: &mut SqliteConnection,
    owner: &str,
    limit: usize,
    lease: Duration,
) -> Result<Vec<Claim>, StoreError> {
    let now = now_ms();
    let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
    let rows = sqlx::query(
        "UPDATE deliveries SET lease_owner = ?, lease_until = ? \
         WHERE rowid IN ( \
           SELECT rowid FROM deliveries \
           WHERE status IN ('pending', 'failed') AND next_attempt_at <= ? \
             AND (lease_until IS NULL OR lease_until < ?) \
           ORDER BY next_attempt_at LIMIT ?) \
         RETURNING event_id, destination, attempts, \
           (SELECT received_at FROM events WHERE events.id = deliveries.event_id) AS received_at, \
           (SELECT source FROM events WHERE events.id = deliveries.event_id) AS source",
    )
    .bind(owner)
    .bind(until)
    .bind(now)
    .bind(now)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *tx)
    .await?;
    rows.into_iter()
        .map(|row| {
            let id: String = row.try_get("event_id")?;
            let attempts: i64 = row.try_get("attempts")?;
            Ok(Claim {
                event_id: Uuid::from_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                source: row.try_get("source")?,
                destination: row.try_get("destination")?,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                received_at_ms: row.try_get("received_at")?,
            })
        })
        .collect()
}

async fn record(
    tx: &mut SqliteConnection,
    owner: &str,
    claim: &Claim,
    outcome: &Recorded,
) -> Result<bool, StoreError> {
    let now = now_ms();
    let (status, next, error, delivered_at) = match outcome {
        Recorded::Delivered => ("delivered", now, None, Some(now)),
        Recorded::Retry { at_ms, error } => ("failed", *at_ms, Some(error.as_str()), None),
        Recorded::Dead { error } => ("dead", now, Some(error.as_str()), None),
    };
    let updated = sqlx::query(
        "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?, \
         delivered_at = ?, lease_owner = NULL, lease_until = NULL \
         WHERE event_id = ? AND destination = ? AND lease_owner = ?",
    )
    .bind(status)
    .bind(next)
    .bind(error)
    .bind(delivered_at)
    .bind(claim.event_id.to_string())
    .bind(&claim.destination)
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    refresh_event(tx, claim.event_id).await?;
    Ok(true)
}

/// Keeps `events.status` (and its attempt count, error and next attempt) the aggregate of the
/// event's deliveries: dead if any is dead, else failed if any failed, else pending if any is
/// pending, else delivered.
async fn refresh_event(tx: &mut SqliteConnection, id: Uuid) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE events SET \
           status = COALESCE((SELECT CASE \
               WHEN SUM(status = 'dead') > 0 THEN 'dead' \
               WHEN SUM(status = 'failed') > 0 THEN 'failed' \
               WHEN SUM(status = 'pending') > 0 THEN 'pending' \
               ELSE 'delivered' END FROM deliveries WHERE event_id = events.id), status), \
           attempts = COALESCE((SELECT MAX(attempts) FROM deliveries WHERE event_id = events.id), attempts), \
           next_attempt_at = COALESCE((SELECT MIN(next_attempt_at) FROM deliveries \
               WHERE event_id = events.id AND status IN ('pending', 'failed')), next_attempt_at), \
           last_error = (SELECT last_error FROM deliveries WHERE event_id = events.id \
               AND last_error IS NOT NULL ORDER BY next_attempt_at DESC LIMIT 1) \
         WHERE id = ?",
    )
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn release(tx: &mut SqliteConnection, owner: &str) -> Result<u64, StoreError> {
    let released = sqlx::query(
        "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
    )
    .bind(owner)
    .execute(&mut *tx)
    .await?;
    Ok(released.rows_affected())
}

async fn replay(tx: &mut SqliteConnection, id: Uuid) -> Result<bool, StoreError> {
    let has_body: Option<bool> =
        sqlx::query_scalar("SELECT body IS NOT NULL FROM events WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
    if has_body != Some(true) {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, \
         lease_owner = NULL, lease_until = NULL, delivered_at = NULL WHERE event_id = ?",
    )
    .bind(now_ms())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    refresh_event(tx, id).await?;
    Ok(true)
}

async fn replay_matching(
    tx: &mut SqliteConnection,
    filter: &EventFilter,
) -> Result<u64, StoreError> {
    let mut query = sqlx::QueryBuilder::new("SELECT id FROM events WHERE body IS NOT NULL");
    push_filter(&mut query, filter);
    let ids: Vec<String> = query.build_query_scalar().fetch_all(&mut *tx).await?;
    let mut replayed = 0;
    for id in ids {
        let id = Uuid::from_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if replay(tx, id).await? {
            replayed += 1;
        }
    }
    Ok(replayed)
}

async fn purge(
    tx: &mut SqliteConnection,
    bodies_before_ms: i64,
    keys_before_ms: i64,
) -> Result<Purged, StoreError> {
    let bodies = sqlx::query(
        "UPDATE events SET body = NULL WHERE status = 'delivered' AND body IS NOT NULL AND received_at < ?",
    )
    .bind(bodies_before_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let events = sqlx::query("DELETE FROM events WHERE status = 'delivered' AND received_at < ?")
        .bind(keys_before_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(Purged { bodies, events })
}

/// Takes the write lock and lets it go: proves the file is writable and not locked by another
/// process, without writing anything.
async fn ping(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    sqlx::query("ROLLBACK").execute(&mut *conn).await?;
    Ok(())
}
