//! `roster-bench`: benchmarks of the real Roster application, started in-process on a fresh
//! SQLite or PostgreSQL database seeded with synthetic data.
//!
//! ```text
//! cargo run --release -p roster-bench -- users-list --database sqlite
//! cargo run --release -p roster-bench -- users-list --database postgres --users 1000000 --requests 200
//! cargo run --release -p roster-bench -- access --database sqlite
//! cargo run --release -p roster-bench -- gateway --database postgres
//! cargo run --release -p roster-bench -- transfer --database sqlite
//! ```
//!
//! Results go to `bench/results/` (a markdown table per database).

mod access;
mod client;
mod cpu;
mod database;
mod gateway;
mod query_string;
mod stats;
mod transfer;
mod users_list;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Any error, reported and exiting with status 1.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Benchmarks of the Roster HTTP API on large databases.
#[derive(Debug, Parser)]
#[command(name = "roster-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// `GET /v1/users` (filters, sorts, keyset pages and the total) on one tenant with many users.
    UsersList(UsersListArgs),
    /// `GET /v1/metrics` and the entitlements endpoints on one tenant with many licensed users.
    Access(AccessArgs),
    /// The AI gateway's calls under concurrent clients: entitlement checks and reservation +
    /// commit pairs, next to a hello-world and a raw `UPDATE` baseline.
    Gateway(GatewayArgs),
    /// `POST /v1/users/import` of generated rows next to the database's own bulk load, and the
    /// streamed `GET /v1/users/export` of a million users: rows per second and peak memory.
    Transfer(TransferArgs),
    /// Serve the application on a free port (what `transfer` runs as a child process).
    #[command(hide = true)]
    Serve {
        /// The database.
        #[arg(long)]
        database_url: String,
    },
}

/// The database engine a benchmark runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DatabaseKind {
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
    /// A fresh `roster_bench_<random>` database, dropped at the end.
    Postgres,
}

impl DatabaseKind {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Options of `users-list`.
#[derive(Debug, clap::Args)]
struct UsersListArgs {
    /// Which database to run on.
    #[arg(long, value_enum)]
    database: DatabaseKind,

    /// How many users to seed into the tenant.
    #[arg(long, default_value_t = 1_000_000)]
    users: u64,

    /// Measured requests per case (fewer when a case exceeds its time budget).
    #[arg(long, default_value_t = 200)]
    requests: usize,

    /// Unmeasured requests per case before measuring.
    #[arg(long, default_value_t = 5)]
    warmup: usize,

    /// Seconds a case may take; slow cases stop early (after at least 5 measured requests).
    #[arg(long, default_value_t = 30.0)]
    case_budget_secs: f64,

    /// Administration URL of the PostgreSQL server; the benchmark database is created next to it.
    #[arg(long, env = "ROSTER_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,

    /// Where the result table and the query plans are written.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    results_dir: PathBuf,
}

/// Options of `access`.
#[derive(Debug, clap::Args)]
struct AccessArgs {
    /// Which database to run on.
    #[arg(long, value_enum)]
    database: DatabaseKind,

    /// How many users to seed into the tenant.
    #[arg(long, default_value_t = 1_000_000)]
    users: u64,

    /// Measured requests per sequential case.
    #[arg(long, default_value_t = 2000)]
    requests: usize,

    /// Unmeasured requests per case before measuring.
    #[arg(long, default_value_t = 50)]
    warmup: usize,

    /// Seconds a sequential case may take.
    #[arg(long, default_value_t = 30.0)]
    case_budget_secs: f64,

    /// Concurrent clients of the load cases.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,

    /// Seconds each load case runs.
    #[arg(long, default_value_t = 5.0)]
    load_secs: f64,

    /// Administration URL of the PostgreSQL server; the benchmark database is created next to it.
    #[arg(long, env = "ROSTER_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,

    /// Where the result table is written.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    results_dir: PathBuf,
}

/// Options of `gateway`.
#[derive(Debug, clap::Args)]
struct GatewayArgs {
    /// Which database to run on.
    #[arg(long, value_enum)]
    database: DatabaseKind,

    /// Licensed users with budgets the load cycles through.
    #[arg(long, default_value_t = 1000)]
    users: usize,

    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,

    /// Committed reservations in the ledger before the load starts (a gateway in its steady
    /// state; 0 starts from an empty ledger).
    #[arg(long, default_value_t = 100_000)]
    history: u64,

    /// Seconds each case runs.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,

    /// Seconds each case runs first, unmeasured (connections open, caches filled, plans made).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,

    /// Turns the cases take: each runs `seconds / rounds` at a time, one after the other.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,

    /// Runs only these cases (repeat the option for several; all four when absent), e.g. to
    /// profile one.
    #[arg(long = "case", value_enum)]
    cases: Vec<gateway::Case>,

    /// Database connections of the application (and of the raw UPDATE baseline).
    #[arg(long, default_value_t = 16)]
    pool: u32,

    /// Administration URL of the PostgreSQL server; the benchmark database is created next to it.
    #[arg(long, env = "ROSTER_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,

    /// Where the result table is written.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    results_dir: PathBuf,
}

/// Options of `transfer`.
#[derive(Debug, clap::Args)]
struct TransferArgs {
    /// Which database to run on.
    #[arg(long, value_enum)]
    database: DatabaseKind,

    /// Rows of the import file.
    #[arg(long, default_value_t = 100_000)]
    import_rows: u64,

    /// Users in the tenant when exporting (the imported ones, then seeded ones).
    #[arg(long, default_value_t = 1_000_000)]
    export_users: u64,

    /// Administration URL of the PostgreSQL server; the benchmark database is created next to it.
    #[arg(long, env = "ROSTER_BENCH_POSTGRES_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,

    /// Where the result table is written.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    results_dir: PathBuf,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::UsersList(args) => users_list::run(args).await,
        Command::Access(args) => access::run(args).await,
        Command::Gateway(args) => gateway::run(args).await,
        Command::Transfer(args) => transfer::run(args).await,
        Command::Serve { database_url } => transfer::serve(&database_url).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("roster-bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
