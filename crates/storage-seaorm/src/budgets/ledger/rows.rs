//! Reservation rows: read, locked, inserted, closed and expired, many at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use roster_domain::budget::Credits;
use roster_domain::usage::{IdempotencyKey, Reservation};
use roster_domain::{ReservationId, StoreError, TenantId, Timestamp, UserId, UserStatus};
use sea_orm::{ConnectionTrait as _, DatabaseTransaction, DbBackend, QueryResult, Value};

use crate::budgets::locked::marks;
use crate::transaction::{corrupt, insert_sql, raw, unexpected};

const RESERVATION_COLUMNS: [&str; 9] = [
    "id",
    "tenant_id",
    "user_id",
    "idempotency_key",
    "credits",
    "status",
    "committed_credits",
    "created_at",
    "expires_at",
];

fn columns() -> String {
    RESERVATION_COLUMNS.join(", ")
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

/// The user of each of the reservations `ids` that exists (read without a lock: a
/// reservation's user never changes).
pub(super) async fn owners(
    txn: &DatabaseTransaction,
    ids: &BTreeSet<ReservationId>,
) -> Result<HashMap<ReservationId, UserId>, StoreError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!("SELECT id, user_id FROM reservations WHERE id IN ({})", marks(ids.len()));
    let values = ids.iter().map(|id| id.as_uuid().into());
    let rows = txn.query_all_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    rows.iter()
        .map(|row| {
            let id: uuid::Uuid = row.try_get("", "id").map_err(unexpected)?;
            let user: uuid::Uuid = row.try_get("", "user_id").map_err(unexpected)?;
            Ok((id.into(), user.into()))
        })
        .collect()
}

/// The reservations `ids`, and those holding one of `keys` in its tenant, locked until commit
/// (PostgreSQL, in id order; after the budgets of their users).
pub(super) async fn lock_reservations(
    txn: &DatabaseTransaction,
    ids: &BTreeSet<ReservationId>,
    keys: &BTreeMap<TenantId, BTreeSet<&IdempotencyKey>>,
) -> Result<Vec<Reservation>, StoreError> {
    let mut conditions = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    if !ids.is_empty() {
        conditions.push(format!("id IN ({})", marks(ids.len())));
        values.extend(ids.iter().map(|id| id.as_uuid().into()));
    }
    for (tenant, keys) in keys {
        conditions.push(format!("(tenant_id = ? AND idempotency_key IN ({}))", marks(keys.len())));
        values.push(tenant.as_uuid().into());
        values.extend(keys.iter().map(|key| key.as_str().into()));
    }
    if conditions.is_empty() {
        return Ok(Vec::new());
    }
    let backend = txn.get_database_backend();
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {} FROM reservations WHERE {} ORDER BY id{lock}", columns(), conditions.join(" OR "));
    let rows = txn.query_all_raw(raw(backend, &sql, values)).await.map_err(unexpected)?;
    rows.iter().map(reservation_from_row).collect()
}

/// Marks the active reservations of `users` that expired by `now` as expired; returns the
/// credits they held, by user.
pub(crate) async fn expire_reservations(
    txn: &DatabaseTransaction,
    users: &BTreeSet<UserId>,
    now: Timestamp,
) -> Result<HashMap<UserId, i64>, StoreError> {
    let mut released = HashMap::new();
    if users.is_empty() {
        return Ok(released);
    }
    let sql = format!(
        "UPDATE reservations SET status = 'expired', closed_at = ? \
         WHERE user_id IN ({}) AND status = 'active' AND expires_at <= ? RETURNING user_id, credits",
        marks(users.len())
    );
    let values: Vec<Value> = std::iter::once(now.into())
        .chain(users.iter().map(|user| user.as_uuid().into()))
        .chain(std::iter::once(now.into()))
        .collect();
    let rows = txn.query_all_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    for row in &rows {
        let user: uuid::Uuid = row.try_get("", "user_id").map_err(unexpected)?;
        let credits: i64 = row.try_get("", "credits").map_err(unexpected)?;
        *released.entry(UserId::from(user)).or_default() += credits;
    }
    Ok(released)
}

/// What a reservation needs of its user.
#[derive(Debug, Clone, Copy)]
pub(super) struct Holder {
    pub tenant: TenantId,
    pub status: UserStatus,
    pub licensed: bool,
}

/// The tenant, status and license of each of `users` that exists.
pub(super) async fn holders(
    txn: &DatabaseTransaction,
    users: &BTreeSet<UserId>,
) -> Result<HashMap<UserId, Holder>, StoreError> {
    if users.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!("SELECT id, tenant_id, status, license_id FROM users WHERE id IN ({})", marks(users.len()));
    let values = users.iter().map(|user| user.as_uuid().into());
    let rows = txn.query_all_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    rows.iter()
        .map(|row| {
            let id: uuid::Uuid = row.try_get("", "id").map_err(unexpected)?;
            let tenant: uuid::Uuid = row.try_get("", "tenant_id").map_err(unexpected)?;
            let status: String = row.try_get("", "status").map_err(unexpected)?;
            let license: Option<uuid::Uuid> = row.try_get("", "license_id").map_err(unexpected)?;
            let status = status.parse().map_err(|e| corrupt("user status", e))?;
            Ok((id.into(), Holder { tenant: tenant.into(), status, licensed: license.is_some() }))
        })
        .collect()
}

/// Inserts `reservations`, in (tenant, key) order; returns how many were inserted: fewer than
/// given when a concurrent transaction took one of their keys (nothing else is written then).
pub(super) async fn insert_reservations(
    txn: &DatabaseTransaction,
    reservations: &[&Reservation],
) -> Result<usize, StoreError> {
    if reservations.is_empty() {
        return Ok(0);
    }
    let mut sorted = reservations.to_vec();
    sorted.sort_by(|a, b| (a.tenant, &a.key).cmp(&(b.tenant, &b.key)));
    let row = format!("({})", marks(RESERVATION_COLUMNS.len()));
    let tail = "ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id";
    let sql = insert_sql("reservations", &RESERVATION_COLUMNS, &row, sorted.len(), tail);
    let values = sorted.iter().flat_map(|r| -> [Value; 9] {
        [
            r.id.as_uuid().into(),
            r.tenant.as_uuid().into(),
            r.user.as_uuid().into(),
            r.key.as_str().into(),
            r.credits.get().into(),
            r.status.as_str().into(),
            r.committed.map(Credits::get).into(),
            r.created_at.into(),
            r.expires_at.into(),
        ]
    });
    let inserted = txn.query_all_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    Ok(inserted.len())
}

/// Stores the status (and credits committed) of each of `closed`, closed at `now`.
pub(super) async fn close_reservations(
    txn: &DatabaseTransaction,
    closed: &[&Reservation],
    now: Timestamp,
) -> Result<(), StoreError> {
    if closed.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE reservations SET status = listed.status, committed_credits = listed.committed, closed_at = ? \
         FROM (SELECT column1 AS id, column2 AS status, column3 AS committed FROM (VALUES {}) AS v) AS listed \
         WHERE reservations.id = listed.id",
        vec!["(?, ?, ?)"; closed.len()].join(", ")
    );
    let values = std::iter::once(now.into()).chain(closed.iter().flat_map(|r| -> [Value; 3] {
        [r.id.as_uuid().into(), r.status.as_str().into(), r.committed.map(Credits::get).into()]
    }));
    txn.execute_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    Ok(())
}
