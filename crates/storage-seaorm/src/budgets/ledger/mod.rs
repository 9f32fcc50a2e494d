//! [`UsageLedger`] on SeaORM. Reservations, commits and releases go through group commit
//! ([`group`]): the operations of concurrent requests share transactions ([`batch`]), each of
//! which locks the budgets involved, judges every operation with the domain's rules, and
//! commits the outcomes before any is answered. A batch of usage events is one transaction
//! ([`events`]).

mod batch;
mod events;
mod group;
mod rows;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::NaiveDate;
use roster_domain::budget::Credits;
use roster_domain::ports::UsageLedger;
use roster_domain::usage::{
    CommitOutcome, EventOutcome, Metrics, ReleaseOutcome, ReserveOutcome, ReserveRequest, UsageEvent, UsageReport,
};
use roster_domain::{ReservationId, StoreError, TenantId, Timestamp, UnexpectedError, UserId};
use sea_orm::{ConnectionTrait as _, Value};

use self::batch::{Op, Outcome};
pub(crate) use self::group::Batches;
pub(crate) use self::rows::expire_reservations;
use crate::Store;
use crate::transaction::{is_deadlock, is_foreign_key_violation, raw, unexpected, with_attempts};

fn mismatched(op: &str) -> StoreError {
    StoreError::Unexpected(UnexpectedError::new(format!("a metering batch answered {op} with another kind")))
}

#[async_trait]
impl UsageLedger for Store {
    async fn reserve(&self, request: &ReserveRequest, now: Timestamp) -> Result<ReserveOutcome, StoreError> {
        match self.submit(Op::Reserve(request.clone()), now).await? {
            Outcome::Reserve(outcome) => Ok(outcome),
            _ => Err(mismatched("a reservation")),
        }
    }

    async fn commit(
        &self,
        tenant: TenantId,
        id: ReservationId,
        credits: Credits,
        metrics: &Metrics,
        now: Timestamp,
    ) -> Result<CommitOutcome, StoreError> {
        match self.submit(Op::Commit { tenant, id, credits, metrics: metrics.clone() }, now).await? {
            Outcome::Commit(outcome) => Ok(outcome),
            _ => Err(mismatched("a commit")),
        }
    }

    async fn release(&self, tenant: TenantId, id: ReservationId, now: Timestamp) -> Result<ReleaseOutcome, StoreError> {
        match self.submit(Op::Release { tenant, id }, now).await? {
            Outcome::Release(outcome) => Ok(outcome),
            _ => Err(mismatched("a release")),
        }
    }

    async fn record_events(
        &self,
        tenant: TenantId,
        events: &[UsageEvent],
        now: Timestamp,
    ) -> Result<Vec<EventOutcome>, StoreError> {
        // PostgreSQL may break a deadlock with a batch of reservations that gives a budget
        // created meanwhile its credits (see `rows::adjust_late_budgets`) by failing this
        // transaction, and a user purged since the batch read its users fails it on the foreign
        // key: it runs again (finding the user gone), three attempts in all, as the batches do.
        let again = |error: &StoreError| is_deadlock(error) || is_foreign_key_violation(error);
        with_attempts("a batch of usage events", again, || events::record(self, tenant, events, now)).await
    }

    async fn usage(
        &self,
        tenant: TenantId,
        user: UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<UsageReport, StoreError> {
        // The days are summed by `report`, which stops at `i64::MAX` as the counters do (a sum
        // in SQL would overflow): at most 366 days (the service's limit) of each metric.
        let sql = "SELECT metric, value FROM usage_daily WHERE tenant_id = ? AND user_id = ? AND day >= ? AND day <= ?";
        let values: Vec<Value> = vec![tenant.as_uuid().into(), user.as_uuid().into(), from.into(), to.into()];
        let rows = self.db.query_all_raw(raw(self.backend(), sql, values)).await.map_err(unexpected)?;
        report(rows.iter().map(|row| {
            Ok((row.try_get("", "metric").map_err(unexpected)?, row.try_get("", "value").map_err(unexpected)?))
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

/// A report of (metric, value) pairs, summed by metric (stopping at `i64::MAX`): `credits`
/// apart, the others by name.
fn report(pairs: impl Iterator<Item = Result<(String, i64), StoreError>>) -> Result<UsageReport, StoreError> {
    let mut report = UsageReport::default();
    for pair in pairs {
        let (metric, value) = pair?;
        let total = if metric == roster_domain::usage::MetricName::CREDITS {
            &mut report.credits
        } else {
            report.metrics.entry(metric).or_default()
        };
        *total = total.saturating_add(value);
    }
    Ok(report)
}
