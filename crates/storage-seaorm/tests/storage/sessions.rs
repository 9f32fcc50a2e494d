//! Built-in sign-in and OpenID Connect trust: magic links work once and at most five live per
//! user; sessions are found by the hash of their secret while unexpired and their user active;
//! revocation, deactivation and purging end them; TOTP enrollment is confirmed once and reset
//! by an administrator; each tenant trusts one issuer, whose subjects link to users.

use chrono::Duration;
use roster_domain::governance::acting;
use roster_domain::identity::{Audience, EntraTenantId, ExternalLink, IssuerUrl, OidcSettings};
use roster_domain::invitation::{Delivery, Invitation, InvitationTtl};
use roster_domain::ports::{InvitationRepository as _, OidcRepository as _, SessionRepository as _, UserRepository};
use roster_domain::services::CreatedTenant;
use roster_domain::session::{MagicLink, Mfa, SESSION_TTL, Session, SessionState, SignInMethod, TotpSecret};
use roster_domain::user::NewUser;
use roster_domain::{
    Actor, AuditAction, AuditEvent, AuditTarget, Email, Premises, Role, StoreError, TargetKind, TenantId, Timestamp,
    TokenHash, User, UserId,
};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;

use crate::fixtures::{add, change, count, events, former_administrator, now, rows_of, tenant};

/// The actor `user` signs in as.
fn actor_of(user: &User) -> Actor {
    Actor::user(user.tenant, user.id, user.email.clone(), user.role)
}

/// The first administrator of `created`, acting.
fn admin_of(created: &CreatedTenant) -> Actor {
    actor_of(&created.admin)
}

/// `action` by `actor` on `user`, now.
fn about(actor: &Actor, action: AuditAction, user: &User) -> AuditEvent {
    let target = AuditTarget { kind: TargetKind::User, id: user.id.into(), label: Some(user.email.to_string()) };
    AuditEvent::about(actor, action, target, now())
}

/// Issues and stores a magic link for `user` requested at `at`.
async fn link_for(db: &TestDatabase, user: &User, at: Timestamp) -> MagicLink {
    let (link, _) = MagicLink::issue(user.tenant, user.id, at);
    db.store.insert_magic_link(&link).await.expect("link stored");
    link
}

/// A session of `user` in `state` begun at `at`, by magic link; not stored.
fn session_of(user: &User, state: SessionState, at: Timestamp) -> Session {
    Session::start(user.tenant, user.id, state, SignInMethod::MagicLink, false, at).0
}

/// Redeems `link` for `session` (with the TOTP `step`), as the service does; returns the audit event.
async fn redeem(
    db: &TestDatabase,
    link: &MagicLink,
    session: &Session,
    step: Option<u64>,
    user: &User,
) -> Result<AuditEvent, StoreError> {
    let audit = about(&actor_of(user), AuditAction::UserSignedIn, user);
    db.store.redeem_magic_link(&link.hash, session, step, &audit).await.map(|()| audit)
}

/// Signs `user` in with a fresh link at `at`, into a session in `state`.
async fn sign_in_as(db: &TestDatabase, user: &User, state: SessionState, at: Timestamp) -> Session {
    let link = link_for(db, user, at).await;
    let session = session_of(user, state, at);
    redeem(db, &link, &session, None, user).await.expect("link redeemed");
    session
}

/// Signs `user` in with a fresh link at `at`.
async fn sign_in(db: &TestDatabase, user: &User, at: Timestamp) -> Session {
    sign_in_as(db, user, SessionState::Active, at).await
}

/// Whom the session with `hash` authenticates now.
async fn authenticated(db: &TestDatabase, hash: &TokenHash) -> Option<(Actor, Session)> {
    db.store.authenticate_session(hash, now()).await.unwrap()
}

/// How many rows of `table` belong to `user`.
async fn rows_of_user(db: &TestDatabase, table: &str, user: UserId) -> usize {
    rows_of(db, table, "user_id", user.as_uuid()).await.len()
}

/// Deactivates `user` at `at` through the user repository; returns them deactivated.
async fn deactivate(db: &TestDatabase, user: &User, at: Timestamp) -> User {
    let deactivated = user.deactivated(at);
    change(&db.store, user, &deactivated, AuditAction::UserDeactivated).await.expect("user deactivated");
    deactivated
}

/// Ends every session of `user` at `at` on behalf of `actor`; returns the count and the audit event.
async fn revoke(db: &TestDatabase, actor: &Actor, user: &User, at: Timestamp) -> Result<(u64, AuditEvent), StoreError> {
    let audit = about(actor, AuditAction::SessionsRevoked, user);
    db.store.revoke_sessions(user.tenant, user.id, at, acting(actor), &audit).await.map(|n| (n, audit))
}

/// Confirms `secret` for `user` at `at` with `step`, upgrading `session`; returns the audit event.
async fn confirm(
    db: &TestDatabase,
    user: &User,
    secret: &TotpSecret,
    step: u64,
    session: Option<&Session>,
    at: Timestamp,
) -> Result<AuditEvent, StoreError> {
    let audit = about(&actor_of(user), AuditAction::MfaEnrolled, user);
    let session = session.map(|s| s.id);
    db.store.confirm_enrollment(user.tenant, user.id, secret, step, session, at, &audit).await.map(|()| audit)
}

/// Enrolls `user` with a fresh secret confirmed now with `step`; returns the secret.
async fn enroll(db: &TestDatabase, user: &User, step: u64) -> TotpSecret {
    let secret = TotpSecret::generate();
    db.store.begin_enrollment(user.tenant, user.id, &secret).await.unwrap();
    confirm(db, user, &secret, step, None, now()).await.expect("enrollment confirmed");
    secret
}

/// Resets the MFA of `user` on behalf of `actor`; returns the audit event.
async fn reset(db: &TestDatabase, actor: &Actor, user: &User) -> Result<AuditEvent, StoreError> {
    let audit = about(actor, AuditAction::MfaReset, user);
    db.store.reset_mfa(user.tenant, user.id, acting(actor), &audit).await.map(|()| audit)
}

async fn a_magic_link_is_found_by_its_hash_exactly_as_stored(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let bob = add(&db.store, &globex, "bob@example.com", Role::Administrator).await;
    let mine = link_for(&db, &ada, now()).await;
    let theirs = link_for(&db, &bob, now()).await;
    assert_eq!(mine.failed_attempts, 0);
    assert_eq!(db.store.find_magic_link(&mine.hash).await.unwrap(), Some(mine));
    assert_eq!(db.store.find_magic_link(&theirs.hash).await.unwrap(), Some(theirs));
    assert_eq!(db.store.find_magic_link(&TokenHash::of("rml_unknown")).await.unwrap(), None);
}

async fn a_sixth_link_drops_the_oldest_and_expired_links_are_dropped_on_insert(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let bob = add(&db.store, &acme, "bob@example.com", Role::User).await;
    let start = now() - Duration::minutes(10);
    let expired = link_for(&db, &ada, start - Duration::minutes(20)).await;
    let bobs = link_for(&db, &bob, start - Duration::minutes(20)).await;
    assert!(db.store.find_magic_link(&expired.hash).await.unwrap().is_some(), "kept until the next request");

    let mut links = Vec::new();
    for i in 0..5 {
        links.push(link_for(&db, &ada, start + Duration::seconds(i)).await);
    }
    assert_eq!(db.store.find_magic_link(&expired.hash).await.unwrap(), None, "expired, dropped");
    for link in &links {
        assert_eq!(db.store.find_magic_link(&link.hash).await.unwrap().as_ref(), Some(link));
    }
    let sixth = link_for(&db, &ada, start + Duration::seconds(5)).await;
    assert_eq!(db.store.find_magic_link(&links[0].hash).await.unwrap(), None, "the oldest is dropped");
    for link in links[1..].iter().chain([&sixth]) {
        assert_eq!(db.store.find_magic_link(&link.hash).await.unwrap().as_ref(), Some(link));
    }
    assert_eq!(rows_of_user(&db, "magic_links", ada.id).await, 5);
    assert_eq!(db.store.find_magic_link(&bobs.hash).await.unwrap(), Some(bobs), "another user's link is kept");
}

async fn wrong_codes_are_counted_and_the_link_is_deleted_at_the_limit(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let link = link_for(&db, &ada, now()).await;
    let other = link_for(&db, &ada, now() + Duration::seconds(1)).await;
    for attempts in 1..5 {
        db.store.fail_magic_link(&link.hash, 5).await.unwrap();
        let expected = MagicLink { failed_attempts: attempts, ..link.clone() };
        assert_eq!(db.store.find_magic_link(&link.hash).await.unwrap(), Some(expected));
    }
    db.store.fail_magic_link(&link.hash, 5).await.unwrap();
    assert_eq!(db.store.find_magic_link(&link.hash).await.unwrap(), None, "burnt at the fifth wrong code");
    assert_eq!(db.store.find_magic_link(&other.hash).await.unwrap(), Some(other));
    db.store.fail_magic_link(&link.hash, 5).await.unwrap();
}

async fn redeeming_a_link_deletes_it_and_starts_the_session_with_its_audit_event(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::Collaborator).await;
    let link = link_for(&db, &ada, now()).await;
    let session = session_of(&ada, SessionState::Active, now());
    let audit = redeem(&db, &link, &session, None, &ada).await.unwrap();

    assert_eq!(db.store.find_magic_link(&link.hash).await.unwrap(), None);
    assert_eq!(authenticated(&db, &session.hash).await, Some((actor_of(&ada), session)));
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserSignedIn).await, vec![audit]);
    assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap(), Mfa::default());
}

async fn a_redeemed_link_cannot_be_redeemed_again_nor_by_another_user(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let eve = add(&db.store, &acme, "eve@example.com", Role::User).await;
    let link = link_for(&db, &ada, now()).await;

    let stolen = session_of(&eve, SessionState::Active, now());
    let result = redeem(&db, &link, &stolen, None, &eve).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "for another user: {result:?}");
    assert_eq!(db.store.find_magic_link(&link.hash).await.unwrap().as_ref(), Some(&link));

    redeem(&db, &link, &session_of(&ada, SessionState::Active, now()), None, &ada).await.unwrap();
    let again = session_of(&ada, SessionState::Active, now());
    let result = redeem(&db, &link, &again, None, &ada).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "again: {result:?}");
    assert_eq!(authenticated(&db, &again.hash).await, None);
    assert_eq!(authenticated(&db, &stolen.hash).await, None);
    assert_eq!(rows_of_user(&db, "sessions", ada.id).await, 1);
    assert_eq!(rows_of_user(&db, "sessions", eve.id).await, 0);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserSignedIn).await.len(), 1);
}

async fn two_concurrent_redeems_of_one_link_succeed_once(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let link = link_for(&db, &ada, now()).await;
    let (a, b) = (session_of(&ada, SessionState::Active, now()), session_of(&ada, SessionState::Active, now()));
    let (first, second) = futures::join!(redeem(&db, &link, &a, None, &ada), redeem(&db, &link, &b, None, &ada));
    let gone = |result: &Result<_, StoreError>| matches!(result, Err(StoreError::NotFound));
    let once = (first.is_ok() && gone(&second)) || (second.is_ok() && gone(&first));
    assert!(once, "{first:?} / {second:?}");
    assert_eq!(rows_of_user(&db, "sessions", ada.id).await, 1);
    let winner = if first.is_ok() { &a } else { &b };
    assert!(authenticated(&db, &winner.hash).await.is_some());
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserSignedIn).await.len(), 1);
}

async fn redeeming_for_a_deactivated_user_is_stale_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let ada = deactivate(&db, &ada, now()).await;
    // A link requested around the deactivation, redeemed after it.
    let link = link_for(&db, &ada, now()).await;
    let session = session_of(&ada, SessionState::Active, now());
    let result = redeem(&db, &link, &session, None, &ada).await;
    assert!(matches!(result, Err(StoreError::Stale)), "{result:?}");
    assert_eq!(db.store.find_magic_link(&link.hash).await.unwrap(), Some(link), "the link is not consumed");
    assert_eq!(rows_of_user(&db, "sessions", ada.id).await, 0);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserSignedIn).await, vec![]);
}

async fn a_code_step_is_recorded_and_a_step_not_later_is_stale_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    enroll(&db, &ada, 100).await;
    let first = link_for(&db, &ada, now()).await;
    let session = Session { mfa: true, ..session_of(&ada, SessionState::Active, now()) };
    redeem(&db, &first, &session, Some(101), &ada).await.unwrap();
    assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap().last_step, Some(101));
    assert!(authenticated(&db, &session.hash).await.is_some());

    for replayed in [101, 100] {
        let link = link_for(&db, &ada, now()).await;
        let refused = Session { mfa: true, ..session_of(&ada, SessionState::Active, now()) };
        let result = redeem(&db, &link, &refused, Some(replayed), &ada).await;
        assert!(matches!(result, Err(StoreError::Stale)), "step {replayed}: {result:?}");
        assert_eq!(db.store.find_magic_link(&link.hash).await.unwrap(), Some(link), "step {replayed}");
        assert_eq!(authenticated(&db, &refused.hash).await, None, "step {replayed}");
    }
    assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap().last_step, Some(101));
    assert_eq!(rows_of_user(&db, "sessions", ada.id).await, 1);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserSignedIn).await.len(), 1);
}

async fn a_code_step_for_a_user_with_no_step_yet_is_accepted(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let link = link_for(&db, &ada, now()).await;
    let session = Session { mfa: true, ..session_of(&ada, SessionState::Active, now()) };
    let result = redeem(&db, &link, &session, Some(7), &ada).await;
    assert!(result.is_ok(), "no step was accepted before, so 7 is later: {result:?}");
    assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap().last_step, Some(7));
}

async fn a_session_authenticates_until_it_expires(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let session = sign_in(&db, &ada, now() - SESSION_TTL + Duration::minutes(1)).await;
    let just_before = session.expires_at - Duration::microseconds(1);
    let found = db.store.authenticate_session(&session.hash, just_before).await.unwrap();
    assert_eq!(found, Some((actor_of(&ada), session.clone())));
    assert_eq!(db.store.authenticate_session(&session.hash, session.expires_at).await.unwrap(), None);
    assert_eq!(
        db.store.authenticate_session(&session.hash, session.expires_at + Duration::days(1)).await.unwrap(),
        None
    );
    assert_eq!(authenticated(&db, &TokenHash::of("rss_unknown")).await, None);
}

async fn deactivating_a_user_ends_their_sessions_and_links_for_good(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let bob = add(&db.store, &acme, "bob@example.com", Role::User).await;
    let sessions = [sign_in(&db, &ada, now()).await, sign_in(&db, &ada, now()).await];
    let link = link_for(&db, &ada, now()).await;
    let bobs = sign_in(&db, &bob, now()).await;

    let at = now();
    let deactivated = deactivate(&db, &ada, at).await;
    for session in &sessions {
        assert_eq!(authenticated(&db, &session.hash).await, None);
    }
    assert_eq!(rows_of_user(&db, "sessions", ada.id).await, 0);
    assert_eq!(rows_of_user(&db, "magic_links", ada.id).await, 0);
    assert_eq!(db.store.find_magic_link(&link.hash).await.unwrap(), None);
    assert_eq!(db.store.sessions_revoked_at(acme.tenant.id, ada.id).await.unwrap(), Some(at));
    assert!(authenticated(&db, &bobs.hash).await.is_some(), "another user's session is kept");
    assert_eq!(db.store.sessions_revoked_at(acme.tenant.id, bob.id).await.unwrap(), None);

    let reactivated = deactivated.reactivated(now());
    change(&db.store, &deactivated, &reactivated, AuditAction::UserReactivated).await.unwrap();
    for session in &sessions {
        assert_eq!(authenticated(&db, &session.hash).await, None, "reactivation revives no session");
    }
    assert_eq!(rows_of_user(&db, "sessions", ada.id).await, 0);
    assert_eq!(db.store.sessions_revoked_at(acme.tenant.id, ada.id).await.unwrap(), Some(at));
    assert!(authenticated(&db, &sign_in(&db, &reactivated, now()).await.hash).await.is_some());
}

async fn a_session_begun_before_its_users_sessions_were_revoked_does_not_authenticate(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let revoked_at = now();
    revoke(&db, &actor_of(&ada), &ada, revoked_at).await.unwrap();
    // A sign-in decided before the revocation whose transaction commits after it: on
    // PostgreSQL, revoking locks neither the user nor a link being redeemed before its
    // `DELETE FROM sessions` has run, so such a session survives the revocation.
    let session = sign_in(&db, &ada, revoked_at - Duration::seconds(1)).await;
    assert_eq!(authenticated(&db, &session.hash).await, None, "its user's sessions were revoked since it began");
}

async fn a_sign_in_racing_a_revocation_does_not_outlive_it(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let admin = admin_of(&acme);
    for i in 0..5 {
        let ada = add(&db.store, &acme, &format!("ada{i}@example.com"), Role::User).await;
        let link = link_for(&db, &ada, now()).await;
        let session = session_of(&ada, SessionState::Active, now());
        let at = now();
        let (signed_in, revoked) =
            futures::join!(redeem(&db, &link, &session, None, &ada), revoke(&db, &admin, &ada, at));
        revoked.unwrap();
        assert!(matches!(signed_in, Ok(_) | Err(StoreError::NotFound)), "{signed_in:?}");
        assert_eq!(authenticated(&db, &session.hash).await, None, "round {i}: begun before the revocation");
    }
}

async fn sessions_are_listed_newest_first_without_expired_or_others_sessions(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let bob = add(&db.store, &acme, "bob@example.com", Role::User).await;
    let zed = add(&db.store, &globex, "zed@example.com", Role::User).await;
    let at = now();
    let middle = sign_in(&db, &ada, at - Duration::hours(2)).await;
    let newest = sign_in(&db, &ada, at - Duration::minutes(1)).await;
    let oldest = sign_in(&db, &ada, at - Duration::hours(11)).await;
    let expired = sign_in(&db, &ada, at - SESSION_TTL - Duration::hours(1)).await;
    sign_in(&db, &bob, at).await;
    sign_in(&db, &zed, at).await;

    assert_eq!(rows_of_user(&db, "sessions", ada.id).await, 4, "the expired one is still stored");
    assert_eq!(db.store.sessions_of(acme.tenant.id, ada.id, at).await.unwrap(), vec![newest, middle, oldest.clone()]);
    let later = at + Duration::hours(2);
    assert!(!db.store.sessions_of(acme.tenant.id, ada.id, later).await.unwrap().contains(&oldest));
    assert!(!db.store.sessions_of(acme.tenant.id, ada.id, at).await.unwrap().contains(&expired));
    assert_eq!(db.store.sessions_of(globex.tenant.id, ada.id, at).await.unwrap(), vec![]);
    assert_eq!(db.store.sessions_of(acme.tenant.id, UserId::new(), at).await.unwrap(), vec![]);
}

async fn a_session_is_ended_once_and_only_by_its_own_user(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let bob = add(&db.store, &acme, "bob@example.com", Role::User).await;
    let session = sign_in(&db, &ada, now()).await;
    let kept = sign_in(&db, &ada, now()).await;
    let end = |tenant: TenantId, user: &User| {
        let audit = about(&actor_of(user), AuditAction::UserSignedOut, user);
        let store = db.store.clone();
        let (user, id) = (user.id, session.id);
        async move { store.end_session(tenant, user, id, &audit).await.map(|()| audit) }
    };

    let result = end(acme.tenant.id, &bob).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "another user's: {result:?}");
    let result = end(globex.tenant.id, &ada).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "through another tenant: {result:?}");
    assert!(authenticated(&db, &session.hash).await.is_some());
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserSignedOut).await, vec![], "refusals write nothing");

    let ended = end(acme.tenant.id, &ada).await.unwrap();
    assert_eq!(authenticated(&db, &session.hash).await, None);
    assert!(authenticated(&db, &kept.hash).await.is_some());
    let result = end(acme.tenant.id, &ada).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "again: {result:?}");
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserSignedOut).await, vec![ended]);
}

async fn revoking_sessions_ends_them_all_and_records_when(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let bob = add(&db.store, &acme, "bob@example.com", Role::User).await;
    let sessions = [sign_in(&db, &ada, now()).await, sign_in(&db, &ada, now()).await];
    let bobs = sign_in(&db, &bob, now()).await;
    assert_eq!(db.store.sessions_revoked_at(acme.tenant.id, ada.id).await.unwrap(), None);

    let at = now();
    let (ended, audit) = revoke(&db, &admin_of(&acme), &ada, at).await.unwrap();
    assert_eq!(ended, 2);
    for session in &sessions {
        assert_eq!(authenticated(&db, &session.hash).await, None);
    }
    assert_eq!(db.store.sessions_of(acme.tenant.id, ada.id, now()).await.unwrap(), vec![]);
    assert_eq!(db.store.sessions_revoked_at(acme.tenant.id, ada.id).await.unwrap(), Some(at));
    assert!(authenticated(&db, &bobs.hash).await.is_some());
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::SessionsRevoked).await, vec![audit]);

    let later = now() + Duration::seconds(1);
    assert_eq!(revoke(&db, &actor_of(&ada), &ada, later).await.unwrap().0, 0);
    assert_eq!(db.store.sessions_revoked_at(acme.tenant.id, ada.id).await.unwrap(), Some(later));
}

async fn a_revocation_by_an_actor_no_longer_administrator_is_actor_changed_and_changes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let session = sign_in(&db, &ada, now()).await;
    let demoted = former_administrator(&db.store, &acme, "demoted@example.com").await;
    let gone = add(&db.store, &acme, "gone@example.com", Role::Administrator).await;
    deactivate(&db, &gone, now()).await;

    for former in [demoted, actor_of(&gone)] {
        let result = revoke(&db, &former, &ada, now()).await;
        assert!(matches!(result, Err(StoreError::ActorChanged)), "{result:?}");
    }
    assert_eq!(authenticated(&db, &session.hash).await, Some((actor_of(&ada), session)));
    assert_eq!(db.store.sessions_revoked_at(acme.tenant.id, ada.id).await.unwrap(), None);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::SessionsRevoked).await, vec![]);
}

async fn a_user_who_never_enrolled_has_the_default_mfa(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap(), Mfa::default());
    assert_eq!(db.store.mfa_of(acme.tenant.id, UserId::new()).await.unwrap(), Mfa::default());
}

async fn beginning_an_enrollment_stores_an_unconfirmed_secret_replacing_an_unconfirmed_one(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    for _ in 0..2 {
        let secret = TotpSecret::generate();
        db.store.begin_enrollment(acme.tenant.id, ada.id, &secret).await.unwrap();
        let pending = Mfa { secret: Some(secret), ..Mfa::default() };
        assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap(), pending);
    }
    assert_eq!(db.store.mfa_of(globex.tenant.id, ada.id).await.unwrap(), Mfa::default(), "read in its tenant");
}

async fn confirming_the_stored_secret_requires_mfa_and_activates_the_enrolling_session(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let enrolling = sign_in_as(&db, &ada, SessionState::Enrolling, now() - Duration::minutes(1)).await;
    let secret = TotpSecret::generate();
    db.store.begin_enrollment(acme.tenant.id, ada.id, &secret).await.unwrap();

    let at = now();
    let audit = confirm(&db, &ada, &secret, 42, Some(&enrolling), at).await.unwrap();
    let enrolled = Mfa { secret: Some(secret), confirmed_at: Some(at), required: true, last_step: Some(42) };
    assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap(), enrolled);
    let active = Session { state: SessionState::Active, mfa: true, expires_at: at + SESSION_TTL, ..enrolling };
    assert_eq!(authenticated(&db, &active.hash).await, Some((actor_of(&ada), active)));
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::MfaEnrolled).await, vec![audit]);
}

async fn confirming_a_secret_no_longer_pending_is_stale_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let enrolling = sign_in_as(&db, &ada, SessionState::Enrolling, now()).await;
    let never_stored = TotpSecret::generate();
    let result = confirm(&db, &ada, &never_stored, 1, Some(&enrolling), now()).await;
    assert!(matches!(result, Err(StoreError::Stale)), "none pending: {result:?}");

    let replaced = TotpSecret::generate();
    let current = TotpSecret::generate();
    db.store.begin_enrollment(acme.tenant.id, ada.id, &replaced).await.unwrap();
    db.store.begin_enrollment(acme.tenant.id, ada.id, &current).await.unwrap();
    let result = confirm(&db, &ada, &replaced, 1, Some(&enrolling), now()).await;
    assert!(matches!(result, Err(StoreError::Stale)), "replaced: {result:?}");
    let pending = Mfa { secret: Some(current.clone()), ..Mfa::default() };
    assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap(), pending);

    db.store.begin_enrollment(acme.tenant.id, ada.id, &replaced).await.unwrap();
    reset(&db, &admin_of(&acme), &ada).await.unwrap();
    let result = confirm(&db, &ada, &replaced, 1, Some(&enrolling), now()).await;
    assert!(matches!(result, Err(StoreError::Stale)), "reset meanwhile: {result:?}");
    assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap(), Mfa { required: true, ..Mfa::default() });
    assert_eq!(authenticated(&db, &enrolling.hash).await, Some((actor_of(&ada), enrolling)), "still enrolling");
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::MfaEnrolled).await, vec![]);
}

async fn a_confirmed_secret_is_confirmed_once_and_cannot_be_replaced(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let secret = enroll(&db, &ada, 10).await;
    let enrolled = db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap();
    assert!(enrolled.enrolled());

    let result = confirm(&db, &ada, &secret, 11, None, now()).await;
    assert!(matches!(result, Err(StoreError::Stale)), "confirmed meanwhile: {result:?}");
    let result = db.store.begin_enrollment(acme.tenant.id, ada.id, &TotpSecret::generate()).await;
    assert!(matches!(result, Err(StoreError::Stale)), "begin after confirmation: {result:?}");
    assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap(), enrolled);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::MfaEnrolled).await.len(), 1);
}

async fn resetting_mfa_forgets_the_secret_and_keeps_it_required(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let newcomer = add(&db.store, &acme, "new@example.com", Role::User).await;
    enroll(&db, &ada, 10).await;
    let admin = admin_of(&acme);

    let first = reset(&db, &admin, &ada).await.unwrap();
    let mfa = db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap();
    // The step last used belonged to the old secret: the new one's first code, in the same
    // 30 s, must work.
    assert_eq!(mfa, Mfa { required: true, ..Mfa::default() });
    let second = reset(&db, &admin, &newcomer).await.unwrap();
    let required = Mfa { required: true, ..Mfa::default() };
    assert_eq!(db.store.mfa_of(acme.tenant.id, newcomer.id).await.unwrap(), required, "never enrolled");
    let mut recorded = events(&db.store, acme.tenant.id, AuditAction::MfaReset).await;
    recorded.sort_by_key(|event| event.target.id);
    let mut expected = vec![first, second];
    expected.sort_by_key(|event| event.target.id);
    assert_eq!(recorded, expected);

    // The next sign-in enrolls again.
    db.store.begin_enrollment(acme.tenant.id, ada.id, &TotpSecret::generate()).await.unwrap();
}

async fn a_reset_by_an_actor_no_longer_administrator_is_actor_changed_and_changes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    enroll(&db, &ada, 10).await;
    let enrolled = db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap();
    let demoted = former_administrator(&db.store, &acme, "demoted@example.com").await;
    let result = reset(&db, &demoted, &ada).await;
    assert!(matches!(result, Err(StoreError::ActorChanged)), "{result:?}");
    assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap(), enrolled);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::MfaReset).await, vec![]);
}

const ENTRA: &str = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0";
const KEYCLOAK: &str = "https://sso.example.com/realms/acme";

/// Trust in `issuer` for the audience `api://roster`.
fn trust(issuer: &str, entra_tenant: Option<&str>, just_in_time: bool) -> OidcSettings {
    OidcSettings {
        issuer: IssuerUrl::parse(issuer).unwrap(),
        audience: Audience::parse("api://roster").unwrap(),
        entra_tenant: entra_tenant.map(|id| EntraTenantId::parse(id).unwrap()),
        just_in_time,
    }
}

/// Stores `settings` for `created` on behalf of `actor`; returns the audit event.
async fn set_trust(
    db: &TestDatabase,
    created: &CreatedTenant,
    actor: &Actor,
    settings: Option<OidcSettings>,
) -> Result<AuditEvent, StoreError> {
    let id = created.tenant.id;
    let target = AuditTarget { kind: TargetKind::Tenant, id: id.into(), label: Some(created.tenant.name.to_string()) };
    let audit = AuditEvent::about(actor, AuditAction::TenantOidcChanged, target, now());
    db.store.set_oidc_settings(id, settings, acting(actor), &audit).await.map(|()| audit)
}

/// Links `subject` of `issuer` to `user`, now; returns the audit event offered with it.
async fn link_subject(db: &TestDatabase, issuer: &str, subject: &str, user: &User) -> AuditEvent {
    let link = ExternalLink {
        tenant: user.tenant,
        issuer: IssuerUrl::parse(issuer).unwrap(),
        subject: subject.to_owned(),
        user: user.id,
        linked_at: now(),
    };
    let audit = about(&actor_of(user), AuditAction::IdentityLinked, user);
    db.store.link(&link, &audit).await.expect("subject linked");
    audit
}

/// The user `subject` of `issuer` is linked to in `tenant`.
async fn linked(db: &TestDatabase, tenant: TenantId, issuer: &str, subject: &str) -> Option<UserId> {
    db.store.linked_user(tenant, issuer, subject).await.unwrap()
}

async fn oidc_settings_are_stored_replaced_and_removed(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    assert_eq!(db.store.oidc_settings(acme.tenant.id).await.unwrap(), None);
    let mut recorded = Vec::new();
    for settings in [
        trust(ENTRA, Some("72f988bf-86f1-41af-91ab-2d7cd011db47"), true),
        trust(KEYCLOAK, None, false),
        trust(KEYCLOAK, None, true),
        trust(ENTRA, Some("72f988bf-86f1-41af-91ab-2d7cd011db47"), false),
    ] {
        recorded.push(set_trust(&db, &acme, &admin_of(&acme), Some(settings.clone())).await.unwrap());
        assert_eq!(db.store.oidc_settings(acme.tenant.id).await.unwrap(), Some(settings));
    }
    assert_eq!(db.store.oidc_settings(globex.tenant.id).await.unwrap(), None);
    recorded.push(set_trust(&db, &acme, &Actor::system(acme.tenant.id), None).await.unwrap());
    assert_eq!(db.store.oidc_settings(acme.tenant.id).await.unwrap(), None);
    let mut listed = events(&db.store, acme.tenant.id, AuditAction::TenantOidcChanged).await;
    listed.sort_by_key(|event| event.id);
    recorded.sort_by_key(|event| event.id);
    assert_eq!(listed, recorded);
}

async fn every_tenant_trusting_an_issuer_is_found_by_it(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let initech = tenant(&db.store, "initech").await;
    let entra = Some("72f988bf-86f1-41af-91ab-2d7cd011db47");
    let for_globex = OidcSettings { audience: Audience::parse("api://globex").unwrap(), ..trust(ENTRA, entra, false) };
    for (created, settings) in
        [(&acme, trust(ENTRA, entra, true)), (&globex, for_globex.clone()), (&initech, trust(KEYCLOAK, None, true))]
    {
        set_trust(&db, created, &Actor::system(created.tenant.id), Some(settings)).await.unwrap();
    }
    let mut found = db.store.tenants_trusting(ENTRA).await.unwrap();
    found.sort_by_key(|(tenant, _)| tenant.to_string());
    let mut expected = vec![(acme.tenant.id, trust(ENTRA, entra, true)), (globex.tenant.id, for_globex)];
    expected.sort_by_key(|(tenant, _)| tenant.to_string());
    assert_eq!(found, expected);
    assert_eq!(
        db.store.tenants_trusting(KEYCLOAK).await.unwrap(),
        vec![(initech.tenant.id, trust(KEYCLOAK, None, true))]
    );
    assert_eq!(db.store.tenants_trusting("https://unknown.example.com").await.unwrap(), vec![]);
    assert_eq!(db.store.tenants_trusting(&format!("{KEYCLOAK}/")).await.unwrap(), vec![], "exactly as carried");
}

async fn an_issuer_and_audience_are_trusted_by_one_tenant_at_most(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    set_trust(&db, &acme, &admin_of(&acme), Some(trust(ENTRA, None, false))).await.unwrap();

    for settings in [trust(ENTRA, None, false), trust(ENTRA, None, true)] {
        let result = set_trust(&db, &globex, &admin_of(&globex), Some(settings)).await;
        assert!(matches!(result, Err(StoreError::IssuerTaken)), "{result:?}");
    }
    assert_eq!(db.store.oidc_settings(globex.tenant.id).await.unwrap(), None, "nothing written");
    assert_eq!(events(&db.store, globex.tenant.id, AuditAction::TenantOidcChanged).await, vec![]);
    // The pair's own tenant changes the rest freely; another audience is another pair.
    set_trust(&db, &acme, &admin_of(&acme), Some(trust(ENTRA, None, true))).await.unwrap();
    let own = OidcSettings { audience: Audience::parse("api://globex").unwrap(), ..trust(ENTRA, None, false) };
    set_trust(&db, &globex, &admin_of(&globex), Some(own)).await.unwrap();

    // Two tenants claiming one pair at once: one gets it.
    let (by_acme, by_globex) = (admin_of(&acme), admin_of(&globex));
    let (first, second) = futures::join!(
        set_trust(&db, &acme, &by_acme, Some(trust(KEYCLOAK, None, false))),
        set_trust(&db, &globex, &by_globex, Some(trust(KEYCLOAK, None, false))),
    );
    let taken = |result: &Result<_, StoreError>| matches!(result, Err(StoreError::IssuerTaken));
    assert!((first.is_ok() && taken(&second)) || (second.is_ok() && taken(&first)), "{first:?} / {second:?}");
    assert_eq!(db.store.tenants_trusting(KEYCLOAK).await.unwrap().len(), 1);

    // Once its tenant lets it go, the pair is free.
    let (holder, other) = if first.is_ok() { (&acme, &globex) } else { (&globex, &acme) };
    set_trust(&db, holder, &admin_of(holder), None).await.unwrap();
    set_trust(&db, other, &admin_of(other), Some(trust(KEYCLOAK, None, true))).await.unwrap();
    assert_eq!(
        db.store.tenants_trusting(KEYCLOAK).await.unwrap(),
        vec![(other.tenant.id, trust(KEYCLOAK, None, true))]
    );
}

async fn a_subject_stays_linked_to_its_first_user(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let bob = add(&db.store, &acme, "bob@example.com", Role::User).await;
    let zed = add(&db.store, &globex, "zed@example.com", Role::User).await;
    assert_eq!(linked(&db, acme.tenant.id, ENTRA, "s-1").await, None);

    link_subject(&db, ENTRA, "s-1", &ada).await;
    link_subject(&db, ENTRA, "s-1", &bob).await;
    link_subject(&db, ENTRA, "s-1", &zed).await;
    link_subject(&db, KEYCLOAK, "s-1", &bob).await;
    assert_eq!(linked(&db, acme.tenant.id, ENTRA, "s-1").await, Some(ada.id), "the first link is kept");
    assert_eq!(linked(&db, globex.tenant.id, ENTRA, "s-1").await, Some(zed.id));
    assert_eq!(linked(&db, acme.tenant.id, KEYCLOAK, "s-1").await, Some(bob.id));
    assert_eq!(linked(&db, acme.tenant.id, ENTRA, "s-2").await, None);
}

async fn a_link_is_audited_when_made_and_not_when_one_is_kept(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let bob = add(&db.store, &acme, "bob@example.com", Role::User).await;

    let made = link_subject(&db, ENTRA, "s-1", &ada).await;
    link_subject(&db, ENTRA, "s-1", &bob).await;

    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::IdentityLinked).await, vec![made]);
}

async fn changing_the_issuer_forgets_the_links_made_with_the_old_one(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let bob = add(&db.store, &acme, "bob@example.com", Role::User).await;
    let zed = add(&db.store, &globex, "zed@example.com", Role::User).await;
    let admin = admin_of(&acme);
    set_trust(&db, &acme, &admin, Some(trust(ENTRA, None, false))).await.unwrap();
    link_subject(&db, ENTRA, "old", &ada).await;
    link_subject(&db, ENTRA, "theirs", &zed).await;

    set_trust(&db, &acme, &admin, Some(trust(ENTRA, None, true))).await.unwrap();
    assert_eq!(linked(&db, acme.tenant.id, ENTRA, "old").await, Some(ada.id), "same issuer: kept");

    // A link made with the new issuer just before the switch (a sign-in racing it) is kept.
    link_subject(&db, KEYCLOAK, "new", &bob).await;
    set_trust(&db, &acme, &admin, Some(trust(KEYCLOAK, None, false))).await.unwrap();
    assert_eq!(linked(&db, acme.tenant.id, ENTRA, "old").await, None);
    assert_eq!(linked(&db, acme.tenant.id, KEYCLOAK, "new").await, Some(bob.id));
    assert_eq!(linked(&db, globex.tenant.id, ENTRA, "theirs").await, Some(zed.id), "another tenant's link is kept");

    link_subject(&db, ENTRA, "stray", &ada).await;
    set_trust(&db, &acme, &admin, None).await.unwrap();
    assert_eq!(linked(&db, acme.tenant.id, KEYCLOAK, "new").await, None, "no issuer: every link forgotten");
    assert_eq!(linked(&db, acme.tenant.id, ENTRA, "stray").await, None, "no issuer: every link forgotten");
    assert_eq!(rows_of(&db, "external_identities", "tenant_id", acme.tenant.id.as_uuid()).await.len(), 0);
    assert_eq!(linked(&db, globex.tenant.id, ENTRA, "theirs").await, Some(zed.id));
}

async fn an_oidc_change_by_an_actor_no_longer_administrator_is_actor_changed_and_changes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let settings = trust(ENTRA, None, false);
    set_trust(&db, &acme, &admin_of(&acme), Some(settings.clone())).await.unwrap();
    link_subject(&db, ENTRA, "s-1", &ada).await;
    let demoted = former_administrator(&db.store, &acme, "demoted@example.com").await;

    for change in [Some(trust(KEYCLOAK, None, true)), None] {
        let result = set_trust(&db, &acme, &demoted, change).await;
        assert!(matches!(result, Err(StoreError::ActorChanged)), "{result:?}");
    }
    assert_eq!(db.store.oidc_settings(acme.tenant.id).await.unwrap(), Some(settings));
    assert_eq!(linked(&db, acme.tenant.id, ENTRA, "s-1").await, Some(ada.id));
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::TenantOidcChanged).await.len(), 1);
}

async fn purging_a_user_removes_their_sessions_links_and_security(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@example.com", Role::User).await;
    let bob = add(&db.store, &acme, "bob@example.com", Role::User).await;
    let session = sign_in(&db, &ada, now()).await;
    let link = link_for(&db, &ada, now()).await;
    enroll(&db, &ada, 10).await;
    link_subject(&db, ENTRA, "ada", &ada).await;
    link_subject(&db, ENTRA, "bob", &bob).await;
    let bobs = sign_in(&db, &bob, now()).await;

    let actor = Actor::system(acme.tenant.id);
    let audit = AuditEvent::user_purged(&actor, &ada, now());
    UserRepository::purge(&db.store, acme.tenant.id, &Premises::of(&actor, &ada, None), &audit).await.unwrap();
    for table in ["sessions", "magic_links", "user_security", "external_identities"] {
        assert_eq!(rows_of_user(&db, table, ada.id).await, 0, "{table}");
    }
    assert_eq!(authenticated(&db, &session.hash).await, None);
    assert_eq!(db.store.find_magic_link(&link.hash).await.unwrap(), None);
    assert_eq!(linked(&db, acme.tenant.id, ENTRA, "ada").await, None);
    assert_eq!(db.store.mfa_of(acme.tenant.id, ada.id).await.unwrap(), Mfa::default());
    assert_eq!(linked(&db, acme.tenant.id, ENTRA, "bob").await, Some(bob.id));
    assert!(authenticated(&db, &bobs.hash).await.is_some());
}

async fn accepting_an_invitation_stores_the_session_it_starts(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let system = Actor::system(acme.tenant.id);
    let new = NewUser {
        email: Email::parse("new@example.com").unwrap(),
        name: None,
        phone: None,
        role: Role::User,
        referral_code: None,
    };
    let invited = User::invite(acme.tenant.id, new, None, now());
    let (invitation, secret) =
        Invitation::issue(acme.tenant.id, invited.id, InvitationTtl::DEFAULT, None, Delivery::pending(), now());
    let audit = AuditEvent::user_invited(&system, &invited, &invitation, now());
    db.store.invite(&invited, &invitation, None, &audit).await.unwrap();

    let accepted = invited.accepted(None, now());
    let (session, _) =
        Session::start(acme.tenant.id, invited.id, SessionState::Active, SignInMethod::Invitation, false, now());
    let audit =
        AuditEvent::user_changed(&actor_of(&invited), AuditAction::InvitationAccepted, &invited, &accepted, now());
    db.store.accept(&secret.hash(), &accepted, invited.version, &session, &audit).await.unwrap();
    assert_eq!(authenticated(&db, &session.hash).await, Some((actor_of(&accepted), session.clone())));
    assert_eq!(db.store.sessions_of(acme.tenant.id, invited.id, now()).await.unwrap(), vec![session]);
    let sql = "SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND method = 'invitation'";
    assert_eq!(count(&db, sql, [invited.id.as_uuid().into()]).await, 1);
}

on_both_databases!(
    a_magic_link_is_found_by_its_hash_exactly_as_stored,
    a_sixth_link_drops_the_oldest_and_expired_links_are_dropped_on_insert,
    wrong_codes_are_counted_and_the_link_is_deleted_at_the_limit,
    redeeming_a_link_deletes_it_and_starts_the_session_with_its_audit_event,
    a_redeemed_link_cannot_be_redeemed_again_nor_by_another_user,
    two_concurrent_redeems_of_one_link_succeed_once,
    redeeming_for_a_deactivated_user_is_stale_and_writes_nothing,
    a_code_step_is_recorded_and_a_step_not_later_is_stale_and_writes_nothing,
    a_session_authenticates_until_it_expires,
    deactivating_a_user_ends_their_sessions_and_links_for_good,
    sessions_are_listed_newest_first_without_expired_or_others_sessions,
    a_session_is_ended_once_and_only_by_its_own_user,
    revoking_sessions_ends_them_all_and_records_when,
    a_revocation_by_an_actor_no_longer_administrator_is_actor_changed_and_changes_nothing,
    a_user_who_never_enrolled_has_the_default_mfa,
    beginning_an_enrollment_stores_an_unconfirmed_secret_replacing_an_unconfirmed_one,
    confirming_the_stored_secret_requires_mfa_and_activates_the_enrolling_session,
    confirming_a_secret_no_longer_pending_is_stale_and_writes_nothing,
    a_confirmed_secret_is_confirmed_once_and_cannot_be_replaced,
    resetting_mfa_forgets_the_secret_and_keeps_it_required,
    a_reset_by_an_actor_no_longer_administrator_is_actor_changed_and_changes_nothing,
    oidc_settings_are_stored_replaced_and_removed,
    every_tenant_trusting_an_issuer_is_found_by_it,
    an_issuer_and_audience_are_trusted_by_one_tenant_at_most,
    a_subject_stays_linked_to_its_first_user,
    a_link_is_audited_when_made_and_not_when_one_is_kept,
    changing_the_issuer_forgets_the_links_made_with_the_old_one,
    an_oidc_change_by_an_actor_no_longer_administrator_is_actor_changed_and_changes_nothing,
    purging_a_user_removes_their_sessions_links_and_security,
    accepting_an_invitation_stores_the_session_it_starts,
    a_session_begun_before_its_users_sessions_were_revoked_does_not_authenticate,
    a_sign_in_racing_a_revocation_does_not_outlive_it,
    a_code_step_for_a_user_with_no_step_yet_is_accepted,
);
