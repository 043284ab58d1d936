//! The PostgreSQL store's side of the shared group-commit writer: inserts, many per
//! transaction, as one statement that commits on its own (events, and in a second part of the
//! same statement their deliveries): one round trip per batch, no BEGIN and no COMMIT. The
//! store runs [`WRITER_LOOPS`] of these side by side, each batch on its own connection.
//!
//! [`insert_audited`] (an admitted event and its audit record, one transaction) reuses the
//! batch's statement outside the writer. Only inserts go through the writer: claims and outcomes are already one statement (or one
//! short transaction) each and run on the pool. Rows are inserted in key order so that two
//! batches (of two loops, or two instances) inserting overlapping keys cannot deadlock. A batch the server refuses as a whole
//! is retried write by write by the shared writer ([`Failure::Refused`]). This file must never
//! answer a caller: the shared writer does, after the commit.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

use sqlx::PgConnection;
use sqlx::postgres::PgPool;

use super::queries::dedup_key;
use crate::store::error::event_id;
use crate::store::group_commit::{Backend, Failure, Limits};
use crate::store::{Corrupt, EventStatus, Inserted, NewAudit, NewEvent, StoreError};

/// How many batches may be in their transactions at once. One loop leaves the connection idle
/// while its batch's answers go out and the next batch is taken; two keep the database busy
/// and halved (c)'s p99 at 64 connections; three and four measured slower (smaller batches,
/// more commits for the same rows). docs/benchmarks.md, "PostgreSQL ingest".
pub(super) const WRITER_LOOPS: usize = 2;

/// The writer's hold on the pool (each writer loop has a clone).
#[derive(Clone)]
pub(super) struct PostgresWriter {
    pub pool: PgPool,
}

impl Backend for PostgresWriter {
    const NAME: &'static str = "postgres";
    const LIMITS: Limits = Limits {
        writes: 256,
        // A batch of large BrightData bodies stays one reasonable message (PostgreSQL refuses a
        // single parameter over 1 GiB). A body larger than this goes alone.
        bytes: 16 * 1024 * 1024,
    };
    type Write = Box<NewEvent>;
    type Output = Inserted;
    type Control = std::convert::Infallible;

    fn weight(event: &Box<NewEvent>) -> usize {
        event.body().len()
    }

    async fn transact(
        &mut self,
        events: &[Box<NewEvent>],
        _oldest: Instant,
    ) -> Result<Vec<Result<Inserted, StoreError>>, Failure> {
        let inserted = match self.pool.acquire().await {
            Ok(mut conn) => insert_batch(&mut conn, events).await,
            Err(err) => Err(err),
        };
        inserted.map_err(|err| match err {
            sqlx::Error::Database(_) => Failure::Refused(StoreError::Unavailable(err)),
            // The pool is closed: the store was closed, the database is not down.
            sqlx::Error::PoolClosed => Failure::Failed(StoreError::Closed),
            // The connection failed, possibly during the commit, so the batch may or may not
            // have landed.
            err => Failure::Failed(StoreError::Unavailable(err)),
        })
    }

    fn control(&mut self, never: std::convert::Infallible) {
        match never {}
    }

    fn close(self) {}
}

/// Inserts `events` and their deliveries in one statement, committed on its own (no BEGIN and
/// COMMIT round trips) unless `conn` is in a transaction (an audited insert); one result per
/// event, in order. An `Err` means nothing was committed (or, for a connection lost on the way,
/// possibly committed unseen).
async fn insert_batch(
    conn: &mut PgConnection,
    events: &[Box<NewEvent>],
) -> Result<Vec<Result<Inserted, StoreError>>, sqlx::Error> {
    // Rows are inserted in key order. Two transactions inserting overlapping keys (two writer
    // loops, two instances) then wait for each other's unique-index entries in one order and
    // cannot deadlock; a stable sort keeps arrival order among copies of one key within a
    // batch, so the first copy received is the one stored.
    let mut order: Vec<usize> = (0..events.len()).collect();
    let keys: Vec<Cow<'_, str>> = events.iter().map(|e| dedup_key(e.dedup_key())).collect();
    order.sort_by(|&a, &b| (events[a].source(), &keys[a]).cmp(&(events[b].source(), &keys[b])));

    let mut ids = Vec::with_capacity(events.len());
    let mut sources = Vec::with_capacity(events.len());
    let mut dedup_keys = Vec::with_capacity(events.len());
    let mut received = Vec::with_capacity(events.len());
    let mut client_ips = Vec::with_capacity(events.len());
    let mut request_ids = Vec::with_capacity(events.len());
    let mut content_types = Vec::with_capacity(events.len());
    let mut event_types = Vec::with_capacity(events.len());
    let mut trace_contexts = Vec::with_capacity(events.len());
    let mut headers = Vec::with_capacity(events.len());
    let mut bodies: Vec<&[u8]> = Vec::with_capacity(events.len());
    let mut statuses = Vec::with_capacity(events.len());
    let mut delivery_events = Vec::new();
    let mut destinations = Vec::new();
    let mut owners = Vec::new();
    let mut untils = Vec::new();
    let mut unencodable = HashMap::new();
    for &i in &order {
        let event = &*events[i];
        let encoded = match serde_json::to_string(event.headers()) {
            Ok(encoded) => encoded,
            Err(err) => {
                unencodable.insert(i, err);
                continue;
            }
        };
        let id = event.id().to_string();
        sources.push(event.source());
        dedup_keys.push(keys[i].as_ref());
        received.push(event.received_at_ms());
        client_ips.push(event.client_ip().to_string());
        request_ids.push(event.request_id());
        content_types.push(event.content_type());
        event_types.push(event.event_type());
        trace_contexts.push(event.trace_context().map(|context| context.to_string()));
        headers.push(encoded);
        bodies.push(event.body().as_ref());
        // An event with nowhere to go is kept for inspection, never reported as delivered
        // (SPEC section 10); retention treats it as it treats a delivered one.
        statuses.push(EventStatus::of_new(event.destinations()).as_str());
        // Deliveries of every event; the statement keeps those of the events it inserted.
        for destination in event.destinations() {
            let hold = event.hold_of(destination);
            delivery_events.push(id.clone());
            destinations.push(destination.as_str());
            owners.push(hold.map(|h| h.owner.as_str()));
            untils.push(hold.map(|h| h.until_ms));
        }
        ids.push(id);
    }

    // New work is due at once: at the instance's receipt time, or at the database's now if the
    // instance's clock runs ahead of it (claims compare with the database clock). The
    // deliveries' foreign key is checked at the statement's end, when the events are in.
    let inserted: Vec<String> = sqlx::query_scalar(
        "WITH new AS ( \
           INSERT INTO events (id, source, dedup_key, received_at, client_ip, request_id, \
             content_type, headers, body, status, event_type, trace_context, next_attempt_at) \
           SELECT u.id::uuid, u.source, u.dedup_key, u.received_at, u.client_ip, u.request_id, \
             u.content_type, u.headers, u.body, u.status, u.event_type, u.trace_context, \
             LEAST(u.received_at, FLOOR(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT) \
           FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::bytea[], $10::text[], $11::text[], $12::text[]) \
             WITH ORDINALITY \
             AS u(id, source, dedup_key, received_at, client_ip, request_id, content_type, \
               headers, body, status, event_type, trace_context, n) \
           ORDER BY u.n \
           ON CONFLICT (source, dedup_key) DO NOTHING \
           RETURNING id, next_attempt_at \
         ), routed AS ( \
           INSERT INTO deliveries (event_id, destination, next_attempt_at, lease_owner, lease_until) \
           SELECT new.id, d.destination, new.next_attempt_at, d.lease_owner, d.lease_until \
           FROM UNNEST($13::text[], $14::text[], $15::text[], $16::bigint[]) \
             AS d(event_id, destination, lease_owner, lease_until) \
           JOIN new ON new.id = d.event_id::uuid \
         ) \
         SELECT id::text FROM new",
    )
    .bind(&ids)
    .bind(&sources)
    .bind(&dedup_keys)
    .bind(&received)
    .bind(&client_ips)
    .bind(&request_ids)
    .bind(&content_types)
    .bind(&headers)
    .bind(&bodies)
    .bind(&statuses)
    .bind(&event_types)
    .bind(&trace_contexts)
    .bind(&delivery_events)
    .bind(&destinations)
    .bind(&owners)
    .bind(&untils)
    .fetch_all(&mut *conn)
    .await?;
    let inserted: HashSet<String> = inserted.into_iter().collect();

    // The ids the other copies were stored under, whether by this batch or another
    // transaction; read after the insert committed, so every winner is visible.
    let mut existing: HashMap<(String, String), String> = HashMap::new();
    if inserted.len() < ids.len() {
        let (dup_sources, dup_keys): (Vec<&str>, Vec<&str>) = ids
            .iter()
            .zip(sources.iter().zip(&dedup_keys))
            .filter(|(id, _)| !inserted.contains(*id))
            .map(|(_, (source, key))| (*source, *key))
            .unzip();
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT e.source, e.dedup_key, e.id::text FROM events e \
             JOIN UNNEST($1::text[], $2::text[]) AS k(source, dedup_key) \
               ON e.source = k.source AND e.dedup_key = k.dedup_key",
        )
        .bind(&dup_sources)
        .bind(&dup_keys)
        .fetch_all(&mut *conn)
        .await?;
        existing = rows
            .into_iter()
            .map(|(source, key, id)| ((source, key), id))
            .collect();
    }

    Ok(events
        .iter()
        .enumerate()
        .map(|(i, event)| {
            if let Some(err) = unencodable.remove(&i) {
                return Err(Corrupt::Headers(err).into());
            }
            if inserted.contains(&event.id().to_string()) {
                return Ok(Inserted::Stored(event.id()));
            }
            match existing.get(&(event.source().to_owned(), keys[i].to_string())) {
                Some(id) => event_id(id).map(Inserted::Duplicate),
                // The other copy was purged between this insert and the look-up: rare, and
                // the provider's retry stores the event anew.
                None => Err(StoreError::Unavailable(sqlx::Error::RowNotFound)),
            }
        })
        .collect())
}

/// One event inserted as the writer inserts a batch, and `audit` appended when it was stored,
/// in one transaction. Not through the writer: its batches commit on their own, one statement
/// each, and hold only inserts.
pub(super) async fn insert_audited(
    pool: &PgPool,
    event: NewEvent,
    audit: &NewAudit,
) -> Result<Inserted, StoreError> {
    let mut tx = pool.begin().await?;
    let inserted = insert_batch(&mut tx, &[Box::new(event)])
        .await?
        .pop()
        .ok_or(StoreError::NoAnswer)??;
    if let Inserted::Stored(_) = inserted {
        super::audit::append(&mut tx, audit).await?;
    }
    tx.commit().await?;
    Ok(inserted)
}
