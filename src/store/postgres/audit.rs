//! The PostgreSQL store's audit trail: appending a record inside the caller's transaction (the
//! transaction of the effect it records), or in one of its own.
//!
//! Several instances append to one chain at once. Each append takes a transaction-scoped
//! advisory lock ([`AUDIT_LOCK`]), then reads the head and inserts the record after it: appends
//! are serialised from the lock to the commit, so no two records name the same predecessor and
//! ids follow each other with no gap. The lock is always the last one a transaction takes (after
//! the rows of its effect), and nothing is locked after it, so it cannot take part in a
//! deadlock. This file must never append outside a transaction: the lock would end with the
//! statement and the chain could fork.

use sqlx::PgConnection;
use sqlx::postgres::PgPool;

use crate::store::{AuditRecord, NewAudit, StoreError};

/// Advisory lock key held (per transaction) by the one append running: "hookaudt" in ASCII.
const AUDIT_LOCK: i64 = 0x686f_6f6b_6175_6474;

/// Appends `audit` after the newest record, in the caller's open transaction (committed with it).
pub(super) async fn append(
    tx: &mut PgConnection,
    audit: &NewAudit,
) -> Result<AuditRecord, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_LOCK)
        .execute(&mut *tx)
        .await?;
    // A statement of its own, after the lock: under READ COMMITTED its snapshot is taken now,
    // so it sees the record the previous holder of the lock committed. The time is the
    // database's, so that instances whose clocks differ still write times in chain order.
    let (now_ms, head_id, head_hash): (i64, Option<i64>, Option<String>) = sqlx::query_as(
        "SELECT FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT, h.id, h.hash \
         FROM (SELECT 1) AS one \
         LEFT JOIN (SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1) AS h ON TRUE",
    )
    .fetch_one(&mut *tx)
    .await?;
    let record = audit.chained(head_id.zip(head_hash), now_ms);
    sqlx::query(
        "INSERT INTO audit (id, time, actor, action, target, outcome, client_ip, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(record.id)
    .bind(record.time_ms)
    .bind(&record.actor)
    .bind(&record.action)
    .bind(&record.target)
    .bind(&record.outcome)
    .bind(record.client_ip.as_deref())
    .bind(&record.prev_hash)
    .bind(&record.hash)
    .execute(&mut *tx)
    .await?;
    Ok(record)
}

/// A record of its own, in a transaction of its own.
pub(super) async fn append_alone(
    pool: &PgPool,
    audit: &NewAudit,
) -> Result<AuditRecord, StoreError> {
    let mut tx = pool.begin().await?;
    let record = append(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(record)
}
