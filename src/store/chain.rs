//! The audit chain read straight from a store's database, for `hookwall audit verify`: a
//! read-only connection, no migration, no writer, nothing taken back, so it is safe beside a
//! running gateway (opening the store itself would, on SQLite, give back the running
//! gateway's claims). The walk is [`super::audit::ChainCheck`]'s.

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

use super::audit::{Broken, ChainCheck, MAX_AUDIT_PAGE};
use super::sql::audit_from_row;
use super::{AuditRecord, StoreError};
use crate::config::StoreUrl;

/// A connection to the database of a store, for reading its audit trail.
pub enum ChainReader {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// What the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every record fits: how many, and the newest one's hash (the value to anchor elsewhere).
    Holds { records: u64, head: String },
    /// The first record that does not fit, and why.
    Broken { id: i64, why: Broken },
}

impl ChainReader {
    /// Connects to `url` read-only (SQLite: the file must exist).
    pub async fn open(url: &StoreUrl) -> Result<ChainReader, StoreError> {
        Ok(match url {
            StoreUrl::Sqlite(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .read_only(true)
                    .create_if_missing(false);
                ChainReader::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(options)
                        .await?,
                )
            }
            StoreUrl::Postgres(url) => {
                ChainReader::Postgres(PgPoolOptions::new().max_connections(1).connect(url).await?)
            }
        })
    }

    /// At most [`MAX_AUDIT_PAGE`] records with ids above `after_id`, in id order.
    async fn after(&self, after_id: i64) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = i64::from(MAX_AUDIT_PAGE);
        match self {
            ChainReader::Sqlite(pool) => sqlx::query(
                "SELECT id, time, actor, action, target, outcome, client_ip, prev_hash, hash \
                 FROM audit WHERE id > ? ORDER BY id LIMIT ?",
            )
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .iter()
            .map(audit_from_row)
            .collect(),
            ChainReader::Postgres(pool) => sqlx::query(
                "SELECT id, time, actor, action, target, outcome, client_ip, prev_hash, hash \
                 FROM audit WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .iter()
            .map(audit_from_row)
            .collect(),
        }
    }

    /// Walks the whole chain from its first record, a page at a time (memory stays bounded).
    pub async fn verify(&self) -> Result<Verdict, StoreError> {
        let mut check = ChainCheck::default();
        loop {
            let page = self.after(check.last_id()).await?;
            if page.is_empty() {
                return Ok(Verdict::Holds {
                    records: check.checked(),
                    head: check.head().to_owned(),
                });
            }
            for record in &page {
                if let Err(why) = check.check(record) {
                    return Ok(Verdict::Broken { id: record.id, why });
                }
            }
        }
    }

    pub async fn close(self) {
        match self {
            ChainReader::Sqlite(pool) => pool.close().await,
            ChainReader::Postgres(pool) => pool.close().await,
        }
    }
}
