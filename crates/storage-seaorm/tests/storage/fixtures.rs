//! Seeding helpers shared by the storage tests.

use std::sync::Arc;

use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use roster_domain::budget::{Budget, BudgetPeriod, BudgetPolicy, Credits, Threshold};
use roster_domain::ports::{
    AuditLog as _, BudgetRepository, LicenseRepository, SystemClock, TenantRepository as _, UsageLedger, UserRepository,
};
use roster_domain::services::{CreatedTenant, TenantService};
use roster_domain::usage::{
    EventOutcome, IdempotencyKey, Metrics, Reservation, ReservationTtl, ReserveOutcome, ReserveRequest, UsageEvent,
};
use roster_domain::user::NewUser;
use roster_domain::{
    Actor, AuditAction, AuditEvent, AuditQuery, Email, LicenseKind, LicenseKindId, LicenseName, Premises, Role, Seats,
    StoreError, TenantId, TenantName, Timestamp, User, UserSource,
};
use roster_storage::Store;
use roster_storage::testing::TestDatabase;
use sea_orm::{ConnectionTrait as _, DbBackend, QueryResult, Statement, Value};

/// A tenant with its first administrator.
pub async fn tenant(store: &Store, name: &str) -> CreatedTenant {
    TenantService::new(Arc::new(store.clone()), Arc::new(SystemClock))
        .create(TenantName::parse(name).unwrap(), Email::parse(&format!("admin@{name}.test")).unwrap())
        .await
        .expect("tenant created")
}

/// A user of `tenant` built in memory (not stored).
pub fn user_of(created: &CreatedTenant, email: &str, role: Role, at: Timestamp) -> User {
    let new = NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role, referral_code: None };
    User::create(created.tenant.id, new, UserSource::Created, at)
}

/// Stores `user` as created by the system.
pub async fn insert(store: &Store, user: &User) {
    let audit = AuditEvent::user_created(&Actor::system(user.tenant), user, user.created_at);
    UserRepository::insert(store, user, None, &audit).await.expect("user inserted");
}

/// Stores a user of `tenant` with `email` and `role`, created now.
pub async fn add(store: &Store, created: &CreatedTenant, email: &str, role: Role) -> User {
    let user = user_of(created, email, role, now());
    insert(store, &user).await;
    user
}

/// A license kind of `tenant` named `name` with `seats` seats, built in memory (not stored).
pub fn license_of(created: &CreatedTenant, name: &str, seats: u64) -> LicenseKind {
    LicenseKind {
        id: LicenseKindId::new(),
        tenant: created.tenant.id,
        name: LicenseName::parse(name).unwrap(),
        seats: Seats::new(seats).unwrap(),
        assigned: 0,
        created_at: now(),
    }
}

/// Stores a license kind of `tenant` named `name` with `seats` seats, created by the system.
pub async fn add_license(store: &Store, created: &CreatedTenant, name: &str, seats: u64) -> LicenseKind {
    let kind = license_of(created, name, seats);
    let audit = AuditEvent::license_created(&Actor::system(created.tenant.id), &kind, kind.created_at);
    LicenseRepository::create(store, &kind, None, &audit).await.expect("license kind created");
    kind
}

/// Now, at the microsecond precision stored.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

/// `days` days ago.
pub fn days_ago(days: i64) -> Timestamp {
    now() - Duration::days(days)
}

/// Silences the "unused" lint for helpers only some test modules use.
#[allow(dead_code)]
pub async fn tenant_exists(store: &Store, name: &str) -> bool {
    store.find_by_name(&TenantName::parse(name).unwrap()).await.unwrap().is_some()
}

/// Changes `before` into `after` through `action`, on behalf of the system.
pub async fn change(store: &Store, before: &User, after: &User, action: AuditAction) -> Result<(), StoreError> {
    let actor = Actor::system(before.tenant);
    let premises = Premises::of(&actor, before, Some((after.role, after.status)));
    let audit = AuditEvent::user_changed(&actor, action, before, after, now());
    UserRepository::update(store, after, &premises, &audit).await
}

/// Stores an active user of `tenant` with `email`, holding a seat of `kind`: one who may use AI.
pub async fn add_licensed(store: &Store, created: &CreatedTenant, email: &str, kind: &LicenseKind) -> User {
    let user = add(store, created, email, Role::User).await;
    let after = user.with_license(Some(kind.id), now());
    change(store, &user, &after, AuditAction::UserLicenseChanged).await.expect("seat assigned");
    after
}

/// An administrator of `tenant`, stored, then made a plain user: an actor whose role changed.
pub async fn former_administrator(store: &Store, created: &CreatedTenant, email: &str) -> Actor {
    let admin = add(store, created, email, Role::Administrator).await;
    let demoted = admin.with_role(Role::User, now());
    change(store, &admin, &demoted, AuditAction::UserRoleChanged).await.expect("administrator demoted");
    Actor::user(admin.tenant, admin.id, admin.email, Role::Administrator)
}

/// A budget policy of `limit` credits per `period`, warning at 80 %.
pub fn policy(limit: i64, period: BudgetPeriod, hard: bool) -> BudgetPolicy {
    BudgetPolicy { limit: Credits::new(limit).unwrap(), period, warn_at: Threshold::new(80).ok(), hard }
}

/// A hard budget of `limit` credits that never resets.
pub fn hard(limit: i64) -> BudgetPolicy {
    policy(limit, BudgetPeriod::None, true)
}

/// Gives `user` the budget `policy` (or none) at `at`, on behalf of the system; returns it as stored.
pub async fn set_budget(
    store: &Store,
    user: &User,
    policy: Option<BudgetPolicy>,
    at: Timestamp,
) -> Result<Option<Budget>, StoreError> {
    let audit = AuditEvent::user_budget_changed(&Actor::system(user.tenant), user, None, policy.as_ref(), at);
    BudgetRepository::set_budget(store, user.tenant, user.id, policy, at, None, &audit).await
}

/// The budget of `user` as stored (read as of the epoch: no reservation had expired yet, so
/// every credit the row holds counts).
pub async fn stored_budget(store: &Store, user: &User) -> Option<Budget> {
    BudgetRepository::budget(store, user.tenant, user.id, chrono::DateTime::UNIX_EPOCH).await.unwrap()
}

/// Stores an active user of `tenant` holding a seat of `kind`, with the budget `policy` set at `at`.
pub async fn add_budgeted(
    store: &Store,
    created: &CreatedTenant,
    email: &str,
    kind: &LicenseKind,
    policy: BudgetPolicy,
    at: Timestamp,
) -> User {
    let user = add_licensed(store, created, email, kind).await;
    set_budget(store, &user, Some(policy), at).await.expect("budget set");
    user
}

/// The credits of `user`'s budget held and consumed, as stored.
pub async fn held_and_consumed(store: &Store, user: &User) -> (i64, i64) {
    let budget = stored_budget(store, user).await.expect("a budget");
    (budget.reserved.get(), budget.consumed.get())
}

/// `value` credits.
pub fn credits(value: i64) -> Credits {
    Credits::new(value).unwrap()
}

/// A request to hold `amount` credits of `user` under `key`, for the default lifetime.
pub fn request(user: &User, key: &str, amount: i64) -> ReserveRequest {
    ReserveRequest {
        tenant: user.tenant,
        user: user.id,
        credits: credits(amount),
        key: IdempotencyKey::parse(key).unwrap(),
        ttl: ReservationTtl::DEFAULT,
    }
}

/// Asks to hold `amount` credits of `user` under `key` at `at`.
pub async fn reserve(store: &Store, user: &User, key: &str, amount: i64, at: Timestamp) -> ReserveOutcome {
    UsageLedger::reserve(store, &request(user, key, amount), at).await.unwrap()
}

/// The reservation `outcome` granted; panics when it granted none.
pub fn granted(outcome: ReserveOutcome) -> Reservation {
    match outcome {
        ReserveOutcome::Reserved { reservation, .. } => reservation,
        other => panic!("expected a reservation, got {other:?}"),
    }
}

/// `amount` credits used by `user`, recorded under `key`, at the instant it is recorded.
pub fn event(user: &User, key: &str, amount: i64) -> UsageEvent {
    UsageEvent {
        key: IdempotencyKey::parse(key).unwrap(),
        user: user.id,
        credits: credits(amount),
        metrics: Metrics::default(),
        occurred_at: None,
    }
}

/// Records `amount` credits used by `user` under `key` at `at`, without reservation.
pub async fn spend(store: &Store, user: &User, key: &str, amount: i64, at: Timestamp) {
    let outcomes = UsageLedger::record_events(store, user.tenant, &[event(user, key, amount)], at).await.unwrap();
    assert_eq!(outcomes, vec![EventOutcome::Recorded]);
}

/// The instant written in RFC 3339.
pub fn at(text: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

/// The events of `tenant` with `action`.
pub async fn events(store: &Store, tenant: TenantId, action: AuditAction) -> Vec<AuditEvent> {
    let query = AuditQuery { action: Some(action), ..AuditQuery::default() };
    store.list_events(tenant, &query).await.unwrap().items
}

/// A raw statement written with `?` placeholders, numbered `$1, $2, ...` for PostgreSQL.
pub fn statement(backend: DbBackend, sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    let sql = if backend == DbBackend::Postgres {
        let mut n = 0;
        sql.chars()
            .map(|c| {
                if c == '?' {
                    n += 1;
                    format!("${n}")
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Every row of `table` whose `column` is the id `id`, read with raw SQL.
pub async fn rows_of(db: &TestDatabase, table: &str, column: &str, id: uuid::Uuid) -> Vec<QueryResult> {
    let sql = format!("SELECT * FROM {table} WHERE {column} = ?");
    db.store.connection().query_all_raw(statement(db.backend(), &sql, [id.into()])).await.unwrap()
}

/// The count `sql` (a `SELECT COUNT(*) AS n ...` with `?` placeholders) reads, with raw SQL.
pub async fn count(db: &TestDatabase, sql: &str, values: impl IntoIterator<Item = Value>) -> i64 {
    let row = db.store.connection().query_one_raw(statement(db.backend(), sql, values)).await;
    row.unwrap().expect("a count").try_get("", "n").unwrap()
}

/// Whether `needle` occurs in `haystack`.
pub fn occurs(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// Every column of `row` that reads as text, bytes or JSON, by name, as bytes.
pub fn readable_columns(row: &QueryResult) -> Vec<(String, Vec<u8>)> {
    let mut read = Vec::new();
    for (i, name) in row.column_names().into_iter().enumerate() {
        if let Ok(Some(text)) = row.try_get_by_index::<Option<String>>(i) {
            read.push((name.clone(), text.into_bytes()));
        }
        if let Ok(Some(bytes)) = row.try_get_by_index::<Option<Vec<u8>>>(i) {
            read.push((name.clone(), bytes));
        }
        if let Ok(Some(json)) = row.try_get_by_index::<Option<serde_json::Value>>(i) {
            read.push((name, json.to_string().into_bytes()));
        }
    }
    read
}

/// PostgreSQL: makes the next insert into `table` fail once with the error `sqlstate`, as a
/// deadlock (`40P01`) or a row deleted meanwhile (`23503`) would (a sequence counts the
/// attempts: unlike them, it is not rolled back).
pub async fn fail_next_insert_once(db: &TestDatabase, table: &str, sqlstate: &str) {
    for sql in [
        format!("CREATE SEQUENCE {table}_attempts"),
        format!(
            "CREATE FUNCTION {table}_fail_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF nextval('{table}_attempts') = 1 THEN RAISE EXCEPTION 'failed once' USING ERRCODE = '{sqlstate}'; \
             END IF; RETURN NEW; END $$"
        ),
        format!("CREATE TRIGGER fail_once BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_fail_once()"),
    ] {
        sea_orm::ConnectionTrait::execute_unprepared(db.store.connection(), &sql).await.unwrap();
    }
}
