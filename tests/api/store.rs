//! The SQLite store on its own: committed inserts survive closing and reopening the file.
//! What every store must do is in `tests/store_conformance.rs`, run against SQLite and PostgreSQL.

use std::sync::Arc;

use hookwall::store::{Inserted, Room, SqliteStore, Store};

use crate::events::event;

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
    let claimed = store
        .claim("killed", &Room::up_to(10), lease)
        .await
        .expect("claims");
    assert_eq!(claimed.len(), 1);
    // No release: the process dies holding the claim.
    drop(store);

    let reopened = SqliteStore::open(&path).await.expect("reopens");
    let again = reopened
        .claim("next-run", &Room::up_to(10), lease)
        .await
        .expect("claims");
    assert_eq!(again.len(), 1, "the dead run's claim is due again at once");
    assert_eq!(again[0].event_id, claimed[0].event_id);
    reopened.close().await;
}

/// The opcodes SQLite runs for an insert of one status into `table`.
fn insert_program(conn: &rusqlite::Connection, table: &str) -> Vec<String> {
    let sql = match table {
        "events" => {
            "EXPLAIN INSERT INTO events (id, source, dedup_key, received_at, client_ip, headers, \
             next_attempt_at, status) VALUES ('e', 's', 'k', 1, 'ip', '[]', 1, ?1)"
        }
        _ => {
            "EXPLAIN INSERT INTO deliveries (event_id, destination, next_attempt_at, status) \
             VALUES ('e', 'd', 1, ?1)"
        }
    };
    let mut statement = conn.prepare(sql).expect("prepares");
    statement
        .query_map(["pending"], |row| row.get::<_, String>(1))
        .expect("explains")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn status_checks_hold(conn: &rusqlite::Connection) {
    for table in ["events", "deliveries"] {
        // An IN list of four constants builds an ephemeral B-tree for every row written.
        let program = insert_program(conn, table);
        assert!(
            !program.iter().any(|op| op == "OpenEphemeral"),
            "{table}: {program:?}"
        );
    }
    // The constraint itself still holds, on both tables.
    let bogus = conn.execute(
        "INSERT INTO events (id, source, dedup_key, received_at, client_ip, headers, \
         next_attempt_at, status) VALUES ('bogus', 's', 'bogus', 1, 'ip', '[]', 1, 'lost')",
        [],
    );
    assert!(bogus.is_err_and(|e| e.to_string().contains("CHECK")));
    let bogus = conn.execute(
        "UPDATE deliveries SET status = 'lost' WHERE rowid = (SELECT MIN(rowid) FROM deliveries)",
        [],
    );
    assert!(bogus.is_err_and(|e| e.to_string().contains("CHECK")));
}

#[tokio::test]
async fn status_checks_cost_no_ephemeral_table_on_a_new_file_and_after_an_upgrade() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).await.expect("opens");
    let kept = match store.insert(event("s", "kept")).await.expect("insert") {
        Inserted::Stored(id) => id,
        other => panic!("{other:?}"),
    };
    let nowhere = event("quiet", "nowhere").with_destinations(Vec::new());
    let nowhere = match store.insert(nowhere).await.expect("insert") {
        Inserted::Stored(id) => id,
        other => panic!("{other:?}"),
    };
    store.close().await;
    let conn = rusqlite::Connection::open(&path).expect("opens");
    status_checks_hold(&conn);

    // The file as an earlier release left it: the IN-list CHECKs (migration 6 not applied), the
    // claim index of migration 3 (7 not applied), an event without destinations stored as
    // `delivered` (8 not applied), no installation keys (9 not applied), no event types (10 not
    // applied), no destination states (12 not applied), no replay counts (13 not applied), no
    // attempt history (14 not applied), no audit trail (15 not applied), no refusal quarantine
    // (16 not applied), no trace contexts (17 not applied).
    conn.execute_batch(
        "PRAGMA writable_schema = ON;
         UPDATE sqlite_schema SET sql = replace(sql,
           ' OR status = ''ignored'')',
           ')')
         WHERE type = 'table';
         UPDATE sqlite_schema SET sql = replace(sql,
           'CHECK (status = ''pending'' OR status = ''delivered'' OR status = ''failed'' OR status = ''dead'')',
           'CHECK (status IN (''pending'', ''delivered'', ''failed'', ''dead''))')
         WHERE type = 'table';
         PRAGMA writable_schema = RESET;
         UPDATE events SET status = 'delivered' WHERE status = 'ignored';
         DROP INDEX deliveries_waiting;
         CREATE INDEX deliveries_claimable ON deliveries (next_attempt_at)
           WHERE status IN ('pending', 'failed');
         DROP TABLE install_keys;
         DROP TABLE attempts;
         DROP TABLE refusals;
         ALTER TABLE events DROP COLUMN event_type;
         ALTER TABLE events DROP COLUMN trace_context;
         DROP TABLE destination_states;
         ALTER TABLE deliveries DROP COLUMN replays;
         DROP TABLE audit;
         DELETE FROM _sqlx_migrations WHERE version >= 6;",
    )
    .expect("downgraded");
    assert!(
        insert_program(&conn, "events")
            .iter()
            .any(|op| op == "OpenEphemeral"),
        "the downgrade restored the old constraint"
    );
    drop(conn);

    let store = SqliteStore::open(&path).await.expect("upgrades");
    let stored = store.get(kept).await.expect("reads").expect("kept");
    assert_eq!(stored.dedup_key, "kept");
    assert_eq!(stored.event_type, None, "stored before event types: none");
    assert_eq!(
        stored.trace_context, None,
        "stored before trace contexts: none"
    );
    let upgraded = store.get(nowhere).await.expect("reads").expect("kept");
    assert_eq!(upgraded.status, "ignored", "an event with nowhere to go");
    assert_eq!(stored.status, "pending");
    let claims = store
        .claim("w", &Room::up_to(10), std::time::Duration::from_secs(60))
        .await
        .expect("claims through the new index");
    assert_eq!(claims.len(), 1);
    store.close().await;
    let conn = rusqlite::Connection::open(&path).expect("opens");
    status_checks_hold(&conn);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("checks");
    assert_eq!(integrity, "ok");
}
