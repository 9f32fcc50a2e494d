//! Storage of API tokens and the authentication lookup.

use async_trait::async_trait;

use crate::{Actor, ApiToken, AuditEvent, StoreError, TokenHash};

/// Stores API tokens (their hashes only).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait TokenRepository: Send + Sync {
    /// Stores `token` and records `audit` atomically, if the token's user is active when the
    /// transaction commits (serialised with the tenant's governed changes, so that a token issued
    /// while its user is being deactivated can never outlive the deactivation).
    ///
    /// # Errors
    /// MUST return [`StoreError::Stale`] when the user is not active (or gone); nothing is
    /// written then.
    async fn insert_token(&self, token: &ApiToken, audit: &AuditEvent) -> Result<(), StoreError>;

    /// The actor a token with this hash acts as.
    ///
    /// MUST answer `None` unless the token exists and its user is active right now, so that
    /// deactivating a user stops their tokens at once.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn authenticate(&self, hash: &TokenHash) -> Result<Option<Actor>, StoreError>;
}
