//! Tokens of a tenant's OpenID Connect issuer (verified by a mocked [`IdentityProvider`] and
//! mapped to users by [`TokenService`]), enrolling sessions, and [`OidcService`], one behaviour
//! per test.
//!
//! [`IdentityProvider`]: crate::ports::IdentityProvider

use std::sync::{Arc, Mutex};

use chrono::{TimeDelta, TimeZone as _, Utc};
use serde_json::json;

use super::{AuthenticateError, Authenticated, CredentialStores, OidcService, OidcSettingsError, TokenService};
use crate::identity::{Audience, CredentialRejected, ExternalIdentity, ExternalLink, IssuerUrl, OidcSettings};
use crate::invitation::TenantSettings;
use crate::ports::{
    MockClock, MockIdentityProvider, MockOidcRepository, MockServiceCredentialRepository, MockSessionRepository,
    MockTenantRepository, MockTokenRepository, MockUserRepository,
};
use crate::session::{Session, SessionSecret, SessionState, SignInMethod};
use crate::user::NewUser;
use crate::{
    Actor, AuditAction, AuditActor, Capability, Email, Role, StoreError, TargetKind, Tenant, TenantId, Timestamp, User,
    UserId, UserSource, UserStatus, Violation,
};

const ISSUER: &str = "https://login.example.com/acme/v2.0";
/// A bearer of the form of a JWT (what the provider's `claimed_issuer` reads).
const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2xvZ2luLmV4YW1wbGUuY29tIn0.c2lnbmF0dXJl";
const SUBJECT: &str = "subject-1";

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 10).unwrap()
}

fn tenant_a() -> TenantId {
    TenantId::from(uuid::Uuid::from_u128(7))
}

fn tenant_b() -> TenantId {
    TenantId::from(uuid::Uuid::from_u128(8))
}

fn settings(just_in_time: bool) -> OidcSettings {
    OidcSettings {
        issuer: IssuerUrl::parse(ISSUER).unwrap(),
        audience: Audience::parse("api://roster").unwrap(),
        entra_tenant: None,
        just_in_time,
    }
}

/// What the provider vouches for: `ada@example.com`, issued five minutes ago.
fn identity() -> ExternalIdentity {
    ExternalIdentity {
        subject: SUBJECT.into(),
        email: Some("ada@example.com".into()),
        preferred_username: None,
        name: Some("Ada Lovelace".into()),
        issued_at: Some(now() - TimeDelta::minutes(5)),
    }
}

fn user_of(tenant: TenantId, email: &str, role: Role) -> User {
    let new = NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role, referral_code: None };
    User::create(tenant, new, UserSource::Created, now() - TimeDelta::days(10))
}

fn ada() -> User {
    user_of(tenant_a(), "ada@example.com", Role::Collaborator)
}

fn actor_of(user: &User) -> Actor {
    Actor::user(user.tenant, user.id, user.email.clone(), user.role)
}

/// The ports of a token service; each test sets the expectations it needs.
struct Ports {
    users: MockUserRepository,
    sessions: MockSessionRepository,
    oidc: MockOidcRepository,
    provider: MockIdentityProvider,
}

impl Ports {
    fn new() -> Self {
        Self {
            users: MockUserRepository::new(),
            sessions: MockSessionRepository::new(),
            oidc: MockOidcRepository::new(),
            provider: MockIdentityProvider::new(),
        }
    }

    /// [`JWT`] claims [`ISSUER`], which tenant A trusts with `settings`, and verifies as `identity`.
    fn verified(identity: ExternalIdentity, settings: OidcSettings) -> Self {
        let mut ports = Self::new();
        ports
            .provider
            .expect_claimed_issuer()
            .withf(|presented| presented == JWT)
            .times(1)
            .returning(|_| Some(ISSUER.into()));
        let trusted = settings.clone();
        ports
            .oidc
            .expect_tenants_trusting()
            .withf(|issuer| issuer == ISSUER)
            .times(1)
            .returning(move |_| Ok(vec![(tenant_a(), trusted.clone())]));
        ports
            .provider
            .expect_verify()
            .withf(move |presented, given| presented == JWT && *given == settings)
            .times(1)
            .returning(move |_, _| Ok(identity.clone()));
        ports
    }

    /// The subject is linked to `user` in tenant A (or to nobody).
    fn linked_to(mut self, user: Option<UserId>) -> Self {
        self.oidc
            .expect_linked_user()
            .withf(|tenant, issuer, subject| *tenant == tenant_a() && issuer == ISSUER && subject == SUBJECT)
            .times(1)
            .returning(move |_, _, _| Ok(user));
        self
    }

    /// The sessions of `user` were revoked at `at` (or never).
    fn revoked(mut self, user: UserId, at: Option<Timestamp>) -> Self {
        self.sessions
            .expect_sessions_revoked_at()
            .withf(move |tenant, id| *tenant == tenant_a() && *id == user)
            .times(1)
            .returning(move |_, _| Ok(at));
        self
    }

    /// `users.find_by_email` of tenant A answers `found` for ada@example.com, once.
    fn finding(mut self, found: Option<User>) -> Self {
        self.users
            .expect_find_by_email()
            .withf(|tenant, email| *tenant == tenant_a() && email.as_str() == "ada@example.com")
            .times(1)
            .returning(move |_, _| Ok(found.clone()));
        self
    }

    /// Expects the subject to be linked to `user`, once, with its audit event (the user acting,
    /// about themselves, naming the issuer and subject).
    fn expect_link(mut self, user: UserId) -> Self {
        let expected = ExternalLink {
            tenant: tenant_a(),
            issuer: IssuerUrl::parse(ISSUER).unwrap(),
            subject: SUBJECT.into(),
            user,
            linked_at: now(),
        };
        self.oidc
            .expect_link()
            .withf(move |link, audit| {
                *link == expected
                    && audit.action == AuditAction::IdentityLinked
                    && matches!(audit.actor, AuditActor::User { id, .. } if id == user)
                    && audit.target.kind == TargetKind::User
                    && audit.target.id == uuid::Uuid::from(user)
                    && audit.occurred_at == now()
                    && audit.after == Some(json!({ "issuer": ISSUER, "subject": SUBJECT }))
            })
            .times(1)
            .returning(|_, _| Ok(()));
        self
    }

    fn without_provider(self) -> TokenService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        let stores = CredentialStores {
            tokens: Arc::new(MockTokenRepository::new()),
            services: Arc::new(MockServiceCredentialRepository::new()),
            sessions: Arc::new(self.sessions),
            oidc: Arc::new(self.oidc),
        };
        TokenService::new(Arc::new(MockTenantRepository::new()), Arc::new(self.users), stores, Arc::new(clock))
    }

    fn service(mut self) -> TokenService {
        let provider = std::mem::replace(&mut self.provider, MockIdentityProvider::new());
        self.without_provider().with_identity_provider(Arc::new(provider))
    }
}

// --- which bearers reach the provider -----------------------------------------------------

#[tokio::test]
async fn a_bearer_of_no_known_form_is_refused_when_the_provider_claims_no_issuer() {
    let mut ports = Ports::new();
    ports.provider.expect_claimed_issuer().withf(|presented| presented == "not-a-token").times(1).returning(|_| None);
    ports.provider.expect_verify().never();
    ports.oidc.expect_tenants_trusting().never();
    let result = ports.service().authenticate("not-a-token").await;
    assert!(matches!(result, Err(AuthenticateError::Unauthenticated)), "{result:?}");
}

#[tokio::test]
async fn without_a_provider_an_external_token_is_refused() {
    let mut ports = Ports::new();
    ports.oidc.expect_tenants_trusting().never();
    let result = ports.without_provider().authenticate(JWT).await;
    assert!(matches!(result, Err(AuthenticateError::Unauthenticated)), "{result:?}");
}

#[tokio::test]
async fn an_issuer_no_tenant_trusts_is_refused_without_verifying() {
    let mut ports = Ports::new();
    ports.provider.expect_claimed_issuer().times(1).returning(|_| Some(ISSUER.into()));
    ports.oidc.expect_tenants_trusting().withf(|issuer| issuer == ISSUER).times(1).returning(|_| Ok(vec![]));
    ports.provider.expect_verify().never();
    let result = ports.service().authenticate(JWT).await;
    assert!(matches!(result, Err(AuthenticateError::Unauthenticated)), "{result:?}");
}

#[tokio::test]
async fn an_invalid_token_is_rejected_with_the_reason() {
    let mut ports = Ports::new();
    ports.provider.expect_claimed_issuer().times(1).returning(|_| Some(ISSUER.into()));
    ports.oidc.expect_tenants_trusting().times(1).returning(|_| Ok(vec![(tenant_a(), settings(false))]));
    ports.provider.expect_verify().times(1).returning(|_, _| Err(CredentialRejected::Invalid("expired".into())));
    ports.oidc.expect_linked_user().never();
    let result = ports.service().authenticate(JWT).await;
    assert!(
        matches!(&result, Err(AuthenticateError::Rejected(CredentialRejected::Invalid(reason))) if reason == "expired"),
        "{result:?}"
    );
}

#[tokio::test]
async fn the_second_tenant_trusting_the_issuer_is_tried_when_the_first_refuses() {
    let bob = user_of(tenant_b(), "bob@example.com", Role::User);
    let mut ports = Ports::new();
    ports.provider.expect_claimed_issuer().times(1).returning(|_| Some(ISSUER.into()));
    let for_b = OidcSettings { audience: Audience::parse("api://other").unwrap(), ..settings(false) };
    let trusting = vec![(tenant_a(), settings(false)), (tenant_b(), for_b)];
    ports.oidc.expect_tenants_trusting().times(1).returning(move |_| Ok(trusting.clone()));
    ports.provider.expect_verify().times(2).returning(|_, given| {
        if given.audience.as_str() == "api://other" {
            Ok(identity())
        } else {
            Err(CredentialRejected::Invalid("audience".into()))
        }
    });
    let id = bob.id;
    ports
        .oidc
        .expect_linked_user()
        .withf(|tenant, _, subject| *tenant == tenant_b() && subject == SUBJECT)
        .times(1)
        .returning(move |_, _, _| Ok(Some(id)));
    let found = bob.clone();
    ports
        .users
        .expect_get()
        .withf(move |tenant, user| *tenant == tenant_b() && *user == id)
        .returning(move |_, _| Ok(Some(found.clone())));
    ports.sessions.expect_sessions_revoked_at().withf(|tenant, _| *tenant == tenant_b()).returning(|_, _| Ok(None));
    assert_eq!(ports.service().authenticate(JWT).await.unwrap(), actor_of(&bob));
}

#[tokio::test]
async fn a_token_for_the_audiences_of_two_tenants_is_refused_by_both() {
    let mut ports = Ports::new();
    ports.provider.expect_claimed_issuer().times(1).returning(|_| Some(ISSUER.into()));
    let for_b = OidcSettings { audience: Audience::parse("api://other").unwrap(), ..settings(true) };
    let trusting = vec![(tenant_a(), settings(true)), (tenant_b(), for_b)];
    ports.oidc.expect_tenants_trusting().times(1).returning(move |_| Ok(trusting.clone()));
    // Its `aud` names both tenants' audiences: it verifies for each.
    ports.provider.expect_verify().times(2).returning(|_, _| Ok(identity()));
    ports.oidc.expect_linked_user().never();
    ports.users.expect_find_by_email().never();

    let result = ports.service().authenticate(JWT).await;

    assert!(
        matches!(&result, Err(AuthenticateError::Rejected(CredentialRejected::Invalid(reason)))
            if reason.contains("more than one tenant")),
        "{result:?}"
    );
}

// --- mapping a verified identity to a user ------------------------------------------------

#[tokio::test]
async fn a_linked_subject_acts_as_its_user_without_an_email_lookup() {
    let ada = ada();
    let mut ports = Ports::verified(identity(), settings(false)).linked_to(Some(ada.id)).revoked(ada.id, None);
    let (id, found) = (ada.id, ada.clone());
    ports
        .users
        .expect_get()
        .withf(move |tenant, user| *tenant == tenant_a() && *user == id)
        .times(1)
        .returning(move |_, _| Ok(Some(found.clone())));
    ports.users.expect_find_by_email().never();
    ports.oidc.expect_link().never();
    let service = ports.service();
    let actor = service.authenticate(JWT).await.unwrap();
    assert_eq!(actor, Actor::user(tenant_a(), ada.id, ada.email.clone(), Role::Collaborator));
    assert_eq!(service.activity().pending(), 1, "the use is noted");
}

#[tokio::test]
async fn an_unlinked_subject_is_matched_by_email_and_linked() {
    let ada = ada();
    let mut ports =
        Ports::verified(identity(), settings(false)).linked_to(None).finding(Some(ada.clone())).expect_link(ada.id);
    ports.users.expect_get().never();
    ports = ports.revoked(ada.id, None);
    assert_eq!(ports.service().authenticate(JWT).await.unwrap(), actor_of(&ada));
}

#[tokio::test]
async fn the_preferred_username_is_used_when_the_email_claim_is_absent_or_not_an_email() {
    for email in [None, Some("Ada Lovelace".to_owned())] {
        let ada = ada();
        let said = ExternalIdentity { email, preferred_username: Some("ada@example.com".into()), ..identity() };
        let ports = Ports::verified(said, settings(false))
            .linked_to(None)
            .finding(Some(ada.clone()))
            .expect_link(ada.id)
            .revoked(ada.id, None);
        assert_eq!(ports.service().authenticate(JWT).await.unwrap(), actor_of(&ada));
    }
}

#[tokio::test]
async fn an_identity_without_any_email_is_not_provisioned() {
    let said = ExternalIdentity { email: None, preferred_username: Some("ada".into()), ..identity() };
    let mut ports = Ports::verified(said, settings(true)).linked_to(None);
    ports.users.expect_find_by_email().never();
    ports.users.expect_insert().never();
    ports.oidc.expect_link().never();
    let result = ports.service().authenticate(JWT).await;
    assert!(matches!(result, Err(AuthenticateError::NotProvisioned)), "{result:?}");
}

#[tokio::test]
async fn an_unknown_person_is_not_provisioned_without_just_in_time_creation() {
    let mut ports = Ports::verified(identity(), settings(false)).linked_to(None).finding(None);
    ports.users.expect_insert().never();
    ports.oidc.expect_link().never();
    let result = ports.service().authenticate(JWT).await;
    assert!(matches!(result, Err(AuthenticateError::NotProvisioned)), "{result:?}");
}

#[tokio::test]
async fn an_unknown_person_is_created_just_in_time_as_an_active_user_and_linked() {
    let mut ports = Ports::verified(identity(), settings(true)).linked_to(None).finding(None);
    let created: Arc<Mutex<Option<User>>> = Arc::default();
    let keep = created.clone();
    ports
        .users
        .expect_insert()
        .withf(|user, acting, audit| {
            user.tenant == tenant_a()
                && user.email.as_str() == "ada@example.com"
                && user.name.as_ref().map(|n| n.as_str()) == Some("Ada Lovelace")
                && user.role == Role::User
                && user.status == UserStatus::Active
                && user.source == UserSource::Oidc
                && user.license.is_none()
                && acting.is_none()
                && audit.action == AuditAction::UserCreated
                && audit.actor == AuditActor::System
                && audit.target.id == uuid::Uuid::from(user.id)
        })
        .times(1)
        .returning(move |user, _, _| {
            *keep.lock().unwrap() = Some(user.clone());
            Ok(())
        });
    ports
        .oidc
        .expect_link()
        .withf(|link, _| link.tenant == tenant_a() && link.subject == SUBJECT)
        .times(1)
        .returning(|_, _| Ok(()));
    ports.sessions.expect_sessions_revoked_at().times(1).returning(|_, _| Ok(None));
    let actor = ports.service().authenticate(JWT).await.unwrap();
    let created = created.lock().unwrap().take().unwrap();
    assert_eq!(actor, Actor::user(tenant_a(), created.id, created.email, Role::User));
}

#[tokio::test]
async fn the_user_created_by_a_concurrent_first_sign_in_is_used() {
    let ada = user_of(tenant_a(), "ada@example.com", Role::User);
    let mut ports = Ports::verified(identity(), settings(true)).linked_to(None);
    let mut sequence = mockall::Sequence::new();
    ports.users.expect_find_by_email().times(1).in_sequence(&mut sequence).returning(|_, _| Ok(None));
    ports.users.expect_insert().times(1).in_sequence(&mut sequence).returning(|_, _, _| Err(StoreError::EmailTaken));
    let theirs = ada.clone();
    ports
        .users
        .expect_find_by_email()
        .withf(|tenant, email| *tenant == tenant_a() && email.as_str() == "ada@example.com")
        .times(1)
        .in_sequence(&mut sequence)
        .returning(move |_, _| Ok(Some(theirs.clone())));
    let ports = ports.expect_link(ada.id).revoked(ada.id, None);
    assert_eq!(ports.service().authenticate(JWT).await.unwrap(), actor_of(&ada));
}

#[tokio::test]
async fn a_deactivated_linked_user_is_inactive() {
    let ada = ada().deactivated(now() - TimeDelta::days(1));
    let mut ports = Ports::verified(identity(), settings(false)).linked_to(Some(ada.id));
    ports.users.expect_get().times(1).returning(move |_, _| Ok(Some(ada.clone())));
    ports.users.expect_find_by_email().never();
    ports.sessions.expect_sessions_revoked_at().never();
    let service = ports.service();
    let result = service.authenticate(JWT).await;
    assert!(matches!(result, Err(AuthenticateError::UserInactive)), "{result:?}");
    assert_eq!(service.activity().pending(), 0);
}

#[tokio::test]
async fn an_invited_user_found_by_email_is_inactive() {
    let new = NewUser {
        email: Email::parse("ada@example.com").unwrap(),
        name: None,
        phone: None,
        role: Role::User,
        referral_code: None,
    };
    let invited = User::invite(tenant_a(), new, None, now() - TimeDelta::days(1));
    let mut ports = Ports::verified(identity(), settings(true)).linked_to(None).finding(Some(invited));
    ports.users.expect_insert().never();
    ports.oidc.expect_link().never();
    ports.sessions.expect_sessions_revoked_at().never();
    let result = ports.service().authenticate(JWT).await;
    assert!(matches!(result, Err(AuthenticateError::UserInactive)), "{result:?}");
}

#[tokio::test]
async fn a_refused_sign_in_links_no_subject() {
    let inactive = ada().deactivated(now() - TimeDelta::days(1));
    let mut ports = Ports::verified(identity(), settings(false)).linked_to(None).finding(Some(inactive));
    ports.oidc.expect_link().never();
    let result = ports.service().authenticate(JWT).await;
    assert!(matches!(result, Err(AuthenticateError::UserInactive)), "{result:?}");
}

// --- revocation -------------------------------------------------------------------------------

/// Authenticates [`JWT`] issued at `issued_at` for `user`, linked, revoked at `revoked_at`.
async fn authenticate_revoked(
    user: &User,
    issued_at: Option<Timestamp>,
    revoked_at: Timestamp,
) -> Result<Actor, AuthenticateError> {
    let said = ExternalIdentity { issued_at, ..identity() };
    let mut ports = Ports::verified(said, settings(false)).linked_to(Some(user.id)).revoked(user.id, Some(revoked_at));
    let found = user.clone();
    ports.users.expect_get().times(1).returning(move |_, _| Ok(Some(found.clone())));
    ports.service().authenticate(JWT).await
}

#[tokio::test]
async fn a_token_issued_before_the_sessions_were_revoked_is_refused() {
    let result = authenticate_revoked(&ada(), Some(now() - TimeDelta::minutes(5)), now() - TimeDelta::minutes(1)).await;
    assert!(matches!(result, Err(AuthenticateError::Unauthenticated)), "{result:?}");
}

#[tokio::test]
async fn a_token_issued_in_the_second_of_the_revocation_is_refused() {
    let result = authenticate_revoked(&ada(), Some(now()), now() + TimeDelta::milliseconds(400)).await;
    assert!(matches!(result, Err(AuthenticateError::Unauthenticated)), "{result:?}");
}

#[tokio::test]
async fn a_token_without_iat_is_refused_once_sessions_were_revoked() {
    let result = authenticate_revoked(&ada(), None, now() - TimeDelta::days(30)).await;
    assert!(matches!(result, Err(AuthenticateError::Unauthenticated)), "{result:?}");
}

#[tokio::test]
async fn a_token_issued_after_the_revocation_is_accepted() {
    let ada = ada();
    let actor = authenticate_revoked(&ada, Some(now() - TimeDelta::minutes(1)), now() - TimeDelta::minutes(5)).await;
    assert_eq!(actor.unwrap(), actor_of(&ada));
}

// --- enrolling sessions -------------------------------------------------------------------

/// A service where `secret` is an enrolling session of Ada, and who presents it.
fn enrolling(secret: &SessionSecret) -> (TokenService, Authenticated) {
    let ada = ada();
    let session = Session {
        id: crate::SessionId::new(),
        tenant: tenant_a(),
        user: ada.id,
        hash: secret.hash(),
        state: SessionState::Enrolling,
        method: SignInMethod::MagicLink,
        mfa: false,
        created_at: now() - TimeDelta::minutes(1),
        expires_at: now() + TimeDelta::minutes(14),
    };
    let expected = Authenticated { actor: actor_of(&ada), session: Some(session.id), enrolling: true };
    let mut ports = Ports::new();
    let (hash, found) = (secret.hash(), (actor_of(&ada), session));
    ports
        .sessions
        .expect_authenticate_session()
        .withf(move |h, at| *h == hash && *at == now())
        .times(1)
        .returning(move |_, _| Ok(Some(found.clone())));
    ports.provider.expect_claimed_issuer().never();
    (ports.service(), expected)
}

#[tokio::test]
async fn an_enrolling_session_is_identified_as_enrolling() {
    let secret = SessionSecret::generate();
    let (service, expected) = enrolling(&secret);
    assert_eq!(service.identify(secret.expose()).await.unwrap(), expected);
    assert_eq!(service.activity().pending(), 1);
}

#[tokio::test]
async fn an_enrolling_session_may_not_authenticate() {
    let secret = SessionSecret::generate();
    let (service, _) = enrolling(&secret);
    let result = service.authenticate(secret.expose()).await;
    assert!(matches!(result, Err(AuthenticateError::EnrollmentRequired)), "{result:?}");
}

// --- OidcService --------------------------------------------------------------------------

fn acme() -> Tenant {
    Tenant {
        id: tenant_a(),
        name: "acme".parse().unwrap(),
        created_at: now() - TimeDelta::days(30),
        settings: TenantSettings::default(),
    }
}

fn old_settings() -> OidcSettings {
    OidcSettings { issuer: IssuerUrl::parse("https://old.example.com").unwrap(), ..settings(false) }
}

fn oidc_service(tenants: MockTenantRepository, oidc: MockOidcRepository) -> OidcService {
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    OidcService::new(Arc::new(tenants), Arc::new(oidc), Arc::new(clock))
}

fn tenants_knowing_acme() -> MockTenantRepository {
    let mut tenants = MockTenantRepository::new();
    tenants.expect_get_tenant().withf(|id| *id == tenant_a()).returning(|_| Ok(Some(acme())));
    tenants.expect_find_by_name().returning(|name| Ok((name.as_str() == "acme").then(acme)));
    tenants
}

fn currently(settings: Option<OidcSettings>) -> MockOidcRepository {
    let mut oidc = MockOidcRepository::new();
    oidc.expect_oidc_settings().withf(|tenant| *tenant == tenant_a()).times(1).returning(move |_| Ok(settings.clone()));
    oidc
}

#[tokio::test]
async fn an_administrator_sets_the_issuer_and_the_change_is_audited_with_before_and_after() {
    let admin = user_of(tenant_a(), "admin@example.com", Role::Administrator);
    let mut oidc = currently(Some(old_settings()));
    let acting = Some((admin.id, Role::Administrator));
    oidc.expect_set_oidc_settings()
        .withf(move |tenant, settings, by, audit| {
            *tenant == tenant_a()
                && *settings == Some(self::settings(true))
                && *by == acting
                && audit.action == AuditAction::TenantOidcChanged
                && audit.target.kind == TargetKind::Tenant
                && audit.target.id == uuid::Uuid::from(tenant_a())
                && audit.target.label.as_deref() == Some("acme")
                && audit.occurred_at == now()
                && audit.before
                    == Some(json!({
                        "issuer": "https://old.example.com",
                        "audience": "api://roster",
                        "entra_tenant_id": null,
                        "just_in_time": false,
                    }))
                && audit.after
                    == Some(json!({
                        "issuer": ISSUER,
                        "audience": "api://roster",
                        "entra_tenant_id": null,
                        "just_in_time": true,
                    }))
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let set = oidc_service(tenants_knowing_acme(), oidc).set(&actor_of(&admin), Some(settings(true))).await.unwrap();
    assert_eq!(set, Some(settings(true)));
}

#[tokio::test]
async fn setting_the_same_issuer_again_writes_nothing() {
    let admin = user_of(tenant_a(), "admin@example.com", Role::Administrator);
    let mut oidc = currently(Some(settings(false)));
    oidc.expect_set_oidc_settings().never();
    let set = oidc_service(tenants_knowing_acme(), oidc).set(&actor_of(&admin), Some(settings(false))).await.unwrap();
    assert_eq!(set, Some(settings(false)));
}

#[tokio::test]
async fn a_collaborator_cannot_set_the_issuer() {
    let collaborator = user_of(tenant_a(), "c@example.com", Role::Collaborator);
    let mut tenants = MockTenantRepository::new();
    tenants.expect_get_tenant().never();
    let mut oidc = MockOidcRepository::new();
    oidc.expect_oidc_settings().never();
    oidc.expect_set_oidc_settings().never();
    let result = oidc_service(tenants, oidc).set(&actor_of(&collaborator), Some(settings(false))).await;
    assert!(
        matches!(result, Err(OidcSettingsError::Forbidden(Violation::MissingCapability(Capability::ManageSettings)))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_administrator_changed_meanwhile_is_a_conflict() {
    let admin = user_of(tenant_a(), "admin@example.com", Role::Administrator);
    let mut oidc = currently(None);
    oidc.expect_set_oidc_settings().times(1).returning(|_, _, _, _| Err(StoreError::ActorChanged));
    let result = oidc_service(tenants_knowing_acme(), oidc).set(&actor_of(&admin), Some(settings(false))).await;
    assert!(matches!(result, Err(OidcSettingsError::Conflict)), "{result:?}");
}

#[tokio::test]
async fn an_issuer_and_audience_another_tenant_trusts_are_refused() {
    let admin = user_of(tenant_a(), "admin@example.com", Role::Administrator);
    let mut oidc = currently(None);
    oidc.expect_set_oidc_settings().times(1).returning(|_, _, _, _| Err(StoreError::IssuerTaken));
    let result = oidc_service(tenants_knowing_acme(), oidc).set(&actor_of(&admin), Some(settings(true))).await;
    assert!(matches!(result, Err(OidcSettingsError::IssuerTaken)), "{result:?}");
}

#[tokio::test]
async fn the_operator_sets_the_issuer_of_a_tenant_by_name() {
    let mut oidc = currently(Some(settings(false)));
    oidc.expect_set_oidc_settings()
        .withf(|tenant, settings, by, audit| {
            *tenant == tenant_a()
                && settings.is_none()
                && by.is_none()
                && audit.actor == AuditActor::System
                && audit.after == Some(serde_json::Value::Null)
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let set = oidc_service(tenants_knowing_acme(), oidc).set_for(&"acme".parse().unwrap(), None).await.unwrap();
    assert_eq!(set, None);
}

#[tokio::test]
async fn the_operator_naming_an_unknown_tenant_is_told_so() {
    let mut oidc = MockOidcRepository::new();
    oidc.expect_oidc_settings().never();
    oidc.expect_set_oidc_settings().never();
    let result =
        oidc_service(tenants_knowing_acme(), oidc).set_for(&"globex".parse().unwrap(), Some(settings(false))).await;
    assert!(matches!(&result, Err(OidcSettingsError::UnknownTenant(name)) if name.as_str() == "globex"), "{result:?}");
}
