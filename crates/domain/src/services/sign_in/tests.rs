//! Built-in sign-in, one behaviour per test, with the ports mocked: magic links, TOTP codes,
//! revocation, MFA resets and enrollment.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::{TimeDelta, TimeZone as _, Utc};

use super::*;
use crate::invitation::TenantSettings;
use crate::mail::{EmailError, OutgoingEmail};
use crate::ports::{MockClock, MockEmailSender, MockSessionRepository, MockTenantRepository, MockUserRepository};
use crate::service::{Scope, ServiceCredential, ServiceName};
use crate::session::{ENROLLMENT_TTL, MAGIC_LINK_TTL, Mfa, SESSION_TTL};
use crate::user::NewUser;
use crate::{AuditActor, Capability, Role, Tenant, TenantId, TokenHash, UserSource};

const PUBLIC_URL: &str = "https://roster.example.com";

fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 10).unwrap()
}

fn tenant() -> Tenant {
    Tenant {
        id: TenantId::from(uuid::Uuid::from_u128(7)),
        name: "acme".parse().unwrap(),
        created_at: now() - TimeDelta::days(30),
        settings: TenantSettings::default(),
    }
}

fn user(email: &str, role: Role) -> User {
    let new = NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role, referral_code: None };
    User::create(tenant().id, new, UserSource::Created, now() - TimeDelta::days(10))
}

fn invited(email: &str) -> User {
    let new =
        NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role: Role::User, referral_code: None };
    User::invite(tenant().id, new, None, now() - TimeDelta::days(1))
}

fn actor_of(user: &User) -> Actor {
    Actor::user(user.tenant, user.id, user.email.clone(), user.role)
}

fn service_actor() -> Actor {
    let scopes = BTreeSet::from([Scope::UsageWrite, Scope::EntitlementsRead]);
    let (credential, _) = ServiceCredential::issue(tenant().id, ServiceName::parse("gateway").unwrap(), scopes, now());
    Actor::service(&credential)
}

/// A fixed TOTP secret, so that codes are reproducible.
fn totp() -> TotpSecret {
    TotpSecret::from_bytes((1..=20).collect())
}

/// A six-digit code `secret` does not accept at `now` (nor one step either way).
fn wrong_code(secret: &TotpSecret) -> String {
    (0..1_000_000).map(|n| format!("{n:06}")).find(|code| secret.verify(code, now(), None).is_none()).unwrap()
}

fn enrolled(secret: TotpSecret) -> Mfa {
    Mfa { secret: Some(secret), confirmed_at: Some(now() - TimeDelta::days(3)), required: true, last_step: None }
}

fn pending(secret: TotpSecret) -> Mfa {
    Mfa { secret: Some(secret), confirmed_at: None, required: false, last_step: None }
}

fn user_target(user: &User) -> uuid::Uuid {
    user.id.into()
}

/// The ports of a service; each test sets the expectations it needs.
struct Ports {
    tenants: MockTenantRepository,
    users: MockUserRepository,
    sessions: MockSessionRepository,
    email: MockEmailSender,
}

impl Ports {
    fn new() -> Self {
        Self {
            tenants: MockTenantRepository::new(),
            users: MockUserRepository::new(),
            sessions: MockSessionRepository::new(),
            email: MockEmailSender::new(),
        }
    }

    /// `users.get` answers these users of the tenant.
    fn knowing(mut self, known: &[&User]) -> Self {
        let known: Vec<User> = known.iter().map(|u| (*u).clone()).collect();
        self.users
            .expect_get()
            .withf(|tenant, _| *tenant == self::tenant().id)
            .returning(move |_, id| Ok(known.iter().find(|u| u.id == id).cloned()));
        self
    }

    fn service(self) -> SignInService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(now);
        SignInService::new(
            Arc::new(self.tenants),
            Arc::new(self.users),
            Arc::new(self.sessions),
            Arc::new(self.email),
            Arc::new(clock),
            AcceptLinks::new(&format!("{PUBLIC_URL}/")),
        )
    }
}

// --- request_magic_link -------------------------------------------------------------------

/// Ports where `ada@example.com` of acme is `found`.
fn requesting(found: Option<User>) -> Ports {
    let mut ports = Ports::new();
    ports.tenants.expect_find_by_name().withf(|name| name.as_str() == "acme").returning(|_| Ok(Some(tenant())));
    ports
        .users
        .expect_find_by_email()
        .withf(|tenant, email| *tenant == self::tenant().id && email.as_str() == "ada@example.com")
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    ports
}

async fn request(ports: Ports) -> Result<bool, UnexpectedError> {
    let email = Email::parse("ada@example.com").unwrap();
    ports.service().request_magic_link(&"acme".parse().unwrap(), &email).await
}

#[tokio::test]
async fn an_active_user_gets_one_stored_link_mailed_to_them() {
    let ada = user("ada@example.com", Role::User);
    let mut ports = requesting(Some(ada.clone()));
    let stored: Arc<Mutex<Option<TokenHash>>> = Arc::default();
    let mailed: Arc<Mutex<Option<OutgoingEmail>>> = Arc::default();
    let (store_into, mail_into) = (stored.clone(), mailed.clone());
    let id = ada.id;
    ports
        .sessions
        .expect_insert_magic_link()
        .withf(move |link| {
            link.tenant == tenant().id
                && link.user == id
                && link.created_at == now()
                && link.expires_at == now() + MAGIC_LINK_TTL
                && link.failed_attempts == 0
        })
        .times(1)
        .returning(move |link| {
            *store_into.lock().unwrap() = Some(link.hash);
            Ok(())
        });
    ports
        .email
        .expect_send()
        .withf(|mail| {
            mail.to.as_str() == "ada@example.com" && mail.text.contains(&format!("{PUBLIC_URL}/sign-in?token=rml_"))
        })
        .times(1)
        .returning(move |mail| {
            *mail_into.lock().unwrap() = Some(mail.clone());
            Ok(())
        });
    assert!(request(ports).await.unwrap());
    let text = mailed.lock().unwrap().take().unwrap().text;
    let token = text.split("token=").nth(1).unwrap().split_whitespace().next().unwrap();
    assert_eq!(
        Some(MagicLinkSecret::parse(token).unwrap().hash()),
        *stored.lock().unwrap(),
        "the mailed link is the stored one"
    );
}

#[tokio::test]
async fn an_unknown_tenant_gets_no_link_and_no_mail() {
    let mut ports = Ports::new();
    ports.tenants.expect_find_by_name().times(1).returning(|_| Ok(None));
    ports.users.expect_find_by_email().never();
    ports.sessions.expect_insert_magic_link().never();
    ports.email.expect_send().never();
    assert!(!request(ports).await.unwrap());
}

/// Nobody is told whether `found` exists: no link, no mail, `Ok(false)`.
async fn assert_no_link_for(found: Option<User>) {
    let mut ports = requesting(found);
    ports.sessions.expect_insert_magic_link().never();
    ports.email.expect_send().never();
    assert!(!request(ports).await.unwrap());
}

#[tokio::test]
async fn an_unknown_email_gets_no_link_and_no_mail() {
    assert_no_link_for(None).await;
}

#[tokio::test]
async fn an_invited_user_gets_no_link_and_no_mail() {
    assert_no_link_for(Some(invited("ada@example.com"))).await;
}

#[tokio::test]
async fn a_deactivated_user_gets_no_link_and_no_mail() {
    assert_no_link_for(Some(user("ada@example.com", Role::User).deactivated(now()))).await;
}

#[tokio::test]
async fn a_mail_failure_is_an_error_for_the_log() {
    let mut ports = requesting(Some(user("ada@example.com", Role::User)));
    ports.sessions.expect_insert_magic_link().times(1).returning(|_| Ok(()));
    ports.email.expect_send().times(1).returning(|_| Err(EmailError::Unavailable("connection refused".into())));
    let error = request(ports).await.unwrap_err();
    assert!(error.to_string().contains("connection refused"), "{error}");
}

// --- verify_magic_link --------------------------------------------------------------------

/// Ports where `user`'s link (issued a minute ago) is found, `user` is known and has `mfa`.
fn verifying(user: &User, mfa: Mfa) -> (Ports, MagicLinkSecret, MagicLink) {
    let (link, secret) = MagicLink::issue(user.tenant, user.id, now() - TimeDelta::minutes(1));
    let mut ports = Ports::new().knowing(&[user]);
    let (hash, found) = (link.hash, link.clone());
    ports
        .sessions
        .expect_find_magic_link()
        .withf(move |h| *h == hash)
        .times(1)
        .returning(move |_| Ok(Some(found.clone())));
    let id = user.id;
    ports
        .sessions
        .expect_mfa_of()
        .withf(move |tenant, user| *tenant == self::tenant().id && *user == id)
        .returning(move |_, _| Ok(mfa.clone()));
    (ports, secret, link)
}

#[tokio::test]
async fn a_malformed_link_is_refused_without_a_lookup() {
    let mut ports = Ports::new();
    ports.sessions.expect_find_magic_link().never();
    let result = ports.service().verify_magic_link("rml_short", None).await;
    assert!(matches!(result, Err(VerifyLinkError::InvalidLink)), "{result:?}");
}

#[tokio::test]
async fn an_unknown_link_is_invalid() {
    let mut ports = Ports::new();
    ports.sessions.expect_find_magic_link().times(1).returning(|_| Ok(None));
    ports.users.expect_get().never();
    ports.sessions.expect_redeem_magic_link().never();
    let result = ports.service().verify_magic_link(MagicLinkSecret::generate().expose(), None).await;
    assert!(matches!(result, Err(VerifyLinkError::InvalidLink)), "{result:?}");
}

#[tokio::test]
async fn a_link_is_invalid_from_the_instant_it_expires() {
    let ada = user("ada@example.com", Role::User);
    let (link, secret) = MagicLink::issue(ada.tenant, ada.id, now() - MAGIC_LINK_TTL);
    assert_eq!(link.expires_at, now());
    let mut ports = Ports::new();
    ports.sessions.expect_find_magic_link().times(1).returning(move |_| Ok(Some(link.clone())));
    ports.sessions.expect_redeem_magic_link().never();
    let result = ports.service().verify_magic_link(secret.expose(), None).await;
    assert!(matches!(result, Err(VerifyLinkError::InvalidLink)), "{result:?}");
}

#[tokio::test]
async fn the_link_of_a_deactivated_user_is_invalid() {
    let ada = user("ada@example.com", Role::User).deactivated(now() - TimeDelta::seconds(5));
    let (mut ports, secret, _) = verifying(&ada, Mfa::default());
    ports.sessions.expect_redeem_magic_link().never();
    let result = ports.service().verify_magic_link(secret.expose(), None).await;
    assert!(matches!(result, Err(VerifyLinkError::InvalidLink)), "{result:?}");
}

#[tokio::test]
async fn without_mfa_a_link_starts_an_active_session_and_audits_the_sign_in() {
    let ada = user("ada@example.com", Role::User);
    let (mut ports, secret, link) = verifying(&ada, Mfa::default());
    let id = ada.id;
    ports
        .sessions
        .expect_redeem_magic_link()
        .withf(move |hash, session, step, audit| {
            *hash == link.hash
                && session.user == id
                && session.state == SessionState::Active
                && !session.mfa
                && step.is_none()
                && audit.action == AuditAction::UserSignedIn
                && audit.actor == AuditActor::User { id, label: Some("ada@example.com".into()) }
                && audit.target.id == uuid::Uuid::from(id)
                && audit.after.as_ref().unwrap()["session"] == session.id.to_string()
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    ports.sessions.expect_fail_magic_link().never();
    let signed_in = ports.service().verify_magic_link(secret.expose(), None).await.unwrap();
    assert_eq!(signed_in.session.state, SessionState::Active);
    assert_eq!(signed_in.session.method, SignInMethod::MagicLink);
    assert_eq!((signed_in.session.tenant, signed_in.session.user), (ada.tenant, ada.id));
    assert_eq!(signed_in.session.expires_at, now() + SESSION_TTL);
    assert_eq!(signed_in.secret.hash(), signed_in.session.hash, "the secret handed over is the session's");
    assert_eq!(signed_in.user, ada);
}

#[tokio::test]
async fn an_unconfirmed_authenticator_is_not_enforced() {
    let ada = user("ada@example.com", Role::User);
    let (mut ports, secret, _) = verifying(&ada, pending(totp()));
    ports
        .sessions
        .expect_redeem_magic_link()
        .withf(|_, s, step, _| s.state == SessionState::Active && step.is_none())
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let signed_in = ports.service().verify_magic_link(secret.expose(), None).await.unwrap();
    assert!(!signed_in.session.mfa);
}

#[tokio::test]
async fn with_mfa_a_link_without_a_code_asks_for_one_and_keeps_working() {
    let ada = user("ada@example.com", Role::User);
    let (mut ports, secret, _) = verifying(&ada, enrolled(totp()));
    ports.sessions.expect_fail_magic_link().never();
    ports.sessions.expect_redeem_magic_link().never();
    let result = ports.service().verify_magic_link(secret.expose(), None).await;
    assert!(matches!(result, Err(VerifyLinkError::CodeRequired)), "{result:?}");
}

#[tokio::test]
async fn a_wrong_code_is_counted_against_the_link() {
    let ada = user("ada@example.com", Role::User);
    let (mut ports, secret, link) = verifying(&ada, enrolled(totp()));
    ports
        .sessions
        .expect_fail_magic_link()
        .withf(move |hash, limit| *hash == link.hash && *limit == MAX_CODE_ATTEMPTS)
        .times(1)
        .returning(|_, _| Ok(()));
    ports.sessions.expect_redeem_magic_link().never();
    let result = ports.service().verify_magic_link(secret.expose(), Some(&wrong_code(&totp()))).await;
    assert!(matches!(result, Err(VerifyLinkError::InvalidCode)), "{result:?}");
}

#[tokio::test]
async fn the_right_code_starts_an_mfa_session_and_records_its_step() {
    let ada = user("ada@example.com", Role::User);
    let code = totp().code_at(now());
    let expected = totp().verify(&code, now(), None).unwrap();
    let (mut ports, secret, link) = verifying(&ada, enrolled(totp()));
    ports.sessions.expect_fail_magic_link().never();
    ports
        .sessions
        .expect_redeem_magic_link()
        .withf(move |hash, session, step, audit| {
            *hash == link.hash
                && session.state == SessionState::Active
                && session.mfa
                && *step == Some(expected)
                && audit.after.as_ref().unwrap()["mfa"] == true
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let signed_in = ports.service().verify_magic_link(secret.expose(), Some(&code)).await.unwrap();
    assert_eq!(signed_in.session.state, SessionState::Active);
    assert!(signed_in.session.mfa);
    assert_eq!(signed_in.session.expires_at, now() + SESSION_TTL);
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_counted() {
    let ada = user("ada@example.com", Role::User);
    let code = totp().code_at(now());
    let used = totp().verify(&code, now(), None).unwrap();
    let (mut ports, secret, _) = verifying(&ada, Mfa { last_step: Some(used), ..enrolled(totp()) });
    ports.sessions.expect_fail_magic_link().times(1).returning(|_, _| Ok(()));
    ports.sessions.expect_redeem_magic_link().never();
    let result = ports.service().verify_magic_link(secret.expose(), Some(&code)).await;
    assert!(matches!(result, Err(VerifyLinkError::InvalidCode)), "{result:?}");
}

#[tokio::test]
async fn after_an_mfa_reset_a_link_starts_an_enrolling_session_without_a_code() {
    let ada = user("ada@example.com", Role::User);
    let reset = Mfa { secret: None, confirmed_at: None, required: true, last_step: Some(1) };
    let (mut ports, secret, _) = verifying(&ada, reset);
    ports
        .sessions
        .expect_redeem_magic_link()
        .withf(|_, session, step, audit| {
            session.state == SessionState::Enrolling
                && !session.mfa
                && step.is_none()
                && audit.after.as_ref().unwrap()["state"] == "enrolling"
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
    let signed_in = ports.service().verify_magic_link(secret.expose(), None).await.unwrap();
    assert_eq!(signed_in.session.state, SessionState::Enrolling);
    assert_eq!(signed_in.session.expires_at, now() + ENROLLMENT_TTL);
}

#[tokio::test]
async fn a_pending_enrollment_after_a_reset_still_gives_an_enrolling_session() {
    let ada = user("ada@example.com", Role::User);
    let (mut ports, secret, _) = verifying(&ada, Mfa { required: true, ..pending(totp()) });
    ports.sessions.expect_redeem_magic_link().times(1).returning(|_, _, _, _| Ok(()));
    let signed_in = ports.service().verify_magic_link(secret.expose(), None).await.unwrap();
    assert_eq!(signed_in.session.state, SessionState::Enrolling);
}

#[tokio::test]
async fn a_link_redeemed_concurrently_is_invalid() {
    let ada = user("ada@example.com", Role::User);
    let (mut ports, secret, _) = verifying(&ada, Mfa::default());
    ports.sessions.expect_redeem_magic_link().times(1).returning(|_, _, _, _| Err(StoreError::NotFound));
    let result = ports.service().verify_magic_link(secret.expose(), None).await;
    assert!(matches!(result, Err(VerifyLinkError::InvalidLink)), "{result:?}");
}

#[tokio::test]
async fn a_code_accepted_concurrently_elsewhere_is_invalid() {
    let ada = user("ada@example.com", Role::User);
    let (mut ports, secret, _) = verifying(&ada, enrolled(totp()));
    ports.sessions.expect_redeem_magic_link().times(1).returning(|_, _, _, _| Err(StoreError::Stale));
    let result = ports.service().verify_magic_link(secret.expose(), Some(&totp().code_at(now()))).await;
    assert!(matches!(result, Err(VerifyLinkError::InvalidCode)), "{result:?}");
}

#[tokio::test]
async fn a_user_deactivated_during_sign_in_gets_an_invalid_link() {
    let ada = user("ada@example.com", Role::User);
    let (mut ports, secret, _) = verifying(&ada, Mfa::default());
    ports.sessions.expect_redeem_magic_link().times(1).returning(|_, _, _, _| Err(StoreError::Stale));
    let result = ports.service().verify_magic_link(secret.expose(), None).await;
    assert!(matches!(result, Err(VerifyLinkError::InvalidLink)), "{result:?}");
}

// --- revoke_sessions ----------------------------------------------------------------------

/// Expects one revocation of `target`'s sessions by `by`, answering `answer`.
fn expect_revocation(ports: &mut Ports, by: &User, target: &User, answer: Result<u64, StoreError>) {
    let (acting, target_id, target_uuid) = (Some((by.id, by.role)), target.id, user_target(target));
    let answer = Mutex::new(Some(answer));
    ports
        .sessions
        .expect_revoke_sessions()
        .withf(move |tenant, user, at, by, audit| {
            *tenant == self::tenant().id
                && *user == target_id
                && *at == now()
                && *by == acting
                && audit.action == AuditAction::SessionsRevoked
                && audit.target.id == target_uuid
        })
        .times(1)
        .returning(move |_, _, _, _, _| answer.lock().unwrap().take().unwrap());
}

#[tokio::test]
async fn a_user_may_sign_themselves_out_everywhere() {
    let ada = user("ada@example.com", Role::User);
    let mut ports = Ports::new().knowing(&[&ada]);
    expect_revocation(&mut ports, &ada, &ada, Ok(3));
    assert_eq!(ports.service().revoke_sessions(&actor_of(&ada), ada.id).await.unwrap(), 3);
}

#[tokio::test]
async fn a_collaborator_cannot_revoke_an_administrators_sessions() {
    let (collaborator, admin) = (user("c@example.com", Role::Collaborator), user("a@example.com", Role::Administrator));
    let mut ports = Ports::new().knowing(&[&collaborator, &admin]);
    ports.sessions.expect_revoke_sessions().never();
    let result = ports.service().revoke_sessions(&actor_of(&collaborator), admin.id).await;
    assert!(matches!(result, Err(CredentialsError::Forbidden(Violation::AdministratorTarget))), "{result:?}");
}

#[tokio::test]
async fn a_user_cannot_revoke_someone_elses_sessions() {
    let (ada, bob) = (user("ada@example.com", Role::User), user("bob@example.com", Role::User));
    let mut ports = Ports::new().knowing(&[&ada, &bob]);
    ports.sessions.expect_revoke_sessions().never();
    let result = ports.service().revoke_sessions(&actor_of(&ada), bob.id).await;
    assert!(
        matches!(result, Err(CredentialsError::Forbidden(Violation::MissingCapability(Capability::ManageUsers)))),
        "{result:?}"
    );
}

#[tokio::test]
async fn revoking_the_sessions_of_an_unknown_user_is_not_found() {
    let admin = user("a@example.com", Role::Administrator);
    let mut ports = Ports::new().knowing(&[&admin]);
    ports.sessions.expect_revoke_sessions().never();
    let result = ports.service().revoke_sessions(&actor_of(&admin), UserId::new()).await;
    assert!(matches!(result, Err(CredentialsError::NotFound)), "{result:?}");
}

#[tokio::test]
async fn a_revocation_by_an_actor_changed_meanwhile_is_a_conflict() {
    let (admin, ada) = (user("a@example.com", Role::Administrator), user("ada@example.com", Role::User));
    let mut ports = Ports::new().knowing(&[&admin, &ada]);
    expect_revocation(&mut ports, &admin, &ada, Err(StoreError::ActorChanged));
    let result = ports.service().revoke_sessions(&actor_of(&admin), ada.id).await;
    assert!(matches!(result, Err(CredentialsError::Conflict)), "{result:?}");
}

#[tokio::test]
async fn an_administrator_revokes_a_users_sessions_and_it_is_audited() {
    let (admin, ada) = (user("a@example.com", Role::Administrator), user("ada@example.com", Role::User));
    let mut ports = Ports::new().knowing(&[&admin, &ada]);
    expect_revocation(&mut ports, &admin, &ada, Ok(2));
    assert_eq!(ports.service().revoke_sessions(&actor_of(&admin), ada.id).await.unwrap(), 2);
}

// --- reset_mfa ----------------------------------------------------------------------------

fn expect_reset(ports: &mut Ports, by: &User, target: &User) {
    let (acting, target_id, target_uuid, by_id) = (Some((by.id, by.role)), target.id, user_target(target), by.id);
    ports
        .sessions
        .expect_reset_mfa()
        .withf(move |tenant, user, acting_now, audit| {
            *tenant == self::tenant().id
                && *user == target_id
                && *acting_now == acting
                && audit.action == AuditAction::MfaReset
                && audit.target.id == target_uuid
                && matches!(audit.actor, AuditActor::User { id, .. } if id == by_id)
        })
        .times(1)
        .returning(|_, _, _, _| Ok(()));
}

#[tokio::test]
async fn an_administrator_resets_a_users_mfa_and_it_is_audited() {
    let (admin, ada) = (user("a@example.com", Role::Administrator), user("ada@example.com", Role::User));
    let mut ports = Ports::new().knowing(&[&admin, &ada]);
    expect_reset(&mut ports, &admin, &ada);
    ports.service().reset_mfa(&actor_of(&admin), ada.id).await.unwrap();
}

#[tokio::test]
async fn a_collaborator_resets_a_users_mfa() {
    let (collaborator, ada) = (user("c@example.com", Role::Collaborator), user("ada@example.com", Role::User));
    let mut ports = Ports::new().knowing(&[&collaborator, &ada]);
    expect_reset(&mut ports, &collaborator, &ada);
    ports.service().reset_mfa(&actor_of(&collaborator), ada.id).await.unwrap();
}

#[tokio::test]
async fn a_collaborator_cannot_reset_an_administrators_mfa() {
    let (collaborator, admin) = (user("c@example.com", Role::Collaborator), user("a@example.com", Role::Administrator));
    let mut ports = Ports::new().knowing(&[&collaborator, &admin]);
    ports.sessions.expect_reset_mfa().never();
    let result = ports.service().reset_mfa(&actor_of(&collaborator), admin.id).await;
    assert!(matches!(result, Err(CredentialsError::Forbidden(Violation::AdministratorTarget))), "{result:?}");
}

#[tokio::test]
async fn a_user_cannot_reset_their_own_mfa() {
    let ada = user("ada@example.com", Role::User);
    let mut ports = Ports::new().knowing(&[&ada]);
    ports.sessions.expect_reset_mfa().never();
    let result = ports.service().reset_mfa(&actor_of(&ada), ada.id).await;
    assert!(
        matches!(result, Err(CredentialsError::Forbidden(Violation::MissingCapability(Capability::ManageUsers)))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_service_cannot_reset_mfa() {
    let ada = user("ada@example.com", Role::User);
    let mut ports = Ports::new().knowing(&[&ada]);
    ports.sessions.expect_reset_mfa().never();
    let result = ports.service().reset_mfa(&service_actor(), ada.id).await;
    assert!(matches!(result, Err(CredentialsError::Forbidden(Violation::MissingCapability(_)))), "{result:?}");
}

// --- begin_enrollment ---------------------------------------------------------------------

#[tokio::test]
async fn an_enrollment_hands_out_the_stored_secret_and_an_otpauth_uri_naming_the_tenant() {
    let ada = user("ada@example.com", Role::User);
    let mut ports = Ports::new();
    ports.tenants.expect_get_tenant().withf(|id| *id == tenant().id).returning(|_| Ok(Some(tenant())));
    let stored: Arc<Mutex<Option<TotpSecret>>> = Arc::default();
    let store_into = stored.clone();
    let id = ada.id;
    ports
        .sessions
        .expect_begin_enrollment()
        .withf(move |tenant, user, _| *tenant == self::tenant().id && *user == id)
        .times(1)
        .returning(move |_, _, secret| {
            *store_into.lock().unwrap() = Some(secret.clone());
            Ok(())
        });
    let enrollment = ports.service().begin_enrollment(&actor_of(&ada)).await.unwrap();
    let stored = stored.lock().unwrap().take().unwrap();
    assert_eq!(enrollment.secret, stored.base32());
    assert!(enrollment.secret.len() >= 32 && enrollment.secret.bytes().all(|b| b.is_ascii_alphanumeric()));
    let uri = &enrollment.otpauth_uri;
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={}", enrollment.secret)), "{uri}");
    assert!(uri.contains("acme"), "{uri}");
    assert!(uri.contains("ada%40example.com") || uri.contains("ada@example.com"), "{uri}");
}

#[tokio::test]
async fn enrolling_again_over_a_confirmed_authenticator_is_refused() {
    let ada = user("ada@example.com", Role::User);
    let mut ports = Ports::new();
    ports.tenants.expect_get_tenant().returning(|_| Ok(Some(tenant())));
    ports.sessions.expect_begin_enrollment().times(1).returning(|_, _, _| Err(StoreError::Stale));
    let result = ports.service().begin_enrollment(&actor_of(&ada)).await;
    assert!(matches!(result, Err(EnrollError::AlreadyEnrolled)), "{result:?}");
}

#[tokio::test]
async fn a_service_cannot_enroll() {
    let mut ports = Ports::new();
    ports.tenants.expect_get_tenant().never();
    ports.sessions.expect_begin_enrollment().never();
    let result = ports.service().begin_enrollment(&service_actor()).await;
    assert!(matches!(result, Err(EnrollError::NotAPerson)), "{result:?}");
}

// --- confirm_enrollment -------------------------------------------------------------------

fn confirming(user: &User, mfa: Mfa) -> Ports {
    let mut ports = Ports::new();
    let id = user.id;
    ports
        .sessions
        .expect_mfa_of()
        .withf(move |tenant, user| *tenant == self::tenant().id && *user == id)
        .times(1)
        .returning(move |_, _| Ok(mfa.clone()));
    ports
}

#[tokio::test]
async fn the_right_code_confirms_the_pending_secret_and_activates_the_session() {
    let ada = user("ada@example.com", Role::User);
    let code = totp().code_at(now());
    let expected = totp().verify(&code, now(), None).unwrap();
    let session = SessionId::new();
    let mut ports = confirming(&ada, pending(totp()));
    let (id, target) = (ada.id, user_target(&ada));
    ports
        .sessions
        .expect_confirm_enrollment()
        .withf(move |tenant, user, secret, step, in_session, at, audit| {
            *tenant == self::tenant().id
                && *user == id
                && *secret == totp()
                && *step == expected
                && *in_session == Some(session)
                && *at == now()
                && audit.action == AuditAction::MfaEnrolled
                && audit.target.id == target
        })
        .times(1)
        .returning(|_, _, _, _, _, _, _| Ok(()));
    ports.service().confirm_enrollment(&actor_of(&ada), Some(session), &code).await.unwrap();
}

#[tokio::test]
async fn a_wrong_code_confirms_nothing() {
    let ada = user("ada@example.com", Role::User);
    let mut ports = confirming(&ada, pending(totp()));
    ports.sessions.expect_confirm_enrollment().never();
    let result = ports.service().confirm_enrollment(&actor_of(&ada), None, &wrong_code(&totp())).await;
    assert!(matches!(result, Err(EnrollError::InvalidCode)), "{result:?}");
}

#[tokio::test]
async fn confirming_without_a_pending_secret_is_refused() {
    let ada = user("ada@example.com", Role::User);
    let mut ports = confirming(&ada, Mfa::default());
    ports.sessions.expect_confirm_enrollment().never();
    let result = ports.service().confirm_enrollment(&actor_of(&ada), None, "123456").await;
    assert!(matches!(result, Err(EnrollError::NotPending)), "{result:?}");
}

#[tokio::test]
async fn confirming_over_a_confirmed_authenticator_is_refused() {
    let ada = user("ada@example.com", Role::User);
    let mut ports = confirming(&ada, enrolled(totp()));
    ports.sessions.expect_confirm_enrollment().never();
    let result = ports.service().confirm_enrollment(&actor_of(&ada), None, &totp().code_at(now())).await;
    assert!(matches!(result, Err(EnrollError::AlreadyEnrolled)), "{result:?}");
}

#[tokio::test]
async fn a_secret_replaced_or_reset_meanwhile_is_no_longer_pending() {
    let ada = user("ada@example.com", Role::User);
    let mut ports = confirming(&ada, pending(totp()));
    ports.sessions.expect_confirm_enrollment().times(1).returning(|_, _, _, _, _, _, _| Err(StoreError::Stale));
    let result = ports.service().confirm_enrollment(&actor_of(&ada), None, &totp().code_at(now())).await;
    assert!(matches!(result, Err(EnrollError::NotPending)), "{result:?}");
}
