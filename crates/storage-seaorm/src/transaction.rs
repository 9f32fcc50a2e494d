//! Write transactions and error translation shared by the adapters.

use roster_domain::{StoreError, UnexpectedError};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, SqlErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait as _, Value,
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

/// A raw statement written with `?` placeholders, numbered `$1, $2, ...` for PostgreSQL.
pub(crate) fn raw(backend: DbBackend, sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    let sql = if backend == DbBackend::Postgres {
        let mut numbered = String::with_capacity(sql.len() + 8);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                numbered.push_str(&format!("${n}"));
            } else {
                numbered.push(c);
            }
        }
        numbered
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
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
