//! Storing, reading and updating users.

use roster_domain::ports::{AuditLog as _, UserRepository as _};
use roster_domain::user::NewUser;
use roster_domain::{
    Actor, AuditAction, AuditEvent, AuditQuery, Email, PersonName, Phone, Premises, ReferralCode, Role, StoreError,
    TenantId, User, UserId, UserSource,
};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;

use crate::fixtures::{add, now, tenant, user_of};

async fn a_duplicate_email_in_other_letter_case_is_the_email_taken_error(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    add(&db.store, &acme, "dup@example.com", Role::User).await;
    // Email::parse lowercases; the unique index must hold even for a row written in other case
    // by the domain's own constructor, so go through it.
    let twin = user_of(&acme, "DUP@Example.COM", Role::User, now());
    let audit = AuditEvent::user_created(&Actor::system(acme.tenant.id), &twin, now());
    let result = db.store.insert(&twin, None, &audit).await;
    assert!(matches!(result, Err(StoreError::EmailTaken)), "{result:?}");
}

async fn a_refused_insert_leaves_no_audit_event(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    add(&db.store, &acme, "dup@example.com", Role::User).await;
    let twin = user_of(&acme, "dup@example.com", Role::User, now());
    let audit = AuditEvent::user_created(&Actor::system(acme.tenant.id), &twin, now());
    assert!(db.store.insert(&twin, None, &audit).await.is_err());
    let query = AuditQuery { target: Some(twin.id.into()), ..AuditQuery::default() };
    assert!(db.store.list_events(acme.tenant.id, &query).await.unwrap().items.is_empty());
}

async fn the_same_email_may_exist_in_two_tenants(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    add(&db.store, &acme, "same@example.com", Role::User).await;
    add(&db.store, &globex, "same@example.com", Role::User).await;
}

async fn a_user_round_trips_with_every_field(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let new = NewUser {
        email: Email::parse("full@example.com").unwrap(),
        name: Some(PersonName::parse("Zoë O'Brien, Jr.").unwrap()),
        phone: Some(Phone::parse("+33 6 12 34 56 78").unwrap()),
        role: Role::Collaborator,
        referral_code: Some(ReferralCode::parse("SPRING-26").unwrap()),
    };
    let mut user = User::create(acme.tenant.id, new, UserSource::Imported, now());
    user.last_active_at = Some(now());
    crate::fixtures::insert(&db.store, &user).await;
    assert_eq!(db.store.get(acme.tenant.id, user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(db.store.find_by_email(acme.tenant.id, &user.email).await.unwrap(), Some(user));
}

async fn reads_never_cross_tenants(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let user = add(&db.store, &acme, "mine@example.com", Role::User).await;
    assert_eq!(db.store.get(globex.tenant.id, user.id).await.unwrap(), None);
    assert_eq!(db.store.find_by_email(globex.tenant.id, &user.email).await.unwrap(), None);
    assert_eq!(db.store.get(TenantId::new(), user.id).await.unwrap(), None);
}

async fn an_update_stores_the_new_state_with_its_audit_event(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    let actor = Actor::system(acme.tenant.id);
    let after = user.with_role(Role::Collaborator, now());
    let premises = Premises::of(&actor, &user, Some((after.role, after.status)));
    let audit = AuditEvent::user_changed(&actor, AuditAction::UserRoleChanged, &user, &after, now());
    db.store.update(&after, &premises, &audit).await.unwrap();
    assert_eq!(db.store.get(acme.tenant.id, user.id).await.unwrap(), Some(after));
    let query = AuditQuery {
        target: Some(user.id.into()),
        action: Some(AuditAction::UserRoleChanged),
        ..AuditQuery::default()
    };
    let events = db.store.list_events(acme.tenant.id, &query).await.unwrap().items;
    assert_eq!(events, vec![audit]);
}

async fn updating_an_unknown_user_is_not_found(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ghost = user_of(&acme, "ghost@example.com", Role::User, now());
    let actor = Actor::system(acme.tenant.id);
    let premises = Premises::of(&actor, &ghost, Some((ghost.role, ghost.status)));
    let audit = AuditEvent::user_changed(&actor, AuditAction::UserUpdated, &ghost, &ghost, now());
    assert!(matches!(db.store.update(&ghost, &premises, &audit).await, Err(StoreError::NotFound)));
    let ghost_id: UserId = ghost.id;
    assert_eq!(db.store.get(acme.tenant.id, ghost_id).await.unwrap(), None);
}

on_both_databases!(
    a_duplicate_email_in_other_letter_case_is_the_email_taken_error,
    a_refused_insert_leaves_no_audit_event,
    the_same_email_may_exist_in_two_tenants,
    a_user_round_trips_with_every_field,
    reads_never_cross_tenants,
    an_update_stores_the_new_state_with_its_audit_event,
    updating_an_unknown_user_is_not_found,
);
