//! Durable storage of accepted events, behind one trait so SQLite (embedded) and PostgreSQL
//! (several instances) are interchangeable.
//!
//! The contract every implementation keeps:
//! - [`Store::insert`] returns only once the event is committed durably (SQLite:
//!   `synchronous=FULL`), because the gateway answers 2xx right after it;
//! - de-duplication is atomic with the insert: a unique key on `(source, dedup_key)`, never a
//!   check-then-insert, so two concurrent copies of one event store one row;
//! - a failure is an error, never a silent drop: the gateway answers 503 and the provider retries.
//!
//! [`SqliteStore`] is the embedded default; [`PostgresStore`] lets several instances share one
//! queue. Both pass one conformance suite (`tests/store_conformance.rs`).
//!
//! The rooms: this file holds the trait and the values that cross it; `group_commit.rs` the one
//! writer loop through which both stores batch their writes; `sqlite/` and `postgres/` each a
//! `mod.rs` (opening, reads), a `writer.rs` (its side of the writer) and a `queries.rs` (its
//! statements); `sql.rs` what the two share on the sqlx side; `status.rs` the statuses;
//! `error.rs` [`StoreError`]; `destinations.rs` the destinations' shared control state;
//! `audit.rs` the audit trail's records and hash chain; `chain.rs` its read-only check. The store imports nothing from pipeline, delivery, admin or cli:
//! the [`NewEvent`] it stores comes from [`crate::event`], on the floor below.

pub mod audit;
mod chain;
mod destinations;
mod error;
mod group_commit;
pub mod nodelay;
mod postgres;
mod refusals;
mod sql;
mod sqlite;
mod status;

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

pub use audit::{AuditAction, AuditPage, AuditRecord, NewAudit};
pub use chain::{ChainReader, Verdict};
pub use destinations::{CircuitState, DestinationState};
pub use error::{Corrupt, StoreError};
pub use postgres::PostgresStore;
pub use refusals::{NewRefusal, RefusalFilter, RefusalPage, StoredRefusal};
pub use sqlite::SqliteStore;
pub use status::{DeliveryStatus, EventStatus};

/// The event the store is given, and the proof it is built from, live one floor down
/// ([`crate::event`]), so the pipeline and the store share them without the store importing the
/// pipeline.
pub use crate::event::{Hold, NewEvent};

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A new event, committed.
    Stored(Uuid),
    /// The `(source, dedup_key)` was already stored under this id; nothing was written.
    Duplicate(Uuid),
}

/// A stored event as read back.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    pub id: String,
    pub source: String,
    pub dedup_key: String,
    pub received_at_ms: i64,
    pub client_ip: String,
    pub request_id: Option<String>,
    pub content_type: Option<String>,
    /// What the provider names the event (SPEC section 10); `null` when it names none.
    pub event_type: Option<String>,
    /// The `traceparent` of the request span that stored it (SPEC section 14), when traced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_context: Option<String>,
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub body: Option<Vec<u8>>,
    /// Serialised as its stored spelling ([`EventStatus::as_str`]).
    pub status: EventStatus,
    pub attempts: i64,
    pub next_attempt_at_ms: i64,
    pub last_error: Option<String>,
}

impl StoredEvent {
    /// `event` as a destination sees it once stored under `id` and before any attempt, without
    /// a read back from the store (proxy mode forwards it right after the insert).
    pub fn unattempted(event: &NewEvent, id: Uuid) -> StoredEvent {
        StoredEvent {
            id: id.to_string(),
            source: event.source().to_owned(),
            dedup_key: event.dedup_key().to_owned(),
            received_at_ms: event.received_at_ms(),
            client_ip: event.client_ip().to_string(),
            request_id: event.request_id().map(str::to_owned),
            content_type: event.content_type().map(str::to_owned),
            event_type: event.event_type().map(str::to_owned),
            trace_context: event.trace_context().map(|context| context.to_string()),
            headers: event.headers().to_vec(),
            body: Some(event.body().to_vec()),
            status: EventStatus::Pending,
            attempts: 0,
            next_attempt_at_ms: event.received_at_ms(),
            last_error: None,
        }
    }
}

/// Which events a listing, export or bulk replay covers. `None` fields do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub source: Option<String>,
    pub status: Option<String>,
    /// Exactly this `event_type`.
    pub event_type: Option<String>,
    /// Received at or after (unix milliseconds).
    pub since_ms: Option<i64>,
    /// Received before (unix milliseconds).
    pub until_ms: Option<i64>,
}

/// One page of a listing, newest first. `next` is the cursor for the following page.
#[derive(Debug, Clone)]
pub struct Page {
    pub events: Vec<StoredEvent>,
    pub next: Option<String>,
}

/// A delivery a worker has claimed: it holds the lease until `record` or the lease lapses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub event_id: Uuid,
    pub source: String,
    pub destination: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When this delivery's retry budget (`max_age`) started: the event's receipt, or the last
    /// replay (a replayed event gets a whole budget again, however old it is).
    pub budget_from_ms: i64,
    /// How many times the delivery was replayed ([`Store::replay`] counts them).
    pub replays: u32,
}

/// How many deliveries one [`Store::claim`] may take: `total` in all, and of each destination
/// its room in `per_destination`, or `otherwise` for a destination not named there. The worker
/// gives a destination no more room than it can attempt soon, so a destination that does not
/// answer cannot fill the worker with its backlog (see `delivery::worker`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Room {
    pub total: usize,
    pub per_destination: HashMap<String, usize>,
    pub otherwise: usize,
}

impl Room {
    /// Up to `total` deliveries, whatever their destination.
    pub fn up_to(total: usize) -> Room {
        Room {
            total,
            per_destination: HashMap::new(),
            otherwise: total,
        }
    }

    fn of(&self, destination: &str) -> usize {
        self.per_destination
            .get(destination)
            .copied()
            .unwrap_or(self.otherwise)
    }
}

/// The most destinations one claim looks at: the destinations with waiting deliveries are
/// listed by name (one index seek each), then claimed from one by one.
const MAX_DESTINATIONS: usize = 1024;

/// The order in which a claim takes from the destinations that have deliveries waiting
/// (`waiting`, in name order), and at most how many of each: its room, never more than
/// `room.total`. The store then claims each destination's due deliveries in due order, up to its
/// share, and stops once `room.total` are claimed. The order starts at the `turn`-th destination
/// (a counter of the store's claims), so that when the total is short every destination gets its
/// turn to go first. Shared by both stores, so that both claim alike.
fn shares(waiting: &[String], room: &Room, turn: usize) -> Vec<(String, usize)> {
    if waiting.is_empty() {
        return Vec::new();
    }
    let start = turn % waiting.len();
    waiting[start..]
        .iter()
        .chain(&waiting[..start])
        .map(|destination| (destination.clone(), room.of(destination).min(room.total)))
        .filter(|(_, share)| *share > 0)
        .collect()
}

/// When an attempt started and how long its destination took: a line of the attempt history.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    /// Unix milliseconds.
    pub started_at_ms: i64,
    pub duration_ms: i64,
}

/// One delivery of an event (to one destination) with its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    pub destination: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub delivered_at_ms: Option<i64>,
    pub history: Vec<AttemptRecord>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub at_ms: i64,
    pub duration_ms: i64,
    /// `delivered`, `retry` or `dead` ([`Recorded::outcome`]).
    pub outcome: String,
    pub error: Option<String>,
}

/// What to record after an attempt (the retry policy has already decided).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Delivered,
    /// Failed, try again at `at_ms`.
    Retry {
        at_ms: i64,
        error: String,
    },
    /// Failed for good: the dead-letter queue.
    Dead {
        error: String,
    },
}

#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores the event durably, or reports the id it was already stored under.
    async fn insert(&self, event: NewEvent) -> Result<Inserted, StoreError>;
    /// Proves the store accepts writes now (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// The stored events among `ids`, in no particular order (an id not stored is left out):
    /// one read for a batch of claims instead of one per delivery.
    async fn get_many(&self, ids: &[Uuid]) -> Result<Vec<StoredEvent>, StoreError>;
    async fn get(&self, id: Uuid) -> Result<Option<StoredEvent>, StoreError> {
        Ok(self.get_many(&[id]).await?.pop())
    }
    /// Claims due deliveries for `owner` until `lease` from now, as many as `room` allows, each
    /// destination's in due order. Expired claims of other owners are due again: that is how a
    /// dead worker's work is taken over. No destination's backlog is walked over to reach
    /// another's: destinations are independent. A paused destination ([`DestinationState`]) is
    /// never claimed from, whatever its room: a pause holds from its commit on.
    async fn claim(
        &self,
        owner: &str,
        room: &Room,
        lease: Duration,
    ) -> Result<Vec<Claim>, StoreError>;
    /// Records an attempt's outcome, and the attempt in the delivery's history; ignored
    /// (returns false) when `owner` no longer holds the claim, because another worker took it
    /// over after the lease lapsed.
    async fn record(
        &self,
        owner: &str,
        claim: &Claim,
        outcome: Recorded,
        timing: Timing,
    ) -> Result<bool, StoreError>;
    /// The deliveries of event `id`, by destination name, each with its attempts.
    async fn deliveries(&self, id: Uuid) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Gives back every claim `owner` holds (graceful shutdown), due at once.
    async fn release(&self, owner: &str) -> Result<u64, StoreError>;
    /// Gives back those of `claims` that `owner` still holds, due at once, without counting an
    /// attempt (their destination is paused or its circuit is open); returns how many.
    async fn give_back(&self, owner: &str, claims: &[Claim]) -> Result<u64, StoreError>;
    /// Every destination's saved control state, in name order (a destination never saved has no
    /// row: it is [`DestinationState::new`]).
    async fn destination_states(&self) -> Result<Vec<DestinationState>, StoreError>;
    /// Saves `state` if the stored version is still `state.version` (0: never saved), as
    /// version + 1. `Ok(false)` when another writer saved first: read again and retry. With
    /// `audit` (an operator's pause or resume), the record is appended in the same transaction,
    /// only when the state is saved.
    async fn save_destination_state(
        &self,
        state: &DestinationState,
        audit: Option<&NewAudit>,
    ) -> Result<bool, StoreError>;
    /// Per destination name: deliveries waiting (pending or failed), claimed or not.
    async fn destination_depths(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Makes every delivery of the event due again with a fresh retry budget, and counts the
    /// replay on each (`Claim::replays`), and appends `audit` in the same transaction.
    /// `Ok(false)` when there is no such event or its body was purged (nothing left to deliver):
    /// then nothing is written, `audit` neither (a call that changed nothing is not an action).
    async fn replay(&self, id: Uuid, audit: &NewAudit) -> Result<bool, StoreError>;
    /// Events matching `filter`, newest first, at most `limit`, after `cursor` (a page's `next`).
    /// Bodies are not loaded (`body` is `None`): use [`Store::get`] for one event.
    async fn list(
        &self,
        filter: &EventFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError>;
    /// The id stored under `(source, dedup_key)`, if any (the dry-run duplicate check).
    async fn find(&self, source: &str, dedup_key: &str) -> Result<Option<Uuid>, StoreError>;
    /// Replays every event matching `filter` that still has its body; returns how many. Appends
    /// `audit` in the same transaction, its outcome followed by ` replayed=N` (also for 0).
    async fn replay_matching(
        &self,
        filter: &EventFilter,
        audit: &NewAudit,
    ) -> Result<u64, StoreError>;
    /// Purges bodies of delivered and ignored events received before `bodies_before_ms`, and
    /// forgets such events (their dedup keys) received before `keys_before_ms`. An ignored event
    /// is kept exactly as long as a delivered one: it has nothing left to do either. The audit
    /// trail is never purged.
    async fn purge(&self, bodies_before_ms: i64, keys_before_ms: i64)
    -> Result<Purged, StoreError>;
    /// Per source: deliveries waiting (pending or failed) and events dead, for the gauges.
    async fn depths(&self) -> Result<Vec<Depth>, StoreError>;
    /// Stores the event as [`Store::insert`] does and appends `audit` in the same transaction
    /// (an operator admitting a quarantined request, SPEC section 13). On a duplicate nothing is
    /// written, `audit` neither: the caller may append a record of its own saying so.
    async fn insert_audited(
        &self,
        event: NewEvent,
        audit: &NewAudit,
    ) -> Result<Inserted, StoreError>;
    /// Appends a record of an action with no effect in the store (a reload, an export, a
    /// console login) and returns it as written.
    async fn append_audit(&self, audit: &NewAudit) -> Result<AuditRecord, StoreError>;
    /// The audit trail newest first, at most `limit` records, after `cursor` (a page's `next`).
    async fn audit_page(&self, limit: u32, cursor: Option<&str>) -> Result<AuditPage, StoreError>;
    /// At most `limit` records with ids above `after_id`, in id order: the chain, read page by
    /// page for `hookwall audit verify`.
    async fn audit_chain(&self, after_id: i64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
    /// Finishes queued writes and releases the database; later calls fail with `Closed`.
    async fn close(&self);

    /// Keeps a batch of refused requests (SPEC section 13), then, in the same transaction,
    /// deletes the oldest records of each source of the batch beyond `max_per_source`; returns
    /// how many were deleted.
    async fn keep_refusals(
        &self,
        batch: Vec<NewRefusal>,
        max_per_source: u64,
    ) -> Result<u64, StoreError>;
    /// Kept refusals matching `filter`, newest first, at most `limit`, after `cursor`.
    async fn refusals(
        &self,
        filter: &RefusalFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<RefusalPage, StoreError>;
    /// One kept refusal.
    async fn refusal(&self, id: Uuid) -> Result<Option<StoredRefusal>, StoreError>;
    /// Deletes the refusals received before `before_ms`; returns how many.
    async fn purge_refusals(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// How many refusals are kept, per source (sources with none are absent).
    async fn refusal_counts(&self) -> Result<Vec<(String, i64)>, StoreError>;

    /// The installation's fingerprint key: made once when the store is first opened, the same
    /// for every process that opens it, never shown.
    fn fingerprint_key(&self) -> &[u8];
}

/// One source's backlog (see [`Store::depths`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Depth {
    pub source: String,
    pub queued: i64,
    pub dead: i64,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub bodies: u64,
    pub events: u64,
}
