//! `gateway`: what the AI gateway asks of Roster, under concurrent clients over loopback HTTP:
//! entitlement checks per second, and reservation + commit pairs per second, each next to two
//! baselines measured in the same run: a poem hello-world endpoint in the same process, and the
//! rate of raw single-row `UPDATE`s (autocommit) on the same database through a pool of the same
//! size.

use std::fmt::Write as _;
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

/// A measured case: operations per second and the latency of each.
#[derive(Debug)]
struct Measured {
    name: String,
    per_second: f64,
    summary: Summary,
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
        // Each case runs unmeasured for `warmup` first, then measured for `seconds`.
        let (warmup, duration) = (Duration::from_secs_f64(args.warmup), Duration::from_secs_f64(args.seconds));
        let mut measured = Vec::new();
        analyze(&db).await?;

        let hello_url = hello_world().await?;
        load(&client, std::slice::from_ref(&hello_url), None, args.concurrency, warmup).await?;
        let run = load(&client, &[hello_url], None, args.concurrency, duration).await?;
        measured.push(record("baseline: poem hello-world GET", run.per_second, &run.samples));

        raw_updates(&database.url, args, warmup).await?;
        let (rate, samples) = raw_updates(&database.url, args, duration).await?;
        measured.push(record(
            "baseline: raw single-row UPDATE (autocommit, same database and pool size)",
            rate,
            &samples,
        ));

        let urls =
            users.iter().map(|id| base.join(&format!("v1/users/{id}/entitlements"))).collect::<Result<Vec<_>, _>>()?;
        load(&client, &urls, Some(&key), args.concurrency, warmup).await?;
        let run = load(&client, &urls, Some(&key), args.concurrency, duration).await?;
        measured.push(record("GET /v1/users/{id}/entitlements (service credential)", run.per_second, &run.samples));

        reserve_and_commit(&client, &base, &key, &users, args.concurrency, warmup, "warmup").await?;
        // The reservations table grew from nothing: statistics as autovacuum keeps them.
        analyze(&db).await?;
        let (rate, samples) =
            reserve_and_commit(&client, &base, &key, &users, args.concurrency, duration, "bench").await?;
        measured.push(record("reservation + commit pair (two requests)", rate, &samples));

        let report = report(args, &version, &measured);
        println!("\n{report}");
        std::fs::create_dir_all(&args.results_dir)?;
        let path = args.results_dir.join(format!("gateway-{}.md", args.database.name()));
        std::fs::write(&path, &report)?;
        println!("wrote {}", path.display());
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
async fn analyze(db: &sea_orm::DatabaseConnection) -> Result<(), BoxError> {
    db.execute_unprepared("ANALYZE").await?;
    Ok(())
}

fn record(name: &str, per_second: f64, samples: &Samples) -> Measured {
    let summary = samples.summary();
    println!("  {name}: {per_second:.0}/s, p50 {} ms, p99 {} ms", ms(summary.p50), ms(summary.p99));
    Measured { name: name.to_owned(), per_second, summary }
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

/// `args.concurrency` clients, each updating its own row of a fresh table, one autocommit
/// statement at a time, for `duration`, through a pool of `args.pool` connections.
async fn raw_updates(url: &str, args: &crate::GatewayArgs, duration: Duration) -> Result<(f64, Samples), BoxError> {
    let pool = PoolSettings { max_connections: args.pool, ..PoolSettings::default() };
    let db = connect(url, pool).await?;
    let backend = db.get_database_backend();
    db.execute_unprepared("CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)").await?;
    for id in 0..args.concurrency {
        db.execute_unprepared(&format!("INSERT INTO bench_rows (id, n) VALUES ({id}, 0)")).await?;
    }
    let sql = if backend == DbBackend::Postgres {
        "UPDATE bench_rows SET n = n + 1 WHERE id = $1"
    } else {
        "UPDATE bench_rows SET n = n + 1 WHERE id = ?"
    };
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..args.concurrency)
        .map(|worker| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut samples = Samples::default();
                let id = i64::try_from(worker).unwrap_or(0);
                while Instant::now() < deadline {
                    let at = Instant::now();
                    db.execute_raw(Statement::from_sql_and_values(backend, sql, [Value::from(id)])).await?;
                    samples.push(at.elapsed());
                }
                Ok::<_, BoxError>(samples)
            })
        })
        .collect();
    let mut samples = Samples::default();
    for worker in workers {
        samples.extend(worker.await??);
    }
    let rate = samples.len() as f64 / started.elapsed().as_secs_f64();
    db.execute_unprepared("DROP TABLE bench_rows").await?;
    db.close().await?;
    Ok((rate, samples))
}

/// `concurrency` clients, each reserving 10 credits for a user (in turn) and committing 7 with
/// two metrics, for `duration`; returns pairs per second and the latency of each pair. `run`
/// names the idempotency keys (`run-worker-n`).
async fn reserve_and_commit(
    client: &Client,
    base: &Url,
    key: &str,
    users: &[String],
    concurrency: usize,
    duration: Duration,
    run: &'static str,
) -> Result<(f64, Samples), BoxError> {
    let reserve = base.join("v1/usage/reservations")?;
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (client, base, reserve, key, users) =
                (client.clone(), base.clone(), reserve.clone(), key.to_owned(), users.to_vec());
            tokio::spawn(async move {
                let mut samples = Samples::default();
                let mut next = worker;
                while Instant::now() < deadline {
                    let user = &users[next % users.len()];
                    let at = Instant::now();
                    let body =
                        json!({ "user": user, "credits": 10, "idempotency_key": format!("{run}-{worker}-{next}") });
                    let held =
                        call(&client, reqwest::Method::POST, reserve.clone(), &key, Some(body), StatusCode::CREATED)
                            .await?;
                    let id = held["id"].as_str().ok_or("no reservation id")?;
                    let commit = base.join(&format!("v1/usage/reservations/{id}/commit"))?;
                    let used = json!({ "credits": 7, "metrics": { "chats": 1, "ai_responses": 1 } });
                    call(&client, reqwest::Method::POST, commit, &key, Some(used), StatusCode::OK).await?;
                    samples.push(at.elapsed());
                    next += concurrency;
                }
                Ok::<_, BoxError>(samples)
            })
        })
        .collect();
    let mut samples = Samples::default();
    for worker in workers {
        samples.extend(worker.await??);
    }
    Ok((samples.len() as f64 / started.elapsed().as_secs_f64(), samples))
}

fn report(args: &GatewayArgs, version: &str, measured: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# The AI gateway's calls on {}\n", args.database.name());
    let _ = writeln!(
        out,
        "{version}; {} CPUs; {} users, each licensed with a monthly budget. {} concurrent clients for {} s per case \
         (after {} s unmeasured) over loopback HTTP/1.1 with keep-alive; the clients, the hello-world server and \
         Roster share the process and its CPUs (and, for PostgreSQL, the machine with the database). Planner \
         statistics refreshed after the setup and after the pairs' warm-up. Database pool: {} connections. \
         Generated {}.\n",
        std::thread::available_parallelism().map_or(0, usize::from),
        args.users,
        args.concurrency,
        args.seconds,
        args.warmup,
        args.pool,
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
    );
    let _ = writeln!(out, "| case | per second | p50 ms | p95 ms | p99 ms | operations |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for m in measured {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} | {} |",
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
