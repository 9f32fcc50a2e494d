//! Storage of tenants.

use async_trait::async_trait;

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

    /// Whether any tenant exists (first start creates one when none does).
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn any_exists(&self) -> Result<bool, StoreError>;
}
