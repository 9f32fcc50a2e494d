//! Fresh, migrated databases for tests: a SQLite file in a temporary directory, or a new
//! PostgreSQL database dropped afterwards. Feature `testing`.
//!
//! PostgreSQL tests follow `ROSTER_TEST_POSTGRES`:
//! - `require` (CI): the server must be reachable, or the test fails;
//! - `skip`: PostgreSQL tests pass without running;
//! - unset: they run when the server is reachable, and otherwise print a notice and pass, so a
//!   fresh machine without PostgreSQL can still run `cargo test --workspace`.
//!
//! The server is `ROSTER_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/postgres` (any database the user may connect to; each
//! test creates its own next to it).

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use sea_orm::{ConnectionTrait as _, Database, DbBackend};

use crate::{PoolSettings, Store, connect, migrate};

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database for one test.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// URL of the database, for starting an application on it.
    pub url: String,
    /// A migrated store on it.
    pub store: Store,
}

impl TestDatabase {
    /// Which backend this is.
    #[must_use]
    pub fn backend(&self) -> DbBackend {
        self.store.backend()
    }
}

/// Runs `test` on a fresh, migrated SQLite database in a temporary directory.
///
/// # Panics
/// When the database cannot be created, or when `test` panics.
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(TestDatabase) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("roster.db").display());
    let store = open(&url).await;
    test(TestDatabase { url, store }).await;
    drop(dir);
}

/// Runs `test` on a fresh, migrated PostgreSQL database, dropped afterwards (see the module
/// documentation for when PostgreSQL tests run).
///
/// # Panics
/// When PostgreSQL is required but unreachable, or when `test` panics.
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(TestDatabase) -> Fut,
    Fut: Future<Output = ()>,
{
    let mode = std::env::var("ROSTER_TEST_POSTGRES").unwrap_or_default();
    if mode == "skip" {
        return;
    }
    let admin_url = std::env::var("ROSTER_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
    let admin = match Database::connect(admin_url.as_str()).await {
        Ok(admin) => admin,
        Err(error) if mode != "require" => {
            eprintln!(
                "NOTICE: PostgreSQL test not run: {admin_url} unreachable ({error}); set ROSTER_TEST_POSTGRES=require to make this fail"
            );
            return;
        }
        Err(error) => panic!("ROSTER_TEST_POSTGRES=require but {admin_url} is unreachable: {error}"),
    };
    let name = format!("roster_test_{}", uuid::Uuid::now_v7().simple());
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
    let url = replace_database(&admin_url, &name);
    let store = open(&url).await;
    let outcome = AssertUnwindSafe(test(TestDatabase { url, store: store.clone() })).catch_unwind().await;
    let _ = store.connection().clone().close().await;
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.expect("DROP DATABASE");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn open(url: &str) -> Store {
    let db = connect(url, PoolSettings { max_connections: 8, ..PoolSettings::default() })
        .await
        .unwrap_or_else(|e| panic!("cannot open test database {url}: {e}"));
    migrate(&db).await.expect("migrations apply to a fresh database");
    Store::new(db)
}

/// `url` with its database (the path) replaced by `database`, keeping any query string.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_end..].find('/').map_or(base.len(), |i| authority_end + i);
    let mut result = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// Declares tests that run on both databases: for each `name`, a module `name` with tests
/// `sqlite` and `postgres` that call the async function `name(db: TestDatabase)` in scope.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    $crate::testing::on_sqlite(super::$name).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    $crate::testing::on_postgres(super::$name).await;
                }
            }
        )+
    };
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(replace_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(
            replace_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
