//! Write transactions and error translation shared by the adapters.

use roster_domain::{StoreError, UnexpectedError};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqlErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait as _,
};

/// Begins a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so a transaction never fails half-way because another wrote after it
/// read; other writers wait up to the busy timeout. PostgreSQL ignores the mode.
pub(crate) async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Whether `error` is a unique-constraint violation, on any backend.
pub(crate) fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// A database failure no caller can act on.
pub(crate) fn unexpected(error: DbErr) -> StoreError {
    StoreError::Unexpected(UnexpectedError::new(error))
}

/// A stored value the domain refuses: the database holds something we never wrote.
pub(crate) fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(UnexpectedError::new(format!("corrupt {what} in the database: {error}")))
}
