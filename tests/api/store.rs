//! The SQLite store on its own: committed inserts survive closing and reopening the file.
//! What every store must do is in `tests/store_conformance.rs`, run against SQLite and PostgreSQL.

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

/// Regression (found by tests/crash.rs): a claim moves the delivery's next attempt to the end of
/// its lease; a process killed while holding claims must not leave them waiting that long.
#[tokio::test]
async fn claims_of_a_killed_process_are_due_at_once_when_the_file_is_reopened() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).await.expect("opens");
    store.insert(event("s", "k")).await.expect("insert");
    let lease = std::time::Duration::from_secs(300);
    let claimed = store.claim("killed", 10, lease).await.expect("claims");
    assert_eq!(claimed.len(), 1);
    // No release: the process dies holding the claim.
    drop(store);

    let reopened = SqliteStore::open(&path).await.expect("reopens");
    let again = reopened.claim("next-run", 10, lease).await.expect("claims");
    assert_eq!(again.len(), 1, "the dead run's claim is due again at once");
    assert_eq!(again[0].event_id, claimed[0].event_id);
    reopened.close().await;
}
