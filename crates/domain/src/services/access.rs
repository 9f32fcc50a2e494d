//! The access gate and the dashboard: what a user may do right now, and the tenant's numbers.

use std::sync::Arc;

use crate::budget::Budget;
use crate::governance;
use crate::ports::{BudgetRepository, BudgetTotals, Clock, InvitationRepository, LicenseRepository};
use crate::{
    Actor, Capability, HeldLicense, LicenseKind, Role, StoreError, UnexpectedError, UserId, UserStatus, Violation,
};

/// What a user may do right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlements {
    /// The user.
    pub user: UserId,
    /// The user's role.
    pub role: Role,
    /// Whether the user may sign in (status active).
    pub active: bool,
    /// The license the user holds.
    pub license: Option<HeldLicense>,
    /// The user's budget as of now (consumption reset if a new period began); `None`: no
    /// budget, no limit.
    pub budget: Option<Budget>,
}

impl Entitlements {
    /// Whether the user holds a seat.
    #[must_use]
    pub fn licensed(&self) -> bool {
        self.license.is_some()
    }

    /// Whether the user may use AI features: active and licensed. Administration needs no
    /// license.
    #[must_use]
    pub fn ai_access(&self) -> bool {
        self.active && self.licensed()
    }

    /// What the user's role lets them do.
    #[must_use]
    pub fn capabilities(&self) -> &'static [Capability] {
        self.role.capabilities()
    }
}

/// Reading entitlements failed.
#[derive(Debug, thiserror::Error)]
pub enum EntitlementsError {
    /// Users read only their own entitlements.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the tenant.
    #[error("user not found")]
    NotFound,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// The dashboard's numbers, read from maintained counters (no scan, whatever the tenant's size).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    /// Every user, deactivated ones included.
    pub total: u64,
    /// Users holding a seat.
    pub licensed: u64,
    /// Invited or active users holding no seat.
    pub unlicensed: u64,
    /// Administrators who are invited or active.
    pub administrators: u64,
    /// Users whose status is active (they accepted their invitation or were created active).
    pub active: u64,
    /// Invited users whose link still works.
    pub pending_invitations: u64,
    /// Invited users whose link expired (or who have none): reinvite them.
    pub expired_invitations: u64,
    /// Deactivated users.
    pub deactivated: u64,
    /// Every license kind, with seats, assigned and available.
    pub licenses: Vec<LicenseKind>,
    /// Budgets as a whole.
    pub budgets: BudgetTotals,
}

/// Reading the dashboard failed.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// Administrators only.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// The access gate and the dashboard.
#[derive(Clone)]
pub struct AccessService {
    licenses: Arc<dyn LicenseRepository>,
    invitations: Arc<dyn InvitationRepository>,
    budgets: Arc<dyn BudgetRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AccessService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessService")
    }
}

impl AccessService {
    /// A service over these ports.
    pub fn new(
        licenses: Arc<dyn LicenseRepository>,
        invitations: Arc<dyn InvitationRepository>,
        budgets: Arc<dyn BudgetRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { licenses, invitations, budgets, clock }
    }

    /// What the user `id` may do right now, in one read. Everyone reads their own; reading
    /// others needs `view_users`, or a service with `entitlements:read`.
    ///
    /// # Errors
    /// See [`EntitlementsError`].
    pub async fn entitlements(&self, actor: &Actor, id: UserId) -> Result<Entitlements, EntitlementsError> {
        governance::check_entitlements(actor, id)?;
        let now = self.clock.now();
        let facts = self.licenses.access_facts(actor.tenant, id, now).await.map_err(StoreError::into_unexpected)?;
        let facts = facts.ok_or(EntitlementsError::NotFound)?;
        Ok(Entitlements {
            user: id,
            role: facts.role,
            active: facts.status == UserStatus::Active,
            license: facts.license,
            budget: facts.budget.map(|budget| budget.at(now)),
        })
    }

    /// The tenant's numbers. Administrators only.
    ///
    /// # Errors
    /// See [`DashboardError`].
    pub async fn dashboard(&self, actor: &Actor) -> Result<Dashboard, DashboardError> {
        if !actor.can(Capability::ViewDashboard) {
            return Err(Violation::MissingCapability(Capability::ViewDashboard).into());
        }
        let unexpected = StoreError::into_unexpected;
        let counts = self.licenses.user_counts(actor.tenant).await.map_err(unexpected)?;
        let licenses = self.licenses.list(actor.tenant).await.map_err(unexpected)?;
        let sum = |keep: &dyn Fn(Role, UserStatus) -> bool| {
            counts.iter().filter(|(role, status, _)| keep(*role, *status)).map(|(_, _, n)| n).sum::<u64>()
        };
        let total = sum(&|_, _| true);
        let deactivated = sum(&|_, status| status == UserStatus::Deactivated);
        let licensed = licenses.iter().map(|kind| kind.assigned).sum::<u64>();
        let invited = sum(&|_, status| status == UserStatus::Invited);
        let now = self.clock.now();
        let pending = self.invitations.count_pending(actor.tenant, now).await.map_err(unexpected)?;
        let budgets = self.budgets.budget_totals(actor.tenant, now).await.map_err(unexpected)?;
        Ok(Dashboard {
            total,
            licensed,
            unlicensed: (total - deactivated).saturating_sub(licensed),
            administrators: sum(&|role, status| role == Role::Administrator && status != UserStatus::Deactivated),
            active: sum(&|_, status| status == UserStatus::Active),
            pending_invitations: pending,
            expired_invitations: invited.saturating_sub(pending),
            deactivated,
            licenses,
            budgets,
        })
    }
}
