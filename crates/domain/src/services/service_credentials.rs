//! Service credentials: administrators issue them (the secret is shown once), list and revoke
//! them.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::governance;
use crate::ports::{Clock, ServiceCredentialRepository};
use crate::service::{Scope, ServiceCredential, ServiceName, ServiceSecret};
use crate::{Actor, AuditEvent, ServiceCredentialId, StoreError, UnexpectedError, Violation};

/// A service-credential use case failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceCredentialError {
    /// Administrators only.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such credential in the tenant.
    #[error("service credential not found")]
    NotFound,
    /// A credential needs at least one scope.
    #[error("give at least one scope")]
    NoScope,
    /// The acting user changed meanwhile; nothing was written.
    #[error("your own account changed while this request ran; retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<StoreError> for ServiceCredentialError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

/// Issues, lists and revokes service credentials. Administrators only.
#[derive(Clone)]
pub struct ServiceCredentialService {
    credentials: Arc<dyn ServiceCredentialRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ServiceCredentialService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceCredentialService")
    }
}

impl ServiceCredentialService {
    /// A service over these ports.
    pub fn new(credentials: Arc<dyn ServiceCredentialRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { credentials, clock }
    }

    /// Issues a credential named `name` with `scopes`, returning it with its secret (shown once).
    ///
    /// # Errors
    /// See [`ServiceCredentialError`].
    pub async fn create(
        &self,
        actor: &Actor,
        name: ServiceName,
        scopes: BTreeSet<Scope>,
    ) -> Result<(ServiceCredential, ServiceSecret), ServiceCredentialError> {
        governance::check_settings(actor)?;
        if scopes.is_empty() {
            return Err(ServiceCredentialError::NoScope);
        }
        let now = self.clock.now();
        let (credential, secret) = ServiceCredential::issue(actor.tenant, name, scopes, now);
        let audit = AuditEvent::service_credential_created(actor, &credential, now);
        self.credentials.insert_credential(&credential, governance::acting(actor), &audit).await?;
        Ok((credential, secret))
    }

    /// Every credential of the tenant (never their secrets).
    ///
    /// # Errors
    /// See [`ServiceCredentialError`].
    pub async fn list(&self, actor: &Actor) -> Result<Vec<ServiceCredential>, ServiceCredentialError> {
        governance::check_settings(actor)?;
        Ok(self.credentials.credentials(actor.tenant).await?)
    }

    /// Revokes the credential `id`: it stops working at once.
    ///
    /// # Errors
    /// See [`ServiceCredentialError`].
    pub async fn revoke(&self, actor: &Actor, id: ServiceCredentialId) -> Result<(), ServiceCredentialError> {
        governance::check_settings(actor)?;
        let all = self.credentials.credentials(actor.tenant).await?;
        let credential = all.into_iter().find(|c| c.id == id).ok_or(ServiceCredentialError::NotFound)?;
        let audit = AuditEvent::service_credential_revoked(actor, &credential, self.clock.now());
        Ok(self.credentials.revoke_credential(actor.tenant, id, governance::acting(actor), &audit).await?)
    }
}
