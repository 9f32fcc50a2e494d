//! `transfer`: the CSV import (`POST /v1/users/import`) of generated rows next to the database's
//! own bulk load of the same rows into an equivalent table (sqlite3 `.import`, psql `\copy`), and
//! the streamed export (`GET /v1/users/export`) of a million users: rows per second and the
//! server's peak memory, next to the database's own CSV dump of the same table.
//!
//! The server runs as a child process (this binary's `serve`), so that its peak resident memory
//! (`VmHWM`) is the server's alone; the export runs in a fresh server, so that its peak is the
//! export's.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::{Client, Url};
use roster_domain::TenantId;
use roster_http::settings::redact_url;
use roster_storage::{PoolSettings, connect};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement};
use serde_json::Value as Json;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command};

use crate::database::{BenchDatabase, SeedPlan, seed, server_version};
use crate::{BoxError, DatabaseKind, TransferArgs};

pub async fn run(args: TransferArgs) -> Result<(), BoxError> {
    let started = Instant::now();
    println!(
        "== transfer on {}: import {} rows, export {} users",
        args.database.name(),
        args.import_rows,
        args.export_users
    );
    let database = BenchDatabase::create(args.database, &args.postgres_url).await?;
    println!("database: {}", redact_url(&database.url));
    let scratch = tempfile::Builder::new().prefix("roster-bench-transfer-").tempdir()?;
    let result = bench(&args, &database, scratch.path()).await;
    let dropped = database.drop_database().await;
    result?;
    dropped?;
    println!("done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The benchmark's own `serve`: the application on a free loopback port, announcing itself on
/// standard output as one JSON line `{address, token, tenant}` (token and tenant on first start).
pub async fn serve(database_url: &str) -> Result<(), BoxError> {
    let app = roster_http::Application::build(&roster_http::Settings::for_database(database_url)).await?;
    let created = app.bootstrap();
    let line = serde_json::json!({
        "address": app.address().to_string(),
        "token": created.map(|c| c.token.expose().to_owned()),
        "tenant": created.map(|c| c.tenant.id.to_string()),
    });
    println!("{line}");
    app.run_until_stopped().await?;
    Ok(())
}

/// A server in a child process, killed when dropped.
struct Server {
    child: Child,
    base: Url,
    announced: Json,
}

impl Server {
    fn start(database_url: &str) -> Result<Self, BoxError> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["serve", "--database-url", database_url])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let announced: Json = serde_json::from_str(&line).map_err(|e| format!("server said {line:?}: {e}"))?;
        let address = announced["address"].as_str().ok_or("no address")?;
        let base = Url::parse(&format!("http://{address}/"))?;
        Ok(Self { child, base, announced })
    }

    /// `VmRSS` and `VmHWM` (peak) of the server, in MiB.
    fn memory(&self) -> Result<(f64, f64), BoxError> {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> Result<f64, BoxError> {
            let line = status.lines().find(|line| line.starts_with(name)).ok_or("no memory line")?;
            let kib: f64 = line.split_whitespace().nth(1).ok_or("no value")?.parse()?;
            Ok(kib / 1024.0)
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The import file: `importNNNNNNN@example.org,33,06 12 NN NN NN` (the product's format: email,
/// country code, national phone), one per line.
fn import_file(rows: u64) -> Vec<u8> {
    let mut file = String::with_capacity(rows as usize * 48);
    for i in 1..=rows {
        let digits = i % 1_000_000;
        let _ = writeln!(
            file,
            "import{i:07}@example.org,33,06 12 {:02} {:02} {:02}",
            digits / 10_000,
            digits / 100 % 100,
            digits % 100
        );
    }
    file.into_bytes()
}

/// The outcome of a timed step.
#[derive(Debug)]
struct Timed {
    name: String,
    rows: u64,
    seconds: f64,
    peak_mib: Option<f64>,
}

impl Timed {
    fn per_second(&self) -> f64 {
        self.rows as f64 / self.seconds
    }
}

async fn bench(args: &TransferArgs, database: &BenchDatabase, scratch: &Path) -> Result<(), BoxError> {
    let db = connect(&database.url, PoolSettings::default()).await?;
    let version = server_version(&db).await?;
    let client = Client::builder().no_proxy().timeout(Duration::from_secs(3600)).build()?;
    let mut timed = Vec::new();

    // Import, in a fresh server.
    let server = Server::start(&database.url)?;
    let token = server.announced["token"].as_str().ok_or("the database was not empty")?.to_owned();
    let tenant: TenantId = server.announced["tenant"].as_str().ok_or("no tenant")?.parse::<uuid::Uuid>()?.into();
    println!("server on {}, {version}", server.base);
    let (idle_mib, _) = server.memory()?;
    let file = import_file(args.import_rows);
    println!("importing {} rows ({:.1} MiB)...", args.import_rows, file.len() as f64 / 1_048_576.0);
    for (name, expect_created) in [("import (new users)", args.import_rows), ("import again (all already_exists)", 0)] {
        let started = Instant::now();
        let response = client
            .post(server.base.join("v1/users/import")?)
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(file.clone())
            .send()
            .await?;
        let status = response.status();
        let report: Json = response.json().await?;
        let seconds = started.elapsed().as_secs_f64();
        if !status.is_success() || report["created"].as_u64() != Some(expect_created) {
            return Err(format!("{name}: {status} {}", truncate(&report.to_string())).into());
        }
        let peak_mib = Some(server.memory()?.1);
        println!("  {name}: {seconds:.2} s");
        timed.push(Timed { name: name.to_owned(), rows: args.import_rows, seconds, peak_mib });
    }
    drop(server);

    // The database's own bulk load of the same rows into an equivalent table (with the search
    // index that `users` keeps), and into one with only its B-tree indexes.
    let rows_file = scratch.join("imported-rows.csv");
    dump_imported(args.database, &database.url, &rows_file).await?;
    let mut bulk = Vec::new();
    for searchable in [true, false] {
        let table = if searchable { "bulk_users_search" } else { "bulk_users" };
        let seconds = bulk_load(args.database, &db, &database.url, &rows_file, table, searchable).await?;
        let loaded = count(&db, &format!("SELECT COUNT(*) AS v FROM {table}")).await?;
        if loaded != args.import_rows as i64 {
            return Err(format!("the bulk load stored {loaded} rows in {table}").into());
        }
        let name = bulk_name(args.database, searchable);
        println!("  {name}: {seconds:.2} s");
        bulk.push(Timed { name, rows: args.import_rows, seconds, peak_mib: None });
    }

    // Export: a million users (the imported ones and seeded ones), from a fresh server.
    let seeded = args.export_users.saturating_sub(args.import_rows + 1);
    println!("seeding {seeded} more users...");
    seed(&db, tenant, &SeedPlan::new(seeded, Utc::now())).await?;
    let users = count(&db, "SELECT COUNT(*) AS v FROM users").await? as u64;
    let server = Server::start(&database.url)?;
    let (export_idle_mib, _) = server.memory()?;
    println!("exporting {users} users...");
    let started = Instant::now();
    let mut response =
        client.get(server.base.join("v1/users/export")?).bearer_auth(&token).send().await?.error_for_status()?;
    let (mut lines, mut bytes) = (0_u64, 0_u64);
    while let Some(chunk) = response.chunk().await? {
        lines += chunk.iter().filter(|byte| **byte == b'\n').count() as u64;
        bytes += chunk.len() as u64;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (_, peak) = server.memory()?;
    drop(server);
    if lines != users + 1 {
        return Err(format!("the export has {lines} lines for {users} users").into());
    }
    println!("  export: {seconds:.2} s, {:.0} MiB, peak RSS {peak:.1} MiB", bytes as f64 / 1_048_576.0);
    let export = Timed { name: "export (streamed)".into(), rows: users, seconds, peak_mib: Some(peak) };
    let seconds = dump(args.database, &database.url, tenant, &scratch.join("dump.csv")).await?;
    println!("  database dump: {seconds:.2} s");
    let dumped = Timed { name: dump_name(args.database).to_owned(), rows: users, seconds, peak_mib: None };

    let report = report(args, &version, idle_mib, export_idle_mib, &timed, &bulk, &export, &dumped, bytes);
    println!("\n{report}");
    std::fs::create_dir_all(&args.results_dir)?;
    let path = args.results_dir.join(format!("transfer-{}.md", args.database.name()));
    std::fs::write(&path, &report)?;
    println!("wrote {}", path.display());
    db.close().await?;
    Ok(())
}

fn truncate(text: &str) -> &str {
    &text[..text.len().min(300)]
}

async fn count(db: &DatabaseConnection, sql: &str) -> Result<i64, BoxError> {
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await?.ok_or("no row")?;
    Ok(row.try_get::<i64>("", "v")?)
}

fn bulk_name(kind: DatabaseKind, searchable: bool) -> String {
    let client = match kind {
        DatabaseKind::Sqlite => "sqlite3 `.import`",
        DatabaseKind::Postgres => "psql `\\copy ... FROM`",
    };
    let table = if searchable { "table like `users` with its search index" } else { "B-tree indexes only" };
    format!("baseline: {client}, {table}")
}

fn dump_name(kind: DatabaseKind) -> &'static str {
    match kind {
        DatabaseKind::Sqlite => "sqlite3 `.mode csv` dump (baseline)",
        DatabaseKind::Postgres => "psql `\\copy ... TO` (baseline)",
    }
}

/// The SQLite file of a `sqlite://path?...` URL.
fn sqlite_path(url: &str) -> &str {
    let path = url.trim_start_matches("sqlite://");
    path.split('?').next().unwrap_or(path)
}

/// Runs a database client, returning its wall time.
async fn timed_command(program: &str, args: &[&str]) -> Result<f64, BoxError> {
    let started = Instant::now();
    let output = Command::new(program).args(args).output()?;
    let seconds = started.elapsed().as_secs_f64();
    if !output.status.success() || !output.stderr.is_empty() {
        return Err(format!("{program} failed: {}", String::from_utf8_lossy(&output.stderr)).into());
    }
    Ok(seconds)
}

/// Writes the imported users' rows, as stored, to `file` (ids as text on SQLite, as `.import`
/// reads them).
async fn dump_imported(kind: DatabaseKind, url: &str, file: &Path) -> Result<(), BoxError> {
    let path = file.to_str().ok_or("a non-UTF-8 temporary path")?;
    let imported = "FROM users WHERE source = 'imported'";
    match kind {
        DatabaseKind::Sqlite => {
            let columns = "hex(id), hex(tenant_id), email, name, phone, role, status, source, referral_code, \
                           search_text, created_at, updated_at, activated_at, last_active_at, deactivated_at, \
                           version, hex(license_id)";
            let select = format!("SELECT {columns} {imported};");
            timed_command(
                "sqlite3",
                &[sqlite_path(url), "-cmd", ".mode csv", "-cmd", &format!(".once {path}"), &select],
            )
            .await?;
        }
        DatabaseKind::Postgres => {
            let out = format!("\\copy (SELECT * {imported}) TO '{path}' WITH (FORMAT csv)");
            timed_command("psql", &[url, "-q", "-c", &out]).await?;
        }
    }
    Ok(())
}

/// Creates `table` like `users` (columns, constraints, foreign keys on PostgreSQL, B-tree
/// indexes, and when `searchable` its trigram search index), and times the database's own client
/// loading `file` into it.
///
/// SQLite's search index is an FTS5 table fed by a trigger, as for `users`, but without
/// `contentless_delete` (the sqlite3 client of this machine predates it; inserts cost the same).
async fn bulk_load(
    kind: DatabaseKind,
    db: &DatabaseConnection,
    url: &str,
    file: &Path,
    table: &str,
    searchable: bool,
) -> Result<f64, BoxError> {
    let path = file.to_str().ok_or("a non-UTF-8 temporary path")?;
    match kind {
        DatabaseKind::Sqlite => {
            let schema = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'users' AND type IN ('table', 'index') AND sql IS NOT NULL",
                ))
                .await?;
            for row in schema {
                let sql: String = row.try_get("", "sql")?;
                let sql = sql
                    .replace("TABLE \"users\"", &format!("TABLE \"{table}\""))
                    .replace("ON \"users\"", &format!("ON \"{table}\""))
                    .replace("INDEX \"", &format!("INDEX \"{table}_"));
                db.execute_unprepared(&sql).await?;
            }
            if searchable {
                db.execute_unprepared(&format!(
                    "CREATE TABLE {table}_keys (seq INTEGER PRIMARY KEY, user_id BLOB NOT NULL UNIQUE, tenant_id BLOB NOT NULL);
                     CREATE VIRTUAL TABLE {table}_fts USING fts5(search_text, content='', tokenize='trigram');
                     CREATE TRIGGER {table}_insert AFTER INSERT ON {table} BEGIN
                         INSERT INTO {table}_keys (user_id, tenant_id) VALUES (new.id, new.tenant_id);
                         INSERT INTO {table}_fts (rowid, search_text)
                             SELECT seq, new.search_text FROM {table}_keys WHERE user_id = new.id;
                     END;"
                ))
                .await?;
            }
            // The sqlite3 client leaves foreign keys unchecked, as it must here: `.import` stores the
            // dumped ids as text, which no key of `tenants` (a blob) would match.
            timed_command("sqlite3", &[sqlite_path(url), &format!(".import --csv {path} {table}")]).await
        }
        DatabaseKind::Postgres => {
            db.execute_unprepared(&format!("CREATE TABLE {table} (LIKE users INCLUDING ALL)")).await?;
            // `LIKE` leaves out foreign keys; `users` checks two on every insert.
            let keys = db
                .query_all_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'users'::regclass AND contype = 'f'",
                ))
                .await?;
            for row in keys {
                let def: String = row.try_get("", "def")?;
                db.execute_unprepared(&format!("ALTER TABLE {table} ADD {def}")).await?;
            }
            if !searchable {
                let gin = db
                    .query_all_raw(Statement::from_string(
                        DbBackend::Postgres,
                        format!(
                            "SELECT indexname FROM pg_indexes WHERE tablename = '{table}' AND indexdef LIKE '%gin%'"
                        ),
                    ))
                    .await?;
                for row in gin {
                    let index: String = row.try_get("", "indexname")?;
                    db.execute_unprepared(&format!("DROP INDEX \"{index}\"")).await?;
                }
            }
            let load = format!("\\copy {table} FROM '{path}' WITH (FORMAT csv)");
            timed_command("psql", &[url, "-q", "-c", &load]).await
        }
    }
}

/// Times the database's own client writing every user of `tenant` as CSV to `file`.
async fn dump(kind: DatabaseKind, url: &str, tenant: TenantId, file: &Path) -> Result<f64, BoxError> {
    let path = file.to_str().ok_or("a non-UTF-8 temporary path")?;
    match kind {
        DatabaseKind::Sqlite => {
            let select = format!(
                "SELECT * FROM users WHERE tenant_id = x'{}' ORDER BY created_at, id;",
                tenant.as_uuid().simple()
            );
            timed_command(
                "sqlite3",
                &[sqlite_path(url), "-cmd", ".mode csv", "-cmd", &format!(".once {path}"), &select],
            )
            .await
        }
        DatabaseKind::Postgres => {
            let copy = format!(
                "\\copy (SELECT * FROM users WHERE tenant_id = '{}' ORDER BY created_at, id) TO '{path}' WITH (FORMAT csv, HEADER)",
                tenant.as_uuid()
            );
            timed_command("psql", &[url, "-q", "-c", &copy]).await
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &TransferArgs,
    version: &str,
    idle_mib: f64,
    export_idle_mib: f64,
    imports: &[Timed],
    bulk: &[Timed],
    export: &Timed,
    dumped: &Timed,
    export_bytes: u64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# transfer on {} ({version})\n", args.database.name());
    let _ = writeln!(
        out,
        "{} import rows (`email,33,06 12 NN NN NN`), {} users exported ({:.0} MiB of CSV); {}.\n",
        args.import_rows,
        export.rows,
        export_bytes as f64 / 1_048_576.0,
        Utc::now().format("%Y-%m-%d")
    );
    let _ = writeln!(out, "| step | rows | seconds | rows/s | vs baseline | server peak RSS (MiB) |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let mut line = |timed: &Timed, baseline: &Timed| {
        let ratio = timed.seconds / baseline.seconds;
        let peak = timed.peak_mib.map_or_else(|| "-".to_owned(), |peak| format!("{peak:.1}"));
        let _ = writeln!(
            out,
            "| {} | {} | {:.2} | {:.0} | {ratio:.2}x | {peak} |",
            timed.name,
            timed.rows,
            timed.seconds,
            timed.per_second()
        );
    };
    for timed in imports.iter().chain(bulk) {
        line(timed, &bulk[0]);
    }
    line(export, dumped);
    line(dumped, dumped);
    let plain = &bulk[1];
    let _ = writeln!(
        out,
        "\nThe import against the baseline without a search index: {:.2}x (new users), {:.2}x (again).",
        imports[0].seconds / plain.seconds,
        imports[1].seconds / plain.seconds
    );
    let _ = writeln!(
        out,
        "\nServer RSS when idle: {idle_mib:.1} MiB before the import, {export_idle_mib:.1} MiB before the export \
         (peaks are `VmHWM` of the server process since it started)."
    );
    out
}
