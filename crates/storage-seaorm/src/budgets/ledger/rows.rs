//! Reservation rows: read, locked, inserted, closed and expired, many at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use roster_domain::budget::{Budget, Credits, MAX_CREDITS};
use roster_domain::usage::{IdempotencyKey, Reservation};
use roster_domain::{ReservationId, StoreError, TenantId, Timestamp, UserId, UserStatus};
use sea_orm::{ConnectionTrait as _, DatabaseTransaction, DbBackend, QueryResult, Statement, Value};

use crate::budgets::{BUDGET_COLUMNS, from_row};
use crate::listed::{Cell, Listed, UNESTIMATED, uuid_in, uuid_in_or};
use crate::transaction::{corrupt, raw, unexpected};
use crate::writes::Writes;

/// The columns of a reservation, with their PostgreSQL types.
const RESERVATION_COLUMNS: [(&str, &str); 9] = [
    ("id", "uuid"),
    ("tenant_id", "uuid"),
    ("user_id", "uuid"),
    ("idempotency_key", "text"),
    ("credits", "bigint"),
    ("status", "text"),
    ("committed_credits", "bigint"),
    ("created_at", "timestamptz"),
    ("expires_at", "timestamptz"),
];

fn columns() -> String {
    RESERVATION_COLUMNS.map(|(column, _)| column).join(", ")
}

fn reservation_from_row(row: &QueryResult) -> Result<Reservation, StoreError> {
    let credits = |value: i64| Credits::new(value).map_err(|e| corrupt("reservation credits", e));
    let id: uuid::Uuid = row.try_get("", "id").map_err(unexpected)?;
    let tenant: uuid::Uuid = row.try_get("", "tenant_id").map_err(unexpected)?;
    let user: uuid::Uuid = row.try_get("", "user_id").map_err(unexpected)?;
    let key: String = row.try_get("", "idempotency_key").map_err(unexpected)?;
    let status: String = row.try_get("", "status").map_err(unexpected)?;
    let committed: Option<i64> = row.try_get("", "committed_credits").map_err(unexpected)?;
    Ok(Reservation {
        id: id.into(),
        tenant: tenant.into(),
        user: user.into(),
        key: IdempotencyKey::parse(&key).map_err(|e| corrupt("idempotency key", e))?,
        credits: credits(row.try_get("", "credits").map_err(unexpected)?)?,
        status: status.parse().map_err(|e| corrupt("reservation status", e))?,
        committed: committed.map(credits).transpose()?,
        created_at: row.try_get("", "created_at").map_err(unexpected)?,
        expires_at: row.try_get("", "expires_at").map_err(unexpected)?,
    })
}

/// The reservations `ids`, and those holding one of `keys` (tenant and key), locked until
/// commit (PostgreSQL, in id order; after the budgets of their users).
pub(super) async fn lock_reservations(
    txn: &DatabaseTransaction,
    ids: &BTreeSet<ReservationId>,
    keys: &BTreeSet<(TenantId, &IdempotencyKey)>,
) -> Result<Vec<Reservation>, StoreError> {
    reservations_from_rows(&query(txn, reservations_statement(txn.get_database_backend(), ids, keys)).await?)
}

/// The statement of [`lock_reservations`]; `None` when there is nothing to read.
pub(super) fn reservations_statement(
    backend: DbBackend,
    ids: &BTreeSet<ReservationId>,
    keys: &BTreeSet<(TenantId, &IdempotencyKey)>,
) -> Option<Statement> {
    if ids.is_empty() && keys.is_empty() {
        return None;
    }
    let mut values: Vec<Value> = Vec::new();
    // One set of ids (not an `OR` of two conditions), each key looked up on its own in the
    // index of keys (not joined, which may be planned as a scan of the whole table).
    let listed = uuid_in_or(backend, "id", ids.iter().map(|id| id.as_uuid()), &mut values, |values| {
        let mut listed = Listed::new(&[("tenant_id", "uuid"), ("idempotency_key", "text")]);
        for (tenant, key) in keys {
            listed.push(vec![Cell::Uuid(tenant.as_uuid()), Cell::Text(key.as_str().to_owned())]);
        }
        let keys = listed.table(backend, "k", values);
        format!(
            "SELECT (SELECT r.id FROM reservations r WHERE r.tenant_id = k.tenant_id \
             AND r.idempotency_key = k.idempotency_key) FROM {keys}"
        )
    });
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {} FROM reservations WHERE {listed} ORDER BY id{lock}", columns());
    Some(raw(backend, &sql, values))
}

pub(super) fn reservations_from_rows(rows: &[QueryResult]) -> Result<Vec<Reservation>, StoreError> {
    rows.iter().map(reservation_from_row).collect()
}

/// The rows `statement` returns; none without a statement.
async fn query(txn: &DatabaseTransaction, statement: Option<Statement>) -> Result<Vec<QueryResult>, StoreError> {
    match statement {
        Some(statement) => txn.query_all_raw(statement).await.map_err(unexpected),
        None => Ok(Vec::new()),
    }
}

/// Marks the active reservations of `users` that expired by `now` as expired; returns the
/// credits they held, by user.
pub(crate) async fn expire_reservations(
    txn: &DatabaseTransaction,
    users: &BTreeSet<UserId>,
    now: Timestamp,
) -> Result<HashMap<UserId, i64>, StoreError> {
    let statement = expire_statement(txn.get_database_backend(), users, &BTreeSet::new(), now, Expiring::All);
    expired_from_rows(&query(txn, statement).await?)
}

/// Whose reservations [`expire_statement`] expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiring {
    /// Those of all the users named.
    All,
    /// Those of the users named whose budget holds credits: only held credits can have expired
    /// (users without a budget hold none).
    Holders,
}

/// The statement of [`expire_reservations`], for `users` and those holding the reservations
/// `ids`; `None` without either.
pub(super) fn expire_statement(
    backend: DbBackend,
    users: &BTreeSet<UserId>,
    ids: &BTreeSet<ReservationId>,
    now: Timestamp,
    expiring: Expiring,
) -> Option<Statement> {
    if users.is_empty() && ids.is_empty() {
        return None;
    }
    let mut values: Vec<Value> = vec![now.into()];
    let users = users.iter().map(|user| user.as_uuid());
    let held_by = if ids.is_empty() {
        uuid_in(backend, "user_id", users, &mut values)
    } else {
        uuid_in_or(backend, "user_id", users, &mut values, |values| {
            let held = uuid_in(backend, "id", ids.iter().map(|id| id.as_uuid()), values);
            format!("SELECT user_id FROM reservations WHERE {held}")
        })
    };
    values.push(now.into());
    let holding = if expiring == Expiring::Holders {
        " AND EXISTS (SELECT 1 FROM budgets b WHERE b.user_id = reservations.user_id AND b.reserved > 0)"
    } else {
        ""
    };
    let until = if backend == DbBackend::Sqlite { UNESTIMATED } else { "?" };
    let sql = format!(
        "UPDATE reservations SET status = 'expired', closed_at = ? \
         WHERE {held_by} AND status = 'active' AND expires_at <= {until}{holding} RETURNING user_id, credits"
    );
    Some(raw(backend, &sql, values))
}

pub(super) fn expired_from_rows(rows: &[QueryResult]) -> Result<HashMap<UserId, i64>, StoreError> {
    let mut released = HashMap::new();
    for row in rows {
        let user: uuid::Uuid = row.try_get("", "user_id").map_err(unexpected)?;
        let credits: i64 = row.try_get("", "credits").map_err(unexpected)?;
        let total: &mut i64 = released.entry(UserId::from(user)).or_default();
        *total = total.saturating_add(credits);
    }
    Ok(released)
}

/// The budgets of the users who reserve and of those holding the reservations `ids`, locked
/// until commit, in user order (`FOR UPDATE` on PostgreSQL; SQLite's write lock is the
/// transaction's already), each with what a reservation needs of its user.
pub(super) async fn lock_budgets(
    txn: &DatabaseTransaction,
    reserving: &BTreeSet<UserId>,
    ids: &BTreeSet<ReservationId>,
) -> Result<Budgets, StoreError> {
    budgets_from_rows(&query(txn, budgets_statement(txn.get_database_backend(), reserving, ids)).await?)
}

/// The statement of [`lock_budgets`]; `None` when there is nothing to read.
pub(super) fn budgets_statement(
    backend: DbBackend,
    reserving: &BTreeSet<UserId>,
    ids: &BTreeSet<ReservationId>,
) -> Option<Statement> {
    if reserving.is_empty() && ids.is_empty() {
        return None;
    }
    // One set of users (not an `OR` of two conditions).
    let mut values: Vec<Value> = Vec::new();
    let users = uuid_in_or(backend, "b.user_id", reserving.iter().map(|user| user.as_uuid()), &mut values, |values| {
        let held = uuid_in(backend, "id", ids.iter().map(|id| id.as_uuid()), values);
        format!("SELECT user_id FROM reservations WHERE {held}")
    });
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE OF b" } else { "" };
    let columns: Vec<String> = BUDGET_COLUMNS.split(", ").map(|column| format!("b.{column}")).collect();
    let sql = format!(
        "SELECT b.user_id, {}, u.tenant_id, u.status, u.license_id FROM budgets b JOIN users u ON u.id = b.user_id \
         WHERE {users} ORDER BY b.user_id{lock}",
        columns.join(", ")
    );
    Some(raw(backend, &sql, values))
}

pub(super) fn budgets_from_rows(rows: &[QueryResult]) -> Result<Budgets, StoreError> {
    let (mut budgets, mut holders) = (HashMap::new(), HashMap::new());
    for row in rows {
        let user: UserId = row.try_get::<uuid::Uuid>("", "user_id").map_err(unexpected)?.into();
        budgets.insert(user, from_row(row, "")?);
        holders.insert(user, holder_from_row(row)?);
    }
    Ok((budgets, holders))
}

/// Users' budgets, and what a reservation needs of each of those users.
pub(super) type Budgets = (HashMap<UserId, Budget>, HashMap<UserId, Holder>);

/// What a reservation needs of its user.
#[derive(Debug, Clone, Copy)]
pub(super) struct Holder {
    pub tenant: TenantId,
    pub status: UserStatus,
    pub licensed: bool,
}

/// Whether any of `users` has a budget (read without locking it).
pub(super) async fn any_budget(txn: &DatabaseTransaction, users: &BTreeSet<UserId>) -> Result<bool, StoreError> {
    if users.is_empty() {
        return Ok(false);
    }
    let backend = txn.get_database_backend();
    let mut values = Vec::new();
    let listed = uuid_in(backend, "user_id", users.iter().map(|user| user.as_uuid()), &mut values);
    let sql = format!("SELECT 1 AS found FROM budgets WHERE {listed} LIMIT 1");
    Ok(!query(txn, Some(raw(backend, &sql, values))).await?.is_empty())
}

/// The tenant, status and license of each of `users` that exists: users without a budget, held
/// for share until commit on PostgreSQL, so that a budget given to one of them meanwhile waits
/// for this transaction, or this transaction for it (and then reads it).
pub(super) async fn holders(
    txn: &DatabaseTransaction,
    users: &BTreeSet<UserId>,
) -> Result<HashMap<UserId, Holder>, StoreError> {
    holders_from_rows(&query(txn, holders_statement(txn.get_database_backend(), users)).await?)
}

/// The statement of [`holders`]; `None` without users.
pub(super) fn holders_statement(backend: DbBackend, users: &BTreeSet<UserId>) -> Option<Statement> {
    if users.is_empty() {
        return None;
    }
    let mut values = Vec::new();
    let listed = uuid_in(backend, "id", users.iter().map(|user| user.as_uuid()), &mut values);
    let lock = if backend == DbBackend::Postgres { " ORDER BY id FOR SHARE" } else { "" };
    let sql = format!("SELECT id, tenant_id, status, license_id FROM users WHERE {listed}{lock}");
    Some(raw(backend, &sql, values))
}

pub(super) fn holders_from_rows(rows: &[QueryResult]) -> Result<HashMap<UserId, Holder>, StoreError> {
    rows.iter()
        .map(|row| {
            let id: uuid::Uuid = row.try_get("", "id").map_err(unexpected)?;
            Ok((id.into(), holder_from_row(row)?))
        })
        .collect()
}

fn holder_from_row(row: &QueryResult) -> Result<Holder, StoreError> {
    let tenant: uuid::Uuid = row.try_get("", "tenant_id").map_err(unexpected)?;
    let status: String = row.try_get("", "status").map_err(unexpected)?;
    let license: Option<uuid::Uuid> = row.try_get("", "license_id").map_err(unexpected)?;
    let status = status.parse().map_err(|e| corrupt("user status", e))?;
    Ok(Holder { tenant: tenant.into(), status, licensed: license.is_some() })
}

/// Adds to `writes` the insert of `reservations`, in (tenant, key) order. On PostgreSQL, a key
/// a concurrent transaction took inserts nothing: [`Written::counted`](crate::writes::Written)
/// counts those inserted. On SQLite no other transaction writes meanwhile (the keys were read
/// under the write lock), and a taken key fails the statement.
pub(super) fn insert_reservations(writes: &mut Writes, reservations: &[&Reservation]) {
    if reservations.is_empty() {
        return;
    }
    let mut sorted = reservations.to_vec();
    sorted.sort_by(|a, b| (a.tenant, &a.key).cmp(&(b.tenant, &b.key)));
    let mut listed = Listed::new(&RESERVATION_COLUMNS);
    for r in sorted {
        listed.push(vec![
            Cell::Uuid(r.id.as_uuid()),
            Cell::Uuid(r.tenant.as_uuid()),
            Cell::Uuid(r.user.as_uuid()),
            Cell::Text(r.key.as_str().to_owned()),
            Cell::Int(r.credits.get()),
            Cell::Text(r.status.as_str().to_owned()),
            Cell::OptionalInt(r.committed.map(Credits::get)),
            Cell::Time(r.created_at),
            Cell::Time(r.expires_at),
        ]);
    }
    if writes.backend() == DbBackend::Postgres {
        let tail = "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id";
        let (sql, values) = listed.insert(writes.backend(), "reservations", tail);
        writes.push_counted(sql, values);
    } else {
        let (sql, values) = listed.insert(writes.backend(), "reservations", "");
        writes.push(sql, values);
    }
}

/// Adds to `writes` what stores the status (and credits committed) of each of `closed`, closed
/// at `now`.
pub(super) fn close_reservations(writes: &mut Writes, closed: &[&Reservation], now: Timestamp) {
    if closed.is_empty() {
        return;
    }
    let mut listed = Listed::new(&[("id", "uuid"), ("status", "text"), ("committed", "bigint")]);
    for r in closed {
        let status = Cell::Text(r.status.as_str().to_owned());
        listed.push(vec![Cell::Uuid(r.id.as_uuid()), status, Cell::OptionalInt(r.committed.map(Credits::get))]);
    }
    let mut values = vec![now.into()];
    let source = listed.table(writes.backend(), "listed", &mut values);
    let sql = format!(
        "UPDATE reservations SET status = listed.status, committed_credits = listed.committed, closed_at = ? \
         FROM {source} WHERE reservations.id = listed.id"
    );
    writes.push(sql, values);
}

/// Adds to `writes` what gives a budget that did not exist when the batch read its users'
/// budgets (PostgreSQL: `set_budget` committed since) what the batch did for those users:
/// credits held by reservations closed (`reserved` down), and credits committed (`consumed`
/// up); reservations made are judged by such a budget already (see [`holders`]). Such a budget
/// counted the reservations active when it was created, after waiting for the transactions
/// closing them; the statement sees it exactly when it counted this batch's reservations. Changes
/// nothing where no budget exists. The one budget lock a batch takes after reservation and
/// counter locks: should it deadlock with a batch that locked that budget first (and wants a
/// counter of the same user), PostgreSQL fails one of the two, whose operations run again.
pub(super) fn adjust_late_budgets(writes: &mut Writes, changes: &BTreeMap<UserId, (i64, i64)>, now: Timestamp) {
    if changes.is_empty() || writes.backend() != DbBackend::Postgres {
        return;
    }
    let mut listed = Listed::new(&[("user_id", "uuid"), ("reserved", "bigint"), ("consumed", "bigint")]);
    for (user, (reserved, consumed)) in changes {
        listed.push(vec![Cell::Uuid(user.as_uuid()), Cell::Int(*reserved), Cell::Int(*consumed)]);
    }
    let mut values = vec![now.into()];
    let source = listed.table(writes.backend(), "late", &mut values);
    let sql = format!(
        "UPDATE budgets SET reserved = GREATEST(budgets.reserved + late.reserved, 0), \
         consumed = LEAST(budgets.consumed + late.consumed, {MAX_CREDITS}), updated_at = ? \
         FROM {source} WHERE budgets.user_id = late.user_id"
    );
    writes.push(sql, values);
}
