//! The embedded store: one SQLite file in WAL mode, every commit `synchronous=FULL`.
//!
//! An fsync per request would cap the gateway at a few thousand requests a second, so writes are
//! group-committed: one writer task owns the only write connection, takes every write that is
//! waiting (up to [`MAX_BATCH`]: inserts, claims, outcomes, replays) and runs them in one
//! transaction, each one that writes more than one statement inside its own savepoint, so one
//! failing operation does not undo the others, then answers each waiter. The writer is a thread
//! of its own with a rusqlite connection: a batch runs synchronously, with no hop between threads
//! per statement (sqlx's SQLite driver makes one per statement, which under load cost more than
//! the SQL itself). Nobody is answered before the commit that holds their write, and a failed
//! commit fails every operation in it (an insert then gets 503 and the provider retries). Reads
//! use a separate read-only pool; WAL lets them run beside the writer.

use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{OptionalExtension, params};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    Claim, Depth, EventFilter, Inserted, NewEvent, Page, Purged, Recorded, Room, Store, StoreError,
    StoredEvent, event_from_row, now_ms, push_filter,
};

/// The most operations one transaction carries. Larger batches amortise the fsync further but
/// make the first waiter of a batch wait longer; a few hundred is past the point of diminishing
/// gains.
const MAX_BATCH: usize = 256;

/// How long a write waits for another process's lock on the file, counted from when it was
/// queued (then it fails, and an insert is answered 503). Counted from the queueing, not per
/// statement: batches run one after another, so waits counted per batch would add up.
const BUSY: Duration = Duration::from_secs(5);

/// How many operations may wait for the writer. Beyond it callers wait (bounded by the request
/// timeout), which is the backpressure the load-shedding layer then turns into 503s.
const QUEUE: usize = 4096;

/// One write, with where to send its result.
enum Op {
    Insert(Box<Row>, oneshot::Sender<Result<Inserted, StoreError>>),
    Claim {
        owner: String,
        room: Room,
        turn: usize,
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

impl Op {
    /// Whether the operation writes with a single statement (an event with no destination:
    /// the insert, and on a duplicate a read of the existing id).
    fn is_one_statement(&self) -> bool {
        matches!(self, Op::Insert(row, _) if row.event.destinations.is_empty())
    }
}

/// An event with its text columns already made. The writer is the store's one serial stage
/// (every insert waits for it), so what can be done before it (the headers' JSON, the id and the
/// address as text) is done on the caller's task instead.
struct Row {
    event: NewEvent,
    id: String,
    client_ip: String,
    headers: String,
}

impl Row {
    fn new(event: NewEvent) -> Result<Row, StoreError> {
        let headers = serde_json::to_string(&event.headers)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Row {
            id: event.id.to_string(),
            client_ip: event.client_ip.to_string(),
            headers,
            event,
        })
    }
}

impl Op {
    /// The answer of an operation its batch never ran: the write lock was not had, or the
    /// transaction failed before reaching it.
    fn unrun(self) -> Answer {
        fn not_run<T>() -> Result<T, StoreError> {
            Err(StoreError::Closed)
        }
        match self {
            Op::Insert(_, done) => Answer::Insert(done, not_run()),
            Op::Claim { done, .. } => Answer::Claim(done, not_run()),
            Op::Record { done, .. } | Op::Replay { done, .. } => Answer::Flag(done, not_run()),
            Op::Release { done, .. } | Op::ReplayMatching { done, .. } => {
                Answer::Count(done, not_run())
            }
            Op::Purge { done, .. } => Answer::Purge(done, not_run()),
        }
    }
}

/// Work for the writer task: operations to batch, or control. Operations and pings carry when
/// they were queued, which bounds their wait for another process's lock ([`BUSY`]).
enum Job {
    Op(Op, Instant),
    Ping(oneshot::Sender<Result<(), StoreError>>, Instant),
    Close(oneshot::Sender<()>),
}

pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    read: SqlitePool,
    /// Claims made, for which destination goes first ([`super::shares`]).
    turns: AtomicUsize,
    fingerprint_key: Vec<u8>,
}

fn migrator() -> Migrator {
    super::migrator(&[
        (
            1,
            "events",
            include_str!("../../migrations/sqlite/0001_events.sql"),
        ),
        (
            2,
            "deliveries",
            include_str!("../../migrations/sqlite/0002_deliveries.sql"),
        ),
        (
            3,
            "claimable",
            include_str!("../../migrations/sqlite/0003_claimable.sql"),
        ),
        (
            4,
            "fewer indexes",
            include_str!("../../migrations/sqlite/0004_fewer_indexes.sql"),
        ),
        (
            5,
            "replay budget",
            include_str!("../../migrations/sqlite/0005_replay_budget.sql"),
        ),
        (
            6,
            "status checks",
            include_str!("../../migrations/sqlite/0006_status_checks.sql"),
        ),
        (
            7,
            "claims per destination",
            include_str!("../../migrations/sqlite/0007_claims_per_destination.sql"),
        ),
        (
            8,
            "ignored",
            include_str!("../../migrations/sqlite/0008_ignored.sql"),
        ),
        (
            9,
            "install keys",
            include_str!("../../migrations/sqlite/0009_install_keys.sql"),
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
        // died (SIGKILL, power loss): give them back, due now, rather than wait for their
        // leases (a claim moved next_attempt_at to the lease's end).
        let released = sqlx::query(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, \
             next_attempt_at = MIN(next_attempt_at, ?) WHERE lease_owner IS NOT NULL",
        )
        .bind(now_ms())
        .execute(&mut write)
        .await?
        .rows_affected();
        if released > 0 {
            tracing::warn!(released, "took back deliveries claimed by a previous run");
        }
        sqlx::query(
            "INSERT INTO install_keys (name, key) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(super::FINGERPRINT_KEY)
        .bind(super::fresh_key()?)
        .execute(&mut write)
        .await?;
        let fingerprint_key: Vec<u8> =
            sqlx::query_scalar("SELECT key FROM install_keys WHERE name = ?")
                .bind(super::FINGERPRINT_KEY)
                .fetch_one(&mut write)
                .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        write.close().await?;
        let path = path.to_owned();
        let conn = tokio::task::spawn_blocking(move || open_writer(&path))
            .await
            .map_err(|e| StoreError::Setup(std::io::Error::other(e)))??;
        let (tx, rx) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("hookwall-sqlite-writer".into())
            .spawn(move || writer(conn, rx))?;
        Ok(SqliteStore {
            writer: tx,
            read,
            turns: AtomicUsize::new(0),
            fingerprint_key,
        })
    }

    async fn submit<T>(
        &self,
        op: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> Op,
    ) -> Result<T, StoreError> {
        let (done, answer) = oneshot::channel();
        self.writer
            .send(Job::Op(op(done), Instant::now()))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

/// The writer's connection: WAL, every commit `synchronous=FULL`, foreign keys on, and a busy
/// timeout so another process holding the lock briefly is waited for (then 503); each batch
/// shortens it to what is left of its oldest operation's [`BUSY`].
fn open_writer(path: &Path) -> Result<rusqlite::Connection, StoreError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(BUSY)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn insert(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        let row = Row::new(event)?;
        self.submit(|done| Op::Insert(Box::new(row), done)).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.writer
            .send(Job::Ping(done, Instant::now()))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn get_many(&self, ids: &[Uuid]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = Vec::with_capacity(ids.len());
        // SQLite allows 32,766 bound parameters per statement; claims come by the dozen.
        for ids in ids.chunks(1000) {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, source, dedup_key, received_at, client_ip, request_id, content_type, \
                 headers, body, status, attempts, next_attempt_at, last_error FROM events \
                 WHERE id IN (",
            );
            let mut list = query.separated(", ");
            for id in ids {
                list.push_bind(id.to_string());
            }
            query.push(")");
            for row in query.build().fetch_all(&self.read).await? {
                events.push(event_from_row(&row)?);
            }
        }
        Ok(events)
    }

    async fn claim(
        &self,
        owner: &str,
        room: &Room,
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError> {
        let (owner, room) = (owner.to_owned(), room.clone());
        let turn = self.turns.fetch_add(1, Ordering::Relaxed);
        self.submit(|done| Op::Claim {
            owner,
            room,
            turn,
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

    fn fingerprint_key(&self) -> &[u8] {
        &self.fingerprint_key
    }

    async fn close(&self) {
        let (done, answer) = oneshot::channel();
        if self.writer.send(Job::Close(done)).await.is_ok() {
            let _ = answer.await;
        }
        self.read.close().await;
    }
}

/// The writer thread: the only code that writes to the file. It runs each batch synchronously
/// on its own connection, so a batch costs no thread hop per statement.
fn writer(mut conn: rusqlite::Connection, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Op> = Vec::new();
    while let Some(first) = jobs.blocking_recv() {
        let mut next = Some(first);
        let mut close = None;
        // When the batch's first (oldest) operation was queued.
        let mut oldest = None;
        // Take what is waiting now, without waiting for more: latency stays one commit.
        while let Some(job) = next.take() {
            match job {
                Job::Op(op, queued) => {
                    oldest.get_or_insert(queued);
                    batch.push(op);
                }
                Job::Ping(done, queued) => {
                    let _ = done.send(ping(&conn, queued));
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
        if let Some(queued) = oldest {
            commit(&mut conn, &mut batch, queued);
        }
        if let Some(done) = close {
            jobs.close();
            // Operations queued behind the close are answered `Closed` as their senders drop.
            if let Err((_, err)) = conn.close() {
                tracing::warn!(error = %err, "closing the store's write connection failed");
            }
            let _ = done.send(());
            return;
        }
    }
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
            Err(StoreError::Commit(message.to_owned()))
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

/// Runs a batch in one transaction and answers each operation after the commit.
fn commit(conn: &mut rusqlite::Connection, batch: &mut Vec<Op>, queued: Instant) {
    let operations = batch.len();
    let mut answers = Vec::with_capacity(operations);
    let mut ops = batch.drain(..);
    let outcome = match begin(conn, queued) {
        // Another process held the lock past the wait, or the file cannot be written: every
        // operation of the batch is refused (an insert gets 503) and `/readyz` says not ready.
        Err(err) => {
            tracing::warn!(error = %err, operations, "the store's write lock was not had");
            Err(err.to_string())
        }
        Ok(tx) => run_all(tx, &mut ops, &mut answers).map_err(|err| {
            tracing::error!(error = %err, operations, "store commit failed");
            crate::telemetry::report::capture(
                &format!("store commit failed: {err}"),
                sentry::Level::Error,
                &[("store", "sqlite")],
            );
            err.to_string()
        }),
    };
    if outcome.is_ok() {
        crate::telemetry::metrics::metrics()
            .store_commit_batch_size
            .observe(operations as f64);
    }
    let commit_error = outcome.err();
    // Answered operations and those never reached (the lock was not had, or the transaction
    // failed before them) all get the commit's error.
    for answer in answers.into_iter().chain(ops.map(Op::unrun)) {
        answer.send(commit_error.as_deref());
    }
}

/// Opens the batch's transaction with the write lock taken at once (`BEGIN IMMEDIATE`): with a
/// deferred transaction each operation would wait for another process's lock on its own, one
/// busy timeout after another. The wait is what is left of the oldest operation's [`BUSY`].
fn begin(
    conn: &mut rusqlite::Connection,
    queued: Instant,
) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.busy_timeout(BUSY.saturating_sub(queued.elapsed()))?;
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// Runs the operations, each that writes more than one statement inside its own savepoint, and
/// commits. An error leaves the rest of `ops` unrun; the transaction then rolls back on drop.
fn run_all(
    tx: rusqlite::Transaction<'_>,
    ops: &mut impl Iterator<Item = Op>,
    answers: &mut Vec<Answer>,
) -> rusqlite::Result<()> {
    for op in ops {
        // An operation of one write statement needs no savepoint: SQLite undoes a failed
        // statement by itself. Prepared once and cached, unlike rusqlite's `savepoint()`,
        // which parses its SQL for every operation.
        let savepoint = !op.is_one_statement();
        if savepoint {
            tx.prepare_cached("SAVEPOINT op")?.execute([])?;
        }
        let (answer, ok) = run(&tx, op);
        if savepoint {
            if !ok {
                tx.prepare_cached("ROLLBACK TO op")?.execute([])?;
            }
            tx.prepare_cached("RELEASE op")?.execute([])?;
        }
        answers.push(answer);
    }
    tx.commit()
}

/// Runs one operation inside the open savepoint; `bool` says whether to keep its effects.
fn run(conn: &rusqlite::Connection, op: Op) -> (Answer, bool) {
    match op {
        Op::Insert(row, done) => {
            let result = insert(conn, &row);
            let ok = result.is_ok();
            (Answer::Insert(done, result), ok)
        }
        Op::Claim {
            owner,
            room,
            turn,
            lease,
            done,
        } => {
            let result = claim(conn, &owner, &room, turn, lease);
            let ok = result.is_ok();
            (Answer::Claim(done, result), ok)
        }
        Op::Record {
            owner,
            claim,
            outcome,
            done,
        } => {
            let result = record(conn, &owner, &claim, &outcome);
            let ok = result.is_ok();
            (Answer::Flag(done, result), ok)
        }
        Op::Release { owner, done } => {
            let result = release(conn, &owner);
            let ok = result.is_ok();
            (Answer::Count(done, result), ok)
        }
        Op::Replay { id, done } => {
            let result = replay(conn, id);
            let ok = result.is_ok();
            (Answer::Flag(done, result), ok)
        }
        Op::ReplayMatching { filter, done } => {
            let result = replay_matching(conn, &filter);
            let ok = result.is_ok();
            (Answer::Count(done, result), ok)
        }
        Op::Purge {
            bodies_before_ms,
            keys_before_ms,
            done,
        } => {
            let result = purge(conn, bodies_before_ms, keys_before_ms);
            let ok = result.is_ok();
            (Answer::Purge(done, result), ok)
        }
    }
}

fn parse_id(text: &str) -> Result<Uuid, StoreError> {
    Uuid::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn insert(conn: &rusqlite::Connection, row: &Row) -> Result<Inserted, StoreError> {
    let event = &row.event;
    // An event with nowhere to go is kept for inspection, never reported as delivered (SPEC
    // section 10); retention treats it as it treats a delivered one.
    let status = if event.destinations.is_empty() {
        "ignored"
    } else {
        "pending"
    };
    let id = &row.id;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO events (id, source, dedup_key, received_at, client_ip, request_id, \
             content_type, headers, body, next_attempt_at, status) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?4, ?10) \
             ON CONFLICT (source, dedup_key) DO NOTHING",
        )?
        .execute(params![
            id,
            event.source,
            event.dedup_key,
            event.received_at_ms,
            row.client_ip,
            event.request_id,
            event.content_type,
            row.headers,
            event.body.as_ref(),
            status,
        ])?;
    if inserted == 0 {
        let existing: String = conn
            .prepare_cached("SELECT id FROM events WHERE source = ?1 AND dedup_key = ?2")?
            .query_row(params![event.source, event.dedup_key], |row| row.get(0))?;
        return Ok(Inserted::Duplicate(parse_id(&existing)?));
    }
    let mut deliveries = conn.prepare_cached(
        "INSERT INTO deliveries (event_id, destination, next_attempt_at, lease_owner, lease_until) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for destination in &event.destinations {
        let hold = event
            .hold
            .as_ref()
            .filter(|hold| &hold.destination == destination);
        deliveries.execute(params![
            id,
            destination,
            // A held delivery is due when its hold lapses, like any claim (see `claim`).
            hold.map_or(event.received_at_ms, |h| h.until_ms),
            hold.map(|h| h.owner.as_str()),
            hold.map(|h| h.until_ms),
        ])?;
    }
    Ok(Inserted::Stored(event.id))
}

/// Claims due deliveries, destination by destination ([`super::shares`]). The claim moves
/// `next_attempt_at` to the end of the lease: claimed deliveries leave the front of their
/// destination's range of the `deliveries_waiting` index (no claim walks over work in flight),
/// and a lapsed lease makes the delivery due again by itself.
fn claim(
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
            [i64::try_from(super::MAX_DESTINATIONS).unwrap_or(i64::MAX)],
            |row| row.get(0),
        )?
        .collect::<Result<_, _>>()?;
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
           (SELECT source FROM events WHERE events.id = deliveries.event_id)",
    )?;
    let mut claims: Vec<Claim> = Vec::new();
    for (destination, share) in super::shares(&waiting, room, turn) {
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
                ))
            },
        )?;
        for row in rows {
            let (id, destination, attempts, budget_from_ms, source) = row?;
            claims.push(Claim {
                event_id: parse_id(&id)?,
                source,
                destination,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                budget_from_ms,
            });
        }
    }
    Ok(claims)
}

fn record(
    conn: &rusqlite::Connection,
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
    let id = claim.event_id.to_string();
    let updated = conn
        .prepare_cached(
            "UPDATE deliveries SET status = ?1, attempts = attempts + 1, next_attempt_at = ?2, \
             last_error = ?3, delivered_at = ?4, lease_owner = NULL, lease_until = NULL \
             WHERE event_id = ?5 AND destination = ?6 AND lease_owner = ?7",
        )?
        .execute(params![
            status,
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
           attempts = COALESCE((SELECT MAX(attempts) FROM deliveries WHERE event_id = events.id), attempts), \
           next_attempt_at = COALESCE((SELECT MIN(next_attempt_at) FROM deliveries \
               WHERE event_id = events.id AND +status IN ('pending', 'failed')), next_attempt_at), \
           last_error = (SELECT last_error FROM deliveries WHERE event_id = events.id \
               AND last_error IS NOT NULL ORDER BY next_attempt_at DESC LIMIT 1) \
         WHERE id = ?1",
    )?
    .execute([id])?;
    Ok(())
}

fn release(conn: &rusqlite::Connection, owner: &str) -> Result<u64, StoreError> {
    // Claims moved next_attempt_at to the lease's end: due again now.
    let released = conn
        .prepare_cached(
            "UPDATE deliveries SET lease_owner = NULL, lease_until = NULL, \
             next_attempt_at = MIN(next_attempt_at, ?1) WHERE lease_owner = ?2",
        )?
        .execute(params![now_ms(), owner])?;
    Ok(released as u64)
}

fn replay(conn: &rusqlite::Connection, id: Uuid) -> Result<bool, StoreError> {
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
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?1, \
         budget_from = ?1, lease_owner = NULL, lease_until = NULL, delivered_at = NULL \
         WHERE event_id = ?2",
    )?
    .execute(params![now_ms(), id])?;
    refresh_event(conn, &id)?;
    Ok(true)
}

fn replay_matching(conn: &rusqlite::Connection, filter: &EventFilter) -> Result<u64, StoreError> {
    let mut sql = String::from("SELECT id FROM events WHERE body IS NOT NULL");
    let mut values: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(source) = &filter.source {
        sql.push_str(" AND source = ?");
        values.push(source.clone().into());
    }
    if let Some(status) = &filter.status {
        sql.push_str(" AND status = ?");
        values.push(status.clone().into());
    }
    if let Some(since) = filter.since_ms {
        sql.push_str(" AND received_at >= ?");
        values.push(since.into());
    }
    if let Some(until) = filter.until_ms {
        sql.push_str(" AND received_at < ?");
        values.push(until.into());
    }
    let ids: Vec<String> = conn
        .prepare(&sql)?
        .query_map(rusqlite::params_from_iter(values), |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let mut replayed = 0;
    for id in ids {
        if replay(conn, parse_id(&id)?)? {
            replayed += 1;
        }
    }
    Ok(replayed)
}

fn purge(
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

/// Takes the write lock and lets it go: proves the file is writable and not locked by another
/// process, without writing anything.
fn ping(conn: &rusqlite::Connection, queued: Instant) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY.saturating_sub(queued.elapsed()))?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    conn.execute_batch("ROLLBACK")?;
    Ok(())
}
