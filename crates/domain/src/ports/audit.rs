//! Reading the audit trail (events are written together with the changes they describe).

use async_trait::async_trait;

use crate::audit::AuditCursor;
use crate::{AuditEvent, AuditQuery, Page, StoreError, TenantId};

/// Reads a tenant's audit trail.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// The events of `tenant` matching `query`, newest first.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn list_events(
        &self,
        tenant: TenantId,
        query: &AuditQuery,
    ) -> Result<Page<AuditEvent, AuditCursor>, StoreError>;
}
