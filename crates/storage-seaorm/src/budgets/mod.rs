//! [`BudgetRepository`] and [`UsageLedger`](roster_domain::ports::UsageLedger) on SeaORM.
//!
//! Every operation on a user's budget runs in one write transaction that first locks that
//! budget's row (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's write lock, taken at `BEGIN
//! IMMEDIATE`, serialises every writer), then judges it with the domain's `Budget::at` and
//! `Budget::admits`, then writes the outcome. Concurrent requests on any number of instances
//! are therefore judged one after the other, and an outcome is committed before it is returned.

mod counters;
mod ledger;
mod locked;

pub(crate) use ledger::Batches;

use async_trait::async_trait;
use chrono::{Datelike as _, NaiveDate};
use roster_domain::budget::{Budget, BudgetPeriod, BudgetPolicy, Credits, MAX_CREDITS, Threshold};
use roster_domain::governance::Acting;
use roster_domain::ports::{BudgetRepository, BudgetTotals};
use roster_domain::{AuditEvent, StoreError, TenantId, Timestamp, UserId};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, QueryResult, Value};

use crate::Store;
use crate::audit::insert_event;
use crate::budgets::counters::saturating_sum;
use crate::transaction::{corrupt, is_deadlock, raw, unexpected, with_attempts};
use crate::users::{check_actor, lock_tenant};

/// The columns of a budget row, in the order [`from_row`] reads them.
pub(crate) const BUDGET_COLUMNS: &str = "limit_credits, period, warn_percent, hard, consumed, reserved, period_start";

/// The columns of the budget `b` (aliased with `prefix`, e.g. `b_`) as read at an instant bound
/// by its single `?`: the credits of reservations expired by then no longer count as reserved.
/// Their sum stops at `i64::MAX` (SQLite's `SUM` would fail): a user given a budget while holding
/// more than it counts may have more expire (see `from_row`).
pub(crate) fn live_budget_columns(backend: DbBackend, prefix: &str) -> String {
    let expired = "FROM reservations r WHERE r.user_id = b.user_id AND r.status = 'active' AND r.expires_at <= ?";
    let expired = if backend == DbBackend::Postgres {
        format!("CAST(LEAST((SELECT COALESCE(SUM(r.credits), 0) {expired}), {}) AS BIGINT)", i64::MAX)
    } else {
        // `TOTAL` never fails; exact while below 2^53 (reserved counts at most 10^15).
        format!("CAST((SELECT TOTAL(r.credits) {expired}) AS INTEGER)")
    };
    format!(
        "b.limit_credits AS {prefix}limit_credits, b.period AS {prefix}period, \
         b.warn_percent AS {prefix}warn_percent, b.hard AS {prefix}hard, b.consumed AS {prefix}consumed, \
         b.reserved - {expired} AS {prefix}reserved, b.period_start AS {prefix}period_start"
    )
}

/// The budget a row of [`BUDGET_COLUMNS`] (possibly prefixed, e.g. `b_`) stores.
pub(crate) fn from_row(row: &QueryResult, prefix: &str) -> Result<Budget, StoreError> {
    let get_i64 = |column: &str| row.try_get::<i64>("", &format!("{prefix}{column}")).map_err(unexpected);
    let count = |column: &str| get_i64(column).and_then(|v| Credits::new(v).map_err(|e| corrupt(column, e)));
    let period: String = row.try_get("", &format!("{prefix}period")).map_err(unexpected)?;
    let warn: Option<i16> = row.try_get("", &format!("{prefix}warn_percent")).map_err(unexpected)?;
    let warn_at = warn
        .map(|percent| u8::try_from(percent).ok().and_then(|p| Threshold::new(p).ok()).ok_or(percent))
        .transpose()
        .map_err(|percent| corrupt("warning threshold", percent))?;
    Ok(Budget {
        policy: BudgetPolicy {
            limit: count("limit_credits")?,
            period: period.parse().map_err(|e| corrupt("budget period", e))?,
            warn_at,
            hard: row.try_get("", &format!("{prefix}hard")).map_err(unexpected)?,
        },
        consumed: count("consumed")?,
        // Read live (see `live_budget_columns`), never below zero: a budget given while its user
        // held more than it counts (see `set_budget`) may count less than expires.
        reserved: get_i64("reserved").and_then(|v| Credits::new(v.max(0)).map_err(|e| corrupt("reserved", e)))?,
        period_start: row.try_get("", &format!("{prefix}period_start")).map_err(unexpected)?,
    })
}

/// Reads the budget of `user` and, inside a write transaction, locks it until commit.
pub(crate) async fn lock_budget(txn: &DatabaseTransaction, user: UserId) -> Result<Option<Budget>, StoreError> {
    let backend = txn.get_database_backend();
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {BUDGET_COLUMNS} FROM budgets WHERE user_id = ?{lock}");
    let row = txn.query_one_raw(raw(backend, &sql, [user.as_uuid().into()])).await.map_err(unexpected)?;
    row.map(|row| from_row(&row, "")).transpose()
}

/// Stores `budget` as the (locked) budget of `user`.
pub(crate) async fn write_budget(
    txn: &DatabaseTransaction,
    user: UserId,
    budget: &Budget,
    now: Timestamp,
) -> Result<(), StoreError> {
    let sql = "UPDATE budgets SET limit_credits = ?, period = ?, warn_percent = ?, hard = ?, consumed = ?, \
               reserved = ?, period_start = ?, updated_at = ? WHERE user_id = ?";
    let values: Vec<Value> = vec![
        budget.policy.limit.get().into(),
        budget.policy.period.as_str().into(),
        budget.policy.warn_at.map(|t| i16::from(t.percent())).into(),
        budget.policy.hard.into(),
        budget.consumed.get().into(),
        budget.reserved.get().into(),
        budget.period_start.into(),
        now.into(),
        user.as_uuid().into(),
    ];
    txn.execute_raw(raw(txn.get_database_backend(), sql, values)).await.map_err(unexpected)?;
    Ok(())
}

/// Gives the new user `user` of `tenant` the budget `budget`, counting it in the tenant's totals.
pub(crate) async fn insert_budget(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: UserId,
    budget: &Budget,
    now: Timestamp,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO budgets (user_id, tenant_id, {BUDGET_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    );
    let values: Vec<Value> = vec![
        user.as_uuid().into(),
        tenant.as_uuid().into(),
        budget.policy.limit.get().into(),
        budget.policy.period.as_str().into(),
        budget.policy.warn_at.map(|t| i16::from(t.percent())).into(),
        budget.policy.hard.into(),
        budget.consumed.get().into(),
        budget.reserved.get().into(),
        budget.period_start.into(),
        now.into(),
    ];
    txn.execute_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    adjust_totals(txn, tenant, 1, budget.policy.limit.get()).await
}

/// Gives the new `users` of `tenant` the budget `policy` from their creation, many to a
/// statement, counting them in the tenant's totals.
pub(crate) async fn insert_default_budgets(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    users: &[&roster_domain::User],
    policy: BudgetPolicy,
) -> Result<(), StoreError> {
    for chunk in users.chunks(500) {
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!("INSERT INTO budgets (user_id, tenant_id, {BUDGET_COLUMNS}, updated_at) VALUES {rows}");
        let values = chunk.iter().flat_map(|user| -> [Value; 10] {
            let budget = Budget::new(policy, user.created_at);
            [
                user.id.as_uuid().into(),
                tenant.as_uuid().into(),
                policy.limit.get().into(),
                policy.period.as_str().into(),
                policy.warn_at.map(|t| i16::from(t.percent())).into(),
                policy.hard.into(),
                0_i64.into(),
                0_i64.into(),
                budget.period_start.into(),
                user.created_at.into(),
            ]
        });
        txn.execute_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    }
    let users_added = i64::try_from(users.len()).unwrap_or(i64::MAX);
    adjust_totals(txn, tenant, users_added, users_added.saturating_mul(policy.limit.get())).await
}

/// Removes the budget of `user` from the tenant's totals, before the user or budget is deleted.
pub(crate) async fn forget_budget(txn: &DatabaseTransaction, tenant: TenantId, user: UserId) -> Result<(), StoreError> {
    if let Some(budget) = lock_budget(txn, user).await? {
        adjust_totals(txn, tenant, -1, -budget.policy.limit.get()).await?;
    }
    Ok(())
}

/// Adds `users` and `limit` (either may be negative) to the tenant's budget totals. The sum of
/// the limits stops at `i64::MAX` (about 9,223 budgets of [`MAX_CREDITS`]); once there, it no
/// longer follows the limits down exactly.
async fn adjust_totals(txn: &DatabaseTransaction, tenant: TenantId, users: i64, limit: i64) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO budget_totals (tenant_id, users, limit_total) VALUES (?, ?, ?) \
         ON CONFLICT (tenant_id) DO UPDATE SET users = budget_totals.users + excluded.users, \
         limit_total = CASE WHEN excluded.limit_total <= 0 THEN budget_totals.limit_total + excluded.limit_total \
         ELSE {} END",
        saturating_sum("budget_totals.limit_total", "excluded.limit_total")
    );
    let values: Vec<Value> = vec![tenant.as_uuid().into(), users.into(), limit.into()];
    txn.execute_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    Ok(())
}

/// The default budget of new users of `tenant`, read inside `txn`.
pub(crate) async fn default_policy(
    txn: &DatabaseTransaction,
    tenant: TenantId,
) -> Result<Option<BudgetPolicy>, StoreError> {
    let sql = "SELECT default_budget_limit, default_budget_period, default_budget_warn, default_budget_hard \
               FROM tenants WHERE id = ?";
    let row =
        txn.query_one_raw(raw(txn.get_database_backend(), sql, [tenant.as_uuid().into()])).await.map_err(unexpected)?;
    let Some(row) = row else { return Ok(None) };
    let limit: Option<i64> = row.try_get("", "default_budget_limit").map_err(unexpected)?;
    let period: Option<String> = row.try_get("", "default_budget_period").map_err(unexpected)?;
    let warn: Option<i16> = row.try_get("", "default_budget_warn").map_err(unexpected)?;
    let hard: Option<bool> = row.try_get("", "default_budget_hard").map_err(unexpected)?;
    policy_of(limit, period, warn, hard)
}

/// The policy stored in the four default-budget columns of a tenant (all set, or none).
pub(crate) fn policy_of(
    limit: Option<i64>,
    period: Option<String>,
    warn: Option<i16>,
    hard: Option<bool>,
) -> Result<Option<BudgetPolicy>, StoreError> {
    let (Some(limit), Some(period), Some(hard)) = (limit, period, hard) else { return Ok(None) };
    let warn_at = warn
        .map(|percent| u8::try_from(percent).ok().and_then(|p| Threshold::new(p).ok()).ok_or(percent))
        .transpose()
        .map_err(|percent| corrupt("default warning threshold", percent))?;
    Ok(Some(BudgetPolicy {
        limit: Credits::new(limit).map_err(|e| corrupt("default budget limit", e))?,
        period: period.parse::<BudgetPeriod>().map_err(|e| corrupt("default budget period", e))?,
        warn_at,
        hard,
    }))
}

fn first_of_month(day: NaiveDate) -> NaiveDate {
    day.with_day(1).expect("every month has a first day")
}

#[async_trait]
impl BudgetRepository for Store {
    async fn budget(&self, tenant: TenantId, user: UserId, now: Timestamp) -> Result<Option<Budget>, StoreError> {
        let sql = format!(
            "SELECT {} FROM budgets b WHERE b.tenant_id = ? AND b.user_id = ?",
            live_budget_columns(self.backend(), "")
        );
        let statement = raw(self.backend(), &sql, [now.into(), tenant.as_uuid().into(), user.as_uuid().into()]);
        let row = self.db.query_one_raw(statement).await.map_err(unexpected)?;
        row.map(|row| from_row(&row, "")).transpose()
    }

    async fn budgets_of(
        &self,
        tenant: TenantId,
        users: &[UserId],
        now: Timestamp,
    ) -> Result<Vec<(UserId, Budget)>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; users.len()].join(", ");
        let sql = format!(
            "SELECT b.user_id, {} FROM budgets b WHERE b.tenant_id = ? AND b.user_id IN ({marks})",
            live_budget_columns(self.backend(), "")
        );
        let values = [now.into(), tenant.as_uuid().into()].into_iter().chain(users.iter().map(|u| u.as_uuid().into()));
        let rows = self.db.query_all_raw(raw(self.backend(), &sql, values)).await.map_err(unexpected)?;
        rows.iter()
            .map(|row| {
                let user: uuid::Uuid = row.try_get("", "user_id").map_err(unexpected)?;
                Ok((user.into(), from_row(row, "")?))
            })
            .collect()
    }

    async fn set_budget(
        &self,
        tenant: TenantId,
        user: UserId,
        policy: Option<BudgetPolicy>,
        now: Timestamp,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<Option<Budget>, StoreError> {
        // A batch of reservations giving a budget created meanwhile its credits (see the
        // ledger's late budgets) may deadlock with this transaction, which then runs again.
        with_attempts("a budget change", is_deadlock, || self.set_budget_once(tenant, user, policy, now, acting, audit))
            .await
    }

    async fn budget_totals(&self, tenant: TenantId, now: Timestamp) -> Result<BudgetTotals, StoreError> {
        let totals = "SELECT users, limit_total FROM budget_totals WHERE tenant_id = ?";
        let row =
            self.db.query_one_raw(raw(self.backend(), totals, [tenant.as_uuid().into()])).await.map_err(unexpected)?;
        let (users, limit) = match row {
            Some(row) => (
                row.try_get::<i64>("", "users").map_err(unexpected)?,
                row.try_get::<i64>("", "limit_total").map_err(unexpected)?,
            ),
            None => (0, 0),
        };
        let today = now.date_naive();
        // Summed here, stopping at `i64::MAX` like the counters: at most 31 days of 8 shards.
        let spent = "SELECT day, credits FROM usage_tenant_daily WHERE tenant_id = ? AND day >= ? AND day <= ?";
        let values: Vec<Value> = vec![tenant.as_uuid().into(), first_of_month(today).into(), today.into()];
        let rows = self.db.query_all_raw(raw(self.backend(), spent, values)).await.map_err(unexpected)?;
        let (mut consumed_today, mut consumed_this_month) = (0i64, 0i64);
        for row in &rows {
            let day: NaiveDate = row.try_get("", "day").map_err(unexpected)?;
            let credits: i64 = row.try_get("", "credits").map_err(unexpected)?;
            consumed_this_month = consumed_this_month.saturating_add(credits);
            if day == today {
                consumed_today = consumed_today.saturating_add(credits);
            }
        }
        Ok(BudgetTotals {
            users: u64::try_from(users).map_err(|e| corrupt("budget users", e))?,
            limit,
            consumed_today,
            consumed_this_month,
        })
    }
}

impl Store {
    async fn set_budget_once(
        &self,
        tenant: TenantId,
        user: UserId,
        policy: Option<BudgetPolicy>,
        now: Timestamp,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<Option<Budget>, StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        lock_tenant(&txn, tenant).await?;
        check_actor(&txn, tenant, acting).await?;
        let exists = "SELECT id FROM users WHERE tenant_id = ? AND id = ?";
        let found = txn
            .query_one_raw(raw(self.backend(), exists, [tenant.as_uuid().into(), user.as_uuid().into()]))
            .await
            .map_err(unexpected)?;
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
        let before = lock_budget(&txn, user).await?;
        let after = match (before, policy) {
            (None, None) => None,
            (None, Some(policy)) => {
                // Reservations the user holds already are held under the new budget too (their
                // commit or release gives them back from it); those expired are marked so. On
                // PostgreSQL, ledger transactions of this user may be under way: this one waits
                // for those making reservations (they hold the user for share) and for those
                // closing the reservations it counts (it locks them); those that come later read
                // the budget (reservations) or see it when they write (commits and releases, see
                // the ledger's late budgets).
                let lock = if self.backend() == DbBackend::Postgres {
                    let user_lock = "SELECT id FROM users WHERE id = ? FOR NO KEY UPDATE";
                    txn.execute_raw(raw(self.backend(), user_lock, [user.as_uuid().into()]))
                        .await
                        .map_err(unexpected)?;
                    " FOR UPDATE"
                } else {
                    ""
                };
                ledger::expire_reservations(&txn, &std::collections::BTreeSet::from([user]), now).await?;
                // Summed here, stopping at the most `reserved` counts: a user without a budget
                // may hold more than an integer sums in SQL.
                let active = format!(
                    "SELECT credits FROM reservations WHERE user_id = ? AND status = 'active' AND expires_at > ?{lock}"
                );
                let rows = txn
                    .query_all_raw(raw(self.backend(), &active, [user.as_uuid().into(), now.into()]))
                    .await
                    .map_err(unexpected)?;
                let mut held = 0i64;
                for row in &rows {
                    held = held.saturating_add(row.try_get::<i64>("", "credits").map_err(unexpected)?);
                }
                let reserved = Credits::new(held.min(MAX_CREDITS)).map_err(|e| corrupt("credits held", e))?;
                let budget = Budget { reserved, ..Budget::new(policy, now) };
                insert_budget(&txn, tenant, user, &budget, now).await?;
                Some(budget)
            }
            (Some(old), Some(policy)) => {
                // Reservations past their time are marked expired and held no more, as a read
                // of the budget would count them.
                let expired = ledger::expire_reservations(&txn, &std::collections::BTreeSet::from([user]), now).await?;
                let mut current = old.at(now);
                let held = current.reserved.get().saturating_sub(expired.get(&user).copied().unwrap_or(0));
                current.reserved = Credits::new(held.clamp(0, MAX_CREDITS)).expect("clamped");
                let budget = Budget { policy, period_start: policy.period.start(now), ..current };
                write_budget(&txn, user, &budget, now).await?;
                adjust_totals(&txn, tenant, 0, policy.limit.get() - old.policy.limit.get()).await?;
                Some(budget)
            }
            (Some(_), None) => {
                forget_budget(&txn, tenant, user).await?;
                let statement = raw(self.backend(), "DELETE FROM budgets WHERE user_id = ?", [user.as_uuid().into()]);
                txn.execute_raw(statement).await.map_err(unexpected)?;
                None
            }
        };
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(after)
    }
}
