//! The SQLite store on its own: group commit, atomic de-duplication, durability across reopen.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;
use hookwall::store::{Inserted, NewEvent, SqliteStore, Store};

fn event(source: &str, key: &str) -> NewEvent {
    NewEvent {
        id: uuid::Uuid::now_v7(),
        source: source.to_owned(),
        dedup_key: key.to_owned(),
        received_at_ms: hookwall::store::now_ms(),
        client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        request_id: None,
        content_type: Some("application/json".to_owned()),
        headers: vec![("x-test".to_owned(), "1".to_owned())],
        body: Bytes::from_static(b"{}"),
        destinations: vec!["downstream".to_owned()],
        hold: None,
    }
}

#[tokio::test]
async fn concurrent_inserts_are_all_committed_and_readable_after_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let store = Arc::new(SqliteStore::open(&path).await.expect("opens"));
    let tasks: Vec<_> = (0..500)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.insert(event("s", &format!("k{i}"))).await })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        match task.await.expect("task").expect("insert") {
            Inserted::Stored(id) => ids.push(id),
            Inserted::Duplicate(id) => panic!("unexpected duplicate {id}"),
        }
    }
    store.close().await;
    drop(store);

    let reopened = SqliteStore::open(&path).await.expect("reopens");
    for id in &ids {
        let stored = reopened.get(*id).await.expect("reads").expect("present");
        assert_eq!(stored.status, "pending");
        assert_eq!(stored.body.as_deref(), Some(&b"{}"[..]));
    }
    reopened.close().await;
}

#[tokio::test]
async fn copies_racing_in_one_batch_resolve_to_the_first_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("e.db"))
            .await
            .expect("opens"),
    );
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.insert(event("s", "same")).await })
        })
        .collect();
    let mut stored = Vec::new();
    let mut duplicates = Vec::new();
    for task in tasks {
        match task.await.expect("task").expect("insert") {
            Inserted::Stored(id) => stored.push(id),
            Inserted::Duplicate(id) => duplicates.push(id),
        }
    }
    assert_eq!(stored.len(), 1);
    assert_eq!(duplicates.len(), 49);
    assert!(duplicates.iter().all(|id| *id == stored[0]));
    // The same key under another source is another event.
    assert!(matches!(
        store.insert(event("other", "same")).await.expect("insert"),
        Inserted::Stored(_)
    ));
    store.close().await;
}

#[tokio::test]
async fn after_close_inserts_fail_instead_of_being_dropped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("e.db"))
        .await
        .expect("opens");
    store.close().await;
    assert!(store.insert(event("s", "late")).await.is_err());
    assert!(store.ping().await.is_err());
}

#[tokio::test]
async fn purge_drops_delivered_bodies_keeps_dedup_keys_for_their_window_and_never_touches_pending()
{
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("events.db"))
        .await
        .expect("opens");
    let day = 86_400_000;
    let now = hookwall::store::now_ms();
    let aged = |key: &str, days: i64, destinations: Vec<String>| {
        let mut e = event("s", key);
        e.received_at_ms = now - days * day;
        e.destinations = destinations;
        e
    };
    // No destinations: delivered at once.
    let recent = store
        .insert(aged("recent", 1, vec![]))
        .await
        .expect("insert");
    let old = store.insert(aged("old", 8, vec![])).await.expect("insert");
    let ancient = store
        .insert(aged("ancient", 30, vec![]))
        .await
        .expect("insert");
    let waiting = store
        .insert(aged("waiting", 30, vec!["downstream".into()]))
        .await
        .expect("insert");
    let id = |inserted: Inserted| match inserted {
        Inserted::Stored(id) => id,
        Inserted::Duplicate(id) => panic!("unexpected duplicate {id}"),
    };
    let purged = store
        .purge(now - 7 * day, now - 14 * day)
        .await
        .expect("purge");
    assert_eq!((purged.bodies, purged.events), (2, 1));
    let body = |e: Option<hookwall::store::StoredEvent>| e.expect("still stored").body;
    assert!(body(store.get(id(recent)).await.expect("get")).is_some());
    assert!(body(store.get(id(old)).await.expect("get")).is_none());
    assert!(store.get(id(ancient)).await.expect("get").is_none());
    assert!(
        body(store.get(id(waiting)).await.expect("get")).is_some(),
        "an undelivered event keeps its body whatever its age"
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
    store.close().await;
}
