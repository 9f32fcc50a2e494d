//! The premises of governed changes are re-checked atomically, also under races.

use std::sync::Arc;

use futures::future::join_all;
use roster_domain::governance;
use roster_domain::ports::SystemClock;
use roster_domain::ports::{AuditLog as _, UserRepository as _};
use roster_domain::services::UserService;
use roster_domain::user::ProfileChanges;
use roster_domain::{
    Actor, AuditAction, AuditEvent, AuditQuery, PersonName, Phone, Premises, Role, StoreError, User, UserStatus,
};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;

use crate::fixtures::{add, fail_next_insert_once, now, tenant};

/// Deactivates `target` on behalf of `actor`, with the premises the domain would compute.
async fn deactivate(db: &TestDatabase, actor: &Actor, target: &User) -> Result<(), StoreError> {
    let after = target.deactivated(now());
    let premises = Premises::of(actor, target, Some((after.role, after.status)));
    let audit = AuditEvent::user_changed(actor, AuditAction::UserDeactivated, target, &after, now());
    db.store.update(&after, &premises, &audit).await
}

fn actor_of(user: &User) -> Actor {
    Actor::user(user.tenant, user.id, user.email.clone(), user.role)
}

async fn concurrent_deactivations_of_every_administrator_leave_exactly_one(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let mut admins = vec![acme.admin.clone()];
    for i in 0..9 {
        admins.push(add(&db.store, &acme, &format!("admin{i}@example.com"), Role::Administrator).await);
    }
    let system = Actor::system(acme.tenant.id);
    let results = join_all(admins.iter().map(|admin| deactivate(&db, &system, admin))).await;

    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    let refused = results.iter().filter(|r| matches!(r, Err(StoreError::LastAdministrator))).count();
    assert_eq!((succeeded, refused), (9, 1), "{results:?}");
    assert_eq!(db.store.count_active_administrators(acme.tenant.id).await.unwrap(), 1);
}

async fn two_administrators_deactivating_each_other_at_once_leave_one(db: TestDatabase) {
    for round in 0..10 {
        let acme = tenant(&db.store, &format!("acme{round}")).await;
        let first = acme.admin.clone();
        let second = add(&db.store, &acme, "second@example.com", Role::Administrator).await;
        let (first_actor, second_actor) = (actor_of(&first), actor_of(&second));
        let (a, b) = futures::join!(deactivate(&db, &first_actor, &second), deactivate(&db, &second_actor, &first));
        // The loser finds either that its actor was deactivated (stale) or that it would remove
        // the last administrator; never both succeed.
        assert!(a.is_ok() ^ b.is_ok(), "round {round}: {a:?} {b:?}");
        assert_eq!(db.store.count_active_administrators(acme.tenant.id).await.unwrap(), 1);
    }
}

async fn a_change_based_on_a_stale_version_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    let system = Actor::system(acme.tenant.id);
    // Another change lands between the read and the write.
    let renamed = user
        .with_profile(
            ProfileChanges { name: Some(Some(PersonName::parse("New").unwrap())), ..Default::default() },
            now(),
        )
        .unwrap();
    let audit = AuditEvent::user_changed(&system, AuditAction::UserUpdated, &user, &renamed, now());
    db.store
        .update(&renamed, &Premises::of(&system, &user, Some((renamed.role, renamed.status))), &audit)
        .await
        .unwrap();
    let result = deactivate(&db, &system, &user).await;
    assert!(matches!(result, Err(StoreError::Stale)), "{result:?}");
    let stored = db.store.get(acme.tenant.id, user.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.name, stored.version), (UserStatus::Active, renamed.name, 1));
    let query = AuditQuery { action: Some(AuditAction::UserDeactivated), ..AuditQuery::default() };
    assert!(db.store.list_events(acme.tenant.id, &query).await.unwrap().items.is_empty());
}

async fn concurrent_edits_of_one_user_are_never_lost(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let service = UserService::new(Arc::new(db.store.clone()), Arc::new(SystemClock));
    let admin = actor_of(&acme.admin);
    for round in 0..10 {
        let user = add(&db.store, &acme, &format!("u{round}@example.com"), Role::User).await;
        let rename = ProfileChanges { name: Some(Some(PersonName::parse("Named").unwrap())), ..Default::default() };
        let phone = ProfileChanges { phone: Some(Some(Phone::parse("+33612345678").unwrap())), ..Default::default() };
        let (a, b, c) = futures::join!(
            service.update_profile(&admin, user.id, rename),
            service.update_profile(&admin, user.id, phone),
            service.change_role(&admin, user.id, Role::Collaborator),
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
        let stored = db.store.get(acme.tenant.id, user.id).await.unwrap().unwrap();
        assert_eq!(stored.name.as_ref().map(PersonName::as_str), Some("Named"), "round {round}");
        assert_eq!(stored.phone.as_ref().map(Phone::as_str), Some("+33612345678"), "round {round}");
        assert_eq!((stored.role, stored.version), (Role::Collaborator, 3), "round {round}");
    }
}

async fn an_actor_demoted_meanwhile_cannot_complete_a_change(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let collaborator = add(&db.store, &acme, "c@example.com", Role::Collaborator).await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    // The actor authenticated as an administrator, but is a collaborator by now.
    let stale_actor = Actor::user(acme.tenant.id, collaborator.id, collaborator.email.clone(), Role::Administrator);
    let result = deactivate(&db, &stale_actor, &user).await;
    assert!(matches!(result, Err(StoreError::ActorChanged)), "{result:?}");
    let new = crate::fixtures::user_of(&acme, "n@example.com", Role::Administrator, now());
    let audit = AuditEvent::user_created(&stale_actor, &new, now());
    let result = db.store.insert(&new, governance::acting(&stale_actor), &audit).await;
    assert!(matches!(result, Err(StoreError::ActorChanged)), "{result:?}");
    assert_eq!(db.store.get(acme.tenant.id, new.id).await.unwrap(), None);
}

async fn an_actor_deactivated_meanwhile_cannot_complete_a_change(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let collaborator = add(&db.store, &acme, "c@example.com", Role::Collaborator).await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    deactivate(&db, &Actor::system(acme.tenant.id), &collaborator).await.unwrap();
    let result = deactivate(&db, &actor_of(&collaborator), &user).await;
    assert!(matches!(result, Err(StoreError::ActorChanged)), "{result:?}");
}

async fn the_last_administrator_cannot_be_purged_even_by_the_system(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let system = Actor::system(acme.tenant.id);
    let premises = Premises::of(&system, &acme.admin, None);
    let audit = AuditEvent::user_purged(&system, &acme.admin, now());
    let result = db.store.purge(acme.tenant.id, &premises, &audit).await;
    assert!(matches!(result, Err(StoreError::LastAdministrator)), "{result:?}");
    assert!(db.store.get(acme.tenant.id, acme.admin.id).await.unwrap().is_some());
}

on_both_databases!(
    concurrent_deactivations_of_every_administrator_leave_exactly_one,
    two_administrators_deactivating_each_other_at_once_leave_one,
    a_change_based_on_a_stale_version_writes_nothing,
    concurrent_edits_of_one_user_are_never_lost,
    an_actor_demoted_meanwhile_cannot_complete_a_change,
    an_actor_deactivated_meanwhile_cannot_complete_a_change,
    the_last_administrator_cannot_be_purged_even_by_the_system,
);

/// PostgreSQL: a purge that the database fails to break a deadlock (with the gateway's writes
/// for the user) runs again, once.
#[tokio::test]
async fn a_purge_failed_by_a_deadlock_runs_again_once() {
    roster_storage::testing::on_postgres(|db: TestDatabase| async move {
        let acme = tenant(&db.store, "acme").await;
        let user = add(&db.store, &acme, "u@example.com", Role::User).await;
        let system = Actor::system(acme.tenant.id);
        fail_next_insert_once(&db, "audit_events", "40P01").await;
        let audit = AuditEvent::user_purged(&system, &user, now());
        db.store.purge(acme.tenant.id, &Premises::of(&system, &user, None), &audit).await.unwrap();
        assert!(db.store.get(acme.tenant.id, user.id).await.unwrap().is_none());
    })
    .await;
}
