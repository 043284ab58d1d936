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
//! Inserts are group-committed through the shared writer (`store::group_commit`, with this
//! store's statement in `writer.rs`; two batches may be in flight at once): nobody is answered before the commit that holds their
//! event. Everything else runs directly on the pool (`queries.rs`): claims and outcomes are
//! already one statement (or one short transaction) each. This file opens the store and answers
//! the reads; it must never insert an event except through the writer.

mod audit;
mod queries;
mod refusals;
mod writer;

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use uuid::Uuid;

use self::writer::{PostgresWriter, WRITER_LOOPS};
use super::audit::{MAX_AUDIT_PAGE, audit_cursor, audit_page};
use super::error::{Corrupt, event_id};
use super::group_commit::Writer;
use super::sql::{self, event_from_row};
use super::{
    AuditPage, AuditRecord, Claim, DeliveryRecord, Depth, DestinationState, EventFilter, Inserted,
    NewAudit, NewEvent, NewRefusal, Page, Purged, Recorded, RefusalFilter, RefusalPage, Room,
    Store, StoreError, StoredEvent, StoredRefusal, Timing,
};

/// How long a caller waits for a pooled connection before the store reports itself unavailable
/// (a 503 the provider retries), well inside the default request timeout.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle this long is pinged before it is handed out (one idle less long is
/// taken to be alive).
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

pub struct PostgresStore {
    pool: PgPool,
    writer: Writer<PostgresWriter>,
    /// Claims made, for which destination goes first ([`super::shares`]).
    turns: AtomicUsize,
    fingerprint_key: Vec<u8>,
}

fn migrator() -> Migrator {
    // sqlx takes an advisory lock while it migrates, so instances started together run each
    // migration once.
    sql::embedded_migrations!("postgres":
        (1, "events", "0001_events.sql"),
        (2, "deliveries", "0002_deliveries.sql"),
        (3, "replay budget", "0003_replay_budget.sql"),
        (4, "claims per destination", "0004_claims_per_destination.sql"),
        (5, "ignored", "0005_ignored.sql"),
        (6, "install keys", "0006_install_keys.sql"),
        (7, "event type", "0007_event_type.sql"),
        (8, "default names from one", "0008_default_names_from_one.sql"),
        (9, "destination state", "0009_destination_state.sql"),
        (10, "replays", "0010_replays.sql"),
        (11, "attempts", "0011_attempts.sql"),
        (12, "audit", "0012_audit.sql"),
        (13, "refusals", "0013_refusals.sql"),
        (14, "trace context", "0014_trace_context.sql"),
    )
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
            // sqlx pings every connection it hands out: a round trip before each batch of the
            // writer, which cost more than the batch's statement under load. A connection used
            // within the last second is handed out as it is; one that died meanwhile fails its
            // statement, as one that dies during it does.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
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
        .bind(sql::FINGERPRINT_KEY)
        .bind(sql::fresh_key()?)
        .execute(&pool)
        .await?;
        let fingerprint_key: Vec<u8> =
            sqlx::query_scalar("SELECT key FROM install_keys WHERE name = $1")
                .bind(sql::FINGERPRINT_KEY)
                .fetch_one(&pool)
                .await?;
        Ok(PostgresStore {
            // Every loop holds a connection while its batch runs: at least one stays for the rest.
            writer: Writer::spawn_many(
                PostgresWriter { pool: pool.clone() },
                WRITER_LOOPS.min(max_connections.saturating_sub(1).max(1) as usize),
            ),
            pool,
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

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn insert(&self, event: NewEvent) -> Result<Inserted, StoreError> {
        self.writer.submit(Box::new(event)).await
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
            Err(StoreError::ReadOnly)
        }
    }

    async fn get_many(&self, ids: &[Uuid]) -> Result<Vec<StoredEvent>, StoreError> {
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        closed(
            async {
                let rows = sqlx::query(
                    "SELECT id::text AS id, source, dedup_key, received_at, client_ip, request_id, \
                     content_type, event_type, trace_context, headers, body, status, attempts, next_attempt_at, last_error \
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
        closed(queries::claim(&self.pool, owner, room, turn, lease).await)
    }

    async fn record(
        &self,
        owner: &str,
        claim: &Claim,
        outcome: Recorded,
        timing: Timing,
    ) -> Result<bool, StoreError> {
        closed(queries::record(&self.pool, owner, claim, outcome, timing).await)
    }

    async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        closed(queries::release(&self.pool, owner).await)
    }

    async fn give_back(&self, owner: &str, claims: &[Claim]) -> Result<u64, StoreError> {
        if claims.is_empty() {
            return Ok(0);
        }
        closed(queries::give_back(&self.pool, owner, claims).await)
    }

    async fn destination_states(&self) -> Result<Vec<DestinationState>, StoreError> {
        closed(queries::destination_states(&self.pool).await)
    }

    async fn save_destination_state(
        &self,
        state: &DestinationState,
        audit: Option<&NewAudit>,
    ) -> Result<bool, StoreError> {
        closed(queries::save_destination_state(&self.pool, state, audit).await)
    }

    async fn destination_depths(&self) -> Result<Vec<(String, i64)>, StoreError> {
        closed(queries::destination_depths(&self.pool).await)
    }

    async fn replay(&self, id: Uuid, audit: &NewAudit) -> Result<bool, StoreError> {
        closed(queries::replay(&self.pool, id, audit).await)
    }

    async fn list(
        &self,
        filter: &EventFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        // Cursors are event ids (a page's `next`); anything else cannot have come from this
        // store.
        let after = cursor
            .map(|cursor| Uuid::from_str(cursor).map_err(|_| Corrupt::Cursor))
            .transpose()?;
        let rows = sql::list_query(
            "SELECT id::text AS id, source, dedup_key, received_at, client_ip, request_id, \
             content_type, event_type, trace_context, headers, NULL::bytea AS body, status, attempts, next_attempt_at, \
             last_error FROM events WHERE TRUE",
            filter,
            after.map(|id| (id.to_string(), "::uuid")),
            limit,
        )
        .build()
        .fetch_all(&self.pool)
        .await;
        let events = closed(rows.map_err(StoreError::from))?
            .iter()
            .map(event_from_row)
            .collect::<Result<_, _>>()?;
        Ok(sql::page(events, limit))
    }

    async fn deliveries(&self, id: Uuid) -> Result<Vec<DeliveryRecord>, StoreError> {
        closed(
            async {
                let id = id.to_string();
                let rows = sqlx::query_as(
                    "SELECT destination, status, attempts, last_error, delivered_at \
                     FROM deliveries WHERE event_id = $1::uuid",
                )
                .bind(&id)
                .fetch_all(&self.pool)
                .await?;
                let attempts = sqlx::query_as(
                    "SELECT destination, at, duration_ms, outcome, error FROM attempts \
                     WHERE event_id = $1::uuid ORDER BY at DESC LIMIT $2",
                )
                .bind(&id)
                .bind(sql::MAX_ATTEMPTS_SHOWN)
                .fetch_all(&self.pool)
                .await?;
                sql::deliveries(rows, attempts)
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
                .bind(queries::dedup_key(key).as_ref())
                .fetch_optional(&self.pool)
                .await?;
                id.as_deref().map(event_id).transpose()
            }
            .await,
        )
    }

    async fn replay_matching(
        &self,
        filter: &EventFilter,
        audit: &NewAudit,
    ) -> Result<u64, StoreError> {
        closed(queries::replay_matching(&self.pool, filter, audit).await)
    }

    async fn purge(
        &self,
        bodies_before_ms: i64,
        keys_before_ms: i64,
    ) -> Result<Purged, StoreError> {
        closed(queries::purge(&self.pool, bodies_before_ms, keys_before_ms).await)
    }

    async fn depths(&self) -> Result<Vec<Depth>, StoreError> {
        closed(queries::depths(&self.pool).await)
    }

    async fn insert_audited(
        &self,
        event: NewEvent,
        audit: &NewAudit,
    ) -> Result<Inserted, StoreError> {
        if self.writer.is_closed() {
            return Err(StoreError::Closed);
        }
        closed(writer::insert_audited(&self.pool, event, audit).await)
    }

    async fn append_audit(&self, audit: &NewAudit) -> Result<AuditRecord, StoreError> {
        closed(audit::append_alone(&self.pool, audit).await)
    }

    async fn audit_page(&self, limit: u32, cursor: Option<&str>) -> Result<AuditPage, StoreError> {
        let before = audit_cursor(cursor)?.unwrap_or(i64::MAX);
        let limit = limit.clamp(1, MAX_AUDIT_PAGE);
        let rows = sqlx::query(
            "SELECT id, time, actor, action, target, outcome, client_ip, prev_hash, hash \
             FROM audit WHERE id < $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await;
        let records = closed(rows.map_err(StoreError::from))?
            .iter()
            .map(sql::audit_from_row)
            .collect::<Result<_, _>>()?;
        Ok(audit_page(records, limit))
    }

    async fn audit_chain(&self, after_id: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, time, actor, action, target, outcome, client_ip, prev_hash, hash \
             FROM audit WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(i64::from(limit.clamp(1, MAX_AUDIT_PAGE)))
        .fetch_all(&self.pool)
        .await;
        closed(rows.map_err(StoreError::from))?
            .iter()
            .map(sql::audit_from_row)
            .collect()
    }

    fn fingerprint_key(&self) -> &[u8] {
        &self.fingerprint_key
    }

    async fn keep_refusals(
        &self,
        batch: Vec<NewRefusal>,
        max_per_source: u64,
    ) -> Result<u64, StoreError> {
        closed(refusals::keep(&self.pool, &batch, max_per_source).await)
    }

    async fn refusals(
        &self,
        filter: &RefusalFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RefusalPage, StoreError> {
        closed(refusals::list(&self.pool, filter, limit, cursor).await)
    }

    async fn refusal(&self, id: Uuid) -> Result<Option<StoredRefusal>, StoreError> {
        closed(refusals::get(&self.pool, &id.to_string()).await)
    }

    async fn purge_refusals(&self, before_ms: i64) -> Result<u64, StoreError> {
        closed(refusals::purge(&self.pool, before_ms).await)
    }

    async fn refusal_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        closed(refusals::counts(&self.pool).await)
    }

    async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}
