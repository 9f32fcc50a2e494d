//! API tokens: issuing them (operator only) and authenticating bearers.

use std::sync::Arc;

use super::activity::ActivityTracker;
use crate::identity::{CredentialRejected, ExternalIdentity, ExternalLink, OidcSettings};
use crate::ports::{
    Clock, IdentityProvider, OidcRepository, ServiceCredentialRepository, SessionRepository, TenantRepository,
    TokenRepository, UserRepository,
};
use crate::service::ServiceSecret;
use crate::session::{SessionSecret, SessionState};
use crate::user::NewUser;
use crate::{
    Actor, ApiToken, AuditEvent, Email, PersonName, Role, SessionId, StoreError, TenantId, TenantName, TokenLabel,
    TokenSecret, UnexpectedError, User, UserSource, UserStatus,
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
    /// The credential is malformed, unknown, expired or revoked, or its user is not active.
    #[error("invalid or expired credential")]
    Unauthenticated,
    /// A token of a tenant's identity provider was refused (the reason, never the token).
    #[error("{0}")]
    Rejected(CredentialRejected),
    /// The identity provider vouches for a person who is not a user of the tenant (and the
    /// tenant does not create users just in time).
    #[error("you are not a user of this tenant; ask an administrator to add you")]
    NotProvisioned,
    /// The identity provider vouches for a user who is invited or deactivated.
    #[error("your account is not active")]
    UserInactive,
    /// The session may only enroll in MFA until the enrollment is confirmed.
    #[error("set up MFA first: this session may only enroll an authenticator")]
    EnrollmentRequired,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<StoreError> for AuthenticateError {
    fn from(error: StoreError) -> Self {
        Self::Unexpected(error.into_unexpected())
    }
}

/// Who presented a credential, and with which session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Who acts.
    pub actor: Actor,
    /// The built-in session the credential is, if it is one.
    pub session: Option<SessionId>,
    /// Whether that session may only enroll in MFA.
    pub enrolling: bool,
}

/// Issues and checks API tokens.
#[derive(Clone)]
pub struct TokenService {
    tenants: Arc<dyn TenantRepository>,
    users: Arc<dyn UserRepository>,
    tokens: Arc<dyn TokenRepository>,
    services: Arc<dyn ServiceCredentialRepository>,
    sessions: Arc<dyn SessionRepository>,
    oidc: Arc<dyn OidcRepository>,
    identity: Option<Arc<dyn IdentityProvider>>,
    clock: Arc<dyn Clock>,
    activity: ActivityTracker,
}

/// The ports a [`TokenService`] reads credentials from.
#[derive(Clone)]
pub struct CredentialStores {
    /// API tokens.
    pub tokens: Arc<dyn TokenRepository>,
    /// Service credentials.
    pub services: Arc<dyn ServiceCredentialRepository>,
    /// Built-in sessions.
    pub sessions: Arc<dyn SessionRepository>,
    /// Tenants' OpenID Connect trust and subject links.
    pub oidc: Arc<dyn OidcRepository>,
}

impl std::fmt::Debug for CredentialStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialStores")
    }
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenService")
    }
}

impl TokenService {
    /// A service over these ports, trusting no identity provider (see
    /// [`with_identity_provider`](Self::with_identity_provider)).
    pub fn new(
        tenants: Arc<dyn TenantRepository>,
        users: Arc<dyn UserRepository>,
        stores: CredentialStores,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let activity = ActivityTracker::new(users.clone());
        let CredentialStores { tokens, services, sessions, oidc } = stores;
        Self { tenants, users, tokens, services, sessions, oidc, identity: None, clock, activity }
    }

    /// This service, also accepting tokens of the OpenID Connect issuers tenants trust,
    /// verified by `provider`.
    #[must_use]
    pub fn with_identity_provider(mut self, provider: Arc<dyn IdentityProvider>) -> Self {
        self.identity = Some(provider);
        self
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

    /// The actor a presented bearer credential acts as: a user's API token (`rst_...`), a
    /// session (`rss_...`), a service credential (`rsk_...`) or a token of the tenant's
    /// OpenID Connect issuer. An enrolling session is refused: see [`identify`](Self::identify).
    ///
    /// # Errors
    /// See [`AuthenticateError`].
    pub async fn authenticate(&self, presented: &str) -> Result<Actor, AuthenticateError> {
        let found = self.identify(presented).await?;
        if found.enrolling { Err(AuthenticateError::EnrollmentRequired) } else { Ok(found.actor) }
    }

    /// Who presents `presented`, with the session it is, including a session that may only
    /// enroll in MFA.
    ///
    /// # Errors
    /// See [`AuthenticateError`].
    pub async fn identify(&self, presented: &str) -> Result<Authenticated, AuthenticateError> {
        if let Some(service) = ServiceSecret::parse(presented) {
            let found = self.services.authenticate_service(&service.hash()).await?;
            let actor =
                found.map(|credential| Actor::service(&credential)).ok_or(AuthenticateError::Unauthenticated)?;
            return Ok(Authenticated { actor, session: None, enrolling: false });
        }
        let (actor, session, enrolling) = if let Some(secret) = SessionSecret::parse(presented) {
            let found = self.sessions.authenticate_session(&secret.hash(), self.clock.now()).await?;
            let (actor, session) = found.ok_or(AuthenticateError::Unauthenticated)?;
            (actor, Some(session.id), session.state == SessionState::Enrolling)
        } else if let Some(secret) = TokenSecret::parse(presented) {
            let actor = self.tokens.authenticate(&secret.hash()).await?;
            (actor.ok_or(AuthenticateError::Unauthenticated)?, None, false)
        } else {
            (self.authenticate_external(presented).await?, None, false)
        };
        if let Some(user) = actor.user_id() {
            self.activity.record(user, self.clock.now());
        }
        Ok(Authenticated { actor, session, enrolling })
    }

    /// A token of an OpenID Connect issuer: verified against each tenant trusting the issuer it
    /// claims (one per audience), then mapped to a user of the one tenant it verifies for. A
    /// token for the audiences of several tenants is refused: it names no tenant of its own.
    async fn authenticate_external(&self, presented: &str) -> Result<Actor, AuthenticateError> {
        let Some(provider) = &self.identity else { return Err(AuthenticateError::Unauthenticated) };
        let Some(issuer) = provider.claimed_issuer(presented) else { return Err(AuthenticateError::Unauthenticated) };
        let mut refusal = AuthenticateError::Unauthenticated;
        let mut verified = None;
        for (tenant, settings) in self.oidc.tenants_trusting(&issuer).await? {
            match provider.verify(presented, &settings).await {
                Ok(_) if verified.is_some() => {
                    let reason = "the token is issued for the audiences of more than one tenant".to_owned();
                    return Err(AuthenticateError::Rejected(CredentialRejected::Invalid(reason)));
                }
                Ok(identity) => verified = Some((tenant, settings, identity)),
                Err(rejected) => refusal = AuthenticateError::Rejected(rejected),
            }
        }
        match verified {
            Some((tenant, settings, identity)) => self.map_external(tenant, &settings, identity).await,
            None => Err(refusal),
        }
    }

    /// The active user `identity` is in `tenant`: the one its subject is linked to, else the
    /// one with its email (then linked), else a new `user` when the tenant creates users just
    /// in time.
    async fn map_external(
        &self,
        tenant: TenantId,
        settings: &OidcSettings,
        identity: ExternalIdentity,
    ) -> Result<Actor, AuthenticateError> {
        let issuer = settings.issuer.as_str();
        let linked = match self.oidc.linked_user(tenant, issuer, &identity.subject).await? {
            Some(id) => self.users.get(tenant, id).await?,
            None => None,
        };
        let (user, newly_linked) = match linked {
            Some(user) => (user, false),
            None => (self.user_by_email(tenant, settings, &identity).await?, true),
        };
        if user.status != UserStatus::Active {
            return Err(AuthenticateError::UserInactive);
        }
        if let Some(revoked) = self.sessions.sessions_revoked_at(tenant, user.id).await? {
            // `iat` has whole seconds: a token issued in the second of the revocation is refused too.
            if identity.issued_at.is_none_or(|issued| issued < revoked) {
                return Err(AuthenticateError::Unauthenticated);
            }
        }
        if newly_linked {
            // Only a sign-in that succeeds links the subject to the user.
            let link = ExternalLink {
                tenant,
                issuer: settings.issuer.clone(),
                subject: identity.subject.clone(),
                user: user.id,
                linked_at: self.clock.now(),
            };
            let actor = Actor::user(tenant, user.id, user.email.clone(), user.role);
            let target = crate::AuditTarget::user(user.id, &user.email);
            let mut audit =
                crate::AuditEvent::about(&actor, crate::AuditAction::IdentityLinked, target, link.linked_at);
            audit.after = Some(serde_json::json!({ "issuer": link.issuer.as_str(), "subject": link.subject }));
            self.oidc.link(&link, &audit).await?;
        }
        Ok(Actor::user(tenant, user.id, user.email, user.role))
    }

    /// The user with the token's email (`email`, else `preferred_username`), created when the
    /// tenant creates users just in time.
    async fn user_by_email(
        &self,
        tenant: TenantId,
        settings: &OidcSettings,
        identity: &ExternalIdentity,
    ) -> Result<User, AuthenticateError> {
        let email = [&identity.email, &identity.preferred_username]
            .into_iter()
            .flatten()
            .find_map(|claim| Email::parse(claim).ok())
            .ok_or(AuthenticateError::NotProvisioned)?;
        match self.users.find_by_email(tenant, &email).await? {
            Some(user) => Ok(user),
            None if settings.just_in_time => self.create_just_in_time(tenant, email, identity).await,
            None => Err(AuthenticateError::NotProvisioned),
        }
    }

    async fn create_just_in_time(
        &self,
        tenant: TenantId,
        email: Email,
        identity: &ExternalIdentity,
    ) -> Result<User, AuthenticateError> {
        let name = identity.name.as_deref().and_then(|name| PersonName::parse(name).ok());
        let new = NewUser { email: email.clone(), name, phone: None, role: Role::User, referral_code: None };
        let now = self.clock.now();
        let user = User::create(tenant, new, UserSource::Oidc, now);
        let audit = AuditEvent::user_created(&Actor::system(tenant), &user, now);
        match self.users.insert(&user, None, &audit).await {
            Ok(()) => Ok(user),
            // Created by a concurrent first sign-in: use theirs.
            Err(StoreError::EmailTaken) => {
                self.users.find_by_email(tenant, &email).await?.ok_or(AuthenticateError::NotProvisioned)
            }
            Err(other) => Err(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{
        MockClock, MockOidcRepository, MockServiceCredentialRepository, MockSessionRepository, MockTenantRepository,
        MockTokenRepository, MockUserRepository,
    };
    use chrono::TimeZone as _;

    use crate::{Role, TenantId, UserId};

    fn service(tokens: MockTokenRepository) -> TokenService {
        service_with(tokens, MockUserRepository::new())
    }

    fn service_with(tokens: MockTokenRepository, users: MockUserRepository) -> TokenService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(|| chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap());
        let stores = CredentialStores {
            tokens: Arc::new(tokens),
            services: Arc::new(MockServiceCredentialRepository::new()),
            sessions: Arc::new(MockSessionRepository::new()),
            oidc: Arc::new(MockOidcRepository::new()),
        };
        TokenService::new(Arc::new(MockTenantRepository::new()), Arc::new(users), stores, Arc::new(clock))
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
