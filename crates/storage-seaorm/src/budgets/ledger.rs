//! [`UsageLedger`] on SeaORM: reservations, commits, releases and usage events, each one write
//! transaction that locks the user's budget, judges it with the domain, and commits the outcome
//! before answering.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use roster_domain::budget::{Budget, Credits, MAX_CREDITS};
use roster_domain::ports::UsageLedger;
use roster_domain::usage::{
    CommitOutcome, EventOutcome, IdempotencyKey, Metrics, ReleaseOutcome, Reservation, ReservationStatus,
    ReserveOutcome, ReserveRequest, UsageEvent, UsageReport,
};
use roster_domain::{ReservationId, StoreError, TenantId, Timestamp, UserId, UserStatus};
use sea_orm::{ConnectionTrait as _, DatabaseTransaction, DbBackend, QueryResult, Value};

use super::counters::{TenantCredits, add_tenant_usage, add_usage};
use super::{lock_budget, write_budget};
use crate::Store;
use crate::transaction::{corrupt, is_unique_violation, raw, unexpected};

const RESERVATION_COLUMNS: &str =
    "id, tenant_id, user_id, idempotency_key, credits, status, committed_credits, created_at, expires_at";

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

/// The reservation of `tenant` with `key`.
async fn reservation_by_key(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    key: &IdempotencyKey,
) -> Result<Option<Reservation>, StoreError> {
    let sql = format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE tenant_id = ? AND idempotency_key = ?");
    let statement = raw(txn.get_database_backend(), &sql, [tenant.as_uuid().into(), key.as_str().into()]);
    let row = txn.query_one_raw(statement).await.map_err(unexpected)?;
    row.as_ref().map(reservation_from_row).transpose()
}

/// The reservation `id` of `tenant`, with its user's budget and then the reservation itself
/// locked until commit (the order every operation locks them in).
async fn lock_reservation_and_budget(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: ReservationId,
) -> Result<Option<Reservation>, StoreError> {
    let sql = format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE tenant_id = ? AND id = ?");
    let statement = raw(txn.get_database_backend(), &sql, [tenant.as_uuid().into(), id.as_uuid().into()]);
    let row = txn.query_one_raw(statement).await.map_err(unexpected)?;
    let Some(found) = row.as_ref().map(reservation_from_row).transpose()? else { return Ok(None) };
    lock_budget(txn, found.user).await?;
    lock_reservation(txn, tenant, id).await
}

/// The reservation `id` of `tenant`, locked until commit.
async fn lock_reservation(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    id: ReservationId,
) -> Result<Option<Reservation>, StoreError> {
    let backend = txn.get_database_backend();
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {RESERVATION_COLUMNS} FROM reservations WHERE tenant_id = ? AND id = ?{lock}");
    let row = txn.query_one_raw(raw(backend, &sql, [tenant.as_uuid().into(), id.as_uuid().into()])).await;
    row.map_err(unexpected)?.as_ref().map(reservation_from_row).transpose()
}

/// Marks the active reservations of `user` that expired by `now` as expired; returns the
/// credits they held.
pub(super) async fn expire_reservations(
    txn: &DatabaseTransaction,
    user: UserId,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let sql = "UPDATE reservations SET status = 'expired', closed_at = ? \
               WHERE user_id = ? AND status = 'active' AND expires_at <= ? RETURNING credits";
    let values: Vec<Value> = vec![now.into(), user.as_uuid().into(), now.into()];
    let rows = txn.query_all_raw(raw(txn.get_database_backend(), sql, values)).await.map_err(unexpected)?;
    rows.iter().map(|row| row.try_get::<i64>("", "credits").map_err(unexpected)).sum()
}

/// Closes the reservation `id` with `status` (and the credits committed).
async fn close_reservation(
    txn: &DatabaseTransaction,
    id: ReservationId,
    status: ReservationStatus,
    committed: Option<Credits>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let sql = "UPDATE reservations SET status = ?, committed_credits = ?, closed_at = ? WHERE id = ?";
    let values: Vec<Value> =
        vec![status.as_str().into(), committed.map(Credits::get).into(), now.into(), id.as_uuid().into()];
    txn.execute_raw(raw(txn.get_database_backend(), sql, values)).await.map_err(unexpected)?;
    Ok(())
}

/// Credits, never beyond the most an amount may hold.
fn clamp(value: i64) -> Credits {
    Credits::new(value.clamp(0, MAX_CREDITS)).expect("clamped")
}

/// Adds `credits`, used at `occurred_at`, to the consumption of `user`'s budget (if any),
/// judged at `now`, and gives back `released` held credits. Use dated before the current period
/// counts in usage reports only: it was not spent from this period's budget. Returns the budget
/// after.
async fn consume(
    txn: &DatabaseTransaction,
    user: UserId,
    credits: Credits,
    occurred_at: Timestamp,
    released: Credits,
    now: Timestamp,
) -> Result<Option<Budget>, StoreError> {
    let Some(budget) = lock_budget(txn, user).await? else { return Ok(None) };
    let mut budget = budget.at(now);
    budget.reserved = clamp(budget.reserved.get() - released.get());
    if occurred_at >= budget.period_start {
        budget.consumed = clamp(budget.consumed.get().saturating_add(credits.get()));
    }
    write_budget(txn, user, &budget, now).await?;
    Ok(Some(budget))
}

/// Inserts a usage event; `false` when its key was already used (nothing written).
#[allow(clippy::too_many_arguments)] // the event's fields, flat as the table's columns
async fn insert_event(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: UserId,
    key: &str,
    credits: Credits,
    metrics: &Metrics,
    occurred_at: Timestamp,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let metrics: BTreeMap<&str, u64> = metrics.iter().map(|(name, value)| (name.as_str(), value)).collect();
    let metrics = serde_json::to_string(&metrics).map_err(|e| corrupt("usage metrics", e))?;
    let sql = "INSERT INTO usage_events (id, tenant_id, user_id, idempotency_key, credits, metrics, occurred_at, \
               recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
               ON CONFLICT (tenant_id, idempotency_key) DO NOTHING";
    let values: Vec<Value> = vec![
        uuid::Uuid::now_v7().into(),
        tenant.as_uuid().into(),
        user.as_uuid().into(),
        key.into(),
        credits.get().into(),
        metrics.into(),
        occurred_at.into(),
        now.into(),
    ];
    let result = txn.execute_raw(raw(txn.get_database_backend(), sql, values)).await.map_err(unexpected)?;
    Ok(result.rows_affected() == 1)
}

/// What a reservation attempt needs to do next.
enum Attempt {
    /// An outcome, and whether the transaction holds writes to commit.
    Done(ReserveOutcome, bool),
    /// Another request took the key meanwhile: start again to answer with its reservation.
    KeyTaken,
}

async fn reserve_in(
    txn: &DatabaseTransaction,
    request: &ReserveRequest,
    now: Timestamp,
) -> Result<Attempt, StoreError> {
    let backend = txn.get_database_backend();
    // The user's budget first: a retry under the same key waits here for the original to commit,
    // then finds its reservation instead of judging the budget again.
    let budget = lock_budget(txn, request.user).await?;
    if let Some(existing) = reservation_by_key(txn, request.tenant, &request.key).await? {
        if existing.user != request.user || existing.credits != request.credits {
            return Ok(Attempt::Done(ReserveOutcome::KeyReused, false));
        }
        let budget = budget.map(|budget| budget.at(now));
        return Ok(Attempt::Done(ReserveOutcome::Reserved { reservation: existing, budget }, false));
    }
    let facts = "SELECT status, license_id FROM users WHERE tenant_id = ? AND id = ?";
    let row = txn
        .query_one_raw(raw(backend, facts, [request.tenant.as_uuid().into(), request.user.as_uuid().into()]))
        .await
        .map_err(unexpected)?;
    let Some(row) = row else { return Ok(Attempt::Done(ReserveOutcome::UserNotFound, false)) };
    let status: String = row.try_get("", "status").map_err(unexpected)?;
    let license: Option<uuid::Uuid> = row.try_get("", "license_id").map_err(unexpected)?;
    if status != UserStatus::Active.as_str() {
        return Ok(Attempt::Done(ReserveOutcome::UserInactive, false));
    }
    if license.is_none() {
        return Ok(Attempt::Done(ReserveOutcome::NoLicense, false));
    }
    let budget = match budget {
        None => None,
        Some(budget) => {
            let mut budget = budget.at(now);
            // Only held credits can have expired; a user holding none has nothing to release.
            if budget.reserved > Credits::ZERO {
                let expired = expire_reservations(txn, request.user, now).await?;
                budget.reserved = clamp(budget.reserved.get() - expired);
            }
            if !budget.admits(request.credits) {
                write_budget(txn, request.user, &budget, now).await?;
                return Ok(Attempt::Done(ReserveOutcome::Exceeded { budget }, true));
            }
            budget.reserved = clamp(budget.reserved.get() + request.credits.get());
            write_budget(txn, request.user, &budget, now).await?;
            Some(budget)
        }
    };
    let reservation = Reservation {
        id: ReservationId::new(),
        tenant: request.tenant,
        user: request.user,
        key: request.key.clone(),
        credits: request.credits,
        status: ReservationStatus::Active,
        committed: None,
        created_at: now,
        expires_at: now + request.ttl.as_delta(),
    };
    let sql = format!("INSERT INTO reservations ({RESERVATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    let values: Vec<Value> = vec![
        reservation.id.as_uuid().into(),
        reservation.tenant.as_uuid().into(),
        reservation.user.as_uuid().into(),
        reservation.key.as_str().into(),
        reservation.credits.get().into(),
        reservation.status.as_str().into(),
        None::<i64>.into(),
        reservation.created_at.into(),
        reservation.expires_at.into(),
    ];
    match txn.execute_raw(raw(backend, &sql, values)).await {
        Ok(_) => Ok(Attempt::Done(ReserveOutcome::Reserved { reservation, budget }, true)),
        Err(error) if is_unique_violation(&error) => Ok(Attempt::KeyTaken),
        Err(error) => Err(unexpected(error)),
    }
}

#[async_trait]
impl UsageLedger for Store {
    async fn reserve(&self, request: &ReserveRequest, now: Timestamp) -> Result<ReserveOutcome, StoreError> {
        // A second attempt answers with the reservation a concurrent request made under the key.
        for _ in 0..2 {
            let txn = self.begin_write().await.map_err(unexpected)?;
            match reserve_in(&txn, request, now).await? {
                Attempt::Done(outcome, true) => {
                    txn.commit().await.map_err(unexpected)?;
                    return Ok(outcome);
                }
                Attempt::Done(outcome, false) => return Ok(outcome),
                Attempt::KeyTaken => continue,
            }
        }
        Err(StoreError::Unexpected(roster_domain::UnexpectedError::new(
            "an idempotency key was taken but its reservation cannot be read",
        )))
    }

    async fn commit(
        &self,
        tenant: TenantId,
        id: ReservationId,
        credits: Credits,
        metrics: &Metrics,
        now: Timestamp,
    ) -> Result<CommitOutcome, StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let Some(reservation) = lock_reservation_and_budget(&txn, tenant, id).await? else {
            return Ok(CommitOutcome::NotFound);
        };
        match reservation.status {
            ReservationStatus::Committed if reservation.committed == Some(credits) => {
                let budget = lock_budget(&txn, reservation.user).await?.map(|budget| budget.at(now));
                return Ok(CommitOutcome::Committed { reservation, budget });
            }
            ReservationStatus::Committed | ReservationStatus::Released => {
                return Ok(CommitOutcome::Closed(reservation));
            }
            // An expired reservation's work was done all the same: its use is recorded.
            ReservationStatus::Active | ReservationStatus::Expired => {}
        }
        let held = if reservation.status == ReservationStatus::Active { reservation.credits } else { Credits::ZERO };
        let budget = consume(&txn, reservation.user, credits, now, held, now).await?;
        // The committed reservation is the ledger's record of this use; the counters add it up.
        close_reservation(&txn, id, ReservationStatus::Committed, Some(credits), now).await?;
        let mut tenant_credits = TenantCredits::new();
        add_usage(&txn, tenant, reservation.user, now.date_naive(), credits.get(), metrics, &mut tenant_credits)
            .await?;
        add_tenant_usage(&txn, tenant, &tenant_credits).await?;
        txn.commit().await.map_err(unexpected)?;
        let reservation = Reservation { status: ReservationStatus::Committed, committed: Some(credits), ..reservation };
        Ok(CommitOutcome::Committed { reservation, budget })
    }

    async fn release(&self, tenant: TenantId, id: ReservationId, now: Timestamp) -> Result<ReleaseOutcome, StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let Some(reservation) = lock_reservation_and_budget(&txn, tenant, id).await? else {
            return Ok(ReleaseOutcome::NotFound);
        };
        match reservation.status {
            ReservationStatus::Committed => return Ok(ReleaseOutcome::Committed(reservation)),
            ReservationStatus::Released | ReservationStatus::Expired => {
                return Ok(ReleaseOutcome::Released(reservation));
            }
            ReservationStatus::Active => {}
        }
        consume(&txn, reservation.user, Credits::ZERO, now, reservation.credits, now).await?;
        close_reservation(&txn, id, ReservationStatus::Released, None, now).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(ReleaseOutcome::Released(Reservation { status: ReservationStatus::Released, ..reservation }))
    }

    async fn record_events(
        &self,
        tenant: TenantId,
        events: &[UsageEvent],
        now: Timestamp,
    ) -> Result<Vec<EventOutcome>, StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let backend = txn.get_database_backend();
        // By user, so that concurrent batches lock budgets and counters in one order.
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|&i| (events[i].user, i));
        let mut outcomes = vec![EventOutcome::Recorded; events.len()];
        let mut tenant_credits = TenantCredits::new();
        for i in order {
            let event = &events[i];
            let exists = "SELECT id FROM users WHERE tenant_id = ? AND id = ?";
            let statement = raw(backend, exists, [tenant.as_uuid().into(), event.user.as_uuid().into()]);
            if txn.query_one_raw(statement).await.map_err(unexpected)?.is_none() {
                outcomes[i] = EventOutcome::UserNotFound;
                continue;
            }
            lock_budget(&txn, event.user).await?;
            let at = event.occurred_at.unwrap_or(now);
            let key = event.key.as_str();
            if !insert_event(&txn, tenant, event.user, key, event.credits, &event.metrics, at, now).await? {
                outcomes[i] = EventOutcome::Duplicate;
                continue;
            }
            consume(&txn, event.user, event.credits, at, Credits::ZERO, now).await?;
            let (credits, day) = (event.credits.get(), at.date_naive());
            add_usage(&txn, tenant, event.user, day, credits, &event.metrics, &mut tenant_credits).await?;
        }
        add_tenant_usage(&txn, tenant, &tenant_credits).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(outcomes)
    }

    async fn usage(
        &self,
        tenant: TenantId,
        user: UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<UsageReport, StoreError> {
        let sql = "SELECT metric, CAST(SUM(value) AS BIGINT) AS total FROM usage_daily \
                   WHERE tenant_id = ? AND user_id = ? AND day >= ? AND day <= ? GROUP BY metric";
        let values: Vec<Value> = vec![tenant.as_uuid().into(), user.as_uuid().into(), from.into(), to.into()];
        let rows = self.db.query_all_raw(raw(self.backend(), sql, values)).await.map_err(unexpected)?;
        report(rows.iter().map(|row| {
            Ok((row.try_get("", "metric").map_err(unexpected)?, row.try_get("", "total").map_err(unexpected)?))
        }))
    }

    async fn usage_totals_of(
        &self,
        tenant: TenantId,
        users: &[UserId],
    ) -> Result<Vec<(UserId, UsageReport)>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; users.len()].join(", ");
        let sql =
            format!("SELECT user_id, metric, value FROM usage_totals WHERE tenant_id = ? AND user_id IN ({marks})");
        let values = std::iter::once(tenant.as_uuid().into()).chain(users.iter().map(|u| u.as_uuid().into()));
        let rows = self.db.query_all_raw(raw(self.backend(), &sql, values)).await.map_err(unexpected)?;
        let mut by_user: BTreeMap<uuid::Uuid, Vec<(String, i64)>> = BTreeMap::new();
        for row in &rows {
            let user: uuid::Uuid = row.try_get("", "user_id").map_err(unexpected)?;
            let metric: String = row.try_get("", "metric").map_err(unexpected)?;
            let value: i64 = row.try_get("", "value").map_err(unexpected)?;
            by_user.entry(user).or_default().push((metric, value));
        }
        by_user.into_iter().map(|(user, pairs)| Ok((user.into(), report(pairs.into_iter().map(Ok))?))).collect()
    }
}

/// A report of (metric, value) pairs: `credits` apart, the others by name.
fn report(pairs: impl Iterator<Item = Result<(String, i64), StoreError>>) -> Result<UsageReport, StoreError> {
    let mut report = UsageReport::default();
    for pair in pairs {
        let (metric, value) = pair?;
        if metric == roster_domain::usage::MetricName::CREDITS {
            report.credits = value;
        } else {
            report.metrics.insert(metric, value);
        }
    }
    Ok(report)
}
