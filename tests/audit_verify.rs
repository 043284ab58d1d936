//! `hookwall audit verify` as an operator runs it: the real binary on a real SQLite file (and a
//! real PostgreSQL database when `HOOKWALL_TEST_DATABASE_URL` is set), before and after someone
//! with write access to the database changes the trail behind the gateway's back.

#[path = "support/pg.rs"]
mod pg;

use std::path::Path;
use std::process::Command;

use hookwall::store::{AuditAction, NewAudit, PostgresStore, SqliteStore, Store};

/// Runs `hookwall audit verify` on a config whose store is `url`: exit code and standard output.
fn verify(dir: &Path, url: &str) -> (Option<i32>, String) {
    let config = dir.join("hookwall.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\nurl = \"{url}\"\n\
             [sources.github]\nprovider = \"github\"\nsecrets = [\"s\"]\n"
        ),
    )
    .expect("write config");
    let output = Command::new(env!("CARGO_BIN_EXE_hookwall"))
        .env_remove("HOOKWALL_CONFIG")
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked"),
        "verify must not panic: {stderr}"
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Five records, as an operator's pauses would leave them.
async fn five_records(store: &dyn Store) -> String {
    let mut head = String::new();
    for i in 1..=5 {
        let audit = NewAudit::new(
            "oncall",
            AuditAction::Pause,
            &format!("dest-{i}"),
            "ok",
            Some([127, 0, 0, 1].into()),
        );
        head = store.append_audit(&audit).await.expect("append").hash;
    }
    head
}

/// A trail of five records in a fresh SQLite file.
async fn sqlite_trail(dir: &Path) -> (std::path::PathBuf, String) {
    let db = dir.join("hookwall.db");
    let store = SqliteStore::open(&db).await.expect("opens");
    let head = five_records(&store).await;
    store.close().await;
    (db, head)
}

#[tokio::test]
async fn verify_holds_on_an_untouched_sqlite_trail_and_names_the_record_changed_in_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, head) = sqlite_trail(dir.path()).await;
    let url = format!("sqlite://{}", db.display());

    let (code, out) = verify(dir.path(), &url);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        out.trim(),
        format!("audit chain holds: 5 records, head {head}")
    );

    let file = rusqlite::Connection::open(&db).expect("open the file");
    let refused = file.execute("UPDATE audit SET outcome = 'refused' WHERE id = 3", []);
    assert!(refused.is_err(), "the table refuses an update: {refused:?}");
    // Someone with write access to the file drops the guard and edits the record.
    file.execute_batch(
        "DROP TRIGGER audit_append_only_update; \
         UPDATE audit SET outcome = 'refused' WHERE id = 3;",
    )
    .expect("tamper");
    drop(file);

    let (code, out) = verify(dir.path(), &url);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("record 3"), "{out}");
    assert!(out.contains("changed"), "says why: {out}");
}

#[tokio::test]
async fn verify_names_the_record_after_one_deleted_from_the_middle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, _) = sqlite_trail(dir.path()).await;
    let file = rusqlite::Connection::open(&db).expect("open the file");
    file.execute_batch(
        "DROP TRIGGER audit_append_only_delete; \
         DELETE FROM audit WHERE id = 3;",
    )
    .expect("tamper");
    drop(file);

    let (code, out) = verify(dir.path(), &format!("sqlite://{}", db.display()));

    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("record 4"), "{out}");
    assert!(out.contains("missing"), "says why: {out}");
}

#[tokio::test]
async fn verify_refuses_a_store_without_a_database_instead_of_creating_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nothing-here.db");

    let (code, _) = verify(dir.path(), &format!("sqlite://{}", missing.display()));

    assert_eq!(code, Some(1));
    assert!(!missing.exists(), "verify is read-only: no file made");
}

#[tokio::test]
async fn verify_holds_on_a_postgres_trail_and_names_the_record_changed_in_it() {
    use sqlx::Connection;

    let Some(database) = pg::TestDatabase::create().await else {
        return;
    };
    let store = PostgresStore::open(&database.url, 2).await.expect("opens");
    let head = five_records(&store).await;
    store.close().await;
    let dir = tempfile::tempdir().expect("temp dir");

    let (code, out) = verify(dir.path(), &database.url);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        out.trim(),
        format!("audit chain holds: 5 records, head {head}")
    );

    let mut admin = sqlx::PgConnection::connect(&database.url)
        .await
        .expect("connects");
    let refused = sqlx::query("UPDATE audit SET actor = 'nobody' WHERE id = 2")
        .execute(&mut admin)
        .await;
    assert!(refused.is_err(), "the table refuses an update");
    sqlx::query("ALTER TABLE audit DISABLE TRIGGER audit_append_only")
        .execute(&mut admin)
        .await
        .expect("disable the guard");
    sqlx::query("UPDATE audit SET actor = 'nobody' WHERE id = 2")
        .execute(&mut admin)
        .await
        .expect("tamper");
    let _ = admin.close().await;

    let (code, out) = verify(dir.path(), &database.url);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("record 2"), "{out}");
}
