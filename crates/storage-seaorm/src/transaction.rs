//! Write transactions and error translation shared by the adapters.

use std::fmt::Write as _;
use std::ops::Deref;
use std::sync::Arc;

use futures::TryStreamExt as _;
use roster_domain::{StoreError, UnexpectedError};
use sea_orm::sqlx::sqlite::SqliteConnection;
use sea_orm::sqlx::{AssertSqlSafe, ConnectOptions as _, Either, Executor as _};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, QueryResult, RuntimeErr, SqlErr, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait as _, Value,
};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Store;
use crate::cache::{AccessCache, Changed, sync};
use crate::writes::{Writes, Written, counter};

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
    ///
    /// A request's commit runs in a task of its own: were the request cancelled while its
    /// commit is under way, the commit would go on in the database while this instance, which
    /// ignores its own notifications, never forgot what it changed. (The metering batches run
    /// in a task of their own already, which no request cancels.)
    pub(crate) async fn commit_written(self, written: Written, changed: Changed<'_>) -> Result<(), DbErr> {
        let Self { txn, cache, _turn: turn } = self;
        // What `changed` says, owned by the task: `None` for anything.
        let users = match changed {
            Changed::Metered(_) => {
                let committed = txn.commit().await;
                cache.after_commit(committed.is_ok(), written.counter, changed);
                return committed;
            }
            Changed::Nothing => Some(Vec::new()),
            Changed::Budgets(users) => Some(users.to_vec()),
            Changed::Anything => None,
        };
        let commit = tokio::spawn(async move {
            let committed = txn.commit().await;
            let changed = users.as_deref().map_or(Changed::Anything, Changed::Budgets);
            cache.after_commit(committed.is_ok(), written.counter, changed);
            drop(turn);
            committed
        });
        commit.await.map_err(|error| DbErr::Custom(format!("a commit's task failed: {error}")))?
    }
}

/// On SQLite, a write transaction sent to the driver in two calls: `BEGIN IMMEDIATE` with the
/// transaction's reads, then its writes with `COMMIT`. Each call to SQLite's driver is a hop to
/// the thread of its connection and back, which under load costs far more than the statements
/// it carries; a [`WriteTxn`] makes one per statement, and one each to begin and to commit.
///
/// It runs on a connection of its own, out of the pool ([`SqliteWriter`]): a pooled connection
/// that another wrote through since its last use drops its page cache and reads every page it
/// needs again (the pool hands out the connection idle the longest), and prepares its statements
/// again once they fell out of its cache. The group commit of the usage ledger writes this way.
///
/// Dropped without [`commit`](Self::commit) (or when a rollback failed), its connection is
/// closed, which rolls back whatever it holds.
#[derive(Debug)]
pub(crate) struct SqliteWrite {
    /// Always there until dropped.
    conn: Option<SqliteConnection>,
    home: Arc<SqliteWriter>,
    cache: AccessCache,
    /// Whether a transaction may be open on the connection.
    open: bool,
    _turn: OwnedSemaphorePermit,
}

/// Statements the connection of [`SqliteWrite`]s keeps prepared.
const WRITER_STATEMENTS: usize = 1024;

/// The connection of [`SqliteWrite`]s, opened at the first and kept between them.
#[derive(Debug, Default)]
pub(crate) struct SqliteWriter(std::sync::Mutex<Option<SqliteConnection>>);

impl SqliteWriter {
    fn slot(&self) -> std::sync::MutexGuard<'_, Option<SqliteConnection>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store {
    /// Takes this process's turn to write, begins a transaction on SQLite and runs `reads` in
    /// it, in order, in the same call; returns the rows of each.
    pub(crate) async fn begin_sqlite_write(
        &self,
        reads: Vec<Statement>,
    ) -> Result<(SqliteWrite, Vec<Vec<QueryResult>>), DbErr> {
        let Some(writers) = &self.writers else {
            return Err(DbErr::Custom("a SQLite transaction asked of another database".to_owned()));
        };
        let turn = writers.clone().acquire_owned().await.expect("the writers' queue is never closed");
        let kept = self.sqlite_writer.slot().take();
        let conn = match kept {
            Some(conn) => conn,
            None => {
                let options = self.db.get_sqlite_connection_pool().connect_options();
                // Room for the statements of every batch's form (see `listed`).
                let options = (*options).clone().statement_cache_capacity(WRITER_STATEMENTS);
                options.connect().await.map_err(sqlx_error)?
            }
        };
        let mut txn = SqliteWrite {
            conn: Some(conn),
            home: self.sqlite_writer.clone(),
            cache: self.cache.clone(),
            open: true,
            _turn: turn,
        };
        let mut script = String::from("BEGIN IMMEDIATE");
        let mut values = Vec::new();
        for read in reads {
            script.push_str(";\n");
            script.push_str(&read.sql);
            values.extend(read.values.map(|values| values.0).unwrap_or_default());
        }
        match txn.run(script, values).await {
            Ok(mut results) => {
                results.remove(0);
                Ok((txn, results))
            }
            Err(error) => {
                txn.roll_back().await;
                Err(error)
            }
        }
    }
}

impl SqliteWrite {
    /// Runs `writes`, what the transaction `changed` (see [`WriteTxn::commit_changed`]) and
    /// `COMMIT` in one call; then gives the turn to the next writer.
    pub(crate) async fn commit(mut self, mut writes: Writes, changed: Changed<'_>) -> Result<(), DbErr> {
        sync::announce(&mut writes, &self.cache, changed);
        let (mut script, values) = writes.into_script();
        if !script.is_empty() {
            script.push_str(";\n");
        }
        script.push_str("COMMIT");
        let committed = self.run(script, values).await;
        let counter = match &committed {
            Ok(results) => {
                self.open = false;
                results.iter().rev().find_map(|rows| counter(rows))
            }
            Err(_) => {
                self.roll_back().await;
                None
            }
        };
        self.cache.after_commit(committed.is_ok(), counter, changed);
        committed.map(drop)
    }

    /// Runs the statements of `script` with `values` (bound in turn); the rows of each.
    async fn run(&mut self, script: String, values: Vec<Value>) -> Result<Vec<Vec<QueryResult>>, DbErr> {
        let query = sea_orm::sqlx::query_with(AssertSqlSafe(script), SqlxValues(sea_orm::sea_query::Values(values)));
        let conn = self.conn.as_mut().expect("there until dropped");
        let mut stream = conn.fetch_many(query);
        let (mut results, mut rows) = (Vec::new(), Vec::new());
        while let Some(item) = stream.try_next().await.map_err(sqlx_error)? {
            match item {
                Either::Right(row) => rows.push(QueryResult::from(row)),
                // The end of a statement.
                Either::Left(_) => results.push(std::mem::take(&mut rows)),
            }
        }
        Ok(results)
    }

    /// Rolls back what the connection holds; if that fails, the connection is closed when
    /// dropped.
    async fn roll_back(&mut self) {
        let conn = self.conn.as_mut().expect("there until dropped");
        if conn.execute("ROLLBACK").await.is_ok() {
            self.open = false;
        }
    }
}

impl Drop for SqliteWrite {
    fn drop(&mut self) {
        match self.conn.take() {
            Some(conn) if !self.open => *self.home.slot() = Some(conn),
            // Closed, which rolls back; the next transaction opens another.
            _ => {}
        }
    }
}

fn sqlx_error(error: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
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

/// The database's own code for the failure `error` wraps, if any (SQLSTATE on PostgreSQL).
fn database_code(error: &StoreError) -> Option<String> {
    let StoreError::Unexpected(error) = error else { return None };
    let (DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error))) =
        error.get_ref().downcast_ref::<DbErr>()?
    else {
        return None;
    };
    match &**error {
        sea_orm::sqlx::Error::Database(error) => error.code().map(std::borrow::Cow::into_owned),
        _ => None,
    }
}

/// Whether `error` is PostgreSQL's way out of a deadlock: this transaction was chosen to fail,
/// and runs again as it would have alone.
pub(crate) fn is_deadlock(error: &StoreError) -> bool {
    database_code(error).as_deref() == Some("40P01")
}

/// Whether `error` is a foreign key violated on PostgreSQL: a row referred to (a user) was
/// deleted since the transaction read it.
pub(crate) fn is_foreign_key_violation(error: &StoreError) -> bool {
    database_code(error).as_deref() == Some("23503")
}

/// Runs the transaction `attempt` again when it failed with an error for which `again` holds
/// (a deadlock PostgreSQL broke by failing it, which rolled it back whole), three attempts in
/// all; `what` names it in the log.
pub(crate) async fn with_attempts<T, Fut>(
    what: &str,
    again: impl Fn(&StoreError) -> bool,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, StoreError>
where
    Fut: Future<Output = Result<T, StoreError>>,
{
    for _ in 1..3 {
        match attempt().await {
            Err(error) if again(&error) => tracing::warn!(%error, "{what} failed; running it again"),
            done => return done,
        }
    }
    attempt().await
}

/// A database failure no caller can act on.
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
    use crate::testing::{on_postgres, on_sqlite};

    fn statement(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
        raw(DbBackend::Sqlite, sql, values)
    }

    /// Creates the test table `numbers` holding `rows` (e.g. `(1), (2)`).
    async fn create_numbers(store: &Store, rows: &str) {
        let sql = format!("CREATE TABLE numbers (n BIGINT PRIMARY KEY); INSERT INTO numbers VALUES {rows}");
        store.connection().execute_unprepared(&sql).await.unwrap();
    }

    /// The numbers stored in the test table, read through the pool.
    async fn stored(store: &Store) -> Vec<i64> {
        let rows = store.connection().query_all_raw(statement("SELECT n FROM numbers ORDER BY n", [])).await.unwrap();
        rows.iter().map(|row| row.try_get::<i64>("", "n").unwrap()).collect()
    }

    #[tokio::test]
    async fn a_sqlite_write_answers_each_read_then_commits_its_writes_and_keeps_its_connection() {
        on_sqlite(|db| async move {
            let store = &db.store;
            create_numbers(store, "(1), (2), (3)").await;
            let reads = vec![
                statement("SELECT n FROM numbers WHERE n >= ? ORDER BY n", [2i64.into()]),
                statement("SELECT n FROM numbers WHERE n > ?", [9i64.into()]),
                statement("DELETE FROM numbers WHERE n = ? RETURNING n", [1i64.into()]),
            ];
            let (txn, results) = store.begin_sqlite_write(reads).await.unwrap();
            let numbers = |rows: &Vec<QueryResult>| -> Vec<i64> {
                rows.iter().map(|row| row.try_get::<i64>("", "n").unwrap()).collect()
            };
            assert_eq!(results.iter().map(numbers).collect::<Vec<_>>(), [vec![2, 3], vec![], vec![1]]);
            let mut writes = Writes::new(DbBackend::Sqlite);
            writes.push("INSERT INTO numbers VALUES (?)".to_owned(), [7i64.into()]);
            writes.push("UPDATE numbers SET n = n * 10 WHERE n = ?".to_owned(), [3i64.into()]);
            txn.commit(writes, Changed::Nothing).await.unwrap();
            assert_eq!(stored(store).await, [2, 7, 30]);
            assert!(store.sqlite_writer.slot().is_some(), "the connection is kept for the next transaction");
        })
        .await;
    }

    /// `synchronous=FULL` (2): a commit is on disk before it is acknowledged.
    #[tokio::test]
    async fn every_sqlite_connection_syncs_each_commit_to_disk() {
        on_sqlite(|db| async move {
            let pragma = || statement("PRAGMA synchronous", []);
            let pooled = db.store.connection().query_one_raw(pragma()).await.unwrap().unwrap();
            assert_eq!(pooled.try_get_by_index::<i64>(0).unwrap(), 2);
            let (txn, results) = db.store.begin_sqlite_write(vec![pragma()]).await.unwrap();
            assert_eq!(results[0][0].try_get_by_index::<i64>(0).unwrap(), 2);
            txn.commit(Writes::new(DbBackend::Sqlite), Changed::Nothing).await.unwrap();
        })
        .await;
    }

    #[tokio::test]
    async fn a_failed_sqlite_write_leaves_nothing_and_the_next_one_writes() {
        on_sqlite(|db| async move {
            let store = &db.store;
            create_numbers(store, "(1)").await;
            // The writes fail half-way: the first is rolled back with them.
            let (txn, _) = store.begin_sqlite_write(Vec::new()).await.unwrap();
            let mut writes = Writes::new(DbBackend::Sqlite);
            writes.push("INSERT INTO numbers VALUES (?)".to_owned(), [2i64.into()]);
            writes.push("INSERT INTO numbers VALUES (?)".to_owned(), [1i64.into()]);
            let error = txn.commit(writes, Changed::Nothing).await.unwrap_err();
            assert!(is_unique_violation(&error), "{error}");
            assert_eq!(stored(store).await, [1]);
            assert!(store.sqlite_writer.slot().is_some(), "rolled back, the connection is kept");
            // A read that fails: rolled back too.
            let failed = store.begin_sqlite_write(vec![statement("SELECT * FROM no_such_table", [])]).await;
            assert!(failed.is_err());
            assert!(store.sqlite_writer.slot().is_some(), "rolled back, the connection is kept");
            // Dropped without commit: rolled back, its connection closed.
            let (txn, _) = store.begin_sqlite_write(Vec::new()).await.unwrap();
            drop(txn);
            assert!(store.sqlite_writer.slot().is_none(), "a connection that may hold a transaction is not kept");
            // Neither the pool's writers nor the next transaction wait for any of them.
            let pooled = store.begin_write().await.unwrap();
            pooled.execute_unprepared("INSERT INTO numbers VALUES (5)").await.unwrap();
            pooled.commit().await.unwrap();
            let (txn, _) = store.begin_sqlite_write(Vec::new()).await.unwrap();
            let mut writes = Writes::new(DbBackend::Sqlite);
            writes.push("INSERT INTO numbers VALUES (?)".to_owned(), [6i64.into()]);
            txn.commit(writes, Changed::Nothing).await.unwrap();
            assert_eq!(stored(store).await, [1, 5, 6]);
        })
        .await;
    }

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
