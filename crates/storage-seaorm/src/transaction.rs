//! Write transactions and error translation shared by the adapters.

use std::fmt::Write as _;
use std::ops::Deref;
use std::sync::Arc;

use roster_domain::{StoreError, UnexpectedError};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, RuntimeErr, SqlErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait as _, Value,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Store;
use crate::cache::{AccessCache, Changed, sync};
use crate::writes::{Writes, Written};

/// A write transaction and, on SQLite, this process's turn to write.
///
/// SQLite has one writer at a time. Without a turn, every pooled connection that wants to write
/// would try `BEGIN IMMEDIATE`, find the lock taken, sleep and try again (the busy timeout):
/// under load most of the time goes to sleeping, and a writer may be overtaken for seconds.
/// Taking turns in the process (a fair, first-come first-served queue) before `BEGIN IMMEDIATE`
/// keeps the database lock busy without waiting in it. Correctness still rests on SQLite's lock
/// alone (another process writing the same file is serialised by it as before).
///
/// Its commit tells the caches of every instance what it changed (see [`crate::cache`]).
#[derive(Debug)]
pub(crate) struct WriteTxn {
    txn: DatabaseTransaction,
    cache: AccessCache,
    _turn: Option<OwnedSemaphorePermit>,
}

impl Deref for WriteTxn {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl WriteTxn {
    /// Commits a change that may have changed anything cached, then gives the turn to the next
    /// writer.
    pub(crate) async fn commit(self) -> Result<(), DbErr> {
        self.commit_changed(Changed::Anything).await
    }

    /// Commits what `changed` says this transaction changed: other instances learn of it from
    /// the database (in the same transaction), and this store's cache forgets it once
    /// committed. Then gives the turn to the next writer.
    pub(crate) async fn commit_changed(self, changed: Changed<'_>) -> Result<(), DbErr> {
        let backend = sea_orm::ConnectionTrait::get_database_backend(&self.txn);
        let written = self.write(Writes::new(backend), changed).await?;
        self.commit_written(written, changed).await
    }

    /// Runs `writes` and the announcement of what the transaction `changed` (see
    /// [`commit_changed`](Self::commit_changed)) in one round trip; then commit with
    /// [`commit_written`](Self::commit_written), or drop to roll back.
    pub(crate) async fn write(&self, mut writes: Writes, changed: Changed<'_>) -> Result<Written, DbErr> {
        sync::announce(&mut writes, &self.cache, changed);
        writes.run(&self.txn).await
    }

    /// Commits a transaction whose changes [`write`](Self::write) announced; this store's cache
    /// forgets them once committed. Then gives the turn to the next writer.
    pub(crate) async fn commit_written(self, written: Written, changed: Changed<'_>) -> Result<(), DbErr> {
        let committed = self.txn.commit().await;
        if let (Ok(()), Some(counter)) = (&committed, written.counter) {
            // Still during this process's write turn, as the change counter's poll requires.
            self.cache.counter().store(counter, std::sync::atomic::Ordering::Release);
        }
        // Also when the commit failed: it may have committed all the same.
        self.cache.invalidate(changed);
        committed
    }
}

/// The turns of this process's writers on a SQLite database (`None` on PostgreSQL, which has
/// row locks).
pub(crate) fn writers_for(db: &DatabaseConnection) -> Option<Arc<Semaphore>> {
    (db.get_database_backend() == DbBackend::Sqlite).then(|| Arc::new(Semaphore::new(1)))
}

impl Store {
    /// Begins a write transaction (see [`begin_write`]), after this process's turn on SQLite.
    pub(crate) async fn begin_write(&self) -> Result<WriteTxn, DbErr> {
        let turn = match &self.writers {
            Some(writers) => Some(writers.clone().acquire_owned().await.expect("the writers' queue is never closed")),
            None => None,
        };
        Ok(WriteTxn { txn: begin_write(&self.db).await?, cache: self.cache.clone(), _turn: turn })
    }
}

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
                let _ = write!(numbered, "${n}");
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

/// `INSERT INTO table (columns) VALUES row, row, ...` with `rows` copies of `row` (its
/// placeholders, such as `(?, ?, CAST(? AS jsonb))`), then `tail`: the statement for many rows
/// whose values are bound in order, without building a query tree for each.
pub(crate) fn insert_sql(table: &str, columns: &[&str], row: &str, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(64 + columns.len() * 16 + rows * (row.len() + 2) + tail.len());
    let _ = write!(sql, "INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for n in 0..rows {
        if n > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    if !tail.is_empty() {
        sql.push(' ');
        sql.push_str(tail);
    }
    sql
}

/// Whether `error` is a unique-constraint violation, on any backend.
pub(crate) fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// A database failure no caller can act on.
/// Whether `error` is PostgreSQL's way out of a deadlock: this transaction was chosen to fail,
/// and runs again as it would have alone.
pub(crate) fn is_deadlock(error: &StoreError) -> bool {
    let StoreError::Unexpected(error) = error else { return false };
    let Some(DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error))) =
        error.get_ref().downcast_ref::<DbErr>()
    else {
        return false;
    };
    matches!(&**error, sea_orm::sqlx::Error::Database(error) if error.code().as_deref() == Some("40P01"))
}

pub(crate) fn unexpected(error: DbErr) -> StoreError {
    StoreError::Unexpected(UnexpectedError::new(error))
}

/// A stored value the domain refuses: the database holds something we never wrote.
pub(crate) fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(UnexpectedError::new(format!("corrupt {what} in the database: {error}")))
}

#[cfg(test)]
mod tests {
    use sea_orm::ConnectionTrait as _;

    use super::*;
    use crate::testing::on_postgres;

    /// Two transactions that lock two rows in opposite orders: PostgreSQL fails one of them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deadlock_that_postgresql_breaks_is_told_from_other_errors() {
        on_postgres(|db| async move {
            let pool = db.store.connection();
            pool.execute_unprepared("CREATE TABLE pair (id INT PRIMARY KEY); INSERT INTO pair VALUES (1), (2)")
                .await
                .unwrap();
            let (a, b) = (begin_write(pool).await.unwrap(), begin_write(pool).await.unwrap());
            let touch = |id: i32| format!("UPDATE pair SET id = id WHERE id = {id}");
            a.execute_unprepared(&touch(1)).await.unwrap();
            b.execute_unprepared(&touch(2)).await.unwrap();
            let (two, one) = (touch(2), touch(1));
            let (second_a, second_b) = tokio::join!(a.execute_unprepared(&two), b.execute_unprepared(&one));
            let failed: Vec<StoreError> =
                [second_a, second_b].into_iter().filter_map(Result::err).map(unexpected).collect();
            assert_eq!(failed.len(), 1, "{failed:?}");
            assert!(is_deadlock(&failed[0]), "{}", failed[0]);
            let other = a.execute_unprepared("SELECT * FROM no_such_table").await.unwrap_err();
            assert!(!is_deadlock(&unexpected(other)));
            assert!(!is_deadlock(&StoreError::NotFound));
        })
        .await;
    }
}
