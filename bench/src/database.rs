//! Fresh benchmark databases, and fast synthetic users seeded with one SQL statement per batch.

use std::time::Instant;

use chrono::{DateTime, Utc};
use roster_domain::TenantId;
use sea_orm::{ConnectionTrait as _, Database, DatabaseConnection, DbBackend, Statement, Value};
use tempfile::TempDir;

use crate::{BoxError, DatabaseKind};

/// A database created for one run; [`drop_database`](Self::drop_database) removes it.
#[derive(Debug)]
pub struct BenchDatabase {
    /// What the application connects to.
    pub url: String,
    /// Keeps the SQLite file alive until the end of the run.
    _dir: Option<TempDir>,
    /// PostgreSQL: the administration URL and the database's name.
    postgres: Option<(String, String)>,
}

impl BenchDatabase {
    /// A fresh SQLite file in a temporary directory, or a fresh PostgreSQL database next to
    /// `postgres_admin_url`.
    pub async fn create(kind: DatabaseKind, postgres_admin_url: &str) -> Result<Self, BoxError> {
        match kind {
            DatabaseKind::Sqlite => {
                let dir = tempfile::Builder::new().prefix("roster-bench-").tempdir()?;
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("roster-bench.db").display());
                Ok(Self { url, _dir: Some(dir), postgres: None })
            }
            DatabaseKind::Postgres => {
                let name = format!("roster_bench_{:016x}", rand::random::<u64>());
                let admin = Database::connect(postgres_admin_url).await?;
                admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await?;
                admin.close().await?;
                let url = with_database(postgres_admin_url, &name)?;
                Ok(Self { url, _dir: None, postgres: Some((postgres_admin_url.to_owned(), name)) })
            }
        }
    }

    /// Drops the PostgreSQL database (even with connections left open); the SQLite directory goes
    /// when `self` is dropped.
    pub async fn drop_database(self) -> Result<(), BoxError> {
        if let Some((admin_url, name)) = &self.postgres {
            let admin = Database::connect(admin_url.as_str()).await?;
            admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await?;
            admin.close().await?;
            println!("dropped database {name}");
        }
        Ok(())
    }
}

/// `url` with its database (path) replaced by `name`, keeping any `?query`.
fn with_database(url: &str, name: &str) -> Result<String, BoxError> {
    let scheme_end = url.find("://").ok_or("the PostgreSQL URL has no scheme")? + 3;
    let (base, query) = match url.find('?') {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let authority_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    Ok(format!("{}/{name}{query}", &base[..authority_end]))
}

/// How the synthetic users are spread; every property is a deterministic function of the row
/// number `i` (1..=n), so both databases get the same data apart from the random ids.
#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    /// How many users.
    pub users: u64,
    /// `created_at` of user `i` is `start_micros + i * step_micros` (microseconds since the
    /// epoch): odd, strictly increasing, spread over the last two years.
    pub start_micros: i64,
    pub step_micros: i64,
    /// User `i` gets the email number `((i - 1) * multiplier) % n + 1`, a permutation of 1..=n,
    /// so email order is unrelated to creation order.
    pub multiplier: u64,
}

impl SeedPlan {
    pub fn new(users: u64, now: DateTime<Utc>) -> Self {
        let two_years: i64 = 2 * 365 * 24 * 3600 * 1_000_000;
        let users = users.max(1);
        let step = (two_years / users as i64).max(2) & !1; // even: keeps every timestamp odd
        let start = (now.timestamp_micros() - step * (users as i64 + 1)) | 1;
        let mut multiplier: u64 = 1_000_003; // prime: coprime with `users` unless it divides it
        while gcd(multiplier, users) != 1 {
            multiplier += 2;
        }
        Self { users, start_micros: start, step_micros: step, multiplier }
    }

    /// The email number of the user at row `i` (what the SQL computes).
    #[cfg(test)]
    fn email_number(&self, i: u64) -> u64 {
        ((i - 1) % self.users * (self.multiplier % self.users)) % self.users + 1
    }

    /// `i` is an administrator: exactly ten rows, spread evenly.
    fn administrator_stride(&self) -> u64 {
        (self.users / 10).max(1)
    }

    /// The columns of the row `i`, in SQL (both dialects): `e`, `role`, `status`, `referral`,
    /// `name`, `micros`.
    fn columns_sql(&self) -> String {
        let n = self.users;
        let m = self.multiplier % n;
        let stride = self.administrator_stride();
        let (start, step) = (self.start_micros, self.step_micros);
        format!(
            "((i - 1) * {m}) % {n} + 1 AS e, \
             CASE WHEN i % {stride} = 0 AND i / {stride} <= 10 THEN 'administrator' \
                  WHEN (i * 37) % 101 < 5 THEN 'collaborator' ELSE 'user' END AS role, \
             CASE WHEN (i * 53) % 103 < 3 THEN 'deactivated' \
                  WHEN (i * 53) % 103 < 5 THEN 'invited' ELSE 'active' END AS status, \
             CASE WHEN (i * 7) % 10007 = 0 THEN 'RARE' \
                  WHEN (i * 7) % 10007 <= 100 THEN 'SPRING' END AS referral, \
             (i * 11) % 13 = 0 AS nameless, \
             {start} + i * {step} AS micros"
        )
    }

    /// The `INSERT` of rows `first..=last` of the tenant bound as the single parameter.
    fn insert_sql(&self, backend: DbBackend, first: u64, last: u64) -> String {
        let columns = self.columns_sql();
        let target = "INSERT INTO users (id, tenant_id, email, name, phone, role, status, source, referral_code, \
                      search_text, created_at, updated_at, activated_at, last_active_at, deactivated_at)";
        match backend {
            DbBackend::Postgres => format!(
                "{target} \
                 SELECT gen_random_uuid(), $1, email, name, NULL, role, status, 'created', referral, \
                        CASE WHEN name IS NULL THEN email ELSE email || ' ' || lower(name) END, \
                        at, at, CASE WHEN status = 'active' THEN at END, NULL, \
                        CASE WHEN status = 'deactivated' THEN at END \
                 FROM (SELECT *, 'user' || lpad(e::text, greatest(7, length(e::text)), '0') || '@example.com' AS email, \
                              CASE WHEN nameless THEN NULL ELSE 'Person ' || e END AS name, \
                              timestamptz 'epoch' + micros * interval '1 microsecond' AS at \
                       FROM (SELECT {columns} FROM generate_series({first}::bigint, {last}::bigint) AS g(i)) AS s) AS t"
            ),
            _ => format!(
                "{target} \
                 WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n WHERE i < {last}), \
                 s AS (SELECT {columns} FROM n), \
                 t AS (SELECT *, printf('user%07d@example.com', e) AS email, \
                              CASE WHEN nameless THEN NULL ELSE 'Person ' || e END AS name, \
                              strftime('%Y-%m-%dT%H:%M:%S', micros / 1000000, 'unixepoch') \
                                || printf('.%06d', micros % 1000000) || '+00:00' AS at \
                       FROM s) \
                 SELECT randomblob(16), ?, email, name, NULL, role, status, 'created', referral, \
                        CASE WHEN name IS NULL THEN email ELSE email || ' ' || lower(name) END, \
                        at, at, CASE WHEN status = 'active' THEN at END, NULL, \
                        CASE WHEN status = 'deactivated' THEN at END \
                 FROM t"
            ),
        }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Inserts the users of `plan` into `tenant`, in batches, then refreshes the planner statistics.
pub async fn seed(db: &DatabaseConnection, tenant: TenantId, plan: &SeedPlan) -> Result<(), BoxError> {
    let backend = db.get_database_backend();
    let batch = 200_000;
    let mut first = 1;
    while first <= plan.users {
        let last = (first + batch - 1).min(plan.users);
        let started = Instant::now();
        let sql = plan.insert_sql(backend, first, last);
        let inserted =
            db.execute_raw(Statement::from_sql_and_values(backend, sql, [Value::from(tenant.as_uuid())])).await?;
        println!(
            "  seeded users {first}..={last} ({} rows) in {:.1} s",
            inserted.rows_affected(),
            started.elapsed().as_secs_f64()
        );
        first = last + 1;
    }
    // The application keeps `user_counts` with every change it makes; a raw bulk load must too.
    let recount = [
        "DELETE FROM user_counts WHERE tenant_id = {p}",
        "INSERT INTO user_counts (tenant_id, role, status, users) \
         SELECT tenant_id, role, status, COUNT(*) FROM users WHERE tenant_id = {p} GROUP BY tenant_id, role, status",
    ];
    for sql in recount {
        let sql = sql.replace("{p}", if backend == DbBackend::Postgres { "$1" } else { "?" });
        db.execute_raw(Statement::from_sql_and_values(backend, sql, [Value::from(tenant.as_uuid())])).await?;
    }
    let started = Instant::now();
    match backend {
        DbBackend::Postgres => {
            // VACUUM as well as ANALYZE: sets the visibility map, as autovacuum would on a live
            // table, so that index-only scans are not penalised by a just-loaded table (and
            // autovacuum does not start in the middle of the measurements).
            db.execute_unprepared("VACUUM (ANALYZE) users").await?;
        }
        _ => {
            db.execute_unprepared("ANALYZE").await?;
            db.execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)").await?;
        }
    }
    println!("  analyzed in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The placeholder of the single parameter of a hand-written statement.
fn placeholder(backend: DbBackend) -> &'static str {
    if backend == DbBackend::Postgres { "$1" } else { "?" }
}

/// `sql` (with `{p}` for the tenant) bound to `tenant`.
pub fn tenant_statement(backend: DbBackend, sql: &str, tenant: TenantId) -> Statement {
    Statement::from_sql_and_values(backend, sql.replace("{p}", placeholder(backend)), [Value::from(tenant.as_uuid())])
}

/// The integer column `v` of the one row `sql` (with `{p}` for the tenant) yields.
pub async fn scalar_i64(db: &DatabaseConnection, sql: &str, tenant: TenantId) -> Result<i64, BoxError> {
    let row = db.query_one_raw(tenant_statement(db.get_database_backend(), sql, tenant)).await?.ok_or("no row")?;
    Ok(row.try_get::<i64>("", "v")?)
}

/// The server's version string.
pub async fn server_version(db: &DatabaseConnection) -> Result<String, BoxError> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => "SELECT version() AS v",
        _ => "SELECT 'SQLite ' || sqlite_version() AS v",
    };
    let row = db.query_one_raw(Statement::from_string(backend, sql)).await?.ok_or("no version")?;
    Ok(row.try_get::<String>("", "v")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_a_permutation() {
        for users in [1, 10, 1000, 1_000_003 * 2] {
            let plan = SeedPlan::new(users, Utc::now());
            if users <= 1000 {
                let mut seen: Vec<u64> = (1..=users).map(|i| plan.email_number(i)).collect();
                seen.sort_unstable();
                assert_eq!(seen, (1..=users).collect::<Vec<_>>());
            }
            assert_eq!(gcd(plan.multiplier, users), 1);
        }
    }

    #[test]
    fn database_names_are_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/d?sslmode=disable", "x").unwrap(),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x").unwrap(), "postgres://h/x");
    }
}
