//! `users-list`: latency of `GET /v1/users` on one tenant with many users.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Client, StatusCode, Url};
use roster_domain::user::SortDirection;
use roster_domain::{
    Email, ReferralCode, Role, SearchText, TenantId, UserCursor, UserFilter, UserId, UserQuery, UserSort,
    UserSortField, UserStatus,
};
use roster_http::settings::redact_url;
use roster_http::{Application, Settings};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend, Statement, Value};
use serde_json::Value as Json;
use uuid::Uuid;

use crate::client::get;
use crate::database::{BenchDatabase, SeedPlan, scalar_i64, seed, server_version, tenant_statement};
use crate::query_string::http_params;
use crate::stats::{Budget, Summary, measure, ms};
use crate::{BoxError, UsersListArgs};

pub async fn run(args: UsersListArgs) -> Result<(), BoxError> {
    let started = Instant::now();
    println!("== users-list on {} with {} users", args.database.name(), args.users);
    let database = BenchDatabase::create(args.database, &args.postgres_url).await?;
    println!("database: {}", redact_url(&database.url));
    let result = bench(&args, &database).await;
    let dropped = database.drop_database().await;
    result?;
    dropped?;
    println!("done in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// One list request to measure.
#[derive(Debug)]
struct Case {
    name: String,
    query: UserQuery,
}

/// A measured case.
#[derive(Debug)]
struct Measured {
    name: String,
    summary: Summary,
    /// The list's total and whether it is exact.
    total: Option<(u64, bool)>,
}

async fn bench(args: &UsersListArgs, database: &BenchDatabase) -> Result<(), BoxError> {
    // The real application, in-process: migrations, first tenant and administrator, HTTP server.
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
        check_timestamp_format(&client, &base, &token, &db).await?;

        println!("seeding {} users...", args.users);
        let plan = SeedPlan::new(args.users, Utc::now());
        let seeding = Instant::now();
        seed(&db, tenant, &plan).await?;
        let seeding = seeding.elapsed();
        let in_tenant = scalar_i64(&db, "SELECT COUNT(*) AS v FROM users WHERE tenant_id = {p}", tenant).await?;
        println!("seeded in {:.1} s; the tenant has {in_tenant} users", seeding.as_secs_f64());

        let cases = cases(&db, tenant, &plan).await?;
        let measured = measure_all(args, &client, &base, &token, &db, &cases).await?;
        let report = report(args, &version, seeding, in_tenant, &measured);
        println!("\n{report}");
        std::fs::create_dir_all(&args.results_dir)?;
        let table_path = args.results_dir.join(format!("users-list-{}.md", args.database.name()));
        std::fs::write(&table_path, &report)?;
        println!("wrote {}", table_path.display());

        Ok::<_, BoxError>(())
    }
    .await;

    server.abort();
    db.close_by_ref().await?;
    result
}

/// Creates one user through the API and checks that its stored `created_at` has the format the
/// seeding writes (on SQLite, where timestamps are text).
async fn check_timestamp_format(
    client: &Client,
    base: &Url,
    token: &str,
    db: &DatabaseConnection,
) -> Result<(), BoxError> {
    let email = "probe.user@example.org";
    let response = client
        .post(base.join("v1/users")?)
        .bearer_auth(token)
        .json(&serde_json::json!({ "email": email, "name": "Probe User" }))
        .send()
        .await?;
    if response.status() != StatusCode::CREATED {
        return Err(format!("creating the probe user: {} {}", response.status(), response.text().await?).into());
    }
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT pg_typeof(id)::text AS id_type, pg_typeof(tenant_id)::text AS tenant_type, \
             created_at::text AS created_at, pg_typeof(created_at)::text AS created_type FROM users WHERE email = $1"
        }
        _ => {
            "SELECT typeof(id) AS id_type, typeof(tenant_id) AS tenant_type, CAST(created_at AS TEXT) AS created_at, \
             typeof(created_at) AS created_type FROM users WHERE email = ?"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [Value::from(email)]))
        .await?
        .ok_or("the probe user is not in the table")?;
    let get = |column: &str| row.try_get::<String>("", column);
    let (id_type, tenant_type, created_at, created_type) =
        (get("id_type")?, get("tenant_type")?, get("created_at")?, get("created_type")?);
    println!("probe user stored as: id {id_type}, tenant_id {tenant_type}, created_at {created_type} {created_at:?}");
    if backend == DbBackend::Sqlite {
        // The seeding writes `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (odd microseconds, so never the
        // shorter forms chrono's AutoSi would choose for whole milliseconds or seconds).
        let bytes = created_at.as_bytes();
        let same_shape = DateTime::parse_from_rfc3339(&created_at).is_ok()
            && bytes.get(10) == Some(&b'T')
            && bytes.get(19).is_none_or(|&b| b == b'.' || b == b'+')
            && created_at.ends_with("+00:00");
        if !same_shape || id_type != "blob" || tenant_type != "blob" || created_type != "text" {
            return Err(format!(
                "the application stores users differently from what the seeding writes: {id_type} {tenant_type} \
                 {created_type} {created_at:?}"
            )
            .into());
        }
    }
    Ok(())
}

/// The cases measured, with cursors and values taken from the seeded data.
async fn cases(db: &DatabaseConnection, tenant: TenantId, plan: &SeedPlan) -> Result<Vec<Case>, BoxError> {
    let backend = db.get_database_backend();
    let middle = plan.users / 2;
    let row = db
        .query_one_raw(tenant_statement(
            backend,
            &format!(
                "SELECT created_at, id FROM users WHERE tenant_id = {{p}} \
                 ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET {middle}"
            ),
            tenant,
        ))
        .await?
        .ok_or("no middle row")?;
    let middle_at: DateTime<Utc> = row.try_get("", "created_at")?;
    let middle_id: Uuid = row.try_get("", "id")?;
    let row = db
        .query_one_raw(tenant_statement(
            backend,
            &format!("SELECT email FROM users WHERE tenant_id = {{p}} ORDER BY email LIMIT 1 OFFSET {middle}"),
            tenant,
        ))
        .await?
        .ok_or("no middle email")?;
    let middle_email = Email::parse(&row.try_get::<String>("", "email")?)?;
    let rare = format!("user{:07}", (plan.users * 7 / 9).max(1));
    let now = Utc::now();
    let month_start = DateTime::from_timestamp(now.timestamp() - 365 * 86_400, 0).ok_or("bad date")?;
    let month_end = month_start + TimeDelta::days(30);
    let by_email = UserSort { field: UserSortField::Email, direction: SortDirection::Asc };

    let filtered = |filter: UserFilter| UserQuery { filter, ..UserQuery::default() };
    Ok(vec![
        Case { name: "newest first, first page".into(), query: UserQuery::default() },
        Case {
            name: format!("newest first, deep page (after row {middle})"),
            query: UserQuery {
                after: Some(UserCursor::CreatedAt(middle_at, UserId::from(middle_id))),
                ..UserQuery::default()
            },
        },
        Case { name: "sort=email asc, first page".into(), query: UserQuery { sort: by_email, ..UserQuery::default() } },
        Case {
            name: format!("sort=email asc, deep page (after {})", middle_email.as_str()),
            query: UserQuery { sort: by_email, after: Some(UserCursor::Email(middle_email)), ..UserQuery::default() },
        },
        Case {
            name: "role=administrator".into(),
            query: filtered(UserFilter { role: Some(Role::Administrator), ..UserFilter::default() }),
        },
        Case {
            name: "role=administrator&sort=email".into(),
            query: UserQuery {
                sort: by_email,
                ..filtered(UserFilter { role: Some(Role::Administrator), ..UserFilter::default() })
            },
        },
        Case {
            name: "role=collaborator".into(),
            query: filtered(UserFilter { role: Some(Role::Collaborator), ..UserFilter::default() }),
        },
        Case {
            name: "status=deactivated".into(),
            query: filtered(UserFilter { status: Some(UserStatus::Deactivated), ..UserFilter::default() }),
        },
        Case {
            name: "referral_code=SPRING".into(),
            query: filtered(UserFilter {
                referral_code: Some(ReferralCode::parse("SPRING")?),
                ..UserFilter::default()
            }),
        },
        Case {
            name: "referral_code=RARE".into(),
            query: filtered(UserFilter { referral_code: Some(ReferralCode::parse("RARE")?), ..UserFilter::default() }),
        },
        Case {
            name: "q=example (matches all)".into(),
            query: filtered(UserFilter { q: Some(SearchText::parse("example")?), ..UserFilter::default() }),
        },
        Case {
            name: format!("q={rare} (matches one)"),
            query: filtered(UserFilter { q: Some(SearchText::parse(&rare)?), ..UserFilter::default() }),
        },
        Case {
            name: "q=e (one character: matches all, no trigram)".into(),
            query: filtered(UserFilter { q: Some(SearchText::parse("e")?), ..UserFilter::default() }),
        },
        Case {
            name: "q=zq (two characters, matches none: a scan)".into(),
            query: filtered(UserFilter { q: Some(SearchText::parse("zq")?), ..UserFilter::default() }),
        },
        Case {
            name: "created_from/created_to: 30 days a year ago".into(),
            query: filtered(UserFilter {
                created_from: Some(month_start),
                created_to: Some(month_end),
                ..UserFilter::default()
            }),
        },
    ])
}

fn list_url(base: &Url, query: &UserQuery) -> Result<Url, BoxError> {
    let mut url = base.join("v1/users")?;
    let params = http_params(query);
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    Ok(url)
}

/// A total as shown: `100000+` when it is a lower bound.
fn shown(total: Option<(u64, bool)>) -> String {
    match total {
        Some((count, true)) => count.to_string(),
        Some((count, false)) => format!("{count}+"),
        None => "-".to_owned(),
    }
}

fn print_measured(name: &str, summary: &Summary, total: Option<(u64, bool)>) {
    println!(
        "  {name}: p50 {} ms, p95 {} ms, p99 {} ms over {} requests{}",
        ms(summary.p50),
        ms(summary.p95),
        ms(summary.p99),
        summary.n,
        total.map(|t| format!(", total {}", shown(Some(t)))).unwrap_or_default()
    );
}

async fn measure_all(
    args: &UsersListArgs,
    client: &Client,
    base: &Url,
    token: &str,
    db: &DatabaseConnection,
    cases: &[Case],
) -> Result<Vec<Measured>, BoxError> {
    let backend = db.get_database_backend();
    let budget = Budget::new(args.warmup, args.requests, args.case_budget_secs);
    let mut measured = Vec::new();
    println!("measuring (sequential requests, {} warm-ups, up to {} per case)...", args.warmup, args.requests);

    let baselines: [(&str, Url, Option<&str>); 2] = [
        ("baseline: GET /healthz (HTTP + framework, no database)", base.join("healthz")?, None),
        ("baseline: GET /v1/me (HTTP + token lookup + one user by id)", base.join("v1/me")?, Some(token)),
    ];
    for (name, url, token) in baselines {
        let samples = measure(&budget, || async { get(client, &url, token).await.map(drop) }).await?;
        print_measured(name, &samples.summary(), None);
        measured.push(Measured { name: name.to_owned(), summary: samples.summary(), total: None });
    }
    let name = "baseline: SELECT 1 through the application's pool (no HTTP)";
    let samples = measure(&budget, || async {
        db.query_one_raw(Statement::from_string(backend, "SELECT 1")).await?;
        Ok(())
    })
    .await?;
    print_measured(name, &samples.summary(), None);
    measured.push(Measured { name: name.to_owned(), summary: samples.summary(), total: None });

    for case in cases {
        let url = list_url(base, &case.query)?;
        let first: Json = serde_json::from_slice(get(client, &url, Some(token)).await?.as_ref())?;
        let total = first["total"].as_u64().ok_or("the response has no total")?;
        let exact = first["total_exact"].as_bool().ok_or("the response has no total_exact")?;
        let samples = measure(&budget, || async { get(client, &url, Some(token)).await.map(drop) }).await?;
        print_measured(&case.name, &samples.summary(), Some((total, exact)));
        measured.push(Measured { name: case.name.clone(), summary: samples.summary(), total: Some((total, exact)) });
    }
    Ok(measured)
}

fn report(args: &UsersListArgs, version: &str, seeding: Duration, in_tenant: i64, measured: &[Measured]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# GET /v1/users on {} with {} users in one tenant\n", args.database.name(), in_tenant);
    let _ = writeln!(
        out,
        "{version}; {} CPUs; seeding took {:.1} s (including ANALYZE). Sequential requests over loopback HTTP/1.1 \
         with keep-alive, {} warm-ups, up to {} measured requests per case (fewer when a case exceeds {} s). \
         Latency includes the token lookup, the page query and the `total` count. Generated {}.\n",
        std::thread::available_parallelism().map_or(0, usize::from),
        seeding.as_secs_f64(),
        args.warmup,
        args.requests,
        args.case_budget_secs,
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
    );
    let _ = writeln!(out, "| case | p50 ms | p95 ms | p99 ms | total | requests |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    for m in measured {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            m.name.replace('|', "\\|"),
            ms(m.summary.p50),
            ms(m.summary.p95),
            ms(m.summary.p99),
            shown(m.total),
            m.summary.n
        );
    }
    out
}
