//! The license rules, one behaviour per test, with the ports mocked.

use std::sync::Arc;

use chrono::Utc;

use super::*;
use crate::ports::{
    AccessFacts, BudgetTotals, MockBudgetRepository, MockClock, MockInvitationRepository, MockLicenseRepository,
    MockUserRepository,
};
use crate::services::{AccessService, EntitlementsError, UserService};
use crate::user::NewUser;
use crate::{Capability, Email, HeldLicense, Role, TenantId, UserSource, Violation};

fn tenant() -> TenantId {
    TenantId::from(uuid::Uuid::from_u128(9))
}

fn user(email: &str, role: Role) -> User {
    let new = NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role, referral_code: None };
    User::create(tenant(), new, UserSource::Created, Utc::now())
}

fn actor_of(user: &User) -> Actor {
    Actor::user(user.tenant, user.id, user.email.clone(), user.role)
}

fn kind(name: &str, seats: u64, assigned: u64) -> LicenseKind {
    LicenseKind {
        id: LicenseKindId::new(),
        tenant: tenant(),
        name: LicenseName::parse(name).unwrap(),
        seats: Seats::new(seats).unwrap(),
        assigned,
        created_at: Utc::now(),
    }
}

fn clock() -> Arc<MockClock> {
    let mut clock = MockClock::new();
    clock.expect_now().returning(Utc::now);
    Arc::new(clock)
}

fn service(licenses: MockLicenseRepository, users: MockUserRepository) -> LicenseService {
    LicenseService::new(Arc::new(licenses), Arc::new(users), clock())
}

fn users_knowing(known: &[&User]) -> MockUserRepository {
    let known: Vec<User> = known.iter().map(|u| (*u).clone()).collect();
    let mut users = MockUserRepository::new();
    users.expect_get().returning(move |_, id| Ok(known.iter().find(|u| u.id == id).cloned()));
    users
}

#[tokio::test]
async fn collaborators_and_users_cannot_manage_licenses() {
    for role in [Role::Collaborator, Role::User] {
        let someone = user("s@example.com", role);
        let mut licenses = MockLicenseRepository::new();
        licenses.expect_list().never();
        licenses.expect_create().never();
        let mut users = MockUserRepository::new();
        users.expect_update().never();
        let service = service(licenses, users);
        let forbidden = Violation::MissingCapability(Capability::ManageLicenses);
        assert!(
            matches!(service.list(&actor_of(&someone)).await, Err(ListLicensesError::Forbidden(v)) if v == forbidden)
        );
        let name = LicenseName::parse("Pro").unwrap();
        let created = service.create(&actor_of(&someone), name, Seats::new(1).unwrap()).await;
        assert!(matches!(created, Err(CreateLicenseError::Forbidden(_))));
        let assigned = service.assign(&actor_of(&someone), someone.id, LicenseKindId::new()).await;
        assert!(matches!(assigned, Err(AssignLicenseError::Forbidden(_))));
        assert!(matches!(
            service.unassign(&actor_of(&someone), someone.id).await,
            Err(UnassignLicenseError::Forbidden(_))
        ));
    }
}

#[tokio::test]
async fn assigning_a_seat_stores_the_user_with_the_license_for_storage_to_take_the_seat() {
    let admin = user("a@example.com", Role::Administrator);
    let member = user("u@example.com", Role::User);
    let pro = kind("Pro", 10, 3);
    let pro_id = pro.id;
    let mut users = users_knowing(&[&admin, &member]);
    users
        .expect_update()
        .withf(move |after, premises, audit| {
            after.license == Some(pro_id)
                && premises.version == 0
                && audit.action == AuditAction::UserLicenseChanged
                && audit.after.as_ref().unwrap()["license"] == pro_id.to_string()
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let updated =
        service(MockLicenseRepository::new(), users).assign(&actor_of(&admin), member.id, pro_id).await.unwrap();
    assert_eq!(updated.license, Some(pro_id));
}

#[tokio::test]
async fn a_full_pool_is_reported_with_its_seats_and_assigned_count() {
    let admin = user("a@example.com", Role::Administrator);
    let member = user("u@example.com", Role::User);
    let full = LicenseKindId::new();
    let mut users = users_knowing(&[&admin, &member]);
    users.expect_update().returning(move |_, _, _| Err(StoreError::NoSeats { kind: full, seats: 10, assigned: 10 }));
    let result = service(MockLicenseRepository::new(), users).assign(&actor_of(&admin), member.id, full).await;
    assert!(matches!(result, Err(AssignLicenseError::NoSeats { kind, seats: 10, assigned: 10 }) if kind == full));
}

#[tokio::test]
async fn a_deactivated_user_cannot_be_given_a_seat() {
    let admin = user("a@example.com", Role::Administrator);
    let gone = user("g@example.com", Role::User).deactivated(Utc::now());
    let mut users = users_knowing(&[&admin, &gone]);
    users.expect_update().never();
    let result =
        service(MockLicenseRepository::new(), users).assign(&actor_of(&admin), gone.id, LicenseKindId::new()).await;
    assert!(matches!(result, Err(AssignLicenseError::UserDeactivated)));
}

#[tokio::test]
async fn assigning_the_kind_a_user_holds_writes_nothing() {
    let admin = user("a@example.com", Role::Administrator);
    let pro = LicenseKindId::new();
    let member = user("u@example.com", Role::User).with_license(Some(pro), Utc::now());
    let mut users = users_knowing(&[&admin, &member]);
    users.expect_update().never();
    let result = service(MockLicenseRepository::new(), users).assign(&actor_of(&admin), member.id, pro).await.unwrap();
    assert_eq!(result, member);
}

#[tokio::test]
async fn changing_a_users_kind_is_one_atomic_move() {
    let admin = user("a@example.com", Role::Administrator);
    let (pro, business) = (LicenseKindId::new(), LicenseKindId::new());
    let member = user("u@example.com", Role::User).with_license(Some(pro), Utc::now());
    let mut users = users_knowing(&[&admin, &member]);
    users
        .expect_update()
        .withf(move |after, premises, _| after.license == Some(business) && premises.version == 1)
        .times(1)
        .returning(|_, _, _| Ok(()));
    let moved =
        service(MockLicenseRepository::new(), users).assign(&actor_of(&admin), member.id, business).await.unwrap();
    assert_eq!(moved.license, Some(business));
}

#[tokio::test]
async fn unassigning_returns_the_seat_and_an_unlicensed_user_is_left_alone() {
    let admin = user("a@example.com", Role::Administrator);
    let licensed = user("l@example.com", Role::User).with_license(Some(LicenseKindId::new()), Utc::now());
    let unlicensed = user("n@example.com", Role::User);
    let mut users = users_knowing(&[&admin, &licensed, &unlicensed]);
    users.expect_update().withf(|after, _, _| after.license.is_none()).times(1).returning(|_, _, _| Ok(()));
    let service = service(MockLicenseRepository::new(), users);
    assert_eq!(service.unassign(&actor_of(&admin), licensed.id).await.unwrap().license, None);
    assert_eq!(service.unassign(&actor_of(&admin), unlicensed.id).await.unwrap(), unlicensed);
}

#[tokio::test]
async fn deactivating_a_licensed_user_returns_their_seat() {
    let admin = user("a@example.com", Role::Administrator);
    let member = user("u@example.com", Role::User).with_license(Some(LicenseKindId::new()), Utc::now());
    let mut users = users_knowing(&[&admin, &member]);
    users.expect_update().withf(|after, _, _| after.license.is_none()).times(1).returning(|_, _, _| Ok(()));
    let service = UserService::new(Arc::new(users), clock());
    assert_eq!(service.deactivate(&actor_of(&admin), member.id).await.unwrap().license, None);
}

#[tokio::test]
async fn seats_cannot_shrink_below_the_assigned_count() {
    let admin = user("a@example.com", Role::Administrator);
    let pro = kind("Pro", 10, 7);
    let stored = pro.clone();
    let mut licenses = MockLicenseRepository::new();
    licenses.expect_get().returning(move |_, _| Ok(Some(stored.clone())));
    licenses.expect_update().returning(|_, _, _, _, _| Err(StoreError::SeatsInUse { assigned: 7 }));
    let changes = LicenseChanges { seats: Some(Seats::new(5).unwrap()), ..LicenseChanges::default() };
    let result = service(licenses, MockUserRepository::new()).update(&actor_of(&admin), pro.id, changes).await;
    assert!(matches!(result, Err(UpdateLicenseError::SeatsInUse { assigned: 7 })));
}

#[tokio::test]
async fn a_kind_with_seats_assigned_cannot_be_deleted() {
    let admin = user("a@example.com", Role::Administrator);
    let pro = kind("Pro", 10, 1);
    let stored = pro.clone();
    let mut licenses = MockLicenseRepository::new();
    licenses.expect_get().returning(move |_, _| Ok(Some(stored.clone())));
    licenses.expect_delete().never();
    let result = service(licenses, MockUserRepository::new()).delete(&actor_of(&admin), pro.id).await;
    assert!(matches!(result, Err(DeleteLicenseError::InUse { assigned: 1 })));
}

/// The access service over `licenses`, with 3 pending invitations.
fn access_over(licenses: MockLicenseRepository) -> AccessService {
    let mut invitations = MockInvitationRepository::new();
    invitations.expect_count_pending().returning(|_, _| Ok(3));
    let mut budgets = MockBudgetRepository::new();
    budgets.expect_budget_totals().returning(|_, _| Ok(BudgetTotals::default()));
    AccessService::new(Arc::new(licenses), Arc::new(invitations), Arc::new(budgets), clock())
}

fn access(facts: Option<AccessFacts>) -> AccessService {
    let mut licenses = MockLicenseRepository::new();
    licenses.expect_access_facts().returning(move |_, _, _| Ok(facts.clone()));
    access_over(licenses)
}

#[tokio::test]
async fn only_an_active_licensed_user_has_ai_access() {
    let member = user("u@example.com", Role::User);
    let held = Some(HeldLicense { kind: LicenseKindId::new(), name: LicenseName::parse("Pro").unwrap() });
    for (status, license, expected) in [
        (UserStatus::Active, held.clone(), true),
        (UserStatus::Active, None, false),
        (UserStatus::Invited, held.clone(), false),
        (UserStatus::Deactivated, None, false),
    ] {
        let facts = AccessFacts { role: Role::User, status, license, budget: None };
        let entitlements = access(Some(facts)).entitlements(&actor_of(&member), member.id).await.unwrap();
        assert_eq!(entitlements.ai_access(), expected, "{status:?}");
    }
}

#[tokio::test]
async fn a_user_reads_only_their_own_entitlements() {
    let member = user("u@example.com", Role::User);
    let other = user("o@example.com", Role::User);
    let result = access(None).entitlements(&actor_of(&member), other.id).await;
    assert!(matches!(result, Err(EntitlementsError::Forbidden(_))));
}

#[tokio::test]
async fn the_dashboard_adds_up_the_counters() {
    let admin = user("a@example.com", Role::Administrator);
    let mut licenses = MockLicenseRepository::new();
    licenses.expect_user_counts().returning(|_| {
        Ok(vec![
            (Role::Administrator, UserStatus::Active, 2),
            (Role::Administrator, UserStatus::Deactivated, 1),
            (Role::User, UserStatus::Active, 10),
            (Role::User, UserStatus::Invited, 4),
            (Role::Collaborator, UserStatus::Deactivated, 3),
        ])
    });
    licenses.expect_list().returning(|_| Ok(vec![kind("Pro", 10, 6), kind("Business", 5, 2)]));
    let dashboard = access_over(licenses).dashboard(&actor_of(&admin)).await.unwrap();
    assert_eq!((dashboard.total, dashboard.licensed, dashboard.unlicensed, dashboard.administrators), (20, 8, 8, 2));
    assert_eq!((dashboard.active, dashboard.deactivated), (12, 4));
    assert_eq!((dashboard.pending_invitations, dashboard.expired_invitations), (3, 1), "4 invited, 3 links alive");
}

#[tokio::test]
async fn collaborators_cannot_read_the_dashboard() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let mut licenses = MockLicenseRepository::new();
    licenses.expect_user_counts().never();
    let result = access_over(licenses).dashboard(&actor_of(&collaborator)).await;
    assert!(result.is_err());
}
