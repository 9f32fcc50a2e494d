//! Lists of values in a statement whose text does not depend on how many there are, on
//! PostgreSQL: each listed column is one array parameter (written as an array literal and cast,
//! e.g. `CAST(? AS uuid[])`), read with `= ANY(...)` or `unnest(...)`, so that each statement is
//! prepared and planned once per connection instead of once per length (a prepare is a round
//! trip, and planning a long `VALUES` list costs more than running it), and its generic plan
//! uses the indexes as a `VALUES` list would. On SQLite the list is a parameter per value, in a
//! power of two of slots (the last value repeated, or rows of NULLs filtered out), so that a
//! statement takes one of a few texts, each prepared once per connection: prepared again for
//! every length, a batch's statements had cost the SQLite writer a fifth of its time parsing.

use chrono::NaiveDate;
use roster_domain::Timestamp;
use sea_orm::{DbBackend, Value};

/// A value of a listed row.
#[derive(Debug, Clone)]
pub(crate) enum Cell {
    Uuid(uuid::Uuid),
    Int(i64),
    OptionalInt(Option<i64>),
    SmallInt(i16),
    Text(String),
    Time(Timestamp),
    Day(NaiveDate),
}

impl Cell {
    fn value(&self) -> Value {
        match self {
            Self::Uuid(id) => (*id).into(),
            Self::Int(n) => (*n).into(),
            Self::OptionalInt(n) => (*n).into(),
            Self::SmallInt(n) => (*n).into(),
            Self::Text(text) => text.as_str().into(),
            Self::Time(at) => (*at).into(),
            Self::Day(day) => (*day).into(),
        }
    }

    /// Appends this value as an element of a PostgreSQL array literal.
    fn write_element(&self, out: &mut String) {
        use std::fmt::Write as _;
        let _ = match self {
            Self::Uuid(id) => write!(out, "{id}"),
            Self::Int(n) | Self::OptionalInt(Some(n)) => write!(out, "{n}"),
            Self::OptionalInt(None) => write!(out, "NULL"),
            Self::SmallInt(n) => write!(out, "{n}"),
            Self::Text(text) => {
                // Quoted, with `"` and `\` escaped: any text is one element.
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
                Ok(())
            }
            // Microseconds, truncated, as the driver binds an instant.
            Self::Time(at) => write!(out, "\"{}\"", at.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            Self::Day(day) => write!(out, "{day}"),
        };
    }
}

/// The PostgreSQL array literal of `cells`, e.g. `{1,2,NULL}`.
fn array_literal<'c>(cells: impl Iterator<Item = &'c Cell>) -> String {
    let mut literal = String::from("{");
    for (n, cell) in cells.enumerate() {
        if n > 0 {
            literal.push(',');
        }
        cell.write_element(&mut literal);
    }
    literal.push('}');
    literal
}

/// Rows to list in a statement: their columns, as `(name, PostgreSQL type)`.
#[derive(Debug)]
pub(crate) struct Listed<'a> {
    columns: &'a [(&'a str, &'a str)],
    rows: Vec<Vec<Cell>>,
}

impl<'a> Listed<'a> {
    pub(crate) fn new(columns: &'a [(&'a str, &'a str)]) -> Self {
        Self { columns, rows: Vec::new() }
    }

    /// Adds a row; its cells in the order of the columns.
    pub(crate) fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// A `FROM` item named `name` with the listed rows, whose values are appended to `values`.
    pub(crate) fn table(&self, backend: DbBackend, name: &str, values: &mut Vec<Value>) -> String {
        if backend == DbBackend::Postgres {
            let mut arrays = Vec::with_capacity(self.columns.len());
            for (n, (_, ty)) in self.columns.iter().enumerate() {
                values.push(array_literal(self.rows.iter().map(|row| &row[n])).into());
                arrays.push(format!("CAST(? AS {ty}[])"));
            }
            let names: Vec<&str> = self.columns.iter().map(|(column, _)| *column).collect();
            return format!("unnest({}) AS {name}({})", arrays.join(", "), names.join(", "));
        }
        let aliases: Vec<String> =
            self.columns.iter().enumerate().map(|(n, (column, _))| format!("column{} AS {column}", n + 1)).collect();
        let row = format!("({})", vec!["?"; self.columns.len()].join(", "));
        let slots = sqlite_slots(self.rows.len());
        let rows = vec![row.as_str(); slots].join(", ");
        values.extend(self.rows.iter().flatten().map(Cell::value));
        // The slots beyond the rows: rows of NULLs, filtered out.
        values.extend((0..(slots - self.rows.len()) * self.columns.len()).map(|_| Value::BigInt(None)));
        format!("(SELECT {} FROM (VALUES {rows}) WHERE column1 IS NOT NULL) AS {name}", aliases.join(", "))
    }

    /// `INSERT INTO table (the columns) SELECT ... FROM the rows` followed by `tail` (an
    /// `ON CONFLICT` clause, `RETURNING`), with its values.
    pub(crate) fn insert(&self, backend: DbBackend, table: &str, tail: &str) -> (String, Vec<Value>) {
        let mut values = Vec::new();
        let source = self.table(backend, "listed", &mut values);
        let columns: Vec<&str> = self.columns.iter().map(|(column, _)| *column).collect();
        let columns = columns.join(", ");
        // `WHERE true`: SQLite reads `ON CONFLICT` after a bare `FROM` as a join constraint.
        (format!("INSERT INTO {table} ({columns}) SELECT {columns} FROM {source} WHERE true {tail}"), values)
    }
}

/// `column IN (ids, and the ids that the query `also` returns)`, whose values are appended to
/// `values` (those of `ids`, then those `also` appends). On PostgreSQL the set is one array
/// (`= ANY(array || ARRAY(also))`), which the planner can only look up in an index on `column`,
/// however few rows its statistics say the table has: a join of the same set may be planned as
/// a scan of the whole table, and stay so in a prepared statement's plan while the table grows.
pub(crate) fn uuid_in_or(
    backend: DbBackend,
    column: &str,
    ids: impl IntoIterator<Item = uuid::Uuid>,
    values: &mut Vec<Value>,
    also: impl FnOnce(&mut Vec<Value>) -> String,
) -> String {
    let ids: Vec<Cell> = ids.into_iter().map(Cell::Uuid).collect();
    if backend == DbBackend::Postgres {
        values.push(array_literal(ids.iter()).into());
        return format!("{column} = ANY(CAST(? AS uuid[]) || ARRAY({}))", also(values));
    }
    let rows = if ids.is_empty() {
        "SELECT NULL WHERE 0".to_owned()
    } else {
        let slots = sqlite_slots(ids.len());
        values.extend(padded(&ids, slots));
        format!("VALUES {}", vec![format!("({UNESTIMATED})"); slots].join(", "))
    };
    format!("{column} IN ({rows} UNION ALL {})", also(values))
}

/// `column IN (...)` for `ids`, whose values are appended to `values`.
pub(crate) fn uuid_in(
    backend: DbBackend,
    column: &str,
    ids: impl IntoIterator<Item = uuid::Uuid>,
    values: &mut Vec<Value>,
) -> String {
    cells_in(backend, column, "uuid", ids.into_iter().map(Cell::Uuid).collect(), values)
}

/// `column IN (...)` for `texts`, whose values are appended to `values`.
pub(crate) fn text_in<'t>(
    backend: DbBackend,
    column: &str,
    texts: impl IntoIterator<Item = &'t str>,
    values: &mut Vec<Value>,
) -> String {
    cells_in(backend, column, "text", texts.into_iter().map(|text| Cell::Text(text.to_owned())).collect(), values)
}

/// `column IN (...)` for `cells` of the PostgreSQL type `ty`, whose values are appended to `values`.
fn cells_in(backend: DbBackend, column: &str, ty: &str, cells: Vec<Cell>, values: &mut Vec<Value>) -> String {
    if backend == DbBackend::Postgres {
        values.push(array_literal(cells.iter()).into());
        return format!("{column} = ANY(CAST(? AS {ty}[]))");
    }
    if cells.is_empty() {
        return "1 = 0".to_owned();
    }
    let slots = sqlite_slots(cells.len());
    values.extend(padded(&cells, slots));
    format!("{column} IN ({})", vec![UNESTIMATED; slots].join(", "))
}

/// A value compared to an indexed column, on SQLite: `+?` is the value bound, but the planner
/// does not look it up in the index's statistics. The bundled SQLite is built with STAT4, and a
/// statement whose plan read a bound value from them is prepared again whenever that value
/// changes (a tenth of the SQLite writer's time, when lists were `?`).
pub(crate) const UNESTIMATED: &str = "+?";

/// How many values a list of `n` takes on SQLite: the next power of two, so that a statement's
/// text takes one of a few forms, which the connection keeps prepared (parsing a statement
/// again for every length had taken a fifth of the SQLite writer's time).
fn sqlite_slots(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// The values of `cells` (at least one), the last repeated up to `slots`: the same set.
fn padded(cells: &[Cell], slots: usize) -> impl Iterator<Item = Value> + '_ {
    let last = cells.last().expect("a value to repeat");
    cells.iter().chain(std::iter::repeat_n(last, slots - cells.len())).map(Cell::value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_array_literal_keeps_every_text_one_element() {
        let cells = [Cell::Text(r#"a"b\c,{d} e'f"#.to_owned()), Cell::Text(String::new()), Cell::OptionalInt(None)];
        assert_eq!(array_literal(cells.iter()), r#"{"a\"b\\c,{d} e'f","",NULL}"#);
    }

    #[test]
    fn a_set_with_a_subquery_is_one_array_on_postgresql_and_one_union_on_sqlite() {
        let id = uuid::Uuid::nil();
        let also = |values: &mut Vec<Value>| {
            values.push(Value::from(7));
            "SELECT x FROM t WHERE n = ?".to_owned()
        };
        let mut values = Vec::new();
        let sql = uuid_in_or(DbBackend::Postgres, "id", [id, id], &mut values, also);
        assert_eq!(sql, "id = ANY(CAST(? AS uuid[]) || ARRAY(SELECT x FROM t WHERE n = ?))");
        assert_eq!(values, vec![Value::from(format!("{{{id},{id}}}")), Value::from(7)]);
        let mut values = Vec::new();
        let sql = uuid_in_or(DbBackend::Sqlite, "id", [id, id], &mut values, also);
        assert_eq!(sql, "id IN (VALUES (+?), (+?) UNION ALL SELECT x FROM t WHERE n = ?)");
        assert_eq!(values, vec![Value::from(id), Value::from(id), Value::from(7)]);
        let mut values = Vec::new();
        let sql = uuid_in_or(DbBackend::Sqlite, "id", [], &mut values, also);
        assert_eq!(sql, "id IN (SELECT NULL WHERE 0 UNION ALL SELECT x FROM t WHERE n = ?)");
        assert_eq!(values, vec![Value::from(7)]);
    }

    #[test]
    fn an_empty_list_matches_nothing() {
        let mut values = Vec::new();
        assert_eq!(uuid_in(DbBackend::Sqlite, "id", [], &mut values), "1 = 0");
        assert_eq!(uuid_in(DbBackend::Postgres, "id", [], &mut values), "id = ANY(CAST(? AS uuid[]))");
        assert_eq!(values, vec![Value::from("{}")]);
    }

    #[test]
    fn sqlite_lists_take_a_power_of_two_of_slots_so_that_few_texts_are_prepared() {
        let ids: Vec<uuid::Uuid> = (1..=3).map(uuid::Uuid::from_u128).collect();
        let mut values = Vec::new();
        assert_eq!(uuid_in(DbBackend::Sqlite, "id", ids.clone(), &mut values), "id IN (+?, +?, +?, +?)");
        let repeated: Vec<Value> = [1, 2, 3, 3].map(|n| Value::from(uuid::Uuid::from_u128(n))).to_vec();
        assert_eq!(values, repeated, "the last id again: the same set");
        let mut values = Vec::new();
        let none = |_: &mut Vec<Value>| "SELECT NULL WHERE 0".to_owned();
        let sql = uuid_in_or(DbBackend::Sqlite, "id", ids.clone(), &mut values, none);
        assert_eq!(sql, "id IN (VALUES (+?), (+?), (+?), (+?) UNION ALL SELECT NULL WHERE 0)");
        assert_eq!(values, repeated);

        let mut listed = Listed::new(&[("id", "uuid"), ("n", "bigint")]);
        for (n, id) in ids.iter().enumerate() {
            listed.push(vec![Cell::Uuid(*id), Cell::Int(n as i64)]);
        }
        let mut values = Vec::new();
        let table = listed.table(DbBackend::Sqlite, "t", &mut values);
        assert_eq!(
            table,
            "(SELECT column1 AS id, column2 AS n FROM (VALUES (?, ?), (?, ?), (?, ?), (?, ?)) WHERE column1 IS NOT NULL) AS t"
        );
        assert_eq!(&values[6..], [Value::BigInt(None), Value::BigInt(None)], "a row of NULLs, filtered out");
        let sizes = (1..=128).map(sqlite_slots).collect::<std::collections::BTreeSet<_>>();
        assert_eq!(sizes.into_iter().collect::<Vec<_>>(), [1, 2, 4, 8, 16, 32, 64, 128]);
    }

    #[test]
    fn texts_are_listed_like_ids() {
        let mut values = Vec::new();
        assert_eq!(text_in(DbBackend::Postgres, "k", ["a,b", "c"], &mut values), "k = ANY(CAST(? AS text[]))");
        assert_eq!(values, vec![Value::from(r#"{"a,b","c"}"#)]);
        let mut values = Vec::new();
        assert_eq!(text_in(DbBackend::Sqlite, "k", ["a,b", "c"], &mut values), "k IN (+?, +?)");
        assert_eq!(values, vec![Value::from("a,b"), Value::from("c")]);
    }
}
