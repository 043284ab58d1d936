//! The SQLite store's side of the shared group-commit writer: its writes, and how a batch of
//! them runs in one `synchronous=FULL` transaction on the only write connection.
//!
//! The writer is a thread of its own with a rusqlite connection: a batch runs synchronously,
//! with no hop between threads per statement (sqlx's SQLite driver makes one per statement,
//! which under load cost more than the SQL itself). Each write that writes more than one
//! statement runs inside its own savepoint, so one failing write does not undo the others. The
//! statements themselves are in `queries.rs`; this file must never answer a caller (the shared
//! writer does, after the commit).

use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use uuid::Uuid;

use super::queries::{self, Row};
use super::refusals;
use crate::store::group_commit::{Backend, Failure, Limits};
use crate::store::{
    AuditRecord, Claim, DestinationState, EventFilter, Inserted, NewAudit, NewRefusal, Purged,
    Recorded, Room, StoreError, Timing,
};

/// How long a write waits for another process's lock on the file, counted from when it was
/// queued (then it fails, and an insert is answered 503). Counted from the queueing, not per
/// statement: batches run one after another, so waits counted per batch would add up.
const BUSY: Duration = Duration::from_secs(5);

/// One write, as the store queues it. A write with a [`NewAudit`] appends it in its own
/// savepoint, after its effect and only when there was one: the record and the effect commit or
/// roll back together.
pub(super) enum Write {
    Insert(Box<Row>),
    InsertAudited(Box<Row>, Box<NewAudit>),
    Claim {
        owner: String,
        room: Room,
        turn: usize,
        lease: Duration,
    },
    Record {
        owner: String,
        claim: Claim,
        outcome: Recorded,
        timing: Timing,
    },
    Release(String),
    GiveBack {
        owner: String,
        claims: Vec<Claim>,
    },
    SaveDestination(Box<DestinationState>, Option<Box<NewAudit>>),
    Replay(Uuid, Box<NewAudit>),
    ReplayMatching(EventFilter, Box<NewAudit>),
    Audit(Box<NewAudit>),
    Purge {
        bodies_before_ms: i64,
        keys_before_ms: i64,
    },
    /// A batch of the refusal quarantine, and its per-source bound.
    KeepRefusals {
        batch: Vec<NewRefusal>,
        max_per_source: u64,
    },
    PurgeRefusals(i64),
}

impl Write {
    /// Whether the write is a single statement (an event with no destination: the insert, and
    /// on a duplicate a read of the existing id).
    fn is_one_statement(&self) -> bool {
        matches!(self, Write::Insert(row) if row.event.destinations().is_empty())
    }
}

/// Declares what a write answers, and how the store takes each kind of answer back out
/// (`SqliteStore::write`): each [`Write`] is answered by [`run`] with the one kind it asks for.
macro_rules! written {
    ($($kind:ident($type:ty)),* $(,)?) => {
        /// What a write answers.
        pub(super) enum Written {
            $($kind($type)),*
        }

        $(impl TryFrom<Written> for $type {
            type Error = StoreError;

            fn try_from(written: Written) -> Result<$type, StoreError> {
                match written {
                    Written::$kind(value) => Ok(value),
                    _ => Err(StoreError::NoAnswer),
                }
            }
        })*
    };
}

written!(
    Inserted(Inserted),
    Claims(Vec<Claim>),
    Flag(bool),
    Count(u64),
    Purged(Purged),
    Audit(AuditRecord),
);

/// The readiness probe, run on the writer's connection between batches, with when it was
/// queued (its wait for the lock is bounded by [`BUSY`] from then).
pub(super) struct Ping(pub oneshot::Sender<Result<(), StoreError>>, pub Instant);

/// The only connection that writes to the file.
pub(super) struct SqliteWriter {
    conn: rusqlite::Connection,
}

impl SqliteWriter {
    /// The writer's connection: WAL, every commit `synchronous=FULL`, foreign keys on, and a
    /// busy timeout so another process holding the lock briefly is waited for (then 503); each
    /// batch shortens it to what is left of its oldest write's [`BUSY`].
    pub fn open(path: &Path) -> Result<SqliteWriter, StoreError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(BUSY)?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(SqliteWriter { conn })
    }

    /// Runs the batch in one transaction: [`Backend::transact`], synchronously.
    fn transact_now(
        &mut self,
        writes: &[Write],
        oldest: Instant,
    ) -> Result<Vec<Result<Written, StoreError>>, Failure> {
        // Another process held the lock past the wait, or the file cannot be written: every
        // write of the batch is refused (an insert gets 503) and `/readyz` says not ready.
        let tx = begin(&mut self.conn, oldest)
            .map_err(|err| Failure::NotBegun(StoreError::Commit(err)))?;
        run_all(&tx, writes)
            .and_then(|results| tx.commit().map(|()| results))
            .map_err(|err| Failure::Failed(StoreError::Commit(err)))
    }
}

impl Backend for SqliteWriter {
    const NAME: &'static str = "sqlite";
    const LIMITS: Limits = Limits {
        writes: 256,
        bytes: usize::MAX,
    };
    type Write = Write;
    type Output = Written;
    type Control = Ping;

    fn transact(
        &mut self,
        writes: &[Write],
        oldest: Instant,
    ) -> impl Future<Output = Result<Vec<Result<Written, StoreError>>, Failure>> + Send {
        // Done before the future is returned: the writer's thread runs nothing else.
        std::future::ready(self.transact_now(writes, oldest))
    }

    fn control(&mut self, Ping(done, queued): Ping) {
        let _ = done.send(ping(&self.conn, queued));
    }

    fn close(self) {
        if let Err((_, err)) = self.conn.close() {
            tracing::warn!(error = %err, "closing the store's write connection failed");
        }
    }
}

/// Opens the batch's transaction with the write lock taken at once (`BEGIN IMMEDIATE`): with a
/// deferred transaction each write would wait for another process's lock on its own, one busy
/// timeout after another. The wait is what is left of the oldest write's [`BUSY`].
fn begin(
    conn: &mut rusqlite::Connection,
    queued: Instant,
) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.busy_timeout(BUSY.saturating_sub(queued.elapsed()))?;
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// Runs the writes, each that writes more than one statement inside its own savepoint. An error
/// here fails the whole batch; the transaction then rolls back on drop.
fn run_all(
    tx: &rusqlite::Transaction<'_>,
    writes: &[Write],
) -> rusqlite::Result<Vec<Result<Written, StoreError>>> {
    let mut results = Vec::with_capacity(writes.len());
    for write in writes {
        // A write of one statement needs no savepoint: SQLite undoes a failed statement by
        // itself. Prepared once and cached, unlike rusqlite's `savepoint()`, which parses its
        // SQL for every write.
        let savepoint = !write.is_one_statement();
        if savepoint {
            tx.prepare_cached("SAVEPOINT op")?.execute([])?;
        }
        let result = run(tx, write);
        if savepoint {
            if result.is_err() {
                tx.prepare_cached("ROLLBACK TO op")?.execute([])?;
            }
            tx.prepare_cached("RELEASE op")?.execute([])?;
        }
        results.push(result);
    }
    Ok(results)
}

/// Runs one write inside the open savepoint.
fn run(conn: &rusqlite::Connection, write: &Write) -> Result<Written, StoreError> {
    Ok(match write {
        Write::Insert(row) => Written::Inserted(queries::insert(conn, row)?),
        Write::InsertAudited(row, audit) => {
            let inserted = queries::insert(conn, row)?;
            if let Inserted::Stored(_) = inserted {
                queries::append_audit(conn, audit)?;
            }
            Written::Inserted(inserted)
        }
        Write::Claim {
            owner,
            room,
            turn,
            lease,
        } => Written::Claims(queries::claim(conn, owner, room, *turn, *lease)?),
        Write::Record {
            owner,
            claim,
            outcome,
            timing,
        } => Written::Flag(queries::record(conn, owner, claim, outcome, *timing)?),
        Write::Release(owner) => Written::Count(queries::release(conn, owner)?),
        Write::GiveBack { owner, claims } => {
            Written::Count(queries::give_back(conn, owner, claims)?)
        }
        Write::SaveDestination(state, audit) => {
            let saved = queries::save_destination_state(conn, state)?;
            if let (true, Some(audit)) = (saved, audit) {
                queries::append_audit(conn, audit)?;
            }
            Written::Flag(saved)
        }
        Write::Replay(id, audit) => {
            let replayed = queries::replay(conn, *id)?;
            if replayed {
                queries::append_audit(conn, audit)?;
            }
            Written::Flag(replayed)
        }
        Write::ReplayMatching(filter, audit) => {
            let replayed = queries::replay_matching(conn, filter)?;
            queries::append_audit(conn, &audit.with_count("replayed", replayed))?;
            Written::Count(replayed)
        }
        Write::Audit(audit) => Written::Audit(queries::append_audit(conn, audit)?),
        Write::Purge {
            bodies_before_ms,
            keys_before_ms,
        } => Written::Purged(queries::purge(conn, *bodies_before_ms, *keys_before_ms)?),
        Write::KeepRefusals {
            batch,
            max_per_source,
        } => Written::Count(refusals::keep(conn, batch, *max_per_source)?),
        Write::PurgeRefusals(before_ms) => Written::Count(refusals::purge(conn, *before_ms)?),
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
