//! Users stored in batches (imports): one transaction and a few multi-row statements for many
//! users, each user all or nothing, with the same seats, invitations, default budgets, counters
//! and audit events as one at a time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;

use roster_domain::governance::Acting;
use roster_domain::ports::{NewRecord, RecordOutcome};
use roster_domain::{AuditEvent, Email, LicenseKindId, StoreError, TenantId, User};
use sea_orm::{ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, EntityTrait as _, QueryFilter as _, Value};

use super::convert::{COLUMNS, from_row, row_values};
use super::counts;
use super::governed::{check_actor, lock_tenant};
use crate::Store;
use crate::audit::insert_events;
use crate::entities::users;
use crate::transaction::{insert_sql, is_unique_violation, raw, unexpected};

/// Rows a multi-row statement carries: far below either database's limit of bound values.
const ROWS_PER_STATEMENT: usize = 500;

/// The placeholders of one row of [`COLUMNS`].
const USER_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The users of `tenant` with these emails.
pub(crate) async fn find_by_emails(
    db: &impl sea_orm::ConnectionTrait,
    tenant: TenantId,
    emails: &[Email],
) -> Result<Vec<User>, StoreError> {
    let mut asked = HashSet::with_capacity(emails.len());
    let emails: Vec<&Email> = emails.iter().filter(|email| asked.insert(*email)).collect();
    let mut found = Vec::new();
    for chunk in emails.chunks(ROWS_PER_STATEMENT) {
        let rows = users::Entity::find()
            .filter(users::Column::TenantId.eq(tenant.as_uuid()))
            .filter(users::Column::Email.is_in(chunk.iter().map(|email| email.as_str())))
            .all(db)
            .await
            .map_err(unexpected)?;
        for row in rows {
            found.push(from_row(row)?);
        }
    }
    Ok(found)
}

/// The seats left of each kind `records` ask for. The kinds' rows are locked until the
/// transaction ends (PostgreSQL; SQLite has one writer at a time): a system insert takes a seat
/// without the tenant lock.
async fn seats_left(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    records: &[NewRecord],
) -> Result<HashMap<LicenseKindId, i64>, StoreError> {
    let kinds: HashSet<LicenseKindId> = records.iter().filter_map(|record| record.user.license).collect();
    let mut left = HashMap::new();
    for kind in kinds {
        let backend = txn.get_database_backend();
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                "SELECT seats - assigned AS left FROM license_kinds WHERE tenant_id = ? AND id = ? FOR UPDATE"
            }
            _ => "SELECT seats - assigned AS left FROM license_kinds WHERE tenant_id = ? AND id = ?",
        };
        let statement = raw(backend, sql, [tenant.as_uuid().into(), kind.as_uuid().into()]);
        if let Some(row) = txn.query_one_raw(statement).await.map_err(unexpected)? {
            left.insert(kind, row.try_get::<i64>("", "left").map_err(unexpected)?);
        }
    }
    Ok(left)
}

/// Decides each record's outcome: taken emails, unknown kinds and kinds out of seats first
/// come, first served; returns the outcomes and the seats taken per kind.
fn decide(
    records: &[NewRecord],
    taken: &HashSet<String>,
    mut left: HashMap<LicenseKindId, i64>,
) -> (Vec<RecordOutcome>, BTreeMap<LicenseKindId, i64>) {
    let mut seats = BTreeMap::new();
    let outcomes = records
        .iter()
        .map(|record| {
            if taken.contains(record.user.email.as_str()) {
                return RecordOutcome::EmailTaken;
            }
            let Some(kind) = record.user.license else { return RecordOutcome::Created };
            match left.get_mut(&kind) {
                None => RecordOutcome::LicenseNotFound,
                Some(0) => RecordOutcome::NoSeats,
                Some(n) => {
                    *n -= 1;
                    *seats.entry(kind).or_insert(0) += 1;
                    RecordOutcome::Created
                }
            }
        })
        .collect();
    (outcomes, seats)
}

/// The records whose outcome is [`RecordOutcome::Created`].
fn created<'a>(records: &'a [NewRecord], outcomes: &[RecordOutcome]) -> Vec<&'a NewRecord> {
    records
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| **outcome == RecordOutcome::Created)
        .map(|(record, _)| record)
        .collect()
}

/// Stores the records that hold no license, each unless its email is taken (no lookup first:
/// the unique index on `(tenant_id, email)` decides); the outcome of each.
async fn insert_unless_taken(
    txn: &DatabaseTransaction,
    records: &[NewRecord],
) -> Result<Vec<RecordOutcome>, StoreError> {
    let backend = txn.get_database_backend();
    let mut inserted: HashSet<uuid::Uuid> = HashSet::with_capacity(records.len());
    for chunk in records.chunks(ROWS_PER_STATEMENT) {
        let tail = "ON CONFLICT (tenant_id, email) DO NOTHING RETURNING id";
        let sql = insert_sql("users", &COLUMNS, USER_ROW, chunk.len(), tail);
        let values = chunk.iter().flat_map(|record| row_values(&record.user));
        for row in txn.query_all_raw(raw(backend, &sql, values)).await.map_err(unexpected)? {
            inserted.insert(row.try_get::<uuid::Uuid>("", "id").map_err(unexpected)?);
        }
    }
    Ok(records
        .iter()
        .map(|record| {
            if inserted.contains(&record.user.id.as_uuid()) {
                RecordOutcome::Created
            } else {
                RecordOutcome::EmailTaken
            }
        })
        .collect())
}

/// Stores the records, some holding a license: reads which emails are taken and how many seats
/// are left, takes the seats (first come, first served) and inserts the rest; the outcome of
/// each.
async fn take_seats_and_insert(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    records: &[NewRecord],
) -> Result<Vec<RecordOutcome>, StoreError> {
    let emails: Vec<Email> = records.iter().map(|record| record.user.email.clone()).collect();
    let taken: HashSet<String> =
        find_by_emails(txn, tenant, &emails).await?.into_iter().map(|user| user.email.to_string()).collect();
    let (outcomes, seats) = decide(records, &taken, seats_left(txn, tenant, records).await?);
    for (kind, n) in &seats {
        let sql =
            "UPDATE license_kinds SET assigned = assigned + ? WHERE tenant_id = ? AND id = ? AND assigned + ? <= seats";
        let values: Vec<Value> = vec![(*n).into(), tenant.as_uuid().into(), kind.as_uuid().into(), (*n).into()];
        let result = txn.execute_raw(raw(txn.get_database_backend(), sql, values)).await.map_err(unexpected)?;
        if result.rows_affected() != 1 {
            return Err(StoreError::Unexpected(roster_domain::UnexpectedError::new(
                "seats counted under the tenant lock changed",
            )));
        }
    }
    let backend = txn.get_database_backend();
    for chunk in created(records, &outcomes).chunks(ROWS_PER_STATEMENT) {
        let sql = insert_sql("users", &COLUMNS, USER_ROW, chunk.len(), "");
        let values = chunk.iter().flat_map(|record| row_values(&record.user));
        match txn.execute_raw(raw(backend, &sql, values)).await {
            Ok(_) => {}
            // Another writer took one of these emails since they were read: the caller
            // stores the records one by one instead.
            Err(error) if is_unique_violation(&error) => return Err(StoreError::Stale),
            Err(error) => return Err(unexpected(error)),
        }
    }
    Ok(outcomes)
}

impl Store {
    /// See [`UserRepository::insert_batch`](roster_domain::ports::UserRepository::insert_batch).
    pub(crate) async fn insert_users_batch(
        &self,
        tenant: TenantId,
        records: &[NewRecord],
        acting: Acting,
    ) -> Result<Vec<RecordOutcome>, StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        lock_tenant(&txn, tenant).await?;
        check_actor(&txn, tenant, acting).await?;
        let outcomes = if records.iter().any(|record| record.user.license.is_some()) {
            take_seats_and_insert(&txn, tenant, records).await?
        } else {
            insert_unless_taken(&txn, records).await?
        };
        let created = created(records, &outcomes);
        if created.is_empty() {
            return Ok(outcomes);
        }
        let invitations: Vec<_> = created.iter().filter_map(|record| record.invitation.clone()).collect();
        crate::invitations::insert_invitations(&txn, &invitations).await?;
        let budget = crate::budgets::default_policy(&txn, tenant).await?;
        if let Some(policy) = budget {
            let users: Vec<&User> = created.iter().map(|record| &record.user).collect();
            crate::budgets::insert_default_budgets(&txn, tenant, &users, policy).await?;
        }
        let mut moves: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for record in &created {
            *moves.entry((record.user.role.as_str(), record.user.status.as_str())).or_insert(0) += 1;
        }
        for ((role, status), n) in moves {
            counts::adjust(&txn, tenant, role, status, n).await?;
        }
        // Their creation events say that they got the default budget.
        let events: Vec<AuditEvent> = created.iter().map(|r| r.audit.with_default_budget(budget.as_ref())).collect();
        insert_events(&txn, &events).await?;
        txn.commit().await.map_err(unexpected)?;
        self.grown(created.len() as u64).await;
        Ok(outcomes)
    }

    /// Counts `rows` more users stored in batches, and on PostgreSQL refreshes the statistics
    /// of `users` once this process has added as many as they counted (at least 1,000): the
    /// planner judges the import's lookups from them, and believing a fast-growing table still
    /// small, it reads a whole tenant for every lookup. Autovacuum would refresh them too, but
    /// only a minute later. A few refreshes for a large import (at 1,000, 2,000, 4,000...
    /// users), each sampling at most 30,000 rows.
    async fn grown(&self, rows: u64) {
        if self.db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return;
        }
        let grown = self.grown.fetch_add(rows, Ordering::Relaxed) + rows;
        let sql = "SELECT GREATEST(reltuples, 0)::bigint AS counted FROM pg_class WHERE oid = 'users'::regclass";
        let counted = match self.db.query_one_raw(raw(sea_orm::DatabaseBackend::Postgres, sql, [])).await {
            Ok(Some(row)) => row.try_get::<i64>("", "counted").unwrap_or(0),
            _ => 0,
        };
        if grown < (counted.max(1_000)) as u64 {
            return;
        }
        self.grown.store(0, Ordering::Relaxed);
        if let Err(error) = self.db.execute_unprepared("ANALYZE users").await {
            tracing::warn!(%error, "could not refresh the statistics of users after an import");
        }
    }
}
