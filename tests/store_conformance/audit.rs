//! The audit trail's conformance cases (SPEC section 12), instantiated for both stores by the
//! `conformance!` macro of `tests/store_conformance.rs` like every other case: records chain
//! from the genesis, list newest first, and each audited write commits its record with its
//! effect, or neither.

use std::sync::Arc;

use hookwall::clock::now_ms;
use hookwall::store::audit::{ChainCheck, GENESIS};
use hookwall::store::{
    AuditAction, AuditRecord, DestinationState, EventFilter, Inserted, NewAudit, NewEvent, Store,
};

use crate::events::event;

/// A record of `admin` doing something from 127.0.0.1, for the calls whose record a case does
/// not look at.
pub fn audit() -> NewAudit {
    audit_of(AuditAction::Replay, "some-target")
}

pub fn audit_of(action: AuditAction, target: &str) -> NewAudit {
    NewAudit::new("admin", action, target, "ok", Some([127, 0, 0, 1].into()))
}

/// The whole trail in id order.
pub async fn chain(store: &Arc<dyn Store>) -> Vec<AuditRecord> {
    let mut records = Vec::new();
    loop {
        let after = records.last().map_or(0, |r: &AuditRecord| r.id);
        let page = store.audit_chain(after, 7).await.expect("audit chain");
        if page.is_empty() {
            return records;
        }
        records.extend(page);
    }
}

/// Walks the chain as `hookwall audit verify` does: the count, or the first record off it.
pub fn verified(records: &[AuditRecord]) -> Result<u64, String> {
    let mut check = ChainCheck::default();
    for record in records {
        check
            .check(record)
            .map_err(|broken| format!("record {}: {broken}", record.id))?;
    }
    Ok(check.checked())
}

fn to(event: NewEvent, destinations: &[&str]) -> NewEvent {
    event.with_destinations(destinations.iter().map(|d| (*d).to_owned()).collect())
}

fn stored(inserted: Inserted) -> uuid::Uuid {
    match inserted {
        Inserted::Stored(id) => id,
        Inserted::Duplicate(id) => panic!("unexpected duplicate of {id}"),
    }
}

pub async fn appended_records_chain_from_the_genesis_and_list_newest_first_with_a_cursor(
    store: Arc<dyn Store>,
) {
    let before = now_ms();
    let mut appended = Vec::new();
    for i in 1..=5 {
        let record = store
            .append_audit(&audit_of(AuditAction::Pause, &format!("dest-{i}")))
            .await
            .expect("append");
        appended.push(record);
    }

    assert_eq!(appended[0].id, 1);
    assert_eq!(appended[0].prev_hash, GENESIS);
    assert_eq!(appended[1].prev_hash, appended[0].hash);
    assert!(appended[0].time_ms >= before - 60_000, "a time near now");
    assert_eq!(
        appended[4].client_ip.as_deref(),
        Some("127.0.0.1"),
        "the client IP is kept"
    );
    let read = chain(&store).await;
    assert_eq!(read, appended, "read back exactly as appended");
    assert_eq!(verified(&read), Ok(5));

    let first = store.audit_page(2, None).await.expect("page");
    let ids: Vec<i64> = first.records.iter().map(|r| r.id).collect();
    assert_eq!(ids, [5, 4]);
    assert_eq!(first.records[0].target, "dest-5");
    let second = store
        .audit_page(2, first.next.as_deref())
        .await
        .expect("page");
    let ids: Vec<i64> = second.records.iter().map(|r| r.id).collect();
    assert_eq!(ids, [3, 2]);
    let last = store
        .audit_page(2, second.next.as_deref())
        .await
        .expect("page");
    let ids: Vec<i64> = last.records.iter().map(|r| r.id).collect();
    assert_eq!(ids, [1]);
    assert_eq!(last.next, None, "the last page has no cursor");
    assert!(
        store.audit_page(2, Some("not-an-id")).await.is_err(),
        "a cursor this store never gave out is refused"
    );
}

pub async fn a_replay_writes_its_record_with_it_and_a_replay_of_nothing_writes_none(
    store: Arc<dyn Store>,
) {
    let id = stored(store.insert(event("s", "k")).await.expect("insert"));
    let ignored = stored(
        store
            .insert(to(event("s", "nowhere"), &[]))
            .await
            .expect("insert"),
    );

    let replayed = store
        .replay(id, &audit_of(AuditAction::Replay, &id.to_string()))
        .await
        .expect("replay");

    assert!(replayed);
    let records = chain(&store).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].action.as_str(), records[0].target.as_str()),
        ("replay", id.to_string().as_str())
    );
    assert_eq!(records[0].actor, "admin");
    assert_eq!(records[0].outcome, "ok");

    // Nothing to replay: no effect, and no record either.
    let missing = uuid::Uuid::now_v7();
    assert!(!store.replay(missing, &audit()).await.expect("replay"));
    assert!(!store.replay(ignored, &audit()).await.expect("replay"));
    assert_eq!(chain(&store).await, records, "nothing written");
}

pub async fn a_bulk_replay_records_its_count_even_when_nothing_matched(store: Arc<dyn Store>) {
    for key in ["a", "b"] {
        store.insert(event("bulk", key)).await.expect("insert");
    }
    let pending = EventFilter {
        source: Some("bulk".into()),
        status: Some("pending".into()),
        ..EventFilter::default()
    };
    let none = EventFilter {
        source: Some("other".into()),
        ..EventFilter::default()
    };

    let two = store
        .replay_matching(&pending, &audit_of(AuditAction::BulkReplay, "source=bulk"))
        .await
        .expect("bulk replay");
    let zero = store
        .replay_matching(&none, &audit_of(AuditAction::BulkReplay, "source=other"))
        .await
        .expect("bulk replay");

    assert_eq!((two, zero), (2, 0));
    let records = chain(&store).await;
    let shown: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| (r.action.as_str(), r.target.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            ("bulk_replay", "source=bulk", "ok replayed=2"),
            ("bulk_replay", "source=other", "ok replayed=0"),
        ]
    );
    assert_eq!(verified(&records), Ok(2));
}

pub async fn a_destination_state_save_writes_its_record_only_when_it_lands(store: Arc<dyn Store>) {
    let mut paused = DestinationState::new("ci");
    paused.paused = true;
    let pause = audit_of(AuditAction::Pause, "ci");

    assert!(
        store
            .save_destination_state(&paused, Some(&pause))
            .await
            .expect("save")
    );
    // The same first save again loses the compare-and-set: no state, no record.
    assert!(
        !store
            .save_destination_state(&paused, Some(&pause))
            .await
            .expect("save")
    );
    // The circuit breaker's saves are not operators' actions.
    let mut open = store.destination_states().await.expect("states").remove(0);
    open.consecutive_failures = 3;
    assert!(
        store
            .save_destination_state(&open, None)
            .await
            .expect("save")
    );

    let records = chain(&store).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (records[0].action.as_str(), records[0].target.as_str()),
        ("pause", "ci")
    );
}

pub async fn an_audited_insert_stores_event_and_record_together_and_a_duplicate_neither(
    store: Arc<dyn Store>,
) {
    let admit = audit_of(AuditAction::Admit, "refusal-1");

    let inserted = store
        .insert_audited(event("github", "id:admitted"), &admit)
        .await
        .expect("insert audited");
    let again = store
        .insert_audited(event("github", "id:admitted"), &admit)
        .await
        .expect("insert audited");

    let id = stored(inserted);
    assert_eq!(again, Inserted::Duplicate(id));
    let event = store.get(id).await.expect("get").expect("stored");
    assert_eq!(event.dedup_key, "id:admitted");
    assert_eq!(
        store.deliveries(id).await.expect("deliveries").len(),
        1,
        "routed like any insert"
    );
    let records = chain(&store).await;
    assert_eq!(
        records.len(),
        1,
        "the duplicate wrote no record: {records:?}"
    );
    assert_eq!(
        (records[0].action.as_str(), records[0].target.as_str()),
        ("admit", "refusal-1")
    );
}

pub async fn purge_leaves_every_audit_record(store: Arc<dyn Store>) {
    let id = stored(
        store
            .insert(to(event("s", "gone"), &[]))
            .await
            .expect("insert"),
    );
    store
        .append_audit(&audit_of(AuditAction::Reload, "hookwall.toml"))
        .await
        .expect("append");
    store
        .append_audit(&audit_of(AuditAction::Export, "all format=ndjson"))
        .await
        .expect("append");

    let far = now_ms() + 86_400_000;
    let purged = store.purge(far, far).await.expect("purge");

    assert_eq!(purged.events, 1, "the purge ran");
    assert!(store.get(id).await.expect("get").is_none());
    let records = chain(&store).await;
    assert_eq!(verified(&records), Ok(2));
}

pub async fn concurrent_appends_make_one_unbroken_chain(store: Arc<dyn Store>) {
    let writers = (0..4).map(|w| {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..25 {
                store
                    .append_audit(&audit_of(AuditAction::Export, &format!("w{w}-{i}")))
                    .await
                    .expect("append");
            }
        })
    });
    for writer in writers {
        writer.await.expect("writer");
    }

    let records = chain(&store).await;
    assert_eq!(verified(&records), Ok(100));
    let newest = store.audit_page(1, None).await.expect("page");
    assert_eq!(newest.records[0].id, 100);
}
