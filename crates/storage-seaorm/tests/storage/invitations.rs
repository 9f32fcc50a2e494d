//! Invitations: the invited user and their single-use link (kept only as a hash) are stored
//! together; a link is replaced, its delivery recorded, accepted once, or dies with its user.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use roster_domain::governance::acting;
use roster_domain::invitation::{
    Delivery, DeliveryStatus, Invitation, InvitationSecret, InvitationState, InvitationTtl, TenantSettings,
};
use roster_domain::ports::{
    AuditLog as _, InvitationRepository as _, LicenseRepository, SessionRepository as _, TenantRepository as _,
    UserRepository,
};
use roster_domain::services::CreatedTenant;
use roster_domain::session::{Session, SessionState, SignInMethod};
use roster_domain::user::{InvitationFilter, NewUser, ProfileChanges};
use roster_domain::{
    Actor, AuditAction, AuditEvent, AuditQuery, Email, LicenseKind, LicenseKindId, PersonName, Premises, Role,
    StoreError, TenantId, Timestamp, TokenHash, Total, User, UserFilter, UserId, UserQuery, UserSource, UserStatus,
};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use sea_orm::ConnectionTrait as _;

use crate::fixtures::{add, add_license, days_ago, now, occurs, readable_columns, rows_of, statement, tenant};

/// An invited user, their invitation and its link's secret, as stored.
struct Invited {
    user: User,
    invitation: Invitation,
    secret: InvitationSecret,
}

/// A user of `created` invited now with `email`, holding a seat of `license`; not stored.
fn invitee(created: &CreatedTenant, email: &str, license: Option<LicenseKindId>) -> User {
    let new =
        NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role: Role::User, referral_code: None };
    User::invite(created.tenant.id, new, license, now())
}

/// A new link for `user`, issued now by the system with the default lifetime; not stored.
fn link_for(user: &User) -> (Invitation, InvitationSecret) {
    Invitation::issue(user.tenant, user.id, InvitationTtl::DEFAULT, None, Delivery::pending(), now())
}

/// Stores the invited `user` with `invitation` on behalf of the system; returns the audit event.
async fn invite(db: &TestDatabase, user: &User, invitation: &Invitation) -> Result<AuditEvent, StoreError> {
    let audit = AuditEvent::user_invited(&Actor::system(user.tenant), user, invitation, now());
    db.store.invite(user, invitation, None, &audit).await.map(|()| audit)
}

/// Invites `email` into `created`, with a link that stops working at `expires_at`.
async fn invited_until(db: &TestDatabase, created: &CreatedTenant, email: &str, expires_at: Timestamp) -> Invited {
    let user = invitee(created, email, None);
    let (mut invitation, secret) = link_for(&user);
    invitation.expires_at = expires_at;
    invite(db, &user, &invitation).await.expect("user invited");
    Invited { user, invitation, secret }
}

/// Invites `email` into `created` with a link working for the default lifetime.
async fn invited(db: &TestDatabase, created: &CreatedTenant, email: &str) -> Invited {
    invited_until(db, created, email, now() + InvitationTtl::DEFAULT.as_delta()).await
}

/// Changes `before` into `after` through `action`, on behalf of the system.
async fn change(db: &TestDatabase, before: &User, after: &User, action: AuditAction) -> Result<(), StoreError> {
    let actor = Actor::system(before.tenant);
    let premises = Premises::of(&actor, before, Some((after.role, after.status)));
    let audit = AuditEvent::user_changed(&actor, action, before, after, now());
    UserRepository::update(&db.store, after, &premises, &audit).await
}

/// Gives `user` (as decided on: this version) a new link, on behalf of the system.
async fn reissue(db: &TestDatabase, user: &User) -> Result<(Invitation, InvitationSecret), StoreError> {
    let actor = Actor::system(user.tenant);
    let (invitation, secret) = link_for(user);
    let premises = Premises::of(&actor, user, Some((user.role, user.status)));
    let audit = AuditEvent::invitation_reissued(&actor, user, &invitation, true, now());
    db.store.reissue(&invitation, &premises, &audit).await.map(|()| (invitation, secret))
}

/// Accepts the link with `hash` for `user` (as decided on: this version), as the service does:
/// the user made active, with their first session.
async fn accept(db: &TestDatabase, hash: &TokenHash, user: &User) -> Result<(User, Session), StoreError> {
    let accepted = user.accepted(None, now());
    let (session, _) =
        Session::start(user.tenant, user.id, SessionState::Active, SignInMethod::Invitation, false, now());
    let actor = Actor::user(user.tenant, user.id, user.email.clone(), user.role);
    let audit = AuditEvent::user_changed(&actor, AuditAction::InvitationAccepted, user, &accepted, now());
    db.store.accept(hash, &accepted, user.version, &session, &audit).await.map(|()| (accepted, session))
}

/// `user` as stored now, if stored.
async fn stored_user(db: &TestDatabase, user: &User) -> Option<User> {
    UserRepository::get(&db.store, user.tenant, user.id).await.unwrap()
}

/// The seats of `kind` assigned now.
async fn assigned(db: &TestDatabase, kind: &LicenseKind) -> u64 {
    LicenseRepository::get(&db.store, kind.tenant, kind.id).await.unwrap().expect("kind stored").assigned
}

/// The events of `tenant` with `action`.
async fn events(db: &TestDatabase, tenant: TenantId, action: AuditAction) -> Vec<AuditEvent> {
    let query = AuditQuery { action: Some(action), ..AuditQuery::default() };
    db.store.list_events(tenant, &query).await.unwrap().items
}

/// The events of `tenant` about the user `target`.
async fn events_about(db: &TestDatabase, tenant: TenantId, target: UserId) -> Vec<AuditEvent> {
    let query = AuditQuery { target: Some(target.into()), ..AuditQuery::default() };
    db.store.list_events(tenant, &query).await.unwrap().items
}

/// The user counts of `tenant`, without the (role, status) pairs that count nobody.
async fn counts(db: &TestDatabase, tenant: TenantId) -> HashMap<(Role, UserStatus), u64> {
    let counts = db.store.user_counts(tenant).await.unwrap();
    counts.into_iter().filter(|(_, _, n)| *n > 0).map(|(role, status, n)| ((role, status), n)).collect()
}

/// How many sessions `user` has, counted with raw SQL.
async fn sessions_of(db: &TestDatabase, user: UserId) -> i64 {
    let sql = "SELECT COUNT(*) AS n FROM sessions WHERE user_id = ?";
    let row = db.store.connection().query_one_raw(statement(db.backend(), sql, [user.as_uuid().into()])).await;
    row.unwrap().expect("a count").try_get("", "n").unwrap()
}

async fn an_invitation_is_stored_with_its_invited_user_and_audit_event(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let admin = Actor::user(acme.tenant.id, acme.admin.id, acme.admin.email.clone(), Role::Administrator);
    let user = invitee(&acme, "new@example.com", None);
    let ttl = InvitationTtl::DEFAULT;
    let (invitation, secret) =
        Invitation::issue(acme.tenant.id, user.id, ttl, Some(acme.admin.id), Delivery::pending(), now());
    let audit = AuditEvent::user_invited(&admin, &user, &invitation, now());
    db.store.invite(&user, &invitation, acting(&admin), &audit).await.unwrap();

    let stored = stored_user(&db, &user).await.expect("invited user stored");
    assert_eq!((stored.status, stored.source, stored.activated_at), (UserStatus::Invited, UserSource::Invited, None));
    assert_eq!(stored, user);
    assert_eq!(db.store.get_invitation(acme.tenant.id, user.id).await.unwrap(), Some(invitation.clone()));
    assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), Some(invitation));
    assert_eq!(events(&db, acme.tenant.id, AuditAction::UserInvited).await, vec![audit]);
}

async fn invitations_are_read_within_their_tenant_and_for_users_who_have_one(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let mine = invited(&db, &acme, "mine@example.com").await;
    invited(&db, &acme, "not-asked@example.com").await;
    let theirs = invited(&db, &globex, "theirs@example.com").await;
    assert_eq!(db.store.get_invitation(globex.tenant.id, mine.user.id).await.unwrap(), None);
    let asked = [mine.user.id, acme.admin.id, theirs.user.id, UserId::new()];
    let found = db.store.invitations_of(acme.tenant.id, &asked).await.unwrap();
    assert_eq!(found, vec![mine.invitation]);
    assert_eq!(db.store.invitations_of(acme.tenant.id, &[]).await.unwrap(), vec![]);
}

async fn the_invitations_table_holds_the_hash_of_the_link_never_its_secret(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let Invited { user, secret, .. } = invited(&db, &acme, "new@example.com").await;
    let plain = secret.expose().as_bytes();
    let random = &secret.expose()[4..];
    let random_bytes = URL_SAFE_NO_PAD.decode(random).expect("the random part is base64url");
    assert_eq!(random_bytes.len(), 32);

    let rows = rows_of(&db, "invitations", "user_id", user.id.as_uuid()).await;
    assert_eq!(rows.len(), 1);
    let columns = rows[0].column_names();
    assert!(columns.len() >= 9, "{columns:?}");
    let read = readable_columns(&rows[0]);
    for (column, value) in &read {
        for (what, needle) in [("secret", plain), ("base64 part", random.as_bytes()), ("random bytes", &random_bytes)] {
            assert!(!occurs(value, needle), "column {column} holds the link's {what}");
        }
    }
    let hash = read.iter().find(|(column, value)| column == "token_hash" && value.len() == 32);
    assert_eq!(hash.map(|(_, value)| value.as_slice()), Some(&secret.hash().as_bytes()[..]));
    assert!(read.iter().any(|(column, _)| column == "delivery_status"), "text columns were read: {read:?}");

    // Nor does the audit trail of the invitation keep it.
    for row in rows_of(&db, "audit_events", "target_id", user.id.as_uuid()).await {
        for (column, value) in readable_columns(&row) {
            assert!(!occurs(&value, random.as_bytes()), "audit column {column} holds the link's secret");
        }
    }
}

async fn an_invitation_holding_a_license_reserves_a_seat(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = invitee(&acme, "new@example.com", Some(kind.id));
    let (invitation, _) = link_for(&user);
    invite(&db, &user, &invitation).await.unwrap();
    assert_eq!(assigned(&db, &kind).await, 1);
    assert_eq!(stored_user(&db, &user).await.and_then(|u| u.license), Some(kind.id));
}

async fn inviting_into_a_full_kind_is_no_seats_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 1).await;
    let first = invitee(&acme, "first@example.com", Some(kind.id));
    invite(&db, &first, &link_for(&first).0).await.unwrap();
    let before = counts(&db, acme.tenant.id).await;

    let second = invitee(&acme, "second@example.com", Some(kind.id));
    let (invitation, secret) = link_for(&second);
    let result = invite(&db, &second, &invitation).await;
    assert!(
        matches!(result, Err(StoreError::NoSeats { kind: k, seats: 1, assigned: 1 }) if k == kind.id),
        "{result:?}"
    );
    assert_eq!(stored_user(&db, &second).await, None);
    assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), None);
    assert_eq!(db.store.get_invitation(acme.tenant.id, second.id).await.unwrap(), None);
    assert_eq!(events_about(&db, acme.tenant.id, second.id).await, vec![]);
    assert_eq!(assigned(&db, &kind).await, 1);
    assert_eq!(counts(&db, acme.tenant.id).await, before);
}

async fn inviting_a_taken_email_in_any_letter_case_is_email_taken_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let taken = add(&db.store, &acme, "dup@example.com", Role::User).await;
    let before = counts(&db, acme.tenant.id).await;

    let twin = invitee(&acme, "DUP@Example.COM", Some(kind.id));
    let (invitation, secret) = link_for(&twin);
    let result = invite(&db, &twin, &invitation).await;
    assert!(matches!(result, Err(StoreError::EmailTaken)), "{result:?}");
    assert_eq!(stored_user(&db, &twin).await, None);
    assert_eq!(stored_user(&db, &taken).await, Some(taken));
    assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), None);
    assert_eq!(events_about(&db, acme.tenant.id, twin.id).await, vec![]);
    assert_eq!(assigned(&db, &kind).await, 0, "the seat taken before the duplicate showed is given back");
    assert_eq!(counts(&db, acme.tenant.id).await, before);
}

async fn inviting_with_an_unknown_license_is_license_not_found_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = invitee(&acme, "new@example.com", Some(LicenseKindId::new()));
    let (invitation, secret) = link_for(&user);
    let result = invite(&db, &user, &invitation).await;
    assert!(matches!(result, Err(StoreError::LicenseNotFound)), "{result:?}");
    assert_eq!(stored_user(&db, &user).await, None);
    assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), None);
    assert_eq!(events_about(&db, acme.tenant.id, user.id).await, vec![]);
}

async fn an_invitation_by_an_actor_no_longer_administrator_is_actor_changed_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let former = add(&db.store, &acme, "former@example.com", Role::Administrator).await;
    change(&db, &former, &former.deactivated(now()), AuditAction::UserDeactivated).await.unwrap();

    let actor = Actor::user(acme.tenant.id, former.id, former.email.clone(), Role::Administrator);
    let user = invitee(&acme, "new@example.com", None);
    let (invitation, secret) = link_for(&user);
    let audit = AuditEvent::user_invited(&actor, &user, &invitation, now());
    let result = db.store.invite(&user, &invitation, acting(&actor), &audit).await;
    assert!(matches!(result, Err(StoreError::ActorChanged)), "{result:?}");
    assert_eq!(stored_user(&db, &user).await, None);
    assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), None);
    assert_eq!(events(&db, acme.tenant.id, AuditAction::UserInvited).await, vec![]);
}

async fn reissuing_replaces_the_link(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let old = invited(&db, &acme, "new@example.com").await;
    let (new, secret) = reissue(&db, &old.user).await.unwrap();
    assert_ne!(new.hash, old.invitation.hash);
    assert_eq!(db.store.find_invitation(&old.secret.hash()).await.unwrap(), None);
    assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), Some(new.clone()));
    assert_eq!(db.store.get_invitation(acme.tenant.id, old.user.id).await.unwrap(), Some(new));
    assert_eq!(events(&db, acme.tenant.id, AuditAction::InvitationReissued).await.len(), 1);
}

async fn a_reissue_decided_on_a_stale_version_is_stale_and_keeps_the_old_link(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let old = invited(&db, &acme, "new@example.com").await;
    let name = PersonName::parse("Renamed Meanwhile").unwrap();
    let changes = ProfileChanges { name: Some(Some(name)), ..ProfileChanges::default() };
    let edited = old.user.with_profile(changes, now()).expect("a change");
    change(&db, &old.user, &edited, AuditAction::UserUpdated).await.unwrap();

    let result = reissue(&db, &old.user).await;
    assert!(matches!(result, Err(StoreError::Stale)), "{result:?}");
    assert_eq!(db.store.find_invitation(&old.secret.hash()).await.unwrap(), Some(old.invitation.clone()));
    assert_eq!(db.store.get_invitation(acme.tenant.id, old.user.id).await.unwrap(), Some(old.invitation));
    assert_eq!(events(&db, acme.tenant.id, AuditAction::InvitationReissued).await, vec![]);
}

async fn reissuing_for_an_unknown_user_is_not_found_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ghost = invitee(&acme, "ghost@example.com", None);
    let result = reissue(&db, &ghost).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(db.store.get_invitation(acme.tenant.id, ghost.id).await.unwrap(), None);
    assert_eq!(events(&db, acme.tenant.id, AuditAction::InvitationReissued).await, vec![]);
}

async fn a_recorded_delivery_is_stored_on_the_current_link(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let Invited { user, invitation, secret } = invited(&db, &acme, "new@example.com").await;
    let failed = Delivery { status: DeliveryStatus::Failed, error: Some("550 no such user".into()), at: Some(now()) };
    let sent = Delivery { status: DeliveryStatus::Sent, error: None, at: Some(now()) };
    for delivery in [failed, sent] {
        db.store.record_delivery(acme.tenant.id, &secret.hash(), &delivery).await.unwrap();
        let expected = Invitation { delivery, ..invitation.clone() };
        assert_eq!(db.store.get_invitation(acme.tenant.id, user.id).await.unwrap(), Some(expected));
    }
}

async fn a_delivery_recorded_for_a_replaced_link_changes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let old = invited(&db, &acme, "new@example.com").await;
    let (new, _) = reissue(&db, &old.user).await.unwrap();
    let failed = Delivery { status: DeliveryStatus::Failed, error: Some("timeout".into()), at: Some(now()) };
    db.store.record_delivery(acme.tenant.id, &old.secret.hash(), &failed).await.unwrap();
    assert_eq!(db.store.get_invitation(acme.tenant.id, old.user.id).await.unwrap(), Some(new));
}

async fn a_delivery_recorded_through_another_tenant_changes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let Invited { user, invitation, secret } = invited(&db, &acme, "new@example.com").await;
    let sent = Delivery { status: DeliveryStatus::Sent, error: None, at: Some(now()) };
    db.store.record_delivery(globex.tenant.id, &secret.hash(), &sent).await.unwrap();
    assert_eq!(db.store.get_invitation(acme.tenant.id, user.id).await.unwrap(), Some(invitation));
}

async fn accepting_activates_the_user_consumes_the_link_and_starts_a_working_session(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let Invited { user, secret, .. } = invited(&db, &acme, "new@example.com").await;
    let invited_counts =
        HashMap::from([((Role::Administrator, UserStatus::Active), 1), ((Role::User, UserStatus::Invited), 1)]);
    assert_eq!(counts(&db, acme.tenant.id).await, invited_counts);

    let (accepted, session) = accept(&db, &secret.hash(), &user).await.unwrap();
    let stored = stored_user(&db, &user).await.expect("user kept");
    assert_eq!((stored.status, stored.activated_at), (UserStatus::Active, accepted.activated_at));
    assert!(stored.activated_at.is_some());
    assert_eq!(stored, accepted);
    let active_counts =
        HashMap::from([((Role::Administrator, UserStatus::Active), 1), ((Role::User, UserStatus::Active), 1)]);
    assert_eq!(counts(&db, acme.tenant.id).await, active_counts);
    assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), None);
    assert_eq!(db.store.get_invitation(acme.tenant.id, user.id).await.unwrap(), None);
    let actor = Actor::user(acme.tenant.id, user.id, user.email.clone(), Role::User);
    let signed_in = db.store.authenticate_session(&session.hash, now()).await.unwrap();
    assert_eq!(signed_in, Some((actor, session)));
    assert_eq!(events(&db, acme.tenant.id, AuditAction::InvitationAccepted).await.len(), 1);
}

async fn a_used_link_cannot_be_accepted_again(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let Invited { user, secret, .. } = invited(&db, &acme, "new@example.com").await;
    accept(&db, &secret.hash(), &user).await.unwrap();

    // Decided on the user as stored now, so that only the used link stands in the way.
    let active = stored_user(&db, &user).await.expect("user kept");
    let again = accept(&db, &secret.hash(), &active).await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
    // Replaying the very first decision is refused too.
    let replay = accept(&db, &secret.hash(), &user).await;
    assert!(matches!(replay, Err(StoreError::NotFound | StoreError::Stale)), "{replay:?}");
    assert_eq!(stored_user(&db, &user).await, Some(active));
    assert_eq!(sessions_of(&db, user.id).await, 1);
    assert_eq!(events(&db, acme.tenant.id, AuditAction::InvitationAccepted).await.len(), 1);
}

async fn two_concurrent_accepts_of_one_link_succeed_once(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let Invited { user, secret, .. } = invited(&db, &acme, "new@example.com").await;
    let hash = secret.hash();
    let (first, second) = futures::join!(accept(&db, &hash, &user), accept(&db, &hash, &user));
    let refused = |result: &Result<_, StoreError>| matches!(result, Err(StoreError::NotFound | StoreError::Stale));
    let once = (first.is_ok() && refused(&second)) || (second.is_ok() && refused(&first));
    assert!(once, "{first:?} / {second:?}");
    assert_eq!(sessions_of(&db, user.id).await, 1);
    assert_eq!(events(&db, acme.tenant.id, AuditAction::InvitationAccepted).await.len(), 1);
}

async fn a_replaced_link_cannot_be_accepted(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let old = invited(&db, &acme, "new@example.com").await;
    let (new, _) = reissue(&db, &old.user).await.unwrap();
    let result = accept(&db, &old.secret.hash(), &old.user).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(stored_user(&db, &old.user).await, Some(old.user.clone()));
    assert_eq!(db.store.get_invitation(acme.tenant.id, old.user.id).await.unwrap(), Some(new));
    assert_eq!(sessions_of(&db, old.user.id).await, 0);
}

async fn a_revoked_link_cannot_be_accepted(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let Invited { user, secret, .. } = invited(&db, &acme, "new@example.com").await;
    let actor = Actor::system(acme.tenant.id);
    let audit = AuditEvent::invitation_revoked(&actor, &user, now());
    db.store.purge(acme.tenant.id, &Premises::of(&actor, &user, None), &audit).await.unwrap();
    let result = accept(&db, &secret.hash(), &user).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(stored_user(&db, &user).await, None);
    assert_eq!(sessions_of(&db, user.id).await, 0);
    assert_eq!(events(&db, acme.tenant.id, AuditAction::InvitationAccepted).await, vec![]);
}

async fn a_link_accepts_only_its_own_user(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let alice = invited(&db, &acme, "alice@example.com").await;
    let bob = invited(&db, &acme, "bob@example.com").await;
    let result = accept(&db, &alice.secret.hash(), &bob.user).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(stored_user(&db, &bob.user).await, Some(bob.user.clone()));
    assert_eq!(db.store.find_invitation(&alice.secret.hash()).await.unwrap(), Some(alice.invitation));
    assert_eq!(db.store.find_invitation(&bob.secret.hash()).await.unwrap(), Some(bob.invitation));
    assert_eq!(sessions_of(&db, bob.user.id).await, 0);
}

async fn deactivating_an_invited_user_kills_their_link(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let Invited { user, secret, .. } = invited(&db, &acme, "new@example.com").await;
    change(&db, &user, &user.deactivated(now()), AuditAction::UserDeactivated).await.unwrap();
    assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), None);
    assert_eq!(db.store.get_invitation(acme.tenant.id, user.id).await.unwrap(), None);
}

async fn purging_an_invited_user_removes_them_with_their_link_and_returns_the_seat(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = invitee(&acme, "new@example.com", Some(kind.id));
    let (invitation, secret) = link_for(&user);
    invite(&db, &user, &invitation).await.unwrap();
    assert_eq!(assigned(&db, &kind).await, 1);

    let actor = Actor::system(acme.tenant.id);
    let audit = AuditEvent::invitation_revoked(&actor, &user, now());
    db.store.purge(acme.tenant.id, &Premises::of(&actor, &user, None), &audit).await.unwrap();
    assert_eq!(stored_user(&db, &user).await, None);
    assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), None);
    assert!(rows_of(&db, "invitations", "user_id", user.id.as_uuid()).await.is_empty());
    assert_eq!(assigned(&db, &kind).await, 0);
    assert_eq!(counts(&db, acme.tenant.id).await, HashMap::from([((Role::Administrator, UserStatus::Active), 1)]));
    assert_eq!(events(&db, acme.tenant.id, AuditAction::InvitationRevoked).await, vec![audit]);
}

async fn only_links_still_working_at_the_instant_are_counted_pending_per_tenant(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let at = now();
    invited(&db, &acme, "live1@example.com").await;
    invited_until(&db, &acme, "live2@example.com", at + chrono::Duration::seconds(1)).await;
    invited_until(&db, &acme, "past@example.com", days_ago(1)).await;
    invited_until(&db, &acme, "boundary@example.com", at).await;
    invited(&db, &globex, "theirs@example.com").await;
    assert_eq!(db.store.count_pending(acme.tenant.id, at).await.unwrap(), 2);
    assert_eq!(db.store.count_pending(globex.tenant.id, at).await.unwrap(), 1);
    assert_eq!(db.store.count_pending(acme.tenant.id, at + chrono::Duration::days(8)).await.unwrap(), 0);
    assert_eq!(db.store.count_pending(TenantId::new(), at).await.unwrap(), 0);
}

/// Who is invited how in `acme`, judged at `at`; `globex` has invitees of both kinds too.
struct InvitationStates {
    acme: TenantId,
    at: Timestamp,
    pending: Vec<UserId>,
    expired: Vec<UserId>,
}

async fn invitation_states(db: &TestDatabase) -> InvitationStates {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let at = now();
    add(&db.store, &acme, "active@example.com", Role::User).await;
    let live = [invited(db, &acme, "live1@example.com").await, invited(db, &acme, "live2@example.com").await];
    let past = invited_until(db, &acme, "past@example.com", days_ago(1)).await;
    let boundary = invited_until(db, &acme, "boundary@example.com", at).await;
    // Deactivated then reactivated before accepting: invited again, with no link.
    let linkless = invited(db, &acme, "linkless@example.com").await.user;
    let deactivated = linkless.deactivated(now());
    change(db, &linkless, &deactivated, AuditAction::UserDeactivated).await.unwrap();
    let reactivated = deactivated.reactivated(now());
    assert_eq!(reactivated.status, UserStatus::Invited);
    change(db, &deactivated, &reactivated, AuditAction::UserReactivated).await.unwrap();
    // Accepted: active, never listed as invited.
    let joined = invited(db, &acme, "joined@example.com").await;
    accept(db, &joined.secret.hash(), &joined.user).await.unwrap();
    invited(db, &globex, "theirs-live@example.com").await;
    invited_until(db, &globex, "theirs-past@example.com", days_ago(1)).await;
    InvitationStates {
        acme: acme.tenant.id,
        at,
        pending: live.iter().map(|i| i.user.id).collect(),
        expired: vec![past.user.id, boundary.user.id, linkless.id],
    }
}

/// The ids (sorted) and total of the users of `tenant` whose invitation is in `state` at `at`.
async fn listed(
    db: &TestDatabase,
    tenant: TenantId,
    state: InvitationState,
    at: Timestamp,
) -> (Vec<UserId>, Option<Total>) {
    let filter = UserFilter { invitation: Some(InvitationFilter { state, at }), ..UserFilter::default() };
    let query = UserQuery { filter, ..UserQuery::default() };
    let page = UserRepository::list(&db.store, tenant, &query).await.unwrap();
    (sorted(page.items.iter().map(|user| user.id).collect()), page.total)
}

fn sorted(mut ids: Vec<UserId>) -> Vec<UserId> {
    ids.sort_by_key(|id| id.to_string());
    ids
}

async fn the_user_list_filters_invited_users_with_a_working_link(db: TestDatabase) {
    let s = invitation_states(&db).await;
    let (ids, total) = listed(&db, s.acme, InvitationState::Pending, s.at).await;
    assert_eq!(ids, sorted(s.pending));
    assert_eq!(total, Some(Total { count: 2, exact: true }));
}

async fn the_user_list_filters_invited_users_with_an_expired_link_or_none(db: TestDatabase) {
    let s = invitation_states(&db).await;
    let (ids, total) = listed(&db, s.acme, InvitationState::Expired, s.at).await;
    assert_eq!(ids, sorted(s.expired));
    assert_eq!(total, Some(Total { count: 3, exact: true }));
}

async fn a_new_tenant_gives_invitation_links_seven_days(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let stored = db.store.get_tenant(acme.tenant.id).await.unwrap().expect("tenant stored");
    assert_eq!(stored.settings.invitation_ttl, InvitationTtl::DEFAULT);
    assert_eq!(stored.settings.invitation_ttl.seconds(), 7 * 24 * 3600);
}

/// Stores `settings` for `created`'s tenant in place of those stored now, re-checking `actor`;
/// returns the audit event.
async fn update_settings(
    db: &TestDatabase,
    created: &CreatedTenant,
    actor: &Actor,
    settings: TenantSettings,
) -> Result<AuditEvent, StoreError> {
    let stored = db.store.get_tenant(created.tenant.id).await.unwrap();
    let before = stored.map_or(created.tenant.settings, |tenant| tenant.settings);
    let audit = AuditEvent::tenant_settings_changed(actor, &created.tenant, &before, &settings, now());
    db.store.update_settings(created.tenant.id, &before, &settings, acting(actor), &audit).await.map(|()| audit)
}

fn lifetime(seconds: u64) -> TenantSettings {
    TenantSettings { invitation_ttl: InvitationTtl::from_seconds(seconds).unwrap(), default_budget: None }
}

async fn updated_tenant_settings_are_stored_with_their_audit_event(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let system = Actor::system(acme.tenant.id);
    let mut recorded = Vec::new();
    for seconds in [3600, u64::from(InvitationTtl::MAX_SECONDS)] {
        recorded.push(update_settings(&db, &acme, &system, lifetime(seconds)).await.unwrap());
        let stored = db.store.get_tenant(acme.tenant.id).await.unwrap().expect("tenant stored");
        assert_eq!(stored.settings, lifetime(seconds));
        assert_eq!((stored.name, stored.created_at), (acme.tenant.name.clone(), acme.tenant.created_at));
    }
    let mut listed = events(&db, acme.tenant.id, AuditAction::TenantSettingsChanged).await;
    listed.sort_by_key(|event| event.after.as_ref().map(ToString::to_string));
    recorded.sort_by_key(|event| event.after.as_ref().map(ToString::to_string));
    assert_eq!(listed, recorded);
    let theirs = db.store.get_tenant(globex.tenant.id).await.unwrap().expect("tenant stored");
    assert_eq!(theirs.settings, TenantSettings::default());
}

async fn a_settings_change_by_an_actor_no_longer_administrator_is_actor_changed_and_changes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let former = add(&db.store, &acme, "former@example.com", Role::Administrator).await;
    change(&db, &former, &former.deactivated(now()), AuditAction::UserDeactivated).await.unwrap();
    let actor = Actor::user(acme.tenant.id, former.id, former.email.clone(), Role::Administrator);
    let result = update_settings(&db, &acme, &actor, lifetime(3600)).await;
    assert!(matches!(result, Err(StoreError::ActorChanged)), "{result:?}");
    let stored = db.store.get_tenant(acme.tenant.id).await.unwrap().expect("tenant stored");
    assert_eq!(stored.settings, TenantSettings::default());
    assert_eq!(events(&db, acme.tenant.id, AuditAction::TenantSettingsChanged).await, vec![]);
}

async fn settings_changed_since_they_were_read_are_stale_and_not_overwritten(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let system = Actor::system(acme.tenant.id);
    update_settings(&db, &acme, &system, lifetime(3600)).await.unwrap();
    let read_before = TenantSettings::default();
    let audit = AuditEvent::tenant_settings_changed(&system, &acme.tenant, &read_before, &lifetime(7200), now());

    let result = db.store.update_settings(acme.tenant.id, &read_before, &lifetime(7200), None, &audit).await;

    assert!(matches!(result, Err(StoreError::Stale)), "{result:?}");
    let stored = db.store.get_tenant(acme.tenant.id).await.unwrap().expect("tenant stored");
    assert_eq!(stored.settings, lifetime(3600), "the change made meanwhile is kept");
    assert_eq!(events(&db, acme.tenant.id, AuditAction::TenantSettingsChanged).await.len(), 1);
}

async fn updating_the_settings_of_an_unknown_tenant_is_not_found(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let mut ghost = acme;
    ghost.tenant.id = TenantId::new();
    let result = update_settings(&db, &ghost, &Actor::system(ghost.tenant.id), lifetime(3600)).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    assert_eq!(db.store.get_tenant(ghost.tenant.id).await.unwrap(), None);
}

on_both_databases!(
    an_invitation_is_stored_with_its_invited_user_and_audit_event,
    invitations_are_read_within_their_tenant_and_for_users_who_have_one,
    the_invitations_table_holds_the_hash_of_the_link_never_its_secret,
    an_invitation_holding_a_license_reserves_a_seat,
    inviting_into_a_full_kind_is_no_seats_and_writes_nothing,
    inviting_a_taken_email_in_any_letter_case_is_email_taken_and_writes_nothing,
    inviting_with_an_unknown_license_is_license_not_found_and_writes_nothing,
    an_invitation_by_an_actor_no_longer_administrator_is_actor_changed_and_writes_nothing,
    reissuing_replaces_the_link,
    a_reissue_decided_on_a_stale_version_is_stale_and_keeps_the_old_link,
    reissuing_for_an_unknown_user_is_not_found_and_writes_nothing,
    a_recorded_delivery_is_stored_on_the_current_link,
    a_delivery_recorded_for_a_replaced_link_changes_nothing,
    a_delivery_recorded_through_another_tenant_changes_nothing,
    accepting_activates_the_user_consumes_the_link_and_starts_a_working_session,
    a_used_link_cannot_be_accepted_again,
    two_concurrent_accepts_of_one_link_succeed_once,
    a_replaced_link_cannot_be_accepted,
    a_revoked_link_cannot_be_accepted,
    a_link_accepts_only_its_own_user,
    deactivating_an_invited_user_kills_their_link,
    purging_an_invited_user_removes_them_with_their_link_and_returns_the_seat,
    only_links_still_working_at_the_instant_are_counted_pending_per_tenant,
    the_user_list_filters_invited_users_with_a_working_link,
    the_user_list_filters_invited_users_with_an_expired_link_or_none,
    a_new_tenant_gives_invitation_links_seven_days,
    updated_tenant_settings_are_stored_with_their_audit_event,
    a_settings_change_by_an_actor_no_longer_administrator_is_actor_changed_and_changes_nothing,
    settings_changed_since_they_were_read_are_stale_and_not_overwritten,
    updating_the_settings_of_an_unknown_tenant_is_not_found,
);
