//! The writes of a transaction sent in one round trip: on PostgreSQL as one statement (each
//! write a data-modifying `WITH` query), on SQLite as one call of several statements (SQLite's
//! driver binds the values of each in turn). The hot paths of the usage ledger write this way:
//! under load, a round trip costs far more than the statement it carries.
//!
//! Every part is an `INSERT`, `UPDATE` or `DELETE` with `?` placeholders that changes rows no
//! other part of the same `Writes` changes (PostgreSQL runs them against one snapshot). SQLite
//! runs them in order; PostgreSQL in an order of its own, but the same for the same parts, so
//! that statements that take row locks of the same tables (each part in key order) take them in
//! the same order.

use std::fmt::Write as _;

use sea_orm::{ConnectionTrait as _, DatabaseTransaction, DbBackend, DbErr, QueryResult, Value};

use crate::transaction::raw;

/// Writes to send together.
#[derive(Debug)]
pub(crate) struct Writes {
    backend: DbBackend,
    parts: Vec<(String, Vec<Value>)>,
    /// The part whose returned rows are counted (PostgreSQL; SQLite returns none).
    counted: Option<usize>,
    /// Parts that are queries, run on PostgreSQL only because the statement reads them.
    queries: Vec<usize>,
}

/// What a [`Writes`] returned.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Written {
    /// Rows returned by the counted part (PostgreSQL).
    pub counted: u64,
    /// The value of the last part's `RETURNING n` (SQLite's change counter).
    pub counter: Option<i64>,
}

impl Writes {
    pub(crate) fn new(backend: DbBackend) -> Self {
        Self { backend, parts: Vec::new(), counted: None, queries: Vec::new() }
    }

    pub(crate) fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Adds a write.
    pub(crate) fn push(&mut self, sql: String, values: impl IntoIterator<Item = Value>) {
        self.parts.push((sql, values.into_iter().collect()));
    }

    /// Adds a write whose returned rows [`Written::counted`] counts (PostgreSQL).
    pub(crate) fn push_counted(&mut self, sql: String, values: impl IntoIterator<Item = Value>) {
        self.counted = Some(self.parts.len());
        self.push(sql, values);
    }

    /// Adds a query run for its effect (PostgreSQL: `SELECT pg_notify(...)`).
    pub(crate) fn push_query(&mut self, sql: String, values: impl IntoIterator<Item = Value>) {
        self.queries.push(self.parts.len());
        self.push(sql, values);
    }

    /// Runs every write, in order, in one round trip.
    pub(crate) async fn run(self, txn: &DatabaseTransaction) -> Result<Written, DbErr> {
        if self.parts.is_empty() {
            return Ok(Written::default());
        }
        if self.backend == DbBackend::Sqlite {
            let (sql, values) = self.into_script();
            let rows = txn.query_all_raw(raw(DbBackend::Sqlite, &sql, values)).await?;
            return Ok(Written { counted: 0, counter: counter(&rows) });
        }
        let mut sql = String::from("WITH ");
        let mut values = Vec::new();
        for (n, (part, part_values)) in self.parts.into_iter().enumerate() {
            let comma = if n > 0 { ", " } else { "" };
            let _ = write!(sql, "{comma}w{n} AS ({part})");
            values.extend(part_values);
        }
        let counted = self.counted.map_or("0".to_owned(), |n| format!("(SELECT COUNT(*) FROM w{n})"));
        let _ = write!(sql, " SELECT CAST({counted} AS BIGINT) AS counted");
        for n in &self.queries {
            let _ = write!(sql, ", (SELECT COUNT(*) FROM w{n}) AS q{n}");
        }
        let row = txn.query_one_raw(raw(self.backend, &sql, values)).await?;
        let counted = row.map(|row| row.try_get::<i64>("", "counted")).transpose()?.unwrap_or(0);
        Ok(Written { counted: u64::try_from(counted).unwrap_or(0), counter: None })
    }

    /// On SQLite, the statements, in order, and their values: one script for one call.
    pub(crate) fn into_script(self) -> (String, Vec<Value>) {
        debug_assert_eq!(self.backend, DbBackend::Sqlite, "PostgreSQL runs one statement");
        let (mut parts, mut values) = (Vec::with_capacity(self.parts.len()), Vec::new());
        for (part, part_values) in self.parts {
            parts.push(part);
            values.extend(part_values);
        }
        (parts.join(";\n"), values)
    }
}

/// SQLite's change counter, returned by the last of `rows` (see [`Written::counter`]).
pub(crate) fn counter(rows: &[QueryResult]) -> Option<i64> {
    rows.last().and_then(|row| row.try_get::<i64>("", "n").ok())
}
