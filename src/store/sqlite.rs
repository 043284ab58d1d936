//! The embedded store: one SQLite file in WAL mode, every commit `synchronous=FULL`.
//!
//! An fsync per request would cap the gateway at a few thousand requests a second, so inserts
//! are group-committed: one writer task owns the only write connection, takes every insert that
//! is waiting (up to [`MAX_BATCH`]) and commits them in one transaction, then answers each
//! waiter. Nobody is answered before the commit that holds their row, and a failed commit fails
//! every insert in it (503, the provider retries). Reads use a separate read-only pool; WAL lets
//! them run beside the writer.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqlSafeStr, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{Inserted, NewEvent, Store, StoreError, StoredEvent};

/// The most inserts one transaction carries. Larger batches amortise the fsync further but make
/// the first waiter of a batch wait longer; a few hundred is past the point of diminishing gains.
const MAX_BATCH: usize = 256;

/// How many inserts may wait for the writer. Beyond it callers wait (bounded by the request
/// timeout), which is the backpressure the load-shedding layer then turns into 503s.
const QUEUE: usize = 4096;

/// An insert waiting for the writer, with where to send its outcome.
type Waiting = (Box<NewEvent>, oneshot::Sender<Result<Inserted, StoreError>>);

enum Job {
    Insert(Box<NewEvent>, oneshot::Sender<Result<Inserted, StoreError>>),
    Ping(oneshot::Sender<Result<(), StoreError>>),
    Close(oneshot::Sender<()>),
}

pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    read: SqlitePool,
}

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "events".into(),
        MigrationType::Simple,
        include_str!("../../migrations/sqlite/0001_events.sql").into_sql_str(),
        false,
    )])
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
            .busy_timeout(Duration::from_secs(5));
        let mut write = SqliteConnection::connect_with(&options).await?;
        migrator().run(&mut write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(write, rx));
        Ok(SqliteStore { writer: tx, read })
    }

    /// Parses `sqlite://PATH` (also `sqlite:PATH`).
    pub fn path_from_url(url: &str) -> Option<&str> {
        url.strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn insert(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        let (done, answer) = oneshot::channel();
        self.writer
            .send(Job::Insert(Box::new(event), done))
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
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
        row.map(|row| {
            let headers: String = row.try_get("headers")?;
            Ok(StoredEvent {
                id: row.try_get("id")?,
                source: row.try_get("source")?,
                dedup_key: row.try_get("dedup_key")?,
                received_at_ms: row.try_get("received_at")?,
                client_ip: row.try_get("client_ip")?,
                request_id: row.try_get("request_id")?,
                content_type: row.try_get("content_type")?,
                headers: serde_json::from_str(&headers)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                body: row.try_get("body")?,
                status: row.try_get("status")?,
                attempts: row.try_get("attempts")?,
                next_attempt_at_ms: row.try_get("next_attempt_at")?,
                last_error: row.try_get("last_error")?,
            })
        })
        .transpose()
    }

    async fn close(&self) {
        let (done, answer) = oneshot::channel();
        if self.writer.send(Job::Close(done)).await.is_ok() {
            let _ = answer.await;
        }
        self.read.close().await;
    }
}

/// The writer task: the only code that writes to the file.
async fn writer(mut conn: SqliteConnection, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Waiting> = Vec::new();
    while let Some(first) = jobs.recv().await {
        let mut next = Some(first);
        let mut close = None;
        // Take what is waiting now, without waiting for more: latency stays one commit.
        while let Some(job) = next.take() {
            match job {
                Job::Insert(event, done) => batch.push((event, done)),
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
            // Inserts queued behind the close are answered `Closed` as their senders drop.
            let _ = conn.close().await;
            let _ = done.send(());
            return;
        }
    }
    let _ = conn.close().await;
}

async fn commit(conn: &mut SqliteConnection, batch: &mut Vec<Waiting>) {
    match insert_all(conn, batch).await {
        Ok(results) => {
            for ((_, done), result) in batch.drain(..).zip(results) {
                let _ = done.send(Ok(result));
            }
        }
        Err(err) => {
            tracing::error!(error = %err, events = batch.len(), "store commit failed; answering 503");
            let message = err.to_string();
            for (_, done) in batch.drain(..) {
                let _ = done.send(Err(StoreError::Unavailable(sqlx::Error::Protocol(
                    message.clone(),
                ))));
            }
        }
    }
}

async fn insert_all(
    conn: &mut SqliteConnection,
    batch: &[Waiting],
) -> Result<Vec<Inserted>, StoreError> {
    let mut tx = conn.begin().await?;
    let mut results = Vec::with_capacity(batch.len());
    for (event, _) in batch {
        let headers = serde_json::to_string(&event.headers)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let inserted = sqlx::query(
            "INSERT INTO events (id, source, dedup_key, received_at, client_ip, request_id, content_type, \
             headers, body, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            results.push(Inserted::Stored(event.id));
        } else {
            let existing: String =
                sqlx::query_scalar("SELECT id FROM events WHERE source = ? AND dedup_key = ?")
                    .bind(&event.source)
                    .bind(&event.dedup_key)
                    .fetch_one(&mut *tx)
                    .await?;
            let id = Uuid::from_str(&existing).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            results.push(Inserted::Duplicate(id));
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// Takes the write lock and lets it go: proves the file is writable and not locked by another
/// process, without writing anything.
async fn ping(conn: &mut SqliteConnection) -> Result<(), StoreError> {
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    sqlx::query("ROLLBACK").execute(&mut *conn).await?;
    Ok(())
}
