//! Opening a database: SQLite (WAL, created on first use) or PostgreSQL, chosen by the URL, and
//! applying the migrations safely when several instances start at once.

use std::time::Duration;

use roster_migration::{Migrator, MigratorTrait as _};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, DbBackend, DbErr};

use crate::transaction::begin_write;

/// Connections idle longer than this are pinged before they are used again.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// How the pool is sized; the defaults suit one instance on a small machine.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// Most connections kept open.
    pub max_connections: u32,
    /// How long a request waits for a connection before failing.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_connections: 16, acquire_timeout: Duration::from_secs(10) }
    }
}

/// Opens the database at `url`: `sqlite://FILE?mode=rwc` or `postgres://...`.
///
/// SQLite runs in WAL mode with `synchronous=FULL` (each commit is on disk before it returns:
/// with `NORMAL`, a power loss or system crash may roll back acknowledged commits, such as
/// recorded usage), foreign keys on and a 5 s busy timeout; the file is created when missing,
/// and its planner statistics are refreshed when stale.
/// PostgreSQL keeps its default plan caching (the user list asks for custom plans in its own
/// transaction).
///
/// # Errors
/// The URL is malformed or the database unreachable.
pub async fn connect(url: &str, pool: PoolSettings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(pool.max_connections)
        .min_connections(1)
        .acquire_timeout(pool.acquire_timeout)
        // A round trip less per statement outside a transaction, and per transaction: a
        // connection is pinged before use only after it sat idle (and may have been dropped
        // by the server or the network meanwhile).
        .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
        });
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // Cheap: analyses only tables whose statistics are missing or stale, reading a sample.
        db.execute_unprepared("PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002").await?;
    }
    Ok(db)
}

/// Applies every pending migration. Instances starting together take turns: PostgreSQL through
/// a transaction-scoped advisory lock, SQLite through its write lock.
///
/// # Errors
/// A migration failed; nothing of it is applied.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    /// An arbitrary key naming "Roster's migrations" among advisory locks.
    const MIGRATION_LOCK: i64 = 0x526f_7374_6572;
    let txn = begin_write(db).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")).await?;
    }
    Migrator::up(&txn, None).await?;
    txn.commit().await
}
