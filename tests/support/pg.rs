//! A fresh PostgreSQL database per test, for the tests that need one.
//!
//! The server is the one `HOOKWALL_TEST_DATABASE_URL` names (`.ci/run` makes sure one answers);
//! without it these tests print that they were skipped. Each test creates a database with a
//! random name through that URL and drops it when the guard goes out of scope, also when the
//! test fails: a panic unwinds through the guard's `Drop`, which drops the database `WITH
//! (FORCE)`, closing whatever connections the test left open.

use sqlx::{AssertSqlSafe, Connection, PgConnection};

pub const URL_VAR: &str = "HOOKWALL_TEST_DATABASE_URL";

/// The admin URL, or `None` after printing that the test is skipped.
pub fn admin_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: {URL_VAR} is not set");
            None
        }
    }
}

/// A database that exists until this value is dropped.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    /// The URL of this database (the admin URL with the database name replaced).
    pub url: String,
}

impl TestDatabase {
    /// Creates a database with a random name, or `None` (after printing why) when no server
    /// is configured.
    pub async fn create() -> Option<TestDatabase> {
        let admin_url = admin_url()?;
        let name = format!("hookwall_test_{}", uuid::Uuid::now_v7().simple());
        let mut url = url::Url::parse(&admin_url).expect("HOOKWALL_TEST_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connects to HOOKWALL_TEST_DATABASE_URL");
        // Identifiers cannot be bound; this one is `hookwall_test_` and 32 hex digits.
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        let _ = admin.close().await;
        Some(TestDatabase {
            admin_url,
            name,
            url: url.to_string(),
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside the test's runtime (or while it unwinds); a thread of its own with
        // a runtime of its own can block on the DROP without touching the test's runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok::<(), String>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("could not drop test database {}: {err}", self.name),
            Err(_) => eprintln!(
                "could not drop test database {}: the thread panicked",
                self.name
            ),
        }
    }
}
