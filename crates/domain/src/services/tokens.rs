//! API tokens: issuing them (operator only) and authenticating bearers.

use std::sync::Arc;

use super::activity::ActivityTracker;
use crate::ports::{Clock, ServiceCredentialRepository, TenantRepository, TokenRepository, UserRepository};
use crate::service::ServiceSecret;
use crate::{
    Actor, ApiToken, AuditEvent, Email, StoreError, TenantName, TokenLabel, TokenSecret, UnexpectedError, UserStatus,
};

/// Issuing a token failed.
#[derive(Debug, thiserror::Error)]
pub enum IssueTokenError {
    /// No tenant has this name.
    #[error("no tenant named {0}")]
    UnknownTenant(TenantName),
    /// The tenant has no user with this email.
    #[error("tenant has no user {0}")]
    UnknownUser(Email),
    /// The user may not sign in (invited or deactivated).
    #[error("user {0} is not active")]
    UserInactive(Email),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Authenticating a bearer failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// The credential is malformed, unknown, or its user is not active.
    #[error("invalid or expired credential")]
    Unauthenticated,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Issues and checks API tokens.
#[derive(Clone)]
pub struct TokenService {
    tenants: Arc<dyn TenantRepository>,
    users: Arc<dyn UserRepository>,
    tokens: Arc<dyn TokenRepository>,
    services: Arc<dyn ServiceCredentialRepository>,
    clock: Arc<dyn Clock>,
    activity: ActivityTracker,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenService")
    }
}

impl TokenService {
    /// A service over these ports.
    pub fn new(
        tenants: Arc<dyn TenantRepository>,
        users: Arc<dyn UserRepository>,
        tokens: Arc<dyn TokenRepository>,
        services: Arc<dyn ServiceCredentialRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let activity = ActivityTracker::new(users.clone());
        Self { tenants, users, tokens, services, clock, activity }
    }

    /// Where authenticated use is noted for `last_active_at`; the app flushes it.
    #[must_use]
    pub fn activity(&self) -> &ActivityTracker {
        &self.activity
    }

    /// Issues a new API token for the active user `email` of the tenant `tenant`, on the
    /// operator's behalf. The secret is returned once and stored only as a hash.
    ///
    /// # Errors
    /// See [`IssueTokenError`].
    pub async fn issue(
        &self,
        tenant: &TenantName,
        email: &Email,
        label: &TokenLabel,
    ) -> Result<TokenSecret, IssueTokenError> {
        let unexpected = |e: StoreError| IssueTokenError::Unexpected(e.into_unexpected());
        let found = self.tenants.find_by_name(tenant).await.map_err(unexpected)?;
        let tenant_record = found.ok_or_else(|| IssueTokenError::UnknownTenant(tenant.clone()))?;
        let user = self.users.find_by_email(tenant_record.id, email).await.map_err(unexpected)?;
        let user = user.ok_or_else(|| IssueTokenError::UnknownUser(email.clone()))?;
        if user.status != UserStatus::Active {
            return Err(IssueTokenError::UserInactive(email.clone()));
        }
        let now = self.clock.now();
        let (token, secret) = ApiToken::issue(tenant_record.id, user.id, label.clone(), now);
        let audit = AuditEvent::token_created(&Actor::system(tenant_record.id), &token, now);
        match self.tokens.insert_token(&token, &audit).await {
            Ok(()) => Ok(secret),
            // Deactivated (or deleted) between the read above and the write.
            Err(StoreError::Stale) => Err(IssueTokenError::UserInactive(email.clone())),
            Err(other) => Err(unexpected(other)),
        }
    }

    /// The actor a presented bearer credential acts as: a user's API token (`rst_...`) or a
    /// service credential (`rsk_...`).
    ///
    /// # Errors
    /// See [`AuthenticateError`].
    pub async fn authenticate(&self, presented: &str) -> Result<Actor, AuthenticateError> {
        if let Some(service) = ServiceSecret::parse(presented) {
            let found =
                self.services.authenticate_service(&service.hash()).await.map_err(StoreError::into_unexpected)?;
            return found.map(|credential| Actor::service(&credential)).ok_or(AuthenticateError::Unauthenticated);
        }
        let secret = TokenSecret::parse(presented).ok_or(AuthenticateError::Unauthenticated)?;
        let actor = self.tokens.authenticate(&secret.hash()).await.map_err(StoreError::into_unexpected)?;
        let actor = actor.ok_or(AuthenticateError::Unauthenticated)?;
        if let Some(user) = actor.user_id() {
            self.activity.record(user, self.clock.now());
        }
        Ok(actor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{
        MockClock, MockServiceCredentialRepository, MockTenantRepository, MockTokenRepository, MockUserRepository,
    };
    use chrono::TimeZone as _;

    use crate::{Role, TenantId, UserId};

    fn service(tokens: MockTokenRepository) -> TokenService {
        service_with(tokens, MockUserRepository::new())
    }

    fn service_with(tokens: MockTokenRepository, users: MockUserRepository) -> TokenService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap());
        TokenService::new(
            Arc::new(MockTenantRepository::new()),
            Arc::new(users),
            Arc::new(tokens),
            Arc::new(MockServiceCredentialRepository::new()),
            Arc::new(clock),
        )
    }

    #[tokio::test]
    async fn a_malformed_bearer_is_refused_without_a_lookup() {
        let mut tokens = MockTokenRepository::new();
        tokens.expect_authenticate().never();
        let result = service(tokens).authenticate("not-a-token").await;
        assert!(matches!(result, Err(AuthenticateError::Unauthenticated)));
    }

    #[tokio::test]
    async fn a_known_token_is_looked_up_by_its_hash_only() {
        let secret = TokenSecret::generate();
        let expected_hash = secret.hash();
        let actor = Actor::user(TenantId::new(), UserId::new(), Email::parse("a@example.com").unwrap(), Role::User);
        let returned = actor.clone();
        let mut tokens = MockTokenRepository::new();
        tokens
            .expect_authenticate()
            .withf(move |hash| *hash == expected_hash)
            .returning(move |_| Ok(Some(returned.clone())));
        assert_eq!(service(tokens).authenticate(secret.expose()).await.unwrap(), actor);
    }

    #[tokio::test]
    async fn a_users_authenticated_use_is_noted_and_written_only_when_flushed() {
        let actor = Actor::user(TenantId::new(), UserId::new(), Email::parse("a@example.com").unwrap(), Role::User);
        let returned = actor.clone();
        let mut tokens = MockTokenRepository::new();
        tokens.expect_authenticate().times(3).returning(move |_| Ok(Some(returned.clone())));
        let mut users = MockUserRepository::new();
        let expected = [(actor.user_id().unwrap(), chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap())];
        users.expect_record_activity().times(1).withf(move |seen| seen == expected).returning(|_| Ok(()));
        let service = service_with(tokens, users);
        for _ in 0..3 {
            service.authenticate(TokenSecret::generate().expose()).await.unwrap();
        }
        assert_eq!(service.activity().pending(), 1, "three requests, one note, no write yet");
        assert_eq!(service.activity().flush().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_token_of_an_inactive_user_is_refused() {
        let mut tokens = MockTokenRepository::new();
        tokens.expect_authenticate().returning(|_| Ok(None));
        let result = service(tokens).authenticate(TokenSecret::generate().expose()).await;
        assert!(matches!(result, Err(AuthenticateError::Unauthenticated)));
    }
}
