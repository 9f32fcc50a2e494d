//! Storage of budgets and the usage ledger (reservations, usage events, usage counters).
//!
//! The decisions are the domain's: an adapter MUST judge a budget with
//! [`Budget::at`](crate::budget::Budget::at) (the lazy reset) and
//! [`Budget::admits`](crate::budget::Budget::admits), and MUST do so under a lock of that user's
//! budget held until the transaction that applies the outcome commits, so that concurrent
//! requests on any number of instances are judged one after the other. An outcome is durable
//! before it is returned.

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::budget::{Budget, BudgetPolicy, Credits};
use crate::governance::Acting;
use crate::usage::{
    CommitOutcome, EventOutcome, Metrics, ReleaseOutcome, ReserveOutcome, ReserveRequest, UsageEvent, UsageReport,
};
use crate::{AuditEvent, ReservationId, StoreError, TenantId, Timestamp, UserId};

/// A tenant's budgets as a whole, for the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BudgetTotals {
    /// Users with a budget.
    pub users: u64,
    /// The sum of their limits.
    pub limit: i64,
    /// Credits consumed by the tenant's users today (UTC).
    pub consumed_today: i64,
    /// Credits consumed by the tenant's users this calendar month (UTC).
    pub consumed_this_month: i64,
}

/// Stores each user's budget (at most one).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait BudgetRepository: Send + Sync {
    /// The budget of `user` of `tenant`, with the credits of reservations expired by `now` no
    /// longer counted as reserved (their release is written on the user's next reservation), but
    /// not yet judged at `now` otherwise ([`Budget::at`] does that); `None` when they have none
    /// (no limit).
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn budget(&self, tenant: TenantId, user: UserId, now: Timestamp) -> Result<Option<Budget>, StoreError>;

    /// The budgets of those of `users` who have one, as [`budget`](Self::budget) reads them.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn budgets_of(
        &self,
        tenant: TenantId,
        users: &[UserId],
        now: Timestamp,
    ) -> Result<Vec<(UserId, Budget)>, StoreError>;

    /// Gives `user` the budget `policy` (`None` removes their budget), and records `audit`, in
    /// one transaction that re-checks `acting`. What they consumed in the current period and
    /// what they hold stay; a new period starts at `now`'s under the new policy.
    /// Returns the budget as stored.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] when the user does not exist,
    /// [`StoreError::ActorChanged`] when the acting user changed; nothing is written then.
    async fn set_budget(
        &self,
        tenant: TenantId,
        user: UserId,
        policy: Option<BudgetPolicy>,
        now: Timestamp,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<Option<Budget>, StoreError>;

    /// The tenant's budget totals at `now`, from counters (no scan of the users).
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn budget_totals(&self, tenant: TenantId, now: Timestamp) -> Result<BudgetTotals, StoreError>;
}

/// The usage ledger: reservations, usage events and usage counters.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UsageLedger: Send + Sync {
    /// Holds `request.credits` of the user's budget, if the user is active, licensed, and the
    /// budget (judged at `now`, after releasing their reservations expired at `now`) admits
    /// them. A key already used for the same user and credits answers with that reservation
    /// (the original answer), whatever its state; used otherwise, `KeyReused`.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only: every business outcome is a [`ReserveOutcome`].
    async fn reserve(&self, request: &ReserveRequest, now: Timestamp) -> Result<ReserveOutcome, StoreError>;

    /// Records the actual use `credits` (and `metrics`) of the live reservation `id`: its
    /// credits stop being held and `credits` are consumed (all of them, even beyond the
    /// reservation or the limit: the work is done). A commit of a committed reservation with
    /// the same credits answers with the original outcome.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn commit(
        &self,
        tenant: TenantId,
        id: ReservationId,
        credits: Credits,
        metrics: &Metrics,
        now: Timestamp,
    ) -> Result<CommitOutcome, StoreError>;

    /// Gives the credits of the reservation `id` back.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn release(&self, tenant: TenantId, id: ReservationId, now: Timestamp) -> Result<ReleaseOutcome, StoreError>;

    /// Records `events` (use without reservation) in one transaction: each key is applied at
    /// most once; one outcome per event, in order.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn record_events(
        &self,
        tenant: TenantId,
        events: &[UsageEvent],
        now: Timestamp,
    ) -> Result<Vec<EventOutcome>, StoreError>;

    /// What `user` used from the UTC day `from` to the UTC day `to`, both included.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn usage(
        &self,
        tenant: TenantId,
        user: UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<UsageReport, StoreError>;

    /// What each of `users` used since they exist.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn usage_totals_of(
        &self,
        tenant: TenantId,
        users: &[UserId],
    ) -> Result<Vec<(UserId, UsageReport)>, StoreError>;
}
