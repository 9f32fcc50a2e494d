//! SeaORM adapters for Roster's ports, on SQLite (embedded default) and PostgreSQL.
//!
//! [`Store`] implements every repository port of `roster-domain`. The entities are private: the
//! rest of the system sees domain types only. Invariants that span rows (unique emails, the
//! last administrator) are made atomic here, in the database, never with in-process locks, so
//! any number of instances may share one PostgreSQL database.

mod audit;
mod budgets;
mod cache;
mod connect;
mod entities;
mod invitations;
mod licenses;
mod listed;
mod services;
mod sessions;
mod tenants;
mod tokens;
mod transaction;
mod users;
mod writes;

#[cfg(feature = "testing")]
pub mod testing;

pub use connect::{PoolSettings, connect, migrate};
pub use sea_orm::{DatabaseConnection, DbBackend, DbErr};
pub use users::listing::ListLimits;

/// The SeaORM implementation of every repository port. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct Store {
    db: DatabaseConnection,
    limits: ListLimits,
    /// On SQLite, the turns of this process's writers (see `transaction::WriteTxn`).
    writers: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// Users this process stored in batches since it last refreshed their statistics
    /// (PostgreSQL; see `users::batch`).
    grown: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// What the AI gateway reads on every request, kept in memory (off unless
    /// [`with_access_cache`](Self::with_access_cache) turned it on).
    cache: cache::AccessCache,
    /// The queue of this process's metering operations (see `budgets::ledger`).
    batches: std::sync::Arc<budgets::Batches>,
    /// On SQLite, the connection the metering operations write through (see
    /// `transaction::SqliteWrite`).
    sqlite_writer: std::sync::Arc<transaction::SqliteWriter>,
}

impl Store {
    /// A store over an open connection pool (see [`connect`]); the schema must be migrated.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        let writers = transaction::writers_for(&db);
        let cache = cache::AccessCache::new(0);
        let batches = std::sync::Arc::default();
        Self {
            db,
            limits: ListLimits::default(),
            writers,
            grown: std::sync::Arc::default(),
            cache,
            batches,
            sqlite_writer: std::sync::Arc::default(),
        }
    }

    /// This store, keeping the access facts of up to `users` users (and as many service
    /// credentials) in memory: what `GET /v1/users/{id}/entitlements` and the gateway's
    /// authentication read on every request. A kept value is never served once a write of any
    /// instance may have changed it (see the `cache` module); 0 keeps nothing. Must be called
    /// within a Tokio runtime: it starts the task that learns of other instances' writes.
    #[must_use]
    pub fn with_access_cache(self, users: usize) -> Self {
        let cache = cache::AccessCache::new(users);
        if users > 0 {
            cache::sync::spawn(&self.db, self.writers.clone(), &cache);
        }
        Self { cache, ..self }
    }

    /// This store with other list thresholds (tests use small ones to reach every strategy).
    #[must_use]
    pub fn with_list_limits(self, limits: ListLimits) -> Self {
        Self { limits, ..self }
    }

    /// Opens the database at `url` and applies pending migrations.
    ///
    /// # Errors
    /// The database is unreachable or a migration failed.
    pub async fn open(url: &str, pool: PoolSettings) -> Result<Self, DbErr> {
        let db = connect(url, pool).await?;
        migrate(&db).await?;
        Ok(Self::new(db))
    }

    /// Whether the access cache serves from memory now: it is on and learns of other
    /// instances' writes (the notification connection is up, or the SQLite change counter reads).
    #[must_use]
    pub fn access_cache_is_live(&self) -> bool {
        self.cache.is_live()
    }

    /// Which database this is.
    #[must_use]
    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Whether the database answers.
    ///
    /// # Errors
    /// It does not.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }

    /// The connection pool, for tests and tools that need raw access.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }
}
