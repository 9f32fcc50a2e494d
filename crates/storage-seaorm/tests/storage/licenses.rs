//! License kinds and the seats users hold: `assigned <= seats` always, seats move with users'
//! licenses in the same transaction, also under races.

use std::collections::HashMap;

use futures::future::join_all;
use roster_domain::ports::{AccessFacts, AuditLog as _, LicenseRepository, UserRepository};
use roster_domain::services::CreatedTenant;
use roster_domain::{
    Actor, AuditAction, AuditEvent, AuditQuery, HeldLicense, LicenseChanges, LicenseKind, LicenseKindId, LicenseName,
    Premises, Role, Seats, StoreError, TenantId, Total, User, UserFilter, UserId, UserQuery, UserStatus,
};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use sea_orm::ConnectionTrait as _;

use crate::fixtures::{add, add_license, license_of, now, tenant, user_of};

/// Gives `user` (as last read) a seat of `license`, or none, on behalf of the system.
async fn set_license(db: &TestDatabase, user: &User, license: Option<LicenseKindId>) -> Result<User, StoreError> {
    let actor = Actor::system(user.tenant);
    let after = user.with_license(license, now());
    let premises = Premises::of(&actor, user, Some((after.role, after.status)));
    let audit = AuditEvent::user_changed(&actor, AuditAction::UserLicenseChanged, user, &after, now());
    UserRepository::update(&db.store, &after, &premises, &audit).await.map(|()| after)
}

/// Stores a user of `tenant` holding a seat of `kind`.
async fn add_licensed(db: &TestDatabase, created: &CreatedTenant, email: &str, kind: &LicenseKind) -> User {
    let user = add(&db.store, created, email, Role::User).await;
    set_license(db, &user, Some(kind.id)).await.expect("seat assigned")
}

/// `kind` as stored now.
async fn stored_kind(db: &TestDatabase, kind: &LicenseKind) -> LicenseKind {
    LicenseRepository::get(&db.store, kind.tenant, kind.id).await.unwrap().expect("kind stored")
}

/// The seats of `kind` assigned now.
async fn assigned(db: &TestDatabase, kind: &LicenseKind) -> u64 {
    stored_kind(db, kind).await.assigned
}

/// `user` as stored now.
async fn stored_user(db: &TestDatabase, user: &User) -> User {
    UserRepository::get(&db.store, user.tenant, user.id).await.unwrap().expect("user stored")
}

/// Applies `changes` to `kind` through `tenant`, on behalf of the system.
async fn update_kind(
    db: &TestDatabase,
    tenant: TenantId,
    kind: &LicenseKind,
    changes: LicenseChanges,
) -> Result<LicenseKind, StoreError> {
    let planned = LicenseKind {
        name: changes.name.clone().unwrap_or_else(|| kind.name.clone()),
        seats: changes.seats.unwrap_or(kind.seats),
        ..kind.clone()
    };
    let actor = Actor::system(tenant);
    let audit = AuditEvent::license_updated(&actor, kind, &planned, now());
    LicenseRepository::update(&db.store, tenant, kind.id, &changes, None, &audit).await
}

/// Deletes `kind` through `tenant`, on behalf of the system.
async fn delete_kind(db: &TestDatabase, tenant: TenantId, kind: &LicenseKind) -> Result<(), StoreError> {
    let audit = AuditEvent::license_deleted(&Actor::system(tenant), kind, now());
    LicenseRepository::delete(&db.store, tenant, kind.id, None, &audit).await
}

/// The events of `tenant` with `action`.
async fn events(db: &TestDatabase, tenant: TenantId, action: AuditAction) -> Vec<AuditEvent> {
    let query = AuditQuery { action: Some(action), ..AuditQuery::default() };
    db.store.list_events(tenant, &query).await.unwrap().items
}

fn name(text: &str) -> LicenseName {
    LicenseName::parse(text).unwrap()
}

fn seats(count: u64) -> Seats {
    Seats::new(count).unwrap()
}

async fn a_created_kind_reads_back_with_no_seat_assigned(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Business", 25).await;
    assert_eq!(stored_kind(&db, &kind).await, kind);
    assert_eq!(kind.assigned, 0);
    let created = events(&db, acme.tenant.id, AuditAction::LicenseCreated).await;
    assert_eq!(created.len(), 1);
}

async fn kinds_are_listed_by_name_in_any_letter_case(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let pro = add_license(&db.store, &acme, "Pro", 5).await;
    let business = add_license(&db.store, &acme, "business", 10).await;
    let knowledge = add_license(&db.store, &acme, "Knowledge Only", 0).await;
    add_license(&db.store, &globex, "Another", 1).await;
    let listed = LicenseRepository::list(&db.store, acme.tenant.id).await.unwrap();
    assert_eq!(listed, vec![business, knowledge, pro]);
}

async fn a_kind_name_taken_in_other_letter_case_is_the_license_name_taken_error(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let first = add_license(&db.store, &acme, "Business", 10).await;
    let twin = license_of(&acme, "BUSINESS", 3);
    let audit = AuditEvent::license_created(&Actor::system(acme.tenant.id), &twin, now());
    let result = db.store.create(&twin, None, &audit).await;
    assert!(matches!(result, Err(StoreError::LicenseNameTaken)), "{result:?}");
    assert_eq!(LicenseRepository::list(&db.store, acme.tenant.id).await.unwrap(), vec![first]);
    assert_eq!(events(&db, acme.tenant.id, AuditAction::LicenseCreated).await.len(), 1);
}

async fn the_same_kind_name_may_exist_in_two_tenants(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let mine = add_license(&db.store, &acme, "Business", 10).await;
    let theirs = add_license(&db.store, &globex, "business", 3).await;
    assert_eq!(LicenseRepository::list(&db.store, acme.tenant.id).await.unwrap(), vec![mine]);
    assert_eq!(LicenseRepository::list(&db.store, globex.tenant.id).await.unwrap(), vec![theirs]);
}

async fn assigning_a_license_takes_a_seat(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    let after = set_license(&db, &user, Some(kind.id)).await.unwrap();
    assert_eq!(assigned(&db, &kind).await, 1);
    assert_eq!(stored_user(&db, &user).await, after);
    assert_eq!(events(&db, acme.tenant.id, AuditAction::UserLicenseChanged).await.len(), 1);
}

async fn unassigning_a_license_returns_its_seat(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_licensed(&db, &acme, "u@example.com", &kind).await;
    add_licensed(&db, &acme, "other@example.com", &kind).await;
    set_license(&db, &user, None).await.unwrap();
    assert_eq!(assigned(&db, &kind).await, 1);
    assert_eq!(stored_user(&db, &user).await.license, None);
}

async fn changing_the_kind_moves_exactly_one_seat(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let pro = add_license(&db.store, &acme, "Pro", 5).await;
    let business = add_license(&db.store, &acme, "Business", 5).await;
    let user = add_licensed(&db, &acme, "u@example.com", &pro).await;
    add_licensed(&db, &acme, "other@example.com", &pro).await;
    set_license(&db, &user, Some(business.id)).await.unwrap();
    assert_eq!((assigned(&db, &pro).await, assigned(&db, &business).await), (1, 1));
    assert_eq!(stored_user(&db, &user).await.license, Some(business.id));
}

async fn concurrent_assignments_never_take_more_seats_than_purchased(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 10).await;
    let mut users = Vec::new();
    for i in 0..50 {
        users.push(add(&db.store, &acme, &format!("u{i}@example.com"), Role::User).await);
    }
    let results = join_all(users.iter().map(|user| set_license(&db, user, Some(kind.id)))).await;

    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::NoSeats { kind: k, seats: 10, assigned: 10 }) if *k == kind.id))
        .count();
    assert_eq!((succeeded, refused), (10, 40), "{results:?}");
    let mut holders = 0;
    for user in &users {
        if stored_user(&db, user).await.license == Some(kind.id) {
            holders += 1;
        }
    }
    assert_eq!((assigned(&db, &kind).await, holders), (10, 10));
}

async fn a_new_user_holding_a_license_takes_a_seat_or_is_not_stored(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 1).await;
    let store = &db.store;
    let insert = |email: &str| {
        let mut user = user_of(&acme, email, Role::User, now());
        user.license = Some(kind.id);
        let audit = AuditEvent::user_created(&Actor::system(user.tenant), &user, now());
        async move { UserRepository::insert(store, &user, None, &audit).await.map(|()| user) }
    };
    let first = insert("first@example.com").await.unwrap();
    assert_eq!((assigned(&db, &kind).await, stored_user(&db, &first).await.license), (1, Some(kind.id)));

    let result = insert("second@example.com").await;
    assert!(matches!(result, Err(StoreError::NoSeats { seats: 1, assigned: 1, .. })), "{result:?}");
    let second = roster_domain::Email::parse("second@example.com").unwrap();
    assert!(db.store.find_by_email(acme.tenant.id, &second).await.unwrap().is_none());
    assert_eq!(assigned(&db, &kind).await, 1);
    assert_eq!(events(&db, acme.tenant.id, AuditAction::UserCreated).await.len(), 2, "the admin's and the first's");
}

async fn a_change_to_a_full_kind_keeps_the_seat_held(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let pro = add_license(&db.store, &acme, "Pro", 2).await;
    let business = add_license(&db.store, &acme, "Business", 1).await;
    let user = add_licensed(&db, &acme, "u@example.com", &pro).await;
    add_licensed(&db, &acme, "full@example.com", &business).await;
    let result = set_license(&db, &user, Some(business.id)).await;
    assert!(
        matches!(result, Err(StoreError::NoSeats { kind, seats: 1, assigned: 1 }) if kind == business.id),
        "{result:?}"
    );
    assert_eq!(stored_user(&db, &user).await, user);
    assert_eq!((assigned(&db, &pro).await, assigned(&db, &business).await), (1, 1));
}

async fn assigning_an_unknown_kind_is_license_not_found_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    let result = set_license(&db, &user, Some(LicenseKindId::new())).await;
    assert!(matches!(result, Err(StoreError::LicenseNotFound)), "{result:?}");
    assert_eq!(stored_user(&db, &user).await, user);
    assert!(events(&db, acme.tenant.id, AuditAction::UserLicenseChanged).await.is_empty());
}

async fn assigning_another_tenants_kind_is_license_not_found_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let theirs = add_license(&db.store, &globex, "Pro", 5).await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    let result = set_license(&db, &user, Some(theirs.id)).await;
    assert!(matches!(result, Err(StoreError::LicenseNotFound)), "{result:?}");
    assert_eq!(stored_user(&db, &user).await, user);
    assert_eq!(assigned(&db, &theirs).await, 0);
    assert!(events(&db, acme.tenant.id, AuditAction::UserLicenseChanged).await.is_empty());
}

async fn seats_cannot_shrink_below_the_seats_assigned(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    add_licensed(&db, &acme, "a@example.com", &kind).await;
    add_licensed(&db, &acme, "b@example.com", &kind).await;
    let before = stored_kind(&db, &kind).await;
    let changes = LicenseChanges { name: Some(name("Renamed")), seats: Some(seats(1)) };
    let result = update_kind(&db, acme.tenant.id, &before, changes).await;
    assert!(matches!(result, Err(StoreError::SeatsInUse { assigned: 2 })), "{result:?}");
    assert_eq!(stored_kind(&db, &kind).await, before);
    assert!(events(&db, acme.tenant.id, AuditAction::LicenseUpdated).await.is_empty());
}

async fn seats_may_shrink_to_exactly_the_seats_assigned(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    add_licensed(&db, &acme, "a@example.com", &kind).await;
    add_licensed(&db, &acme, "b@example.com", &kind).await;
    let before = stored_kind(&db, &kind).await;
    let changes = LicenseChanges { seats: Some(seats(2)), ..LicenseChanges::default() };
    let changed = update_kind(&db, acme.tenant.id, &before, changes).await.unwrap();
    assert_eq!((changed.seats, changed.assigned), (seats(2), 2));
    assert_eq!(stored_kind(&db, &kind).await, changed);
    assert_eq!(events(&db, acme.tenant.id, AuditAction::LicenseUpdated).await.len(), 1);
}

async fn a_kind_may_be_renamed_also_in_letter_case_only(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "pro", 5).await;
    let changed =
        update_kind(&db, acme.tenant.id, &kind, LicenseChanges { name: Some(name("PRO")), seats: None }).await.unwrap();
    assert_eq!(changed, LicenseKind { name: name("PRO"), ..kind.clone() });
    let changes = LicenseChanges { name: Some(name("Professional")), seats: None };
    let changed = update_kind(&db, acme.tenant.id, &changed, changes).await.unwrap();
    assert_eq!(stored_kind(&db, &kind).await, LicenseKind { name: name("Professional"), ..kind });
    assert_eq!(changed.name, name("Professional"));
}

async fn renaming_to_another_kinds_name_is_the_license_name_taken_error(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    add_license(&db.store, &acme, "Business", 5).await;
    let pro = add_license(&db.store, &acme, "Pro", 5).await;
    let changes = LicenseChanges { name: Some(name("BUSINESS")), seats: Some(seats(9)) };
    let result = update_kind(&db, acme.tenant.id, &pro, changes).await;
    assert!(matches!(result, Err(StoreError::LicenseNameTaken)), "{result:?}");
    assert_eq!(stored_kind(&db, &pro).await, pro);
    assert!(events(&db, acme.tenant.id, AuditAction::LicenseUpdated).await.is_empty());
}

async fn updating_an_unknown_or_foreign_kind_is_not_found(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let theirs = add_license(&db.store, &globex, "Pro", 5).await;
    let ghost = license_of(&acme, "Ghost", 5);
    for (kind, what) in [(&ghost, "unknown"), (&theirs, "foreign")] {
        let result = update_kind(&db, acme.tenant.id, kind, LicenseChanges { name: None, seats: Some(seats(1)) }).await;
        assert!(matches!(result, Err(StoreError::NotFound)), "{what}: {result:?}");
    }
    assert_eq!(stored_kind(&db, &theirs).await, theirs);
}

async fn a_kind_with_a_seat_assigned_cannot_be_deleted(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    add_licensed(&db, &acme, "u@example.com", &kind).await;
    let result = delete_kind(&db, acme.tenant.id, &kind).await;
    assert!(matches!(result, Err(StoreError::LicenseInUse { assigned: 1 })), "{result:?}");
    assert_eq!(assigned(&db, &kind).await, 1);
    assert!(events(&db, acme.tenant.id, AuditAction::LicenseDeleted).await.is_empty());
}

async fn a_kind_whose_seats_were_all_returned_can_be_deleted(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_licensed(&db, &acme, "u@example.com", &kind).await;
    set_license(&db, &user, None).await.unwrap();
    delete_kind(&db, acme.tenant.id, &kind).await.unwrap();
    assert_eq!(LicenseRepository::get(&db.store, acme.tenant.id, kind.id).await.unwrap(), None);
    assert_eq!(events(&db, acme.tenant.id, AuditAction::LicenseDeleted).await.len(), 1);
}

async fn deleting_an_unknown_or_foreign_kind_is_not_found(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let theirs = add_license(&db.store, &globex, "Pro", 5).await;
    let ghost = license_of(&acme, "Ghost", 5);
    for (kind, what) in [(&ghost, "unknown"), (&theirs, "foreign")] {
        let result = delete_kind(&db, acme.tenant.id, kind).await;
        assert!(matches!(result, Err(StoreError::NotFound)), "{what}: {result:?}");
    }
    assert_eq!(stored_kind(&db, &theirs).await, theirs);
}

async fn deactivating_a_licensed_user_returns_the_seat(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_licensed(&db, &acme, "u@example.com", &kind).await;
    let actor = Actor::system(acme.tenant.id);
    let after = user.deactivated(now());
    let premises = Premises::of(&actor, &user, Some((after.role, after.status)));
    let audit = AuditEvent::user_changed(&actor, AuditAction::UserDeactivated, &user, &after, now());
    UserRepository::update(&db.store, &after, &premises, &audit).await.unwrap();
    assert_eq!(assigned(&db, &kind).await, 0);
    assert_eq!(stored_user(&db, &user).await.license, None);
}

async fn purging_a_licensed_user_returns_the_seat(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_licensed(&db, &acme, "u@example.com", &kind).await;
    let actor = Actor::system(acme.tenant.id);
    let audit = AuditEvent::user_purged(&actor, &user, now());
    db.store.purge(acme.tenant.id, &Premises::of(&actor, &user, None), &audit).await.unwrap();
    assert_eq!(assigned(&db, &kind).await, 0);
    assert_eq!(UserRepository::get(&db.store, acme.tenant.id, user.id).await.unwrap(), None);
}

async fn access_facts_tell_role_status_and_license_in_one_read(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Knowledge Only", 5).await;
    let collaborator = add(&db.store, &acme, "c@example.com", Role::Collaborator).await;
    set_license(&db, &collaborator, Some(kind.id)).await.unwrap();
    let facts = db.store.access_facts(acme.tenant.id, collaborator.id, now()).await.unwrap();
    let license = Some(HeldLicense { kind: kind.id, name: name("Knowledge Only") });
    assert_eq!(
        facts,
        Some(AccessFacts { role: Role::Collaborator, status: UserStatus::Active, license, budget: None })
    );
    let facts = db.store.access_facts(acme.tenant.id, acme.admin.id, now()).await.unwrap();
    assert_eq!(
        facts,
        Some(AccessFacts { role: Role::Administrator, status: UserStatus::Active, license: None, budget: None })
    );
}

async fn access_facts_of_an_unknown_or_foreign_user_are_none(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_licensed(&db, &acme, "u@example.com", &kind).await;
    assert_eq!(db.store.access_facts(acme.tenant.id, UserId::new(), now()).await.unwrap(), None);
    assert_eq!(db.store.access_facts(globex.tenant.id, user.id, now()).await.unwrap(), None);
}

/// The user counts of `tenant`, without the (role, status) pairs that count nobody.
async fn counts(db: &TestDatabase, tenant: TenantId) -> HashMap<(Role, UserStatus), u64> {
    let counts = db.store.user_counts(tenant).await.unwrap();
    counts.into_iter().filter(|(_, _, n)| *n > 0).map(|(role, status, n)| ((role, status), n)).collect()
}

async fn user_counts_follow_inserts_role_changes_deactivations_and_purges(db: TestDatabase) {
    use UserStatus::{Active, Deactivated};
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    add(&db.store, &globex, "elsewhere@example.com", Role::User).await;
    let promoted = add(&db.store, &acme, "p@example.com", Role::User).await;
    let leaving = add(&db.store, &acme, "l@example.com", Role::User).await;
    let purged = add(&db.store, &acme, "c@example.com", Role::Collaborator).await;
    let expected = HashMap::from([
        ((Role::Administrator, Active), 1),
        ((Role::User, Active), 2),
        ((Role::Collaborator, Active), 1),
    ]);
    assert_eq!(counts(&db, acme.tenant.id).await, expected);

    let actor = Actor::system(acme.tenant.id);
    for (before, after, action) in [
        (&promoted, promoted.with_role(Role::Collaborator, now()), AuditAction::UserRoleChanged),
        (&leaving, leaving.deactivated(now()), AuditAction::UserDeactivated),
    ] {
        let premises = Premises::of(&actor, before, Some((after.role, after.status)));
        let audit = AuditEvent::user_changed(&actor, action, before, &after, now());
        UserRepository::update(&db.store, &after, &premises, &audit).await.unwrap();
    }
    let audit = AuditEvent::user_purged(&actor, &purged, now());
    db.store.purge(acme.tenant.id, &Premises::of(&actor, &purged, None), &audit).await.unwrap();
    let expected = HashMap::from([
        ((Role::Administrator, Active), 1),
        ((Role::Collaborator, Active), 1),
        ((Role::User, Deactivated), 1),
    ]);
    assert_eq!(counts(&db, acme.tenant.id).await, expected);

    let left = stored_user(&db, &leaving).await;
    let audit = AuditEvent::user_purged(&actor, &left, now());
    db.store.purge(acme.tenant.id, &Premises::of(&actor, &left, None), &audit).await.unwrap();
    let expected = HashMap::from([((Role::Administrator, Active), 1), ((Role::Collaborator, Active), 1)]);
    assert_eq!(counts(&db, acme.tenant.id).await, expected);
    let theirs = HashMap::from([((Role::Administrator, Active), 1), ((Role::User, Active), 1)]);
    assert_eq!(counts(&db, globex.tenant.id).await, theirs);
}

async fn the_database_itself_refuses_more_seats_assigned_than_purchased(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 3).await;
    let connection = db.store.connection();
    // The statement is valid: up to the seats, the database accepts it.
    connection.execute_unprepared("UPDATE license_kinds SET assigned = seats").await.unwrap();
    let result = connection.execute_unprepared("UPDATE license_kinds SET assigned = seats + 1").await;
    let error = result.expect_err("over-assignment refused").to_string();
    assert!(error.to_lowercase().contains("check constraint"), "{error}");
    assert_eq!(assigned(&db, &kind).await, 3);
}

/// Who holds which seat in `acme`, and a licensed user of another tenant.
struct Holders {
    acme: CreatedTenant,
    pro: LicenseKind,
    on_pro: Vec<UserId>,
    on_business: UserId,
    unlicensed: Vec<UserId>,
}

async fn holders(db: &TestDatabase) -> Holders {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let pro = add_license(&db.store, &acme, "Pro", 5).await;
    let business = add_license(&db.store, &acme, "Business", 5).await;
    let theirs = add_license(&db.store, &globex, "Pro", 5).await;
    add_licensed(db, &globex, "foreign@example.com", &theirs).await;
    let on_pro = vec![
        add_licensed(db, &acme, "p1@example.com", &pro).await.id,
        add_licensed(db, &acme, "p2@example.com", &pro).await.id,
    ];
    let on_business = add_licensed(db, &acme, "b@example.com", &business).await.id;
    let never = add(&db.store, &acme, "n@example.com", Role::User).await;
    // A deactivated user's seat went back: they count as unlicensed.
    let gone = add_licensed(db, &acme, "gone@example.com", &pro).await;
    let actor = Actor::system(acme.tenant.id);
    let after = gone.deactivated(now());
    let audit = AuditEvent::user_changed(&actor, AuditAction::UserDeactivated, &gone, &after, now());
    let premises = Premises::of(&actor, &gone, Some((after.role, after.status)));
    UserRepository::update(&db.store, &after, &premises, &audit).await.unwrap();
    let unlicensed = vec![acme.admin.id, never.id, gone.id];
    Holders { acme, pro, on_pro, on_business, unlicensed }
}

/// The ids (sorted) and total of the users of `tenant` that pass `filter`.
async fn listed(db: &TestDatabase, tenant: TenantId, filter: UserFilter) -> (Vec<UserId>, Option<Total>) {
    let query = UserQuery { filter, ..UserQuery::default() };
    let page = UserRepository::list(&db.store, tenant, &query).await.unwrap();
    let mut ids: Vec<UserId> = page.items.iter().map(|user| user.id).collect();
    ids.sort_by_key(|id| id.to_string());
    (ids, page.total)
}

fn sorted(mut ids: Vec<UserId>) -> Vec<UserId> {
    ids.sort_by_key(|id| id.to_string());
    ids
}

async fn the_user_list_filters_by_license_kind(db: TestDatabase) {
    let h = holders(&db).await;
    let filter = UserFilter { license: Some(h.pro.id), ..UserFilter::default() };
    let (ids, total) = listed(&db, h.acme.tenant.id, filter).await;
    assert_eq!(ids, sorted(h.on_pro));
    assert_eq!(total, Some(Total { count: 2, exact: true }));
}

async fn the_user_list_filters_licensed_users(db: TestDatabase) {
    let h = holders(&db).await;
    let filter = UserFilter { licensed: Some(true), ..UserFilter::default() };
    let (ids, total) = listed(&db, h.acme.tenant.id, filter).await;
    assert_eq!(ids, sorted([h.on_pro, vec![h.on_business]].concat()));
    assert_eq!(total, Some(Total { count: 3, exact: true }));
}

async fn the_user_list_filters_unlicensed_users(db: TestDatabase) {
    let h = holders(&db).await;
    let filter = UserFilter { licensed: Some(false), ..UserFilter::default() };
    let (ids, total) = listed(&db, h.acme.tenant.id, filter).await;
    assert_eq!(ids, sorted(h.unlicensed));
    assert_eq!(total, Some(Total { count: 3, exact: true }));
}

on_both_databases!(
    a_created_kind_reads_back_with_no_seat_assigned,
    kinds_are_listed_by_name_in_any_letter_case,
    a_kind_name_taken_in_other_letter_case_is_the_license_name_taken_error,
    the_same_kind_name_may_exist_in_two_tenants,
    assigning_a_license_takes_a_seat,
    unassigning_a_license_returns_its_seat,
    changing_the_kind_moves_exactly_one_seat,
    concurrent_assignments_never_take_more_seats_than_purchased,
    a_new_user_holding_a_license_takes_a_seat_or_is_not_stored,
    a_change_to_a_full_kind_keeps_the_seat_held,
    assigning_an_unknown_kind_is_license_not_found_and_writes_nothing,
    assigning_another_tenants_kind_is_license_not_found_and_writes_nothing,
    seats_cannot_shrink_below_the_seats_assigned,
    seats_may_shrink_to_exactly_the_seats_assigned,
    a_kind_may_be_renamed_also_in_letter_case_only,
    renaming_to_another_kinds_name_is_the_license_name_taken_error,
    updating_an_unknown_or_foreign_kind_is_not_found,
    a_kind_with_a_seat_assigned_cannot_be_deleted,
    a_kind_whose_seats_were_all_returned_can_be_deleted,
    deleting_an_unknown_or_foreign_kind_is_not_found,
    deactivating_a_licensed_user_returns_the_seat,
    purging_a_licensed_user_returns_the_seat,
    access_facts_tell_role_status_and_license_in_one_read,
    access_facts_of_an_unknown_or_foreign_user_are_none,
    user_counts_follow_inserts_role_changes_deactivations_and_purges,
    the_database_itself_refuses_more_seats_assigned_than_purchased,
    the_user_list_filters_by_license_kind,
    the_user_list_filters_licensed_users,
    the_user_list_filters_unlicensed_users,
);
