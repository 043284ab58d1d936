//! The store's errors: what went wrong, typed, with the driver's error kept as the cause.
//!
//! Callers mostly show an error (a 503's detail, a log line), so each variant's text is what an
//! operator reads; the few that are told apart ([`StoreError::Closed`]) have variants of their
//! own. This module owns no behaviour and must never log or report: the writer and the stores do.

use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(#[from] sqlx::Error),
    #[error("store unavailable: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// SQLite: a batch's transaction could not take the write lock, or could not commit.
    #[error("store commit failed: {0}")]
    Commit(#[source] rusqlite::Error),
    /// A write whose batch did not commit: the batch's one error, shared by each of its writes
    /// (see `group_commit`). Shown as that error.
    #[error(transparent)]
    Batch(Arc<StoreError>),
    #[error("store migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store is shut down")]
    Closed,
    /// PostgreSQL: a standby, or a database set read-only, answers queries but refuses writes.
    #[error(
        "store does not accept writes: the PostgreSQL server is read-only \
         (a standby, or default_transaction_read_only)"
    )]
    ReadOnly,
    #[error("stored data is corrupt: {0}")]
    Corrupt(#[from] Corrupt),
    /// The writer answered a write with no result, or with one of another kind: a bug.
    #[error("the store's writer gave no answer of the kind asked for")]
    NoAnswer,
    /// A compare-and-set that other writers beat every time it was tried.
    #[error("the stored state kept changing under this write; try again")]
    Busy,
    #[error("cannot prepare the store: {0}")]
    Setup(#[from] std::io::Error),
}

/// What in the stored data (or in what was about to be stored) could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Corrupt {
    /// An event's headers as JSON.
    #[error("{0}")]
    Headers(#[from] serde_json::Error),
    #[error("event id {text:?}: {source}")]
    EventId { text: String, source: uuid::Error },
    /// A listing's cursor that no page of this store handed out.
    #[error("the cursor is not one this store gave out")]
    Cursor,
    #[error("unknown status {0:?}")]
    Status(String),
}

impl StoreError {
    /// The error underneath (the driver's), for reports that add their own words.
    pub(super) fn cause(&self) -> &(dyn std::error::Error + 'static) {
        match self {
            StoreError::Batch(shared) => shared.cause(),
            other => std::error::Error::source(other).unwrap_or(other),
        }
    }
}

/// The id of an event as its text column holds it.
pub(super) fn event_id(text: &str) -> Result<uuid::Uuid, StoreError> {
    text.parse().map_err(|source| {
        StoreError::Corrupt(Corrupt::EventId {
            text: text.to_owned(),
            source,
        })
    })
}
