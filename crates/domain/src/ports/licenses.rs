//! Storage of license kinds, and the reads of the access gate and the dashboard.

use async_trait::async_trait;

use crate::governance::Acting;
use crate::{
    AuditEvent, HeldLicense, LicenseChanges, LicenseKind, LicenseKindId, Role, StoreError, TenantId, UserId, UserStatus,
};

/// What the access gate needs to know about a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessFacts {
    /// The user's role.
    pub role: Role,
    /// The user's status.
    pub status: UserStatus,
    /// The license they hold.
    pub license: Option<HeldLicense>,
    /// Their budget, without the reservations expired by the instant read at (not yet judged at
    /// that instant otherwise).
    pub budget: Option<crate::budget::Budget>,
}

/// Stores the license kinds of every tenant. Seats are taken and returned by
/// [`UserRepository::insert`](super::UserRepository::insert), [`update`](super::UserRepository::update)
/// and [`purge`](super::UserRepository::purge) whenever a user's license changes.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait LicenseRepository: Send + Sync {
    /// Stores a new `kind` (no seat assigned) and records `audit`; re-checks `acting` under the
    /// tenant lock.
    ///
    /// # Errors
    /// MUST return [`StoreError::LicenseNameTaken`] when the tenant has a kind of that name in
    /// any letter case, [`StoreError::ActorChanged`] when the acting user changed.
    async fn create(&self, kind: &LicenseKind, acting: Acting, audit: &AuditEvent) -> Result<(), StoreError>;

    /// The kind `id` of `tenant`, with its seats assigned.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn get(&self, tenant: TenantId, id: LicenseKindId) -> Result<Option<LicenseKind>, StoreError>;

    /// Every kind of `tenant`, by name.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn list(&self, tenant: TenantId) -> Result<Vec<LicenseKind>, StoreError>;

    /// Applies `changes` to the kind `id` of `tenant` and records `audit`, atomically: seats
    /// MUST NOT go below the seats assigned at that instant. Returns the kind as changed.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`], [`StoreError::SeatsInUse`] (with the seats
    /// assigned), [`StoreError::LicenseNameTaken`] or [`StoreError::ActorChanged`]; nothing is
    /// written then.
    async fn update(
        &self,
        tenant: TenantId,
        id: LicenseKindId,
        changes: &LicenseChanges,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<LicenseKind, StoreError>;

    /// Deletes the kind `id` of `tenant` and records `audit`, if no seat of it is assigned at
    /// that instant.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`], [`StoreError::LicenseInUse`] (with the seats
    /// assigned) or [`StoreError::ActorChanged`]; nothing is written then.
    async fn delete(
        &self,
        tenant: TenantId,
        id: LicenseKindId,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The role, status, license and budget of the user `user` of `tenant`, in one read: the
    /// platform's hot path. The budget is read as
    /// [`BudgetRepository::budget`](super::BudgetRepository::budget) reads it at `now`.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn access_facts(
        &self,
        tenant: TenantId,
        user: UserId,
        now: crate::Timestamp,
    ) -> Result<Option<AccessFacts>, StoreError>;

    /// How many users `tenant` has per role and status, from maintained counters (no scan).
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn user_counts(&self, tenant: TenantId) -> Result<Vec<(Role, UserStatus, u64)>, StoreError>;
}
