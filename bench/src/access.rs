//! `access`: the dashboard (`GET /v1/metrics`) and the access gate (`GET /v1/users/{id}/entitlements`,
//! `GET /v1/me/entitlements`) on one tenant with many users, most of them holding a seat of one
//! of three license kinds.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::{Client, Url};
use roster_domain::TenantId;
use roster_http::settings::redact_url;
use roster_http::{Application, Settings};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement, Value};
use serde_json::{Value as Json, json};
use uuid::Uuid;

use crate::client::{get, load};
use crate::database::{BenchDatabase, SeedPlan, scalar_i64, seed, server_version, tenant_statement};
use crate::stats::{Budget, Summary, measure, ms};
use crate::{AccessArgs, BoxError};

/// The license kinds created, and which users get a seat of each: user number `n` (of
/// `userNNNNNNN@example.com`) holds `KINDS[k]` when `n % 10` is in its range; 40 % hold none.
const KINDS: [(&str, std::ops::Range<i64>); 3] = [("Business", 0..3), ("Pro", 3..5), ("Knowledge Only", 5..6)];

/// How many users' entitlements the gate cases cycle through.
const SAMPLED_USERS: i64 = 1000;

pub async fn run(args: AccessArgs) -> Result<(), BoxError> {
    let started = Instant::now();
    println!("== access on {} with {} users", args.database.name(), args.users);
    let database = BenchDatabase::create(args.database, &args.postgres_url).await?;
    println!("database: {}", redact_url(&database.url));
    let result = bench(&args, &database).await;
    let dropped = database.drop_database().await;
    result?;
    dropped?;
    println!("done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A measured case: sequential latency, or latency and throughput under concurrent load.
#[derive(Debug)]
struct Measured {
    name: String,
    summary: Summary,
    per_second: Option<f64>,
}

async fn bench(args: &AccessArgs, database: &BenchDatabase) -> Result<(), BoxError> {
    let app = Application::build(&Settings::for_database(&database.url)).await?;
    let created = app.bootstrap().ok_or("the database was not empty: no first tenant created")?;
    let token = created.token.expose().to_owned();
    let tenant = created.tenant.id;
    let base = Url::parse(&format!("http://{}/", app.address()))?;
    let db = app.state().store.connection().clone();
    let server = tokio::spawn(app.run_until_stopped());
    let client = Client::builder().no_proxy().build()?;
    let version = server_version(&db).await?;
    println!("server on {base}, {version}");

    let result = async {
        println!("seeding {} users...", args.users);
        let seeding = Instant::now();
        seed(&db, tenant, &SeedPlan::new(args.users, Utc::now())).await?;
        let kinds = create_kinds(&client, &base, &token).await?;
        assign_seats(&db, tenant, &kinds).await?;
        let seeding = seeding.elapsed();
        check_metrics(&client, &base, &token, &db, tenant).await?;
        let sample = sample_users(&db, tenant).await?;

        let measured = measure_all(args, &client, &base, &token, &sample).await?;
        let report = report(args, &version, seeding, &measured);
        println!("\n{report}");
        std::fs::create_dir_all(&args.results_dir)?;
        let path = args.results_dir.join(format!("access-{}.md", args.database.name()));
        std::fs::write(&path, &report)?;
        println!("wrote {}", path.display());
        Ok::<_, BoxError>(())
    }
    .await;

    server.abort();
    db.close_by_ref().await?;
    result
}

/// Creates the license kinds through the API, with room for every user; returns their ids.
async fn create_kinds(client: &Client, base: &Url, token: &str) -> Result<Vec<Uuid>, BoxError> {
    let mut ids = Vec::new();
    for (name, _) in KINDS {
        let response = client
            .post(base.join("v1/licenses")?)
            .bearer_auth(token)
            .json(&json!({ "name": name, "seats": 1_000_000_000u64 }))
            .send()
            .await?;
        let body: Json = response.json().await?;
        ids.push(body["id"].as_str().ok_or_else(|| format!("creating license {name}: {body}"))?.parse()?);
    }
    Ok(ids)
}

/// Gives the seeded users their seats in bulk (as the seeding writes users, behind the
/// application's back) and sets every kind's `assigned` to match, as the application keeps it.
async fn assign_seats(db: &DatabaseConnection, tenant: TenantId, kinds: &[Uuid]) -> Result<(), BoxError> {
    let backend = db.get_database_backend();
    let started = Instant::now();
    let number = match backend {
        DbBackend::Postgres => "CAST(substring(email from 5 for position('@' in email) - 5) AS BIGINT)",
        _ => "CAST(substr(email, 5, instr(email, '@') - 5) AS INTEGER)",
    };
    let mut cases = String::new();
    for (k, (_, range)) in KINDS.iter().enumerate() {
        let _ = write!(cases, " WHEN {number} % 10 >= {} AND {number} % 10 < {} THEN {{k{k}}}", range.start, range.end);
    }
    let sql = format!(
        "UPDATE users SET license_id = CASE{cases} END \
         WHERE tenant_id = {{p}} AND status <> 'deactivated' AND email LIKE 'user%@example.com' AND {number} % 10 < {}",
        KINDS[KINDS.len() - 1].1.end
    );
    let mut values = vec![Value::from(tenant.as_uuid())];
    let mut sql = sql.replace("{p}", if backend == DbBackend::Postgres { "$1" } else { "?1" });
    for (k, id) in kinds.iter().enumerate() {
        sql = sql.replace(
            &format!("{{k{k}}}"),
            &if backend == DbBackend::Postgres { format!("${}", k + 2) } else { format!("?{}", k + 2) },
        );
        values.push(Value::from(*id));
    }
    let updated = db.execute_raw(Statement::from_sql_and_values(backend, sql, values)).await?;
    let recount = "UPDATE license_kinds SET assigned = \
                   (SELECT COUNT(*) FROM users WHERE users.license_id = license_kinds.id) WHERE tenant_id = {p}";
    db.execute_raw(tenant_statement(backend, recount, tenant)).await?;
    match backend {
        DbBackend::Postgres => db.execute_unprepared("VACUUM (ANALYZE) users").await?,
        _ => db.execute_unprepared("ANALYZE").await?,
    };
    println!("  assigned {} seats in {:.1} s", updated.rows_affected(), started.elapsed().as_secs_f64());
    Ok(())
}

/// Checks that `/v1/metrics` tells what counting the tables says.
async fn check_metrics(
    client: &Client,
    base: &Url,
    token: &str,
    db: &DatabaseConnection,
    tenant: TenantId,
) -> Result<(), BoxError> {
    let metrics: Json = serde_json::from_slice(get(client, &base.join("v1/metrics")?, Some(token)).await?.as_ref())?;
    let count = |condition: &str| {
        let sql = format!("SELECT COUNT(*) AS v FROM users WHERE tenant_id = {{p}}{condition}");
        async move { scalar_i64(db, &sql, tenant).await }
    };
    let expected = [
        ("total_users", count("").await?),
        ("licensed", count(" AND license_id IS NOT NULL").await?),
        ("unlicensed", count(" AND license_id IS NULL AND status <> 'deactivated'").await?),
        ("administrators", count(" AND role = 'administrator' AND status <> 'deactivated'").await?),
        ("active", count(" AND status = 'active'").await?),
        ("deactivated", count(" AND status = 'deactivated'").await?),
    ];
    for (field, value) in expected {
        if metrics[field].as_i64() != Some(value) {
            return Err(
                format!("/v1/metrics says {field} = {}, counting the table says {value}", metrics[field]).into()
            );
        }
    }
    // Seeded invited users have no link: every one of them counts as an expired invitation.
    let invited = count(" AND status = 'invited'").await?;
    let (pending, expired) = (metrics["pending_invitations"].as_i64(), metrics["expired_invitations"].as_i64());
    if pending.zip(expired).map(|(p, e)| p + e) != Some(invited) {
        return Err(format!("/v1/metrics says {pending:?} pending and {expired:?} expired invitations, counting the table says {invited} invited").into());
    }
    println!("  /v1/metrics agrees with COUNT(*): {metrics}");
    Ok(())
}

/// Ids of [`SAMPLED_USERS`] users spread over the tenant (licensed or not, any status).
async fn sample_users(db: &DatabaseConnection, tenant: TenantId) -> Result<Vec<Uuid>, BoxError> {
    let total = scalar_i64(db, "SELECT COUNT(*) AS v FROM users WHERE tenant_id = {p}", tenant).await?;
    let step = (total / SAMPLED_USERS).max(1);
    let sql = format!(
        "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n FROM users WHERE tenant_id = {{p}}) AS t \
         WHERE n % {step} = 0"
    );
    let rows = db.query_all_raw(tenant_statement(db.get_database_backend(), &sql, tenant)).await?;
    Ok(rows.iter().map(|row| row.try_get::<Uuid>("", "id")).collect::<Result<_, _>>()?)
}

async fn measure_all(
    args: &AccessArgs,
    client: &Client,
    base: &Url,
    token: &str,
    sample: &[Uuid],
) -> Result<Vec<Measured>, BoxError> {
    let budget = Budget::new(args.warmup, args.requests, args.case_budget_secs);
    let healthz = vec![base.join("healthz")?];
    let me = vec![base.join("v1/me")?];
    let metrics = vec![base.join("v1/metrics")?];
    let mine = vec![base.join("v1/me/entitlements")?];
    let theirs =
        sample.iter().map(|id| base.join(&format!("v1/users/{id}/entitlements"))).collect::<Result<Vec<_>, _>>()?;
    let cases: [(&str, &[Url], Option<&str>); 5] = [
        ("baseline: GET /healthz (HTTP + framework, no database)", &healthz, None),
        ("baseline: GET /v1/me (HTTP + token lookup + one user by id)", &me, Some(token)),
        ("GET /v1/metrics", &metrics, Some(token)),
        ("GET /v1/me/entitlements", &mine, Some(token)),
        ("GET /v1/users/{id}/entitlements (1,000 users in turn)", &theirs, Some(token)),
    ];
    let mut measured = Vec::new();
    println!("sequential requests ({} warm-ups, up to {} per case)...", args.warmup, args.requests);
    for (name, urls, token) in cases {
        let mut next = 0;
        let samples = measure(&budget, || {
            next += 1;
            let url = &urls[next % urls.len()];
            async move { get(client, url, token).await.map(drop) }
        })
        .await?;
        println!("  {name}: p50 {} ms, p99 {} ms", ms(samples.summary().p50), ms(samples.summary().p99));
        measured.push(Measured { name: name.to_owned(), summary: samples.summary(), per_second: None });
    }
    let duration = Duration::from_secs_f64(args.load_secs);
    println!("{} concurrent clients, {} s per case...", args.concurrency, args.load_secs);
    for (name, urls, token) in [cases[0], cases[2], cases[4]] {
        let result = load(client, urls, token, args.concurrency, duration).await?;
        let name = format!("{name}, {} concurrent clients", args.concurrency);
        println!("  {name}: {:.0} requests/s, p50 {} ms", result.per_second, ms(result.samples.summary().p50));
        measured.push(Measured { name, summary: result.samples.summary(), per_second: Some(result.per_second) });
    }
    Ok(measured)
}

fn report(args: &AccessArgs, version: &str, seeding: Duration, measured: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Dashboard and access gate on {} with {} users in one tenant\n",
        args.database.name(),
        args.users
    );
    let _ = writeln!(
        out,
        "{version}; {} CPUs; seeding and assigning seats took {:.1} s. 60 % of the users who are not deactivated \
         hold a seat of one of three license kinds. Loopback HTTP/1.1 with keep-alive; the clients run in the \
         server's process, sharing its CPUs. Sequential cases: {} warm-ups, up to {} measured requests. Concurrent \
         cases: {} clients for {} s. Generated {}.\n",
        std::thread::available_parallelism().map_or(0, usize::from),
        seeding.as_secs_f64(),
        args.warmup,
        args.requests,
        args.concurrency,
        args.load_secs,
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
    );
    let _ = writeln!(out, "| case | p50 ms | p95 ms | p99 ms | requests/s | requests |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for m in measured {
        let rate = m.per_second.map_or_else(|| "-".to_owned(), |rate| format!("{rate:.0}"));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {rate} | {} |",
            m.name,
            ms(m.summary.p50),
            ms(m.summary.p95),
            ms(m.summary.p99),
            m.summary.n
        );
    }
    out
}
