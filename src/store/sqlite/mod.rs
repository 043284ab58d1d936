//! The embedded store: one SQLite file in WAL mode, every commit `synchronous=FULL`.
//!
//! Every write (inserts, claims, outcomes, replays, purges) goes through the shared
//! group-commit writer (`store::group_commit`), on a thread of its own that owns the only write
//! connection (`writer.rs`, with the statements in `queries.rs`). Nobody is answered before the
//! commit that holds their write, and a failed commit fails every write in it (an insert then
//! gets 503 and the provider retries). Reads use a separate read-only sqlx pool; WAL lets them
//! run beside the writer. This file opens the store and answers the reads; it must never write
//! to the file except through the writer (opening, before the writer starts, aside).

mod queries;
mod refusals;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::oneshot;
use uuid::Uuid;

use self::queries::Row;
use self::writer::{Ping, SqliteWriter, Write, Written};
use super::audit::{self, MAX_AUDIT_PAGE};
use super::error::event_id;
use super::group_commit::Writer;
use super::refusals as shared;
use super::sql::{self, event_from_row};
use super::{
    AuditPage, AuditRecord, Claim, DeliveryRecord, Depth, DestinationState, EventFilter, Inserted,
    NewAudit, NewEvent, NewRefusal, Page, Purged, Recorded, RefusalFilter, RefusalPage, Room,
    Store, StoreError, StoredEvent, StoredRefusal, Timing,
};
use crate::clock::now_ms;

pub struct SqliteStore {
    writer: Writer<SqliteWriter>,
    read: SqlitePool,
    /// Claims made, for which destination goes first ([`super::shares`]).
    turns: AtomicUsize,
    fingerprint_key: Vec<u8>,
}

fn migrator() -> Migrator {
    sql::embedded_migrations!("sqlite":
        (1, "events", "0001_events.sql"),
        (2, "deliveries", "0002_deliveries.sql"),
        (3, "claimable", "0003_claimable.sql"),
        (4, "fewer indexes", "0004_fewer_indexes.sql"),
        (5, "replay budget", "0005_replay_budget.sql"),
        (6, "status checks", "0006_status_checks.sql"),
        (7, "claims per destination", "0007_claims_per_destination.sql"),
        (8, "ignored", "0008_ignored.sql"),
        (9, "install keys", "0009_install_keys.sql"),
        (10, "event type", "0010_event_type.sql"),
        (11, "default names from one", "0011_default_names_from_one.sql"),
        (12, "destination state", "0012_destination_state.sql"),
        (13, "replays", "0013_replays.sql"),
        (14, "attempts", "0014_attempts.sql"),
        (15, "audit", "0015_audit.sql"),
        (16, "refusals", "0016_refusals.sql"),
        (17, "trace context", "0017_trace_context.sql"),
    )
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
        .bind(sql::FINGERPRINT_KEY)
        .bind(sql::fresh_key()?)
        .execute(&mut write)
        .await?;
        let fingerprint_key: Vec<u8> =
            sqlx::query_scalar("SELECT key FROM install_keys WHERE name = ?")
                .bind(sql::FINGERPRINT_KEY)
                .fetch_one(&mut write)
                .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        write.close().await?;
        let path = path.to_owned();
        let backend = tokio::task::spawn_blocking(move || SqliteWriter::open(&path))
            .await
            .map_err(|e| StoreError::Setup(std::io::Error::other(e)))??;
        Ok(SqliteStore {
            writer: Writer::spawn_thread(backend, "hookwall-sqlite-writer")?,
            read,
            turns: AtomicUsize::new(0),
            fingerprint_key,
        })
    }

    /// Queues a write and takes its answer, of the kind the write asks for.
    async fn write<T: TryFrom<Written, Error = StoreError>>(
        &self,
        write: Write,
    ) -> Result<T, StoreError> {
        self.writer.submit(write).await?.try_into()
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn insert(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        self.write(Write::Insert(Box::new(Row::new(event)?))).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        self.writer.control(Ping(done, Instant::now())).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn get_many(&self, ids: &[Uuid]) -> Result<Vec<StoredEvent>, StoreError> {
        let mut events = Vec::with_capacity(ids.len());
        // SQLite allows 32,766 bound parameters per statement; claims come by the dozen.
        for ids in ids.chunks(1000) {
            let mut query = sqlx::QueryBuilder::new(
                "SELECT id, source, dedup_key, received_at, client_ip, request_id, content_type, \
                 event_type, trace_context, headers, body, status, attempts, next_attempt_at, last_error FROM events \
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
        let turn = self.turns.fetch_add(1, Ordering::Relaxed);
        self.write(Write::Claim {
            owner: owner.to_owned(),
            room: room.clone(),
            turn,
            lease,
        })
        .await
    }

    async fn record(
        &self,
        owner: &str,
        claim: &Claim,
        outcome: Recorded,
        timing: Timing,
    ) -> Result<bool, StoreError> {
        self.write(Write::Record {
            owner: owner.to_owned(),
            claim: claim.clone(),
            outcome,
            timing,
        })
        .await
    }

    async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        self.write(Write::Release(owner.to_owned())).await
    }

    async fn give_back(&self, owner: &str, claims: &[Claim]) -> Result<u64, StoreError> {
        if claims.is_empty() {
            return Ok(0);
        }
        self.write(Write::GiveBack {
            owner: owner.to_owned(),
            claims: claims.to_vec(),
        })
        .await
    }

    async fn destination_states(&self) -> Result<Vec<DestinationState>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, paused, circuit, consecutive_failures, opened_at, next_probe_at, \
             cooldown, probe, version FROM destination_states ORDER BY name",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(sql::destination_state_from_row).collect()
    }

    async fn save_destination_state(
        &self,
        state: &DestinationState,
        audit: Option<&NewAudit>,
    ) -> Result<bool, StoreError> {
        self.write(Write::SaveDestination(
            Box::new(state.clone()),
            audit.map(|audit| Box::new(audit.clone())),
        ))
        .await
    }

    async fn destination_depths(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT destination, COUNT(*) FROM deliveries \
             WHERE status IN ('pending', 'failed') GROUP BY destination ORDER BY destination",
        )
        .fetch_all(&self.read)
        .await?)
    }

    async fn replay(&self, id: Uuid, audit: &NewAudit) -> Result<bool, StoreError> {
        self.write(Write::Replay(id, Box::new(audit.clone()))).await
    }

    async fn list(
        &self,
        filter: &EventFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        let rows = sql::list_query(
            "SELECT id, source, dedup_key, received_at, client_ip, request_id, content_type, \
             event_type, trace_context, headers, NULL AS body, status, attempts, next_attempt_at, last_error FROM events \
             WHERE 1 = 1",
            filter,
            cursor.map(|cursor| (cursor.to_owned(), "")),
            limit,
        )
        .build()
        .fetch_all(&self.read)
        .await?;
        let events = rows.iter().map(event_from_row).collect::<Result<_, _>>()?;
        Ok(sql::page(events, limit))
    }

    async fn deliveries(&self, id: Uuid) -> Result<Vec<DeliveryRecord>, StoreError> {
        let id = id.to_string();
        let rows = sqlx::query_as(
            "SELECT destination, status, attempts, last_error, delivered_at FROM deliveries \
             WHERE event_id = ?",
        )
        .bind(&id)
        .fetch_all(&self.read)
        .await?;
        let attempts = sqlx::query_as(
            "SELECT destination, at, duration_ms, outcome, error FROM attempts \
             WHERE event_id = ? ORDER BY at DESC LIMIT ?",
        )
        .bind(&id)
        .bind(sql::MAX_ATTEMPTS_SHOWN)
        .fetch_all(&self.read)
        .await?;
        sql::deliveries(rows, attempts)
    }

    async fn find(&self, source: &str, dedup_key: &str) -> Result<Option<Uuid>, StoreError> {
        let id: Option<String> =
            sqlx::query_scalar("SELECT id FROM events WHERE source = ? AND dedup_key = ?")
                .bind(source)
                .bind(dedup_key)
                .fetch_optional(&self.read)
                .await?;
        id.as_deref().map(event_id).transpose()
    }

    async fn replay_matching(
        &self,
        filter: &EventFilter,
        audit: &NewAudit,
    ) -> Result<u64, StoreError> {
        self.write(Write::ReplayMatching(
            filter.clone(),
            Box::new(audit.clone()),
        ))
        .await
    }

    async fn purge(
        &self,
        bodies_before_ms: i64,
        keys_before_ms: i64,
    ) -> Result<Purged, StoreError> {
        self.write(Write::Purge {
            bodies_before_ms,
            keys_before_ms,
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

    async fn insert_audited(
        &self,
        event: NewEvent,
        audit: &NewAudit,
    ) -> Result<Inserted, StoreError> {
        self.write(Write::InsertAudited(
            Box::new(Row::new(event)?),
            Box::new(audit.clone()),
        ))
        .await
    }

    async fn append_audit(&self, audit: &NewAudit) -> Result<AuditRecord, StoreError> {
        self.write(Write::Audit(Box::new(audit.clone()))).await
    }

    async fn audit_page(&self, limit: u32, cursor: Option<&str>) -> Result<AuditPage, StoreError> {
        let before = audit::audit_cursor(cursor)?.unwrap_or(i64::MAX);
        let limit = limit.clamp(1, MAX_AUDIT_PAGE);
        let rows = sqlx::query(
            "SELECT id, time, actor, action, target, outcome, client_ip, prev_hash, hash \
             FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?",
        )
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let records = rows
            .iter()
            .map(sql::audit_from_row)
            .collect::<Result<_, _>>()?;
        Ok(audit::audit_page(records, limit))
    }

    async fn audit_chain(&self, after_id: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, time, actor, action, target, outcome, client_ip, prev_hash, hash \
             FROM audit WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after_id)
        .bind(i64::from(limit.clamp(1, MAX_AUDIT_PAGE)))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(sql::audit_from_row).collect()
    }

    fn fingerprint_key(&self) -> &[u8] {
        &self.fingerprint_key
    }

    async fn keep_refusals(
        &self,
        batch: Vec<NewRefusal>,
        max_per_source: u64,
    ) -> Result<u64, StoreError> {
        if batch.is_empty() {
            return Ok(0);
        }
        self.write(Write::KeepRefusals {
            batch,
            max_per_source,
        })
        .await
    }

    async fn refusals(
        &self,
        filter: &RefusalFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RefusalPage, StoreError> {
        let rows = shared::list_query(filter, cursor, limit)
            .build()
            .fetch_all(&self.read)
            .await?;
        let refusals = rows
            .iter()
            .map(shared::from_row)
            .collect::<Result<_, _>>()?;
        Ok(shared::page(refusals, limit))
    }

    async fn refusal(&self, id: Uuid) -> Result<Option<StoredRefusal>, StoreError> {
        let query = format!("SELECT {} FROM refusals WHERE id = ?", shared::COLUMNS);
        let row = sqlx::query(sqlx::AssertSqlSafe(query))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(shared::from_row).transpose()
    }

    async fn purge_refusals(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.write(Write::PurgeRefusals(before_ms)).await
    }

    async fn refusal_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(
            sqlx::query_as("SELECT source, COUNT(*) FROM refusals GROUP BY source ORDER BY source")
                .fetch_all(&self.read)
                .await?,
        )
    }

    async fn close(&self) {
        self.writer.close().await;
        self.read.close().await;
    }
}
