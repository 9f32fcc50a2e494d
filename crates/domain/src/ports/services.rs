//! Storage of service credentials (their hashes only) and their authentication lookup.

use async_trait::async_trait;

use crate::governance::Acting;
use crate::service::ServiceCredential;
use crate::{AuditEvent, ServiceCredentialId, StoreError, TenantId, TokenHash};

/// Stores service credentials.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait ServiceCredentialRepository: Send + Sync {
    /// Stores `credential` and records `audit`, in one transaction that re-checks `acting`.
    ///
    /// # Errors
    /// MUST return [`StoreError::ActorChanged`] when the acting user changed; nothing is
    /// written then.
    async fn insert_credential(
        &self,
        credential: &ServiceCredential,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Every credential of `tenant`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn credentials(&self, tenant: TenantId) -> Result<Vec<ServiceCredential>, StoreError>;

    /// Deletes the credential `id` of `tenant` (it stops working at once) and records `audit`.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] or [`StoreError::ActorChanged`]; nothing is written
    /// then.
    async fn revoke_credential(
        &self,
        tenant: TenantId,
        id: ServiceCredentialId,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The credential with this hash, in whichever tenant.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn authenticate_service(&self, hash: &TokenHash) -> Result<Option<ServiceCredential>, StoreError>;
}
