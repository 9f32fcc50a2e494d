//! Storage of tenants.

use async_trait::async_trait;

use crate::governance::Acting;
use crate::invitation::TenantSettings;
use crate::{ApiToken, AuditEvent, StoreError, Tenant, TenantId, TenantName, User};

/// Stores tenants.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TenantRepository: Send + Sync {
    /// Creates `tenant` with its first administrator `admin` and that administrator's `token`,
    /// recording `audit`, all in one transaction.
    ///
    /// # Errors
    /// MUST return [`StoreError::TenantNameTaken`] when a tenant has that name; nothing is
    /// written then.
    async fn create(
        &self,
        tenant: &Tenant,
        admin: &User,
        token: &ApiToken,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError>;

    /// The tenant with this id.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError>;

    /// The tenant with this name.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn find_by_name(&self, name: &TenantName) -> Result<Option<Tenant>, StoreError>;

    /// Replaces the settings `before` of `tenant` with `after` and records `audit`, in one
    /// transaction that re-checks `acting` (as governed user changes do) and that the stored
    /// settings are still `before` (so that two administrators' concurrent changes of different
    /// settings both land).
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`], [`StoreError::ActorChanged`] or
    /// [`StoreError::Stale`] (the settings are no longer `before`); nothing is written then.
    async fn update_settings(
        &self,
        tenant: TenantId,
        before: &TenantSettings,
        after: &TenantSettings,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Whether any tenant exists (first start creates one when none does).
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn any_exists(&self) -> Result<bool, StoreError>;
}
