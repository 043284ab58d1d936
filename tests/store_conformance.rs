//! One conformance suite for every `Store`: each case below is written once, against
//! `Arc<dyn Store>`, and the `conformance!` macro at the bottom instantiates every case for
//! SQLite (a temporary file) and PostgreSQL (a fresh database, see `support/pg.rs`), so the
//! two stores cannot drift apart. The PostgreSQL half runs when `HOOKWALL_TEST_DATABASE_URL`
//! is set and prints `skipped: …` otherwise.
//!
//! Run one store: `cargo test --test store_conformance sqlite::` or `… postgres::`.

#[path = "store_conformance/audit.rs"]
mod audit_cases;
#[path = "support/events.rs"]
mod events;
#[path = "support/pg.rs"]
mod pg;
#[path = "store_conformance/refusals.rs"]
mod refusal_cases;
#[path = "store_conformance/trace.rs"]
mod trace_cases;

use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hookwall::clock::now_ms;
use hookwall::store::{
    CircuitState, Claim, DeliveryStatus, Depth, DestinationState, EventFilter, Hold, Inserted,
    NewEvent, PostgresStore, Recorded, Room, SqliteStore, Store, StoredEvent, Timing,
};
use uuid::Uuid;

/// A store under test and what keeps its database alive (dropped after the store).
struct Backend {
    store: Arc<dyn Store>,
    _database: Database,
}

enum Database {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(#[allow(dead_code)] pg::TestDatabase),
}

async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("events.db"))
        .await
        .expect("opens");
    Backend {
        store: Arc::new(store),
        _database: Database::Sqlite(dir),
    }
}

async fn postgres() -> Option<Backend> {
    let database = pg::TestDatabase::create().await?;
    let store = PostgresStore::open(&database.url, 5).await.expect("opens");
    Some(Backend {
        store: Arc::new(store),
        _database: Database::Postgres(database),
    })
}

mod cases {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    pub use crate::audit_cases::*;
    pub use crate::events::{event, event_with_body, proof};
    pub use crate::refusal_cases::*;
    pub use crate::trace_cases::*;

    fn to(event: NewEvent, destinations: &[&str]) -> NewEvent {
        event.with_destinations(destinations.iter().map(|d| (*d).to_owned()).collect())
    }

    fn stored(inserted: Inserted) -> Uuid {
        match inserted {
            Inserted::Stored(id) => id,
            Inserted::Duplicate(id) => panic!("unexpected duplicate of {id}"),
        }
    }

    async fn insert(store: &Arc<dyn Store>, event: NewEvent) -> Uuid {
        stored(store.insert(event).await.expect("insert"))
    }

    async fn status(store: &Arc<dyn Store>, id: Uuid) -> String {
        store
            .get(id)
            .await
            .expect("get")
            .expect("still stored")
            .status
            .to_string()
    }

    async fn depths(store: &Arc<dyn Store>) -> Vec<Depth> {
        let mut depths = store.depths().await.expect("depths");
        depths.sort_by(|a, b| a.source.cmp(&b.source));
        depths
    }

    fn depth(source: &str, queued: i64, dead: i64) -> Depth {
        Depth {
            source: source.to_owned(),
            queued,
            dead,
        }
    }

    fn retry_in(ms: i64, error: &str) -> Recorded {
        Recorded::Retry {
            at_ms: now_ms() + ms,
            error: error.to_owned(),
        }
    }

    pub async fn insert_then_get_returns_every_field_as_stored(store: Arc<dyn Store>) {
        store.ping().await.expect("an open store accepts writes");
        let client_ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        let new = NewEvent::new(
            &proof("github", client_ip),
            "id:abc".to_owned(),
            Some("req-1".to_owned()),
            Some("application/x-www-form-urlencoded".to_owned()),
            vec![
                ("x-github-event".to_owned(), "push".to_owned()),
                ("authorization".to_owned(), "[redacted]".to_owned()),
                (
                    "x-github-event".to_owned(),
                    "second value, kept in order".to_owned(),
                ),
            ],
            // Raw bytes as received, including NUL and invalid UTF-8.
            Bytes::from_static(b"a=1&b=\x00\xff\xfe"),
            vec!["downstream".to_owned()],
        );
        let (id, received) = (new.id(), new.received_at_ms());
        assert_eq!(
            store.insert(new.clone()).await.expect("insert"),
            Inserted::Stored(id)
        );

        let got = store.get(id).await.expect("get").expect("stored");
        assert_eq!(got.id, id.to_string());
        assert_eq!(got.source, "github");
        assert_eq!(got.dedup_key, "id:abc");
        assert_eq!(got.received_at_ms, received);
        assert_eq!(got.client_ip, "2001:db8::1");
        assert_eq!(got.request_id.as_deref(), Some("req-1"));
        assert_eq!(
            got.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(got.headers, new.headers());
        assert_eq!(got.body.as_deref(), Some(&b"a=1&b=\x00\xff\xfe"[..]));
        assert_eq!(got.status, "pending");
        assert_eq!(got.attempts, 0);
        assert_eq!(got.last_error, None);
        assert!(
            got.next_attempt_at_ms <= now_ms(),
            "a new event is due at once"
        );

        assert!(store.get(Uuid::now_v7()).await.expect("get").is_none());
    }

    pub async fn get_many_returns_each_stored_event_once_and_leaves_out_unknown_ids(
        store: Arc<dyn Store>,
    ) {
        let first = event_with_body("github", "id:many-1", Bytes::from_static(b"{\"n\":1}"));
        let first = insert(&store, first).await;
        let second = insert(&store, event("stripe", "id:many-2")).await;
        let _other = insert(&store, event("github", "id:many-3")).await;
        // An event with two destinations is claimed twice: its id can come twice.
        let mut got = store
            .get_many(&[second, first, Uuid::now_v7(), first])
            .await
            .expect("get_many");
        got.sort_by(|a, b| a.id.cmp(&b.id));
        let ids: Vec<&str> = got.iter().map(|event| event.id.as_str()).collect();
        assert_eq!(ids, [first.to_string(), second.to_string()]);
        assert_eq!(got[0].body.as_deref(), Some(&b"{\"n\":1}"[..]));
        assert_eq!(got[1].source, "stripe");
        assert!(store.get_many(&[]).await.expect("get_many").is_empty());
    }

    pub async fn a_duplicate_key_is_answered_with_the_first_id_and_stored_once(
        store: Arc<dyn Store>,
    ) {
        let first = insert(&store, event("github", "id:d-1")).await;
        let copy = event("github", "id:d-1");
        let copy_id = copy.id();
        assert_eq!(
            store.insert(copy).await.expect("insert"),
            Inserted::Duplicate(first)
        );
        assert!(
            store.get(copy_id).await.expect("get").is_none(),
            "the copy was not stored"
        );
        assert_eq!(
            store.find("github", "id:d-1").await.expect("find"),
            Some(first)
        );
        assert_eq!(store.find("github", "id:d-2").await.expect("find"), None);
        // The same key under another source is another event.
        let other = insert(&store, event("stripe", "id:d-1")).await;
        assert_ne!(other, first);
        assert_eq!(
            store.find("stripe", "id:d-1").await.expect("find"),
            Some(other)
        );
        // Only the first copy is delivered.
        let claims = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        let mut claimed: Vec<Uuid> = claims.iter().map(|c| c.event_id).collect();
        claimed.sort();
        let mut expected = vec![first, other];
        expected.sort();
        assert_eq!(claimed, expected);

        // A provider id may hold any character, NUL included (JSON "\u0000"): it is still one
        // key, distinct from its prefix.
        let nul = insert(&store, event("github", "id:a\0b")).await;
        assert_eq!(
            store
                .insert(event("github", "id:a\0b"))
                .await
                .expect("insert"),
            Inserted::Duplicate(nul)
        );
        assert_eq!(
            store.find("github", "id:a\0b").await.expect("find"),
            Some(nul)
        );
        assert_eq!(store.find("github", "id:a").await.expect("find"), None);
    }

    pub async fn concurrent_copies_of_one_key_store_exactly_one(store: Arc<dyn Store>) {
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.insert(event("s", "same")).await })
            })
            .collect();
        let (mut stored, mut duplicates) = (Vec::new(), Vec::new());
        for task in tasks {
            match task.await.expect("task").expect("insert") {
                Inserted::Stored(id) => stored.push(id),
                Inserted::Duplicate(id) => duplicates.push(id),
            }
        }
        assert_eq!(stored.len(), 1, "exactly one copy is stored");
        assert_eq!(duplicates.len(), 49);
        assert!(
            duplicates.iter().all(|id| *id == stored[0]),
            "every copy names the stored id"
        );
        let page = store
            .list(&EventFilter::default(), 100, None)
            .await
            .expect("list");
        assert_eq!(page.events.len(), 1);
        let claims = store
            .claim("w", &Room::up_to(100), LONG)
            .await
            .expect("claim");
        assert_eq!(claims.len(), 1, "one delivery for one stored event");
    }

    pub async fn concurrent_distinct_inserts_are_all_stored(store: Arc<dyn Store>) {
        let tasks: Vec<_> = (0..300)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.insert(event("s", &format!("k{i}"))).await })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(stored(task.await.expect("task").expect("insert")));
        }
        for id in &ids {
            assert_eq!(status(&store, *id).await, "pending");
        }
        let mut listed = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list(&EventFilter::default(), 128, cursor.as_deref())
                .await
                .expect("list");
            listed.extend(page.events.into_iter().map(|e| e.id));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(listed.len(), 300);
    }

    pub async fn one_failing_insert_does_not_fail_the_others_committed_with_it(
        store: Arc<dyn Store>,
    ) {
        // Two events with one id (a primary-key violation) among concurrent inserts that are
        // batched into one transaction: only the second of the pair fails.
        let twin = event("s", "twin-a");
        let clash = event("s", "twin-b").with_id(twin.id());
        let mut batch: Vec<NewEvent> = (0..30).map(|i| event("s", &format!("k{i}"))).collect();
        batch.insert(10, twin.clone());
        batch.insert(20, clash);
        let tasks: Vec<_> = batch
            .into_iter()
            .map(|e| {
                let store = store.clone();
                tokio::spawn(async move { (e.dedup_key().to_owned(), store.insert(e).await) })
            })
            .collect();
        let mut failed = Vec::new();
        for task in tasks {
            let (key, result) = task.await.expect("task");
            match result {
                Ok(Inserted::Stored(_)) => {}
                Ok(Inserted::Duplicate(id)) => panic!("{key}: unexpected duplicate of {id}"),
                Err(_) => failed.push(key),
            }
        }
        assert_eq!(
            failed.len(),
            1,
            "only one of the clashing pair fails: {failed:?}"
        );
        assert!(failed[0].starts_with("twin-"));
        let page = store
            .list(&EventFilter::default(), 100, None)
            .await
            .expect("list");
        assert_eq!(page.events.len(), 31);
        assert_eq!(
            store
                .claim("w", &Room::up_to(100), LONG)
                .await
                .expect("claim")
                .len(),
            31
        );
    }

    pub async fn an_event_without_destinations_is_ignored_never_delivered_queued_or_dead(
        store: Arc<dyn Store>,
    ) {
        let id = insert(&store, to(event("s", "k"), &[])).await;
        assert_eq!(status(&store, id).await, "ignored");
        assert!(
            store
                .claim("w", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .is_empty()
        );
        assert_eq!(depths(&store).await, vec![], "neither queued nor dead");
        let listed = |status: &str| EventFilter {
            status: Some(status.to_owned()),
            ..EventFilter::default()
        };
        let ignored = store
            .list(&listed("ignored"), 10, None)
            .await
            .expect("list");
        let ids: Vec<String> = ignored.events.iter().map(|e| e.id.clone()).collect();
        assert_eq!(ids, vec![id.to_string()]);
        assert_eq!(ignored.events[0].attempts, 0);
        for other in ["delivered", "dead", "pending", "failed"] {
            let page = store.list(&listed(other), 10, None).await.expect("list");
            assert!(page.events.is_empty(), "listed as {other}");
        }
        // Nothing to deliver again: a replay (one, or in bulk) leaves it ignored.
        assert!(!store.replay(id, &audit()).await.expect("replay"));
        assert_eq!(
            store
                .replay_matching(&listed("ignored"), &audit())
                .await
                .expect("replay"),
            0
        );
        assert_eq!(status(&store, id).await, "ignored");
        assert!(
            store
                .claim("w", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .is_empty()
        );
    }

    /// Inserts `n` events for `destination` (keys `<destination>-<i>`), oldest first.
    async fn backlog(store: &Arc<dyn Store>, destination: &str, n: usize) -> Vec<Uuid> {
        let mut ids = Vec::new();
        for i in 0..n {
            let e = to(event("s", &format!("{destination}-{i}")), &[destination])
                // Due in the order inserted, the first one longest.
                .received_at(now_ms() - 60_000 + i as i64);
            ids.push(insert(store, e).await);
        }
        ids
    }

    fn room(total: usize, per_destination: &[(&str, usize)]) -> Room {
        Room {
            total,
            per_destination: per_destination
                .iter()
                .map(|(name, room)| ((*name).to_owned(), *room))
                .collect(),
            otherwise: total,
        }
    }

    fn of(claims: &[Claim], destination: &str) -> usize {
        claims
            .iter()
            .filter(|c| c.destination == destination)
            .count()
    }

    pub async fn a_claim_takes_at_most_each_destinations_room_and_none_of_a_full_one(
        store: Arc<dyn Store>,
    ) {
        // A destination's backlog, due before anything else.
        let hung = backlog(&store, "hung", 20).await;
        let healthy = backlog(&store, "healthy", 3).await;
        let claims = store
            .claim("w", &room(100, &[("hung", 2)]), LONG)
            .await
            .expect("claim");
        assert_eq!((of(&claims, "hung"), of(&claims, "healthy")), (2, 3));
        let mut hung_claimed: Vec<Uuid> = claims
            .iter()
            .filter(|c| c.destination == "hung")
            .map(|c| c.event_id)
            .collect();
        hung_claimed.sort();
        assert_eq!(hung_claimed, hung[..2], "a destination's own due order");
        let mut healthy_claimed: Vec<Uuid> = claims
            .iter()
            .filter(|c| c.destination == "healthy")
            .map(|c| c.event_id)
            .collect();
        healthy_claimed.sort();
        assert_eq!(healthy_claimed, healthy);

        // The hung destination is full: its backlog is neither taken nor in the way.
        let later = backlog(&store, "later", 2).await;
        let claims = store
            .claim("w", &room(100, &[("hung", 0)]), LONG)
            .await
            .expect("claim");
        let mut ids: Vec<Uuid> = claims.iter().map(|c| c.event_id).collect();
        ids.sort();
        assert_eq!(ids, later);
        // The total bounds a claim whatever the rooms.
        let claims = store.claim("w", &room(5, &[]), LONG).await.expect("claim");
        assert_eq!(of(&claims, "hung"), 5);
    }

    pub async fn when_the_total_is_short_each_destination_gets_its_turn(store: Arc<dyn Store>) {
        backlog(&store, "a", 5).await;
        backlog(&store, "b", 5).await;
        let mut taken = Vec::new();
        for _ in 0..2 {
            let claims = store.claim("w", &room(3, &[]), LONG).await.expect("claim");
            assert_eq!(claims.len(), 3);
            taken.extend(claims);
        }
        assert!(
            of(&taken, "a") >= 1 && of(&taken, "b") >= 1,
            "two claims short of room both went to one destination: {} of a, {} of b",
            of(&taken, "a"),
            of(&taken, "b")
        );
    }

    pub async fn a_claim_takes_each_due_delivery_once_per_destination(store: Arc<dyn Store>) {
        let two = event("github", "k1");
        let received = two.received_at_ms();
        let two = insert(&store, to(two, &["ci", "audit"])).await;
        let one = insert(&store, to(event("stripe", "k2"), &["billing"])).await;

        let mut claims = store
            .claim("a", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        claims.sort_by(|x, y| (x.event_id, &x.destination).cmp(&(y.event_id, &y.destination)));
        assert_eq!(
            claims,
            vec![
                Claim {
                    event_id: two,
                    source: "github".into(),
                    destination: "audit".into(),
                    attempts: 0,
                    budget_from_ms: received,
                    replays: 0,
                },
                Claim {
                    event_id: two,
                    source: "github".into(),
                    destination: "ci".into(),
                    attempts: 0,
                    budget_from_ms: received,
                    replays: 0,
                },
                Claim {
                    event_id: one,
                    source: "stripe".into(),
                    destination: "billing".into(),
                    attempts: 0,
                    budget_from_ms: claims[2].budget_from_ms,
                    replays: 0,
                },
            ]
        );
        assert!(
            store
                .claim("b", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .is_empty(),
            "claimed deliveries are not handed out again while their lease holds"
        );
        assert!(
            store
                .claim("a", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .is_empty(),
            "not even to their owner"
        );

        for i in 0..5 {
            insert(&store, event("s", &format!("more-{i}"))).await;
        }
        assert_eq!(
            store
                .claim("b", &Room::up_to(2), LONG)
                .await
                .expect("claim")
                .len(),
            2
        );
        assert_eq!(
            store
                .claim("c", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .len(),
            3
        );
        // Claiming changes no event's status: the work is still pending.
        assert_eq!(status(&store, two).await, "pending");
    }

    pub async fn concurrent_claims_never_hand_one_delivery_to_two_owners(store: Arc<dyn Store>) {
        let mut ids = Vec::new();
        for i in 0..60 {
            ids.push(insert(&store, event("s", &format!("k{i}"))).await);
        }
        let owners: Vec<_> = (0..6)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let claims = store
                            .claim(&format!("owner-{n}"), &Room::up_to(7), LONG)
                            .await
                            .expect("claim");
                        if claims.is_empty() {
                            return mine;
                        }
                        mine.extend(claims.into_iter().map(|c| c.event_id));
                    }
                })
            })
            .collect();
        let mut all = Vec::new();
        for owner in owners {
            all.extend(owner.await.expect("owner task"));
        }
        all.sort();
        let before = all.len();
        all.dedup();
        assert_eq!(before, all.len(), "a delivery was claimed twice");
        ids.sort();
        assert_eq!(all, ids, "every delivery was claimed once");
    }

    pub async fn an_expired_lease_is_taken_over_and_the_old_owner_can_no_longer_record(
        store: Arc<dyn Store>,
    ) {
        let id = insert(&store, event("s", "k")).await;
        // A lease long enough that a loaded machine cannot let it lapse between the two claims
        // (100 ms did, once, with a benchmark running beside the tests).
        let lease = Duration::from_millis(1500);
        let first = store
            .claim("dead-instance", &Room::up_to(10), lease)
            .await
            .expect("claim");
        assert_eq!(first.len(), 1);
        assert!(
            store
                .claim("survivor", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .is_empty(),
            "the lease still holds"
        );
        tokio::time::sleep(lease + Duration::from_millis(300)).await;
        let taken = store
            .claim("survivor", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(taken.len(), 1, "the lapsed claim is taken over");
        assert_eq!(taken[0].event_id, id);
        assert_eq!(taken[0].attempts, 0);

        assert!(
            !store
                .record(
                    "dead-instance",
                    &first[0],
                    Recorded::Delivered,
                    Timing::default()
                )
                .await
                .expect("record"),
            "the old owner's outcome is ignored"
        );
        assert_eq!(status(&store, id).await, "pending");
        assert!(
            store
                .record(
                    "survivor",
                    &taken[0],
                    Recorded::Delivered,
                    Timing::default()
                )
                .await
                .expect("record")
        );
        let got = store.get(id).await.expect("get").expect("stored");
        assert_eq!((got.status.as_str(), got.attempts), ("delivered", 1));
        assert!(
            !store
                .record(
                    "survivor",
                    &taken[0],
                    Recorded::Delivered,
                    Timing::default()
                )
                .await
                .expect("record"),
            "a claim is recorded once"
        );
    }

    pub async fn a_retry_is_due_again_at_its_next_attempt_time(store: Arc<dyn Store>) {
        let id = insert(&store, event("s", "k")).await;
        let claim = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim")
            .remove(0);
        let retry = retry_in(1500, "HTTP 503 from downstream");
        let Recorded::Retry { at_ms, .. } = retry else {
            unreachable!()
        };
        assert!(
            store
                .record("w", &claim, retry, Timing::default())
                .await
                .expect("record")
        );

        let got = store.get(id).await.expect("get").expect("stored");
        assert_eq!(got.status, "failed");
        assert_eq!(got.attempts, 1);
        assert_eq!(got.next_attempt_at_ms, at_ms);
        assert_eq!(got.last_error.as_deref(), Some("HTTP 503 from downstream"));
        assert_eq!(depths(&store).await, vec![depth("s", 1, 0)]);

        assert!(
            store
                .claim("w", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .is_empty(),
            "not due before its time"
        );
        tokio::time::sleep(Duration::from_millis(
            (at_ms - now_ms()).max(0) as u64 + 100,
        ))
        .await;
        let again = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(again.len(), 1);
        assert_eq!(
            again[0].attempts, 1,
            "the claim says how many attempts were made"
        );

        // An error with a NUL in it (a downstream's text) is still recorded.
        assert!(
            store
                .record(
                    "w",
                    &again[0],
                    retry_in(60_000, "bad\0byte"),
                    Timing::default()
                )
                .await
                .expect("record")
        );
        let got = store.get(id).await.expect("get").expect("stored");
        assert_eq!(got.attempts, 2);
        assert!(got.last_error.is_some_and(|e| e.starts_with("bad")));
    }

    pub async fn a_dead_delivery_goes_to_the_dead_letters_and_is_not_claimed_again(
        store: Arc<dyn Store>,
    ) {
        let id = insert(&store, to(event("s", "k"), &["ci", "audit"])).await;
        let claims = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(claims.len(), 2);
        let (ci, audit): (Vec<_>, Vec<_>) = claims.into_iter().partition(|c| c.destination == "ci");
        assert!(
            store
                .record(
                    "w",
                    &ci[0],
                    Recorded::Dead {
                        error: "HTTP 410".into()
                    },
                    Timing::default()
                )
                .await
                .expect("record")
        );
        assert!(
            store
                .record("w", &audit[0], Recorded::Delivered, Timing::default())
                .await
                .expect("record")
        );
        let got = store.get(id).await.expect("get").expect("stored");
        assert_eq!(
            got.status, "dead",
            "one dead destination makes the event dead"
        );
        assert_eq!(got.last_error.as_deref(), Some("HTTP 410"));
        assert!(
            store
                .claim("w", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .is_empty()
        );
        assert_eq!(depths(&store).await, vec![depth("s", 0, 1)]);
        let dead = store
            .list(
                &EventFilter {
                    status: Some("dead".into()),
                    ..EventFilter::default()
                },
                10,
                None,
            )
            .await
            .expect("list");
        assert_eq!(dead.events.len(), 1);
        assert_eq!(dead.events[0].id, id.to_string());
    }

    pub async fn an_event_is_delivered_only_when_every_destination_is(store: Arc<dyn Store>) {
        let id = insert(&store, to(event("s", "k"), &["ci", "audit"])).await;
        let claims = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert!(
            store
                .record("w", &claims[0], Recorded::Delivered, Timing::default())
                .await
                .expect("record")
        );
        assert_eq!(status(&store, id).await, "pending");
        assert_eq!(depths(&store).await, vec![depth("s", 1, 0)]);
        assert!(
            store
                .record(
                    "w",
                    &claims[1],
                    retry_in(60_000, "timed out"),
                    Timing::default()
                )
                .await
                .expect("record")
        );
        assert_eq!(status(&store, id).await, "failed");
        let got = store.get(id).await.expect("get").expect("stored");
        assert_eq!(got.attempts, 2, "the sum of its deliveries' attempts");
        assert_eq!(got.last_error.as_deref(), Some("timed out"));
        assert_eq!(depths(&store).await, vec![depth("s", 1, 0)]);
    }

    pub async fn each_delivery_lists_its_attempts_with_their_time_outcome_and_duration(
        store: Arc<dyn Store>,
    ) {
        let id = insert(&store, to(event("s", "k"), &["ci", "audit"])).await;
        assert_eq!(
            store
                .deliveries(id)
                .await
                .expect("deliveries")
                .iter()
                .map(|d| (d.destination.as_str(), d.status, d.history.len()))
                .collect::<Vec<_>>(),
            [
                ("audit", DeliveryStatus::Pending, 0),
                ("ci", DeliveryStatus::Pending, 0)
            ]
        );
        let timing = |at: i64, ms: i64| Timing {
            started_at_ms: at,
            duration_ms: ms,
        };
        let claims = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        let ci = claims.iter().find(|c| c.destination == "ci").expect("ci");
        let audit = claims
            .iter()
            .find(|c| c.destination == "audit")
            .expect("audit");
        assert!(
            store
                .record("w", ci, retry_in(0, "HTTP 503"), timing(1_000, 12))
                .await
                .expect("record")
        );
        assert!(
            store
                .record("w", audit, Recorded::Delivered, timing(1_500, 3))
                .await
                .expect("record")
        );
        let again = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(again.len(), 1, "{again:?}");
        assert!(
            store
                .record("w", &again[0], Recorded::Delivered, timing(2_000, 7))
                .await
                .expect("record")
        );
        // A record by a worker that no longer holds the claim leaves no line.
        assert!(
            !store
                .record("gone", &again[0], Recorded::Delivered, timing(3_000, 1))
                .await
                .expect("record")
        );

        let deliveries = store.deliveries(id).await.expect("deliveries");
        let [audit, ci] = deliveries.as_slice() else {
            panic!("two deliveries: {deliveries:?}")
        };
        assert_eq!(audit.destination, "audit");
        assert_eq!(audit.status, DeliveryStatus::Delivered);
        assert_eq!(audit.attempts, 1);
        assert!(audit.delivered_at_ms.is_some());
        assert_eq!(
            audit
                .history
                .iter()
                .map(|a| (
                    a.at_ms,
                    a.duration_ms,
                    a.outcome.as_str(),
                    a.error.as_deref()
                ))
                .collect::<Vec<_>>(),
            [(1_500, 3, "delivered", None)]
        );
        assert_eq!(ci.attempts, 2);
        assert_eq!(ci.last_error, None, "cleared by the delivery");
        assert_eq!(
            ci.history
                .iter()
                .map(|a| (
                    a.at_ms,
                    a.duration_ms,
                    a.outcome.as_str(),
                    a.error.as_deref()
                ))
                .collect::<Vec<_>>(),
            [
                (1_000, 12, "retry", Some("HTTP 503")),
                (2_000, 7, "delivered", None)
            ]
        );
        assert!(
            store
                .deliveries(Uuid::now_v7())
                .await
                .expect("deliveries")
                .is_empty(),
            "an unknown event has none"
        );
    }

    pub async fn release_gives_claims_back_due_at_once(store: Arc<dyn Store>) {
        insert(&store, to(event("s", "k"), &["ci", "audit"])).await;
        insert(&store, event("s", "other")).await;
        assert_eq!(
            store
                .claim("stopping", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .len(),
            3
        );
        assert_eq!(store.release("nobody").await.expect("release"), 0);
        assert_eq!(store.release("stopping").await.expect("release"), 3);
        assert_eq!(
            store
                .claim("next", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .len(),
            3,
            "released claims are due again without waiting for their lease"
        );
    }

    pub async fn a_held_delivery_is_left_to_its_holder_until_the_hold_lapses(
        store: Arc<dyn Store>,
    ) {
        // Proxy mode: the request holds its delivery; a second destination is a worker's.
        let held = to(event("slack", "k1"), &["reply", "audit"]).with_hold(Hold {
            destination: "reply".into(),
            owner: "proxy:k1".into(),
            until_ms: now_ms() + 60_000,
        });
        let held_id = insert(&store, held).await;
        let lapsing = to(event("slack", "k2"), &["reply"]).with_hold(Hold {
            destination: "reply".into(),
            owner: "proxy:k2".into(),
            // Long enough not to lapse before the first claim on a loaded machine.
            until_ms: now_ms() + 1500,
        });
        let lapsing_id = insert(&store, lapsing).await;

        let claims = store
            .claim("worker", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(
            claims
                .iter()
                .map(|c| (c.event_id, c.destination.as_str()))
                .collect::<Vec<_>>(),
            vec![(held_id, "audit")]
        );
        // The holder records like a worker.
        let proxied = Claim {
            event_id: held_id,
            source: "slack".into(),
            destination: "reply".into(),
            attempts: 0,
            budget_from_ms: 0,
            replays: 0,
        };
        assert!(
            store
                .record("proxy:k1", &proxied, Recorded::Delivered, Timing::default())
                .await
                .expect("record")
        );
        // The holder died (no record): a worker takes the delivery once the hold lapses.
        tokio::time::sleep(Duration::from_millis(1800)).await;
        let claims = store
            .claim("worker", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(claims.len(), 1);
        assert_eq!(claims[0].event_id, lapsing_id);
    }

    pub async fn every_delivery_held_by_the_storing_worker_is_its_own_until_released(
        store: Arc<dyn Store>,
    ) {
        // The hand-off: the instance that stores the event holds all its deliveries for its
        // worker; no claim takes them, the holder records them, and a release (graceful
        // shutdown) makes the ones not yet attempted due at once.
        let held = to(event("github", "k1"), &["ci", "audit"])
            .with_every_delivery_held("worker-1", now_ms() + 60_000);
        let id = insert(&store, held).await;
        assert!(
            store
                .claim("worker-2", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .is_empty(),
            "held deliveries are not claimed while the hold lasts"
        );
        let handed = |destination: &str| Claim {
            event_id: id,
            source: "github".into(),
            destination: destination.into(),
            attempts: 0,
            budget_from_ms: 0,
            replays: 0,
        };
        assert!(
            store
                .record(
                    "worker-1",
                    &handed("ci"),
                    Recorded::Delivered,
                    Timing::default()
                )
                .await
                .expect("record")
        );
        assert_eq!(store.release("worker-1").await.expect("release"), 1);

        let claims = store
            .claim("worker-2", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(
            claims
                .iter()
                .map(|c| (c.event_id, c.destination.as_str(), c.attempts))
                .collect::<Vec<_>>(),
            vec![(id, "audit", 0)]
        );
    }

    pub async fn replay_makes_an_event_due_again_with_a_fresh_budget(store: Arc<dyn Store>) {
        // Received two hours ago: its max_age budget runs from then, until a replay.
        let old = event("s", "k").received_at(now_ms() - 2 * 3_600_000);
        let received = old.received_at_ms();
        let id = insert(&store, old).await;
        let claim = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim")
            .remove(0);
        assert_eq!(claim.budget_from_ms, received);
        assert!(
            store
                .record(
                    "w",
                    &claim,
                    Recorded::Dead {
                        error: "HTTP 404".into()
                    },
                    Timing::default()
                )
                .await
                .expect("record")
        );
        let replayed_at = now_ms();
        assert!(store.replay(id, &audit()).await.expect("replay"));
        let got = store.get(id).await.expect("get").expect("stored");
        assert_eq!((got.status.as_str(), got.attempts), ("pending", 0));
        assert_eq!(got.received_at_ms, received, "the receipt time is history");
        assert_eq!(depths(&store).await, vec![depth("s", 1, 0)]);
        let again = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempts, 0);
        // Generous against clock skew between the test and the database (PostgreSQL's clock).
        assert!(
            (again[0].budget_from_ms - replayed_at).abs() < 60_000,
            "the budget restarts at the replay: {} vs {replayed_at}",
            again[0].budget_from_ms
        );

        // A replay while a worker holds the claim takes the claim away from it.
        assert!(store.replay(id, &audit()).await.expect("replay"));
        assert!(
            !store
                .record("w", &again[0], Recorded::Delivered, Timing::default())
                .await
                .expect("record")
        );
        assert_eq!(
            store
                .claim("w2", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .len(),
            1
        );

        assert!(
            !store
                .replay(Uuid::now_v7(), &audit())
                .await
                .expect("replay"),
            "no such event"
        );
    }

    pub async fn a_claim_counts_the_replays_of_its_delivery(store: Arc<dyn Store>) {
        let id = insert(&store, to(event("s", "k"), &["queue", "audit"])).await;
        let claims = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(claims.len(), 2);
        assert!(claims.iter().all(|c| c.replays == 0), "{claims:?}");
        for claim in &claims {
            assert!(
                store
                    .record("w", claim, Recorded::Delivered, Timing::default())
                    .await
                    .expect("record")
            );
        }
        // Replayed once by id and once in bulk: each delivery counts both, and a retry in
        // between (a failed attempt) counts nothing.
        assert!(store.replay(id, &audit()).await.expect("replay"));
        let once = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(once.len(), 2);
        assert!(once.iter().all(|c| c.replays == 1), "{once:?}");
        let retry_at = now_ms() - 1;
        for claim in &once {
            let error = "broker down".to_owned();
            let retry = Recorded::Retry {
                at_ms: retry_at,
                error,
            };
            assert!(
                store
                    .record("w", claim, retry, Timing::default())
                    .await
                    .expect("record")
            );
        }
        let retried = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert!(retried.iter().all(|c| c.replays == 1), "{retried:?}");
        let listed = EventFilter {
            source: Some("s".into()),
            ..EventFilter::default()
        };
        assert_eq!(
            store
                .replay_matching(&listed, &audit())
                .await
                .expect("replay"),
            1
        );
        let twice = store
            .claim("w2", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(twice.len(), 2);
        assert!(twice.iter().all(|c| c.replays == 2), "{twice:?}");
    }

    pub async fn replay_refuses_an_event_whose_body_was_purged(store: Arc<dyn Store>) {
        let old = to(event("s", "k"), &[]).received_at(now_ms() - 10 * 86_400_000);
        let id = insert(&store, old).await;
        let purged = store.purge(now_ms() - 86_400_000, 0).await.expect("purge");
        assert_eq!((purged.bodies, purged.events), (1, 0));
        assert!(!store.replay(id, &audit()).await.expect("replay"));
        assert_eq!(
            store
                .replay_matching(&EventFilter::default(), &audit())
                .await
                .expect("replay"),
            0
        );
    }

    pub async fn replay_matching_replays_only_what_the_filter_selects(store: Arc<dyn Store>) {
        let base = now_ms() - 60_000;
        let mut dead = Vec::new();
        for (i, source) in ["a", "a", "b", "a"].iter().enumerate() {
            let e = event(source, &format!("k{i}")).received_at(base + i as i64 * 1000);
            let id = insert(&store, e).await;
            dead.push(id);
        }
        let ignored = insert(&store, to(event("a", "done"), &[])).await;
        for claim in store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim")
        {
            let error = "HTTP 400".to_owned();
            assert!(
                store
                    .record("w", &claim, Recorded::Dead { error }, Timing::default())
                    .await
                    .expect("record")
            );
        }
        assert_eq!(
            depths(&store).await,
            vec![depth("a", 0, 3), depth("b", 0, 1)]
        );

        // Source a, dead, received from the second event on: two of a's three dead events.
        let filter = EventFilter {
            source: Some("a".into()),
            status: Some("dead".into()),
            since_ms: Some(base + 1000),
            ..EventFilter::default()
        };
        assert_eq!(
            store
                .replay_matching(&filter, &audit())
                .await
                .expect("replay"),
            2
        );
        assert_eq!(status(&store, dead[0]).await, "dead");
        assert_eq!(status(&store, dead[1]).await, "pending");
        assert_eq!(status(&store, dead[2]).await, "dead", "another source");
        assert_eq!(status(&store, dead[3]).await, "pending");
        assert_eq!(status(&store, ignored).await, "ignored");
        assert_eq!(
            depths(&store).await,
            vec![depth("a", 2, 1), depth("b", 0, 1)]
        );
        // `until` is exclusive.
        let filter = EventFilter {
            status: Some("dead".into()),
            until_ms: Some(base + 2000),
            ..EventFilter::default()
        };
        assert_eq!(
            store
                .replay_matching(&filter, &audit())
                .await
                .expect("replay"),
            1
        );
        assert_eq!(status(&store, dead[0]).await, "pending");
        assert_eq!(status(&store, dead[2]).await, "dead");
        assert_eq!(
            store
                .claim("w", &Room::up_to(10), LONG)
                .await
                .expect("claim")
                .len(),
            3
        );
    }

    pub async fn listing_is_newest_first_pages_with_a_cursor_and_filters(store: Arc<dyn Store>) {
        let base = now_ms() - 60_000;
        let mut ids = Vec::new();
        for i in 0..7 {
            let source = if i % 2 == 0 { "even" } else { "odd" };
            let e = event_with_body(source, &format!("k{i}"), Bytes::from(vec![b'x'; 64]))
                .received_at(base + i * 1000);
            ids.push(insert(&store, e).await.to_string());
        }
        // Newest first is id order (UUIDv7 is time-ordered).
        let mut newest_first = ids.clone();
        newest_first.sort();
        newest_first.reverse();

        let mut pages = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list(&EventFilter::default(), 3, cursor.as_deref())
                .await
                .expect("list");
            assert!(
                page.events.iter().all(|e| e.body.is_none()),
                "no bodies in a listing"
            );
            pages.push(page.events.iter().map(|e| e.id.clone()).collect::<Vec<_>>());
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(
            pages.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![3, 3, 1]
        );
        assert_eq!(pages.concat(), newest_first);

        // A page that ends exactly at the last event has no next page.
        let page = store
            .list(&EventFilter::default(), 7, None)
            .await
            .expect("list");
        assert_eq!((page.events.len(), page.next), (7, None));

        let list = |filter: EventFilter| {
            let store = store.clone();
            async move {
                let page = store.list(&filter, 100, None).await.expect("list");
                page.events
                    .into_iter()
                    .map(|e| e.dedup_key)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            list(EventFilter {
                source: Some("odd".into()),
                ..EventFilter::default()
            })
            .await,
            vec!["k5", "k3", "k1"]
        );
        assert_eq!(
            list(EventFilter {
                since_ms: Some(base + 2000),
                until_ms: Some(base + 5000),
                ..EventFilter::default()
            })
            .await,
            vec!["k4", "k3", "k2"],
            "since is inclusive, until exclusive"
        );
        assert_eq!(
            list(EventFilter {
                source: Some("even".into()),
                status: Some("pending".into()),
                since_ms: Some(base + 1000),
                ..EventFilter::default()
            })
            .await,
            vec!["k6", "k4", "k2"]
        );
        assert!(
            list(EventFilter {
                status: Some("dead".into()),
                ..EventFilter::default()
            })
            .await
            .is_empty()
        );
    }

    pub async fn the_event_type_is_stored_as_given_and_an_event_without_one_has_none(
        store: Arc<dyn Store>,
    ) {
        // What a provider may send: multi-byte text, control characters (escaped only when
        // shown), and the pipeline's longest.
        let long = "é".repeat(128);
        let typed = [
            "push",
            "payment_intent.succeeded",
            "a\u{1b}[31m\tb\r\n",
            long.as_str(),
        ];
        let mut ids = Vec::new();
        for (i, event_type) in typed.iter().enumerate() {
            let new =
                event("github", &format!("id:t{i}")).with_event_type(Some((*event_type).into()));
            assert_eq!(new.event_type(), Some(*event_type));
            let id = new.id();
            assert_eq!(
                StoredEvent::unattempted(&new, id).event_type.as_deref(),
                Some(*event_type),
                "the event a proxy source forwards carries it too"
            );
            ids.push(insert(&store, new).await);
        }
        let untyped = insert(&store, event("github", "id:untyped")).await;

        for (id, event_type) in ids.iter().zip(typed) {
            let got = store.get(*id).await.expect("get").expect("stored");
            assert_eq!(got.event_type.as_deref(), Some(event_type));
        }
        let got = store.get(untyped).await.expect("get").expect("stored");
        assert_eq!(got.event_type, None);
        // Listings carry it without loading bodies.
        let page = store
            .list(&EventFilter::default(), 100, None)
            .await
            .expect("list");
        let listed: Vec<Option<String>> = page.events.into_iter().map(|e| e.event_type).collect();
        let mut expected: Vec<Option<String>> =
            typed.iter().map(|t| Some((*t).to_owned())).collect();
        expected.push(None);
        expected.reverse();
        assert_eq!(listed, expected, "newest first");
    }

    pub async fn listing_and_bulk_replay_select_by_exact_event_type(store: Arc<dyn Store>) {
        let typed = |source: &str, key: &str, event_type: Option<&str>| {
            event(source, key).with_event_type(event_type.map(str::to_owned))
        };
        for (source, key, event_type) in [
            ("github", "k1", Some("push")),
            ("github", "k2", Some("pull_request")),
            ("github", "k3", Some("push")),
            ("github", "k4", Some("push.extra")),
            ("github", "k5", Some("Push")),
            ("github", "k6", None),
            ("gitlab", "k7", Some("push")),
        ] {
            insert(&store, typed(source, key, event_type)).await;
        }
        let list = |filter: EventFilter| {
            let store = store.clone();
            async move {
                let page = store.list(&filter, 100, None).await.expect("list");
                page.events
                    .into_iter()
                    .map(|e| e.dedup_key)
                    .collect::<Vec<_>>()
            }
        };
        let of_type = |event_type: &str| EventFilter {
            event_type: Some(event_type.to_owned()),
            ..EventFilter::default()
        };
        assert_eq!(
            list(of_type("push")).await,
            vec!["k7", "k3", "k1"],
            "exactly: not a prefix, not another case"
        );
        assert_eq!(
            list(EventFilter {
                source: Some("github".into()),
                ..of_type("push")
            })
            .await,
            vec!["k3", "k1"]
        );
        assert!(list(of_type("pu")).await.is_empty());
        assert!(list(of_type("%")).await.is_empty(), "no pattern matching");

        // Every delivery dies; a bulk replay of one type makes only that type's events due.
        for claim in store
            .claim("w", &Room::up_to(100), LONG)
            .await
            .expect("claim")
        {
            let error = "HTTP 400".to_owned();
            assert!(
                store
                    .record("w", &claim, Recorded::Dead { error }, Timing::default())
                    .await
                    .expect("record")
            );
        }
        let filter = EventFilter {
            status: Some("dead".into()),
            ..of_type("pull_request")
        };
        assert_eq!(
            store
                .replay_matching(&filter, &audit())
                .await
                .expect("replay"),
            1
        );
        assert_eq!(
            list(EventFilter {
                status: Some("pending".into()),
                ..EventFilter::default()
            })
            .await,
            vec!["k2"]
        );
    }

    pub async fn purge_drops_delivered_bodies_keeps_dedup_keys_for_their_window_and_spares_pending(
        store: Arc<dyn Store>,
    ) {
        let day = 86_400_000;
        let now = now_ms();
        let aged = |key: &str, days: i64, destinations: &[&str]| {
            to(event("s", key), destinations).received_at(now - days * day)
        };
        // No destinations: ignored at once, and purged as delivered events are.
        let recent = insert(&store, aged("recent", 1, &[])).await;
        let old = insert(&store, aged("old", 8, &[])).await;
        let ancient = insert(&store, aged("ancient", 30, &[])).await;
        let waiting = insert(&store, aged("waiting", 30, &["downstream"])).await;
        let dead = insert(&store, aged("dead", 30, &["downstream"])).await;
        for claim in store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim")
        {
            if claim.event_id == dead {
                let error = "HTTP 400".to_owned();
                assert!(
                    store
                        .record("w", &claim, Recorded::Dead { error }, Timing::default())
                        .await
                        .expect("record")
                );
            }
        }
        let purged = store
            .purge(now - 7 * day, now - 14 * day)
            .await
            .expect("purge");
        assert_eq!((purged.bodies, purged.events), (2, 1));
        let body = |e: Option<hookwall::store::StoredEvent>| e.expect("still stored").body;
        assert!(body(store.get(recent).await.expect("get")).is_some());
        assert!(body(store.get(old).await.expect("get")).is_none());
        assert!(store.get(ancient).await.expect("get").is_none());
        assert!(
            body(store.get(waiting).await.expect("get")).is_some(),
            "an undelivered event keeps its body whatever its age"
        );
        assert!(
            body(store.get(dead).await.expect("get")).is_some(),
            "a dead letter keeps its body so it can be replayed"
        );
        // The purged body's key still de-duplicates; the forgotten one does not.
        assert!(matches!(
            store.insert(event("s", "old")).await.expect("insert"),
            Inserted::Duplicate(_)
        ));
        assert!(matches!(
            store.insert(event("s", "ancient")).await.expect("insert"),
            Inserted::Stored(_)
        ));
        let again = store
            .purge(now - 7 * day, now - 14 * day)
            .await
            .expect("purge");
        assert_eq!(
            (again.bodies, again.events),
            (0, 0),
            "nothing left to purge"
        );
    }

    pub async fn depths_count_waiting_deliveries_and_dead_events_per_source(store: Arc<dyn Store>) {
        assert_eq!(depths(&store).await, vec![]);
        insert(&store, to(event("github", "g1"), &["ci", "audit"])).await;
        insert(&store, event("github", "g2")).await;
        insert(&store, event("stripe", "s1")).await;
        insert(&store, to(event("quiet", "q1"), &[])).await;
        assert_eq!(
            depths(&store).await,
            vec![depth("github", 3, 0), depth("stripe", 1, 0)],
            "deliveries waiting, per source; events with nothing to deliver are not counted"
        );
        // Claimed work is still waiting; a dead stripe event moves from queued to dead.
        for claim in store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim")
        {
            if claim.source == "stripe" {
                let error = "HTTP 401".to_owned();
                assert!(
                    store
                        .record("w", &claim, Recorded::Dead { error }, Timing::default())
                        .await
                        .expect("record")
                );
            }
        }
        assert_eq!(
            depths(&store).await,
            vec![depth("github", 3, 0), depth("stripe", 0, 1)]
        );
    }

    pub async fn after_close_calls_fail_instead_of_being_dropped(store: Arc<dyn Store>) {
        let id = insert(&store, event("s", "before")).await;
        store.close().await;
        assert!(store.insert(event("s", "late")).await.is_err());
        assert!(store.ping().await.is_err());
        assert!(store.get(id).await.is_err());
        assert!(store.claim("w", &Room::up_to(10), LONG).await.is_err());
    }

    async fn states(store: &Arc<dyn Store>) -> Vec<DestinationState> {
        store
            .destination_states()
            .await
            .expect("destination states")
    }

    pub async fn a_destination_state_is_saved_by_compare_and_set_on_its_version(
        store: Arc<dyn Store>,
    ) {
        assert_eq!(states(&store).await, vec![], "never saved: no row");
        let mut paused = DestinationState::new("ci");
        paused.paused = true;
        assert!(
            store
                .save_destination_state(&paused, None)
                .await
                .expect("save")
        );
        let saved = states(&store).await;
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].version, 1);
        assert!(saved[0].paused);
        // A second first save lost the race: it must read and retry.
        assert!(
            !store
                .save_destination_state(&paused, None)
                .await
                .expect("save")
        );

        let mut open = saved[0].clone();
        open.paused = false;
        open.circuit = CircuitState::HalfOpen;
        open.consecutive_failures = 7;
        open.opened_at_ms = Some(1_700_000_000_000);
        open.next_probe_at_ms = Some(1_700_000_060_000);
        open.cooldown_ms = 60_000;
        open.probe = Some("worker-1/0190".to_owned());
        assert!(
            store
                .save_destination_state(&open, None)
                .await
                .expect("save")
        );
        let read = states(&store).await;
        assert_eq!(
            read,
            vec![DestinationState {
                version: 2,
                ..open.clone()
            }]
        );
        // Saved on a stale read: refused, nothing changed.
        assert!(
            !store
                .save_destination_state(&open, None)
                .await
                .expect("save")
        );
        assert_eq!(states(&store).await, read);

        // Writers racing on one version: exactly one wins.
        let racing = (0..8u32).map(|i| {
            let store = store.clone();
            let mut state = read[0].clone();
            state.consecutive_failures = i;
            tokio::spawn(async move {
                store
                    .save_destination_state(&state, None)
                    .await
                    .expect("save")
            })
        });
        let mut won = 0;
        for saved in racing {
            won += usize::from(saved.await.expect("join"));
        }
        assert_eq!(won, 1);
        assert_eq!(states(&store).await[0].version, 3);
    }

    pub async fn a_paused_destination_is_never_claimed_until_it_is_resumed(store: Arc<dyn Store>) {
        backlog(&store, "paused", 3).await;
        let other = backlog(&store, "other", 2).await;
        let mut state = DestinationState::new("paused");
        state.paused = true;
        assert!(
            store
                .save_destination_state(&state, None)
                .await
                .expect("save")
        );

        let claims = store
            .claim("w", &Room::up_to(100), LONG)
            .await
            .expect("claim");
        let mut ids: Vec<Uuid> = claims.iter().map(|c| c.event_id).collect();
        ids.sort();
        assert_eq!(ids, other, "whatever the room, nothing of the paused one");

        let mut resumed = states(&store).await.remove(0);
        resumed.paused = false;
        assert!(
            store
                .save_destination_state(&resumed, None)
                .await
                .expect("save")
        );
        let claims = store
            .claim("w", &Room::up_to(100), LONG)
            .await
            .expect("claim");
        assert_eq!(of(&claims, "paused"), 3);
    }

    pub async fn give_back_returns_claims_unattempted_and_due_at_once(store: Arc<dyn Store>) {
        let id = insert(&store, to(event("s", "k"), &["ci", "audit"])).await;
        let claims = store
            .claim("w", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(claims.len(), 2);
        let ci: Vec<Claim> = claims
            .iter()
            .filter(|c| c.destination == "ci")
            .cloned()
            .collect();

        assert_eq!(
            store
                .give_back("someone-else", &ci)
                .await
                .expect("give back"),
            0
        );
        assert_eq!(store.give_back("w", &ci).await.expect("give back"), 1);
        assert_eq!(store.give_back("w", &[]).await.expect("give back"), 0);

        let event = store.get(id).await.expect("get").expect("stored");
        assert_eq!(
            (event.attempts, event.status.to_string()),
            (0, "pending".to_owned())
        );
        let again = store
            .claim("next", &Room::up_to(10), LONG)
            .await
            .expect("claim");
        assert_eq!(
            again.len(),
            1,
            "only the given-back one; audit is still w's"
        );
        assert_eq!(again[0].destination, "ci");
        assert_eq!(again[0].attempts, 0, "no attempt was charged");
    }

    pub async fn destination_depths_count_the_deliveries_waiting_for_each(store: Arc<dyn Store>) {
        assert_eq!(store.destination_depths().await.expect("depths"), vec![]);
        insert(&store, to(event("s", "one"), &["a", "b"])).await;
        insert(&store, to(event("s", "two"), &["a"])).await;
        let counts = |pairs: &[(&str, i64)]| -> Vec<(String, i64)> {
            pairs
                .iter()
                .map(|(name, n)| ((*name).to_owned(), *n))
                .collect()
        };
        assert_eq!(
            store.destination_depths().await.expect("depths"),
            counts(&[("a", 2), ("b", 1)])
        );
        // Claimed is still waiting; delivered is not.
        let claims = store
            .claim("w", &room(10, &[("a", 1)]), LONG)
            .await
            .expect("claim");
        let a = claims
            .iter()
            .find(|c| c.destination == "a")
            .expect("a claimed");
        assert!(
            store
                .record("w", a, Recorded::Delivered, Timing::default())
                .await
                .expect("record")
        );
        assert_eq!(
            store.destination_depths().await.expect("depths"),
            counts(&[("a", 1), ("b", 1)])
        );
    }
}

/// Instantiates every case once per store. A case missing here fails to compile as unused
/// (`dead_code`), so a case cannot be written and forgotten.
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = super::sqlite().await;
                    super::cases::$case(backend.store.clone()).await;
                    backend.store.close().await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(backend) = super::postgres().await else {
                        return;
                    };
                    super::cases::$case(backend.store.clone()).await;
                    backend.store.close().await;
                }
            )+
        }
    };
}

conformance!(
    insert_then_get_returns_every_field_as_stored,
    get_many_returns_each_stored_event_once_and_leaves_out_unknown_ids,
    a_duplicate_key_is_answered_with_the_first_id_and_stored_once,
    concurrent_copies_of_one_key_store_exactly_one,
    concurrent_distinct_inserts_are_all_stored,
    one_failing_insert_does_not_fail_the_others_committed_with_it,
    an_event_without_destinations_is_ignored_never_delivered_queued_or_dead,
    a_claim_takes_at_most_each_destinations_room_and_none_of_a_full_one,
    when_the_total_is_short_each_destination_gets_its_turn,
    a_claim_takes_each_due_delivery_once_per_destination,
    concurrent_claims_never_hand_one_delivery_to_two_owners,
    an_expired_lease_is_taken_over_and_the_old_owner_can_no_longer_record,
    a_retry_is_due_again_at_its_next_attempt_time,
    a_dead_delivery_goes_to_the_dead_letters_and_is_not_claimed_again,
    an_event_is_delivered_only_when_every_destination_is,
    each_delivery_lists_its_attempts_with_their_time_outcome_and_duration,
    release_gives_claims_back_due_at_once,
    a_held_delivery_is_left_to_its_holder_until_the_hold_lapses,
    every_delivery_held_by_the_storing_worker_is_its_own_until_released,
    replay_makes_an_event_due_again_with_a_fresh_budget,
    a_claim_counts_the_replays_of_its_delivery,
    replay_refuses_an_event_whose_body_was_purged,
    replay_matching_replays_only_what_the_filter_selects,
    listing_is_newest_first_pages_with_a_cursor_and_filters,
    the_event_type_is_stored_as_given_and_an_event_without_one_has_none,
    listing_and_bulk_replay_select_by_exact_event_type,
    purge_drops_delivered_bodies_keeps_dedup_keys_for_their_window_and_spares_pending,
    depths_count_waiting_deliveries_and_dead_events_per_source,
    after_close_calls_fail_instead_of_being_dropped,
    a_destination_state_is_saved_by_compare_and_set_on_its_version,
    a_paused_destination_is_never_claimed_until_it_is_resumed,
    give_back_returns_claims_unattempted_and_due_at_once,
    destination_depths_count_the_deliveries_waiting_for_each,
    appended_records_chain_from_the_genesis_and_list_newest_first_with_a_cursor,
    a_replay_writes_its_record_with_it_and_a_replay_of_nothing_writes_none,
    a_bulk_replay_records_its_count_even_when_nothing_matched,
    a_destination_state_save_writes_its_record_only_when_it_lands,
    an_audited_insert_stores_event_and_record_together_and_a_duplicate_neither,
    purge_leaves_every_audit_record,
    concurrent_appends_make_one_unbroken_chain,
    a_kept_refusal_reads_back_with_every_field,
    refusals_list_newest_first_with_filters_and_a_cursor,
    the_per_source_bound_deletes_the_oldest_records_of_the_sources_written,
    retention_deletes_refusals_older_than_the_cutoff,
    the_trace_context_of_the_storing_request_reads_back_with_its_event,
);

/// Not a conformance case: sqlx 0.9.0 opens TCP connections with Nagle's algorithm on, and each
/// round trip of the PostgreSQL store then waited about 40 ms for the server's delayed ACK
/// (`store/nodelay.rs`). Every connection the store opens over TCP must have `TCP_NODELAY`.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_of_the_postgres_store_over_tcp_has_nodelay() {
    use sqlx::Connection;

    let Some(database) = pg::TestDatabase::create().await else {
        return;
    };
    let store = PostgresStore::open(&database.url, 4).await.expect("opens");
    // Concurrent reads each hold a connection of the pool, so it opens several.
    let reads = (0..8).map(|i| {
        let store = &store;
        async move { store.find("github", &format!("id:{i}")).await }
    });
    for found in futures_util::future::join_all(reads).await {
        assert_eq!(found.expect("find"), None);
    }
    let mut admin = sqlx::PgConnection::connect(&database.url)
        .await
        .expect("connects");
    let ports: Vec<i32> = sqlx::query_scalar(
        "SELECT client_port FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'hookwall'",
    )
    .fetch_all(&mut admin)
    .await
    .expect("pg_stat_activity");
    if ports.contains(&-1) {
        eprintln!(
            "skipped: {} connects over a Unix socket, not TCP",
            pg::URL_VAR
        );
        return;
    }
    assert!(
        ports.len() > 1,
        "the pool opened several connections: {ports:?}"
    );
    let ours: Vec<std::net::TcpStream> = hookwall::store::nodelay::tcp_sockets()
        .expect("this process's sockets can be listed")
        .filter(|socket| {
            socket
                .local_addr()
                .is_ok_and(|local| ports.contains(&i32::from(local.port())))
        })
        .collect();
    assert_eq!(
        ours.len(),
        ports.len(),
        "each backend's client is a socket of ours"
    );
    for socket in &ours {
        assert!(
            socket.nodelay().expect("TCP_NODELAY is readable"),
            "{:?} to {:?} has Nagle's algorithm on",
            socket.local_addr(),
            socket.peer_addr()
        );
    }
    let _ = admin.close().await;
    store.close().await;
}

/// The admin API's fingerprints are keyed by the installation's key: made once, the same every
/// time the store is opened again, so fingerprints do not change across a restart.
#[tokio::test]
async fn the_sqlite_fingerprint_key_is_made_once_and_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let first = SqliteStore::open(&path).await.expect("opens");
    let key = first.fingerprint_key().to_vec();
    first.close().await;
    let again = SqliteStore::open(&path).await.expect("opens again");
    assert_eq!(key.len(), 32);
    assert_eq!(again.fingerprint_key(), key.as_slice());
    let other = SqliteStore::open(&dir.path().join("other.db"))
        .await
        .expect("opens");
    assert_ne!(
        other.fingerprint_key(),
        key.as_slice(),
        "another installation"
    );
}

/// Instances that share a PostgreSQL database, started together, show the same fingerprints.
#[tokio::test]
async fn postgres_instances_started_together_share_one_fingerprint_key() {
    let Some(database) = pg::TestDatabase::create().await else {
        return;
    };
    let (one, two) = tokio::join!(
        PostgresStore::open(&database.url, 2),
        PostgresStore::open(&database.url, 2)
    );
    let (one, two) = (one.expect("opens"), two.expect("opens"));
    assert_eq!(one.fingerprint_key().len(), 32);
    assert_eq!(one.fingerprint_key(), two.fingerprint_key());
}

/// Not a conformance case: several instances on one PostgreSQL database append to one chain at
/// once (here two stores, four writers, 200 records), and it still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_postgres_stores_appending_at_once_keep_one_unbroken_chain() {
    let Some(database) = pg::TestDatabase::create().await else {
        return;
    };
    let (one, two) = tokio::join!(
        PostgresStore::open(&database.url, 4),
        PostgresStore::open(&database.url, 4)
    );
    let stores: [Arc<dyn Store>; 2] =
        [Arc::new(one.expect("opens")), Arc::new(two.expect("opens"))];
    let writers = (0..4).map(|w| {
        let store = stores[w % 2].clone();
        tokio::spawn(async move {
            for i in 0..50 {
                store
                    .append_audit(&audit_cases::audit_of(
                        hookwall::store::AuditAction::Export,
                        &format!("w{w}-{i}"),
                    ))
                    .await
                    .expect("append");
            }
        })
    });
    for writer in writers {
        writer.await.expect("writer");
    }

    let records = audit_cases::chain(&stores[0]).await;
    assert_eq!(audit_cases::verified(&records), Ok(200));
    let times: Vec<i64> = records.iter().map(|r| r.time_ms).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "times follow the chain (the database's clock)"
    );
    for store in &stores {
        store.close().await;
    }
}
