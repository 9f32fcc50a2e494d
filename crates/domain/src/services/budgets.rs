//! The budget use cases: read a user's budget (administrators, or the user), set or remove it
//! (administrators), and read what a user used over a span of days.

use std::sync::Arc;

use chrono::NaiveDate;

use crate::budget::{Budget, BudgetPolicy};
use crate::governance;
use crate::ports::{BudgetRepository, Clock, UsageLedger, UserRepository};
use crate::usage::UsageReport;
use crate::{Actor, AuditEvent, StoreError, UnexpectedError, UserId, Violation};

/// A budget use case failed.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// The actor may not do this.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the tenant.
    #[error("user not found")]
    NotFound,
    /// The span of days is empty or longer than a year.
    #[error("`from` must not be after `to`, and the span is at most 366 days")]
    InvalidSpan,
    /// The acting user changed meanwhile; nothing was written.
    #[error("your own account changed while this request ran; retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<StoreError> for BudgetError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

/// The longest span a usage report covers.
const MAX_SPAN_DAYS: i64 = 366;

/// Reads and sets budgets.
#[derive(Clone)]
pub struct BudgetService {
    users: Arc<dyn UserRepository>,
    budgets: Arc<dyn BudgetRepository>,
    ledger: Arc<dyn UsageLedger>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for BudgetService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BudgetService")
    }
}

impl BudgetService {
    /// A service over these ports.
    pub fn new(
        users: Arc<dyn UserRepository>,
        budgets: Arc<dyn BudgetRepository>,
        ledger: Arc<dyn UsageLedger>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { users, budgets, ledger, clock }
    }

    /// The budget of the user `id` as of now (`None`: no budget, no limit).
    ///
    /// # Errors
    /// See [`BudgetError`].
    pub async fn get(&self, actor: &Actor, id: UserId) -> Result<Option<Budget>, BudgetError> {
        governance::check_budget_view(actor, id)?;
        self.users.get(actor.tenant, id).await?.ok_or(BudgetError::NotFound)?;
        let now = self.clock.now();
        let budget = self.budgets.budget(actor.tenant, id, now).await?;
        Ok(budget.map(|budget| budget.at(now)))
    }

    /// Gives the user `id` the budget `policy` (`None` removes it). What they consumed in the
    /// current period stays counted.
    ///
    /// # Errors
    /// See [`BudgetError`].
    pub async fn set(
        &self,
        actor: &Actor,
        id: UserId,
        policy: Option<BudgetPolicy>,
    ) -> Result<Option<Budget>, BudgetError> {
        governance::check_budget_management(actor)?;
        let user = self.users.get(actor.tenant, id).await?.ok_or(BudgetError::NotFound)?;
        let now = self.clock.now();
        let current = self.budgets.budget(actor.tenant, id, now).await?;
        let before = current.map(|budget| budget.policy);
        if before == policy {
            return Ok(current.map(|budget| budget.at(now)));
        }
        let audit = AuditEvent::user_budget_changed(actor, &user, before.as_ref(), policy.as_ref(), now);
        let stored = self.budgets.set_budget(actor.tenant, id, policy, now, governance::acting(actor), &audit).await?;
        Ok(stored.map(|budget| budget.at(now)))
    }

    /// The budgets (as of now) and all-time usage of those of `users` who have them, to show
    /// with the users. The caller may see these users.
    ///
    /// # Errors
    /// Unexpected storage failures only.
    pub async fn of_users(
        &self,
        tenant: crate::TenantId,
        users: &[UserId],
    ) -> Result<(Vec<(UserId, Budget)>, Vec<(UserId, UsageReport)>), UnexpectedError> {
        let unexpected = StoreError::into_unexpected;
        let now = self.clock.now();
        let budgets = self.budgets.budgets_of(tenant, users, now).await.map_err(unexpected)?;
        let budgets = budgets.into_iter().map(|(user, budget)| (user, budget.at(now))).collect();
        let usage = self.ledger.usage_totals_of(tenant, users).await.map_err(unexpected)?;
        Ok((budgets, usage))
    }

    /// What the user `id` used from the UTC day `from` to `to`, both included (at most 366 days).
    ///
    /// # Errors
    /// See [`BudgetError`].
    pub async fn usage(
        &self,
        actor: &Actor,
        id: UserId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<UsageReport, BudgetError> {
        governance::check_budget_view(actor, id)?;
        if from > to || (to - from).num_days() >= MAX_SPAN_DAYS {
            return Err(BudgetError::InvalidSpan);
        }
        self.users.get(actor.tenant, id).await?.ok_or(BudgetError::NotFound)?;
        Ok(self.ledger.usage(actor.tenant, id, from, to).await?)
    }
}
