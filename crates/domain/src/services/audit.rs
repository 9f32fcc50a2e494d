//! Reading the audit trail.

use std::sync::Arc;

use crate::audit::AuditCursor;
use crate::ports::AuditLog;
use crate::{Actor, AuditEvent, AuditQuery, Capability, Page, UnexpectedError, Violation};

/// Listing audit events failed.
#[derive(Debug, thiserror::Error)]
pub enum ListAuditError {
    /// The actor may not read the audit trail.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Reads the audit trail of the actor's tenant.
#[derive(Clone)]
pub struct AuditService {
    log: Arc<dyn AuditLog>,
}

impl std::fmt::Debug for AuditService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditService")
    }
}

impl AuditService {
    /// A service over this port.
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self { log }
    }

    /// One page of the tenant's audit events, newest first. Administrators only.
    ///
    /// # Errors
    /// See [`ListAuditError`].
    pub async fn list(
        &self,
        actor: &Actor,
        query: &AuditQuery,
    ) -> Result<Page<AuditEvent, AuditCursor>, ListAuditError> {
        if !actor.can(Capability::ViewAudit) {
            return Err(Violation::MissingCapability(Capability::ViewAudit).into());
        }
        self.log.list_events(actor.tenant, query).await.map_err(|e| e.into_unexpected().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MockAuditLog;
    use crate::{Email, Role, TenantId, UserId};

    #[tokio::test]
    async fn collaborators_cannot_read_the_audit_trail() {
        let mut log = MockAuditLog::new();
        log.expect_list_events().never();
        let actor =
            Actor::user(TenantId::new(), UserId::new(), Email::parse("c@example.com").unwrap(), Role::Collaborator);
        let result = AuditService::new(Arc::new(log)).list(&actor, &AuditQuery::default()).await;
        assert!(matches!(result, Err(ListAuditError::Forbidden(Violation::MissingCapability(Capability::ViewAudit)))));
    }
}
