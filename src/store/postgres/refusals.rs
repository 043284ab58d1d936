//! The PostgreSQL store's refusal-quarantine statements (SPEC section 13). They run on the pool,
//! not through the event writer: a batch is one short transaction, written by the quarantine
//! writer off the request path, and must not wait behind (or delay) event inserts.
//!
//! Several instances may write refusals of one source at once; the per-source bound is applied
//! after each batch by whoever wrote it, so the table exceeds the bound only by the batches in
//! flight, and the next batch of the source trims it back.

use std::collections::BTreeSet;

use sqlx::postgres::PgPool;

use crate::store::refusals::{self as shared, headers_json};
use crate::store::{NewRefusal, RefusalFilter, RefusalPage, StoreError, StoredRefusal};

pub(super) async fn keep(
    pool: &PgPool,
    batch: &[NewRefusal],
    max_per_source: u64,
) -> Result<u64, StoreError> {
    if batch.is_empty() {
        return Ok(0);
    }
    let mut query = sqlx::QueryBuilder::<sqlx::Postgres>::new(
        "INSERT INTO refusals (id, source, received_at, client_ip, status, category, reason, \
         headers, body_sha256, body_length, sample, sample_is_whole_body) ",
    );
    let mut rows = Vec::with_capacity(batch.len());
    for refusal in batch {
        rows.push((refusal, headers_json(&refusal.headers)?));
    }
    query.push_values(rows, |mut row, (refusal, headers)| {
        row.push_bind(refusal.id.to_string())
            .push_bind(refusal.source.clone())
            .push_bind(refusal.received_at_ms)
            .push_bind(refusal.client_ip.clone())
            .push_bind(i64::from(refusal.status))
            .push_bind(refusal.category.clone())
            .push_bind(refusal.reason.clone())
            .push_bind(headers)
            .push_bind(refusal.body_sha256.clone())
            .push_bind(refusal.body_length)
            .push_bind(refusal.sample.clone())
            .push_bind(refusal.sample_is_whole_body);
    });
    let mut tx = pool.begin().await?;
    query.build().execute(&mut *tx).await?;
    let sources: BTreeSet<&str> = batch.iter().map(|r| r.source.as_str()).collect();
    let offset = i64::try_from(max_per_source).unwrap_or(i64::MAX);
    let mut deleted = 0;
    for source in sources {
        deleted += sqlx::query(
            "DELETE FROM refusals WHERE source = $1 AND id <= \
             (SELECT id FROM refusals WHERE source = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
        )
        .bind(source)
        .bind(offset)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(deleted)
}

pub(super) async fn list(
    pool: &PgPool,
    filter: &RefusalFilter,
    limit: u32,
    cursor: Option<&str>,
) -> Result<RefusalPage, StoreError> {
    let rows = shared::list_query(filter, cursor, limit)
        .build()
        .fetch_all(pool)
        .await?;
    let refusals = rows
        .iter()
        .map(shared::from_row)
        .collect::<Result<_, _>>()?;
    Ok(shared::page(refusals, limit))
}

pub(super) async fn get(pool: &PgPool, id: &str) -> Result<Option<StoredRefusal>, StoreError> {
    let query = format!("SELECT {} FROM refusals WHERE id = $1", shared::COLUMNS);
    let row = sqlx::query(sqlx::AssertSqlSafe(query))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(shared::from_row).transpose()
}

pub(super) async fn purge(pool: &PgPool, before_ms: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM refusals WHERE received_at < $1")
        .bind(before_ms)
        .execute(pool)
        .await?
        .rows_affected())
}

pub(super) async fn counts(pool: &PgPool) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT source, COUNT(*) FROM refusals GROUP BY source ORDER BY source")
            .fetch_all(pool)
            .await?,
    )
}
