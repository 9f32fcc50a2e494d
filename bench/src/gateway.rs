//! `gateway`: what the AI gateway asks of Roster, under concurrent clients over loopback HTTP:
//! entitlement checks per second, and reservation + commit pairs per second, each next to two
//! baselines measured in the same run: a poem hello-world endpoint in the same process, and the
//! rate of raw single-row `UPDATE`s (autocommit) on the same database through a pool of the same
//! size. Each case also reports how busy the machine's CPUs were and its CPU time per operation
//! ([`crate::cpu`]): whether it is bound by the CPU or waits on something else.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use poem::listener::{Acceptor as _, Listener as _, TcpListener};
use poem::{Route, Server, get, handler};
use reqwest::{Client, StatusCode, Url};
use roster_http::settings::redact_url;
use roster_http::{Application, Settings};
use roster_storage::{PoolSettings, connect};
use sea_orm::{ConnectionTrait as _, DbBackend, Statement, Value};
use serde_json::{Value as Json, json};

use crate::client::load;
use crate::cpu::CpuTime;
use crate::database::{BenchDatabase, server_version};
use crate::stats::{Samples, Summary, ms};
use crate::{BoxError, GatewayArgs};

pub async fn run(args: GatewayArgs) -> Result<(), BoxError> {
    let started = Instant::now();
    println!("== gateway on {} with {} users, {} clients", args.database.name(), args.users, args.concurrency);
    let database = BenchDatabase::create(args.database, &args.postgres_url).await?;
    println!("database: {}", redact_url(&database.url));
    let result = bench(&args, &database).await;
    let dropped = database.drop_database().await;
    result?;
    dropped?;
    println!("done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A measured case: operations per second, the latency of each, and the machine's CPU.
#[derive(Debug)]
struct Measured {
    name: String,
    per_second: f64,
    summary: Summary,
    /// The share of the machine's CPU time spent busy, and busy CPU time per operation
    /// (unknown off Linux).
    cpu: Option<(f64, Duration)>,
}

#[handler]
fn hello() -> &'static str {
    "Hello, world!"
}

/// A poem hello-world server on a free loopback port; returns its URL.
async fn hello_world() -> Result<Url, BoxError> {
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await?;
    let address = acceptor.local_addr().first().and_then(|a| a.as_socket_addr().copied()).ok_or("no address")?;
    tokio::spawn(Server::new_with_acceptor(acceptor).run(Route::new().at("/hello", get(hello))));
    Ok(Url::parse(&format!("http://{address}/hello"))?)
}

async fn bench(args: &GatewayArgs, database: &BenchDatabase) -> Result<(), BoxError> {
    let mut settings = Settings::for_database(&database.url);
    settings.database_max_connections = args.pool;
    let app = Application::build(&settings).await?;
    let created = app.bootstrap().ok_or("the database was not empty: no first tenant created")?;
    let admin = created.token.expose().to_owned();
    let base = Url::parse(&format!("http://{}/", app.address()))?;
    let db = app.state().store.connection().clone();
    let server = tokio::spawn(app.run_until_stopped());
    let client = Client::builder().no_proxy().pool_max_idle_per_host(args.concurrency).build()?;
    let version = server_version(&db).await?;
    println!("server on {base}, {version}");

    let result = async {
        let setup = Instant::now();
        let (users, key) = populate(&client, &base, &admin, args.users).await?;
        println!(
            "  {} licensed users with budgets, and a service credential, in {:.1} s",
            users.len(),
            setup.elapsed().as_secs_f64()
        );
        let setup = Instant::now();
        history(&db, args.history).await?;
        println!("  {} committed reservations in the ledger, in {:.1} s", args.history, setup.elapsed().as_secs_f64());
        analyze(&db).await?;
        let urls =
            users.iter().map(|id| base.join(&format!("v1/users/{id}/entitlements"))).collect::<Result<Vec<_>, _>>()?;
        let raw = RawTable::create(&database.url, args).await?;
        let cases = Cases {
            client: &client,
            hello: hello_world().await?,
            raw: &raw,
            urls,
            base: &base,
            key: &key,
            users: &users,
            args,
        };

        // Each case runs unmeasured for `warmup` first; then, so that every case sees the same
        // machine (whose speed drifts from second to second), the cases take turns: each runs for
        // `seconds / rounds`, round after round.
        let chosen: Vec<Case> =
            Case::ALL.into_iter().filter(|case| args.cases.is_empty() || args.cases.contains(case)).collect();
        let warmup = Duration::from_secs_f64(args.warmup);
        for &case in &chosen {
            cases.run(case, warmup, "warmup").await?;
        }
        // Statistics as autovacuum keeps them.
        analyze(&db).await?;
        let slice = Duration::from_secs_f64(args.seconds / f64::from(args.rounds));
        let mut tallies: Vec<Tally> = chosen.iter().map(|_| Tally::default()).collect();
        for round in 0..args.rounds {
            for (n, &case) in chosen.iter().enumerate() {
                let (started, cpu) = (Instant::now(), CpuTime::now());
                let samples = cases.run(case, slice, &format!("round{round}")).await?;
                tallies[n].add(samples, started.elapsed(), cpu.zip(CpuTime::now()));
            }
        }
        raw.drop_table().await?;
        let measured: Vec<Measured> =
            chosen.into_iter().zip(tallies).map(|(case, tally)| tally.record(case.name())).collect();

        let report = report(args, &version, &measured);
        println!("\n{report}");
        if args.cases.is_empty() {
            std::fs::create_dir_all(&args.results_dir)?;
            let path = args.results_dir.join(format!("gateway-{}.md", args.database.name()));
            std::fs::write(&path, &report)?;
            println!("wrote {}", path.display());
        } else {
            println!("(some cases only: no results written)");
        }
        Ok::<_, BoxError>(())
    }
    .await;

    server.abort();
    db.close_by_ref().await?;
    result
}

/// Refreshes the planner's statistics, as PostgreSQL's autovacuum (or SQLite's `PRAGMA
/// optimize`) would in a database that has been running for a while: the benchmark's tables
/// grow from nothing within seconds.
/// Fills the ledger with `n` reservations committed a day ago, spread over the users with a
/// budget: a gateway in its steady state, whose planner statistics (and the plans made from them)
/// see a table of that size. Without them the table grows from nothing during the run, faster
/// than any statistics, and plans made for a small table (a sequential scan to close a handful
/// of reservations) last the whole run.
async fn history(db: &sea_orm::DatabaseConnection, n: u64) -> Result<(), BoxError> {
    if n == 0 {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let day_ago = Utc::now() - chrono::Duration::days(1);
    let columns = "id, tenant_id, user_id, idempotency_key, credits, status, committed_credits, created_at, \
                   expires_at, closed_at";
    let holders = "SELECT user_id, tenant_id, row_number() OVER (ORDER BY user_id) - 1 AS k FROM budgets";
    let sql = match backend {
        DbBackend::Postgres => format!(
            "INSERT INTO reservations ({columns}) \
             SELECT gen_random_uuid(), b.tenant_id, b.user_id, 'history-' || g.i, 10, 'committed', 7, $1, $2, $1 \
             FROM generate_series(0, $3 - 1) AS g(i) \
             JOIN ({holders}) AS b ON b.k = g.i % (SELECT COUNT(*) FROM budgets)"
        ),
        _ => format!(
            "INSERT INTO reservations ({columns}) \
             WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i + 1 < ?3) \
             SELECT randomblob(16), b.tenant_id, b.user_id, 'history-' || g.i, 10, 'committed', 7, ?1, ?2, ?1 \
             FROM g JOIN ({holders}) AS b ON b.k = g.i % (SELECT COUNT(*) FROM budgets)"
        ),
    };
    let values = [day_ago.into(), (day_ago + chrono::Duration::minutes(5)).into(), Value::from(i64::try_from(n)?)];
    let inserted = db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    if inserted.rows_affected() != n {
        return Err(format!("{} history reservations inserted, not {n}", inserted.rows_affected()).into());
    }
    Ok(())
}

async fn analyze(db: &sea_orm::DatabaseConnection) -> Result<(), BoxError> {
    db.execute_unprepared("ANALYZE").await?;
    Ok(())
}

/// What a case measured over its turns.
#[derive(Debug)]
struct Tally {
    samples: Samples,
    elapsed: Duration,
    /// The CPU time of the machine counted during the turns; `None` once a turn could not count it.
    cpu: Option<CpuTime>,
}

impl Default for Tally {
    fn default() -> Self {
        Self { samples: Samples::default(), elapsed: Duration::ZERO, cpu: Some(CpuTime::default()) }
    }
}

impl Tally {
    /// Adds a turn: its samples, how long it took, and the CPU counters before and after it.
    fn add(&mut self, samples: Samples, elapsed: Duration, cpu: Option<(CpuTime, CpuTime)>) {
        self.samples.extend(samples);
        self.elapsed += elapsed;
        self.cpu = self.cpu.zip(cpu).map(|(mut counted, (before, after))| {
            counted.add(after.since(before));
            counted
        });
    }

    fn record(self, name: &str) -> Measured {
        let (per_second, summary) = (self.samples.len() as f64 / self.elapsed.as_secs_f64(), self.samples.summary());
        let cpu = self.cpu.and_then(|cpu| Some((cpu.busy_share()?, cpu.per_operation(self.elapsed, summary.n)?)));
        let busy = cpu.map_or_else(String::new, |(share, each)| {
            format!(", CPU {:.0} % busy, {:.0} µs per operation", share * 100.0, each.as_secs_f64() * 1e6)
        });
        println!("  {name}: {per_second:.0}/s, p50 {} ms, p99 {} ms{busy}", ms(summary.p50), ms(summary.p99));
        Measured { name: name.to_owned(), per_second, summary, cpu }
    }
}

/// A JSON request that must answer `expected`; returns the body.
async fn call(
    client: &Client,
    method: reqwest::Method,
    url: Url,
    token: &str,
    body: Option<Json>,
    expected: StatusCode,
) -> Result<Json, BoxError> {
    let mut request = client.request(method, url.clone()).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    if status != expected {
        return Err(format!("{url}: {status} {text}").into());
    }
    Ok(if text.is_empty() { Json::Null } else { serde_json::from_str(&text)? })
}

/// Creates `n` users through the API, each holding a seat and a monthly budget large enough
/// never to refuse, and a service credential; returns the users' ids and the credential.
async fn populate(client: &Client, base: &Url, admin: &str, n: usize) -> Result<(Vec<String>, String), BoxError> {
    use reqwest::Method;
    let seats = json!({ "name": "Business", "seats": n });
    let kind = call(client, Method::POST, base.join("v1/licenses")?, admin, Some(seats), StatusCode::CREATED).await?;
    let kind = kind["id"].as_str().ok_or("no license id")?.to_owned();
    let mut users = Vec::with_capacity(n);
    for i in 0..n {
        let user = json!({ "email": format!("gateway.user{i:06}@example.com") });
        let user = call(client, Method::POST, base.join("v1/users")?, admin, Some(user), StatusCode::CREATED).await?;
        let id = user["id"].as_str().ok_or("no user id")?.to_owned();
        let seat = json!({ "kind": kind });
        call(client, Method::PUT, base.join(&format!("v1/users/{id}/license"))?, admin, Some(seat), StatusCode::OK)
            .await?;
        let budget = json!({ "limit": 1_000_000_000_000_i64, "period": "monthly", "warn_at_percent": 80 });
        call(client, Method::PUT, base.join(&format!("v1/users/{id}/budget"))?, admin, Some(budget), StatusCode::OK)
            .await?;
        users.push(id);
    }
    let credential = json!({ "name": "benchmark gateway", "scopes": ["usage:write", "entitlements:read"] });
    let issued =
        call(client, Method::POST, base.join("v1/service-credentials")?, admin, Some(credential), StatusCode::CREATED)
            .await?;
    let key = issued["secret"].as_str().ok_or("no secret")?.to_owned();
    Ok((users, key))
}

/// The four cases, in the order they take turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Case {
    Hello,
    RawUpdate,
    Entitlements,
    Pairs,
}

impl Case {
    const ALL: [Self; 4] = [Self::Hello, Self::RawUpdate, Self::Entitlements, Self::Pairs];

    fn name(self) -> &'static str {
        match self {
            Self::Hello => "baseline: poem hello-world GET",
            Self::RawUpdate => "baseline: raw single-row UPDATE (autocommit, same database and pool size)",
            Self::Entitlements => "GET /v1/users/{id}/entitlements (service credential)",
            Self::Pairs => "reservation + commit pair (two requests)",
        }
    }
}

/// What the cases need.
struct Cases<'a> {
    client: &'a Client,
    hello: Url,
    raw: &'a RawTable,
    urls: Vec<Url>,
    base: &'a Url,
    key: &'a str,
    users: &'a [String],
    args: &'a GatewayArgs,
}

impl Cases<'_> {
    /// Runs `case` for `duration`; `tag` tells its idempotency keys from other runs'.
    async fn run(&self, case: Case, duration: Duration, tag: &str) -> Result<Samples, BoxError> {
        let concurrency = self.args.concurrency;
        Ok(match case {
            Case::Hello => {
                load(self.client, std::slice::from_ref(&self.hello), None, concurrency, duration).await?.samples
            }
            Case::RawUpdate => self.raw.update(concurrency, duration).await?,
            Case::Entitlements => load(self.client, &self.urls, Some(self.key), concurrency, duration).await?.samples,
            Case::Pairs => {
                reserve_and_commit(self.client, self.base, self.key, self.users, concurrency, duration, tag).await?
            }
        })
    }
}

/// A table of one row per client, for the raw `UPDATE` baseline, on its own pool of the
/// application's size.
struct RawTable {
    db: sea_orm::DatabaseConnection,
    backend: DbBackend,
}

impl RawTable {
    async fn create(url: &str, args: &GatewayArgs) -> Result<Self, BoxError> {
        let pool = PoolSettings { max_connections: args.pool, ..PoolSettings::default() };
        let db = connect(url, pool).await?;
        let backend = db.get_database_backend();
        db.execute_unprepared("CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)").await?;
        for id in 0..args.concurrency {
            db.execute_unprepared(&format!("INSERT INTO bench_rows (id, n) VALUES ({id}, 0)")).await?;
        }
        Ok(Self { db, backend })
    }

    /// `concurrency` clients, each updating its own row, one autocommit statement at a time,
    /// for `duration`.
    async fn update(&self, concurrency: usize, duration: Duration) -> Result<Samples, BoxError> {
        let sql = if self.backend == DbBackend::Postgres {
            "UPDATE bench_rows SET n = n + 1 WHERE id = $1"
        } else {
            "UPDATE bench_rows SET n = n + 1 WHERE id = ?"
        };
        let (db, backend) = (self.db.clone(), self.backend);
        closed_loop(concurrency, duration, move |worker, _| {
            let db = db.clone();
            let id = i64::try_from(worker).unwrap_or(0);
            async move {
                db.execute_raw(Statement::from_sql_and_values(backend, sql, [Value::from(id)])).await?;
                Ok(())
            }
        })
        .await
    }

    async fn drop_table(&self) -> Result<(), BoxError> {
        self.db.execute_unprepared("DROP TABLE bench_rows").await?;
        self.db.close_by_ref().await?;
        Ok(())
    }
}

/// `concurrency` clients, each reserving 10 credits for a user (in turn) and committing 7 with
/// two metrics, for `duration`; returns the latency of each pair. `tag` names the idempotency
/// keys (`tag-worker-n`).
async fn reserve_and_commit(
    client: &Client,
    base: &Url,
    key: &str,
    users: &[String],
    concurrency: usize,
    duration: Duration,
    tag: &str,
) -> Result<Samples, BoxError> {
    let reserve = base.join("v1/usage/reservations")?;
    let (client, base, key, users, tag) =
        (client.clone(), base.clone(), Arc::<str>::from(key), Arc::<[String]>::from(users), Arc::<str>::from(tag));
    closed_loop(concurrency, duration, move |worker, n| {
        let (client, base, reserve, key, users, tag) =
            (client.clone(), base.clone(), reserve.clone(), key.clone(), users.clone(), tag.clone());
        async move {
            let next = worker + n * concurrency;
            let user = &users[next % users.len()];
            let body = json!({ "user": user, "credits": 10, "idempotency_key": format!("{tag}-{worker}-{next}") });
            let held = call(&client, reqwest::Method::POST, reserve, &key, Some(body), StatusCode::CREATED).await?;
            let id = held["id"].as_str().ok_or("no reservation id")?;
            let commit = base.join(&format!("v1/usage/reservations/{id}/commit"))?;
            let used = json!({ "credits": 7, "metrics": { "chats": 1, "ai_responses": 1 } });
            call(&client, reqwest::Method::POST, commit, &key, Some(used), StatusCode::OK).await?;
            Ok(())
        }
    })
    .await
}

/// `concurrency` clients, each taking `step(client, n)` (its `n`-th step, from 0) again and again
/// for `duration`, a step as soon as the last one is done; returns the latency of every step.
async fn closed_loop<F, Step>(concurrency: usize, duration: Duration, step: F) -> Result<Samples, BoxError>
where
    F: Fn(usize, usize) -> Step + Clone + Send + 'static,
    Step: Future<Output = Result<(), BoxError>> + Send,
{
    let deadline = Instant::now() + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let step = step.clone();
            tokio::spawn(async move {
                let mut samples = Samples::default();
                let mut n = 0;
                while Instant::now() < deadline {
                    let at = Instant::now();
                    step(worker, n).await?;
                    samples.push(at.elapsed());
                    n += 1;
                }
                Ok::<_, BoxError>(samples)
            })
        })
        .collect();
    let mut samples = Samples::default();
    for worker in workers {
        samples.extend(worker.await??);
    }
    Ok(samples)
}

fn report(args: &GatewayArgs, version: &str, measured: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# The AI gateway's calls on {}\n", args.database.name());
    let _ = writeln!(
        out,
        "{version}; {} CPUs; {} users, each licensed with a monthly budget, and {} committed reservations in the \
         ledger at the start. {} concurrent clients for {} s per case \
         (after {} s unmeasured), the cases taking turns in {} rounds, over loopback HTTP/1.1 with keep-alive; the \
         clients, the hello-world server and Roster share the process and its CPUs (and, for PostgreSQL, the \
         machine with the database). Planner statistics refreshed after the setup and after the warm-ups. \
         Database pool: {} connections. Generated {}.\n",
        std::thread::available_parallelism().map_or(0, usize::from),
        args.users,
        args.history,
        args.concurrency,
        args.seconds,
        args.warmup,
        args.rounds,
        args.pool,
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
    );
    let _ = writeln!(
        out,
        "CPU: the share of the machine's CPU time spent busy during the case (clients, server and database \
         together), and that busy time per operation (from /proc/stat). Well below 100 %, a case waits on \
         something other than the CPU.\n"
    );
    let _ = writeln!(
        out,
        "| case | per second | p50 ms | p95 ms | p99 ms | operations | CPU busy | CPU µs per operation |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for m in measured {
        let (busy, each) = m.cpu.map_or(("n/a".to_owned(), "n/a".to_owned()), |(share, each)| {
            (format!("{:.0} %", share * 100.0), format!("{:.0}", each.as_secs_f64() * 1e6))
        });
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} | {} | {busy} | {each} |",
            m.name,
            m.per_second,
            ms(m.summary.p50),
            ms(m.summary.p95),
            ms(m.summary.p99),
            m.summary.n
        );
    }
    out
}
