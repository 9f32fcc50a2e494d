//! Every governance rule, one behaviour per test, with the ports mocked.

use std::sync::Arc;

use chrono::Utc;

use super::*;
use crate::PersonName;
use crate::ports::{MockClock, MockUserRepository};
use crate::user::NewUser;
use crate::{Capability, TenantId, Violation};

fn tenant() -> TenantId {
    TenantId::from(uuid::Uuid::from_u128(7))
}

fn user(email: &str, role: Role) -> User {
    let new = NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role, referral_code: None };
    User::create(tenant(), new, UserSource::Created, Utc::now())
}

fn actor_of(user: &User) -> Actor {
    Actor::user(user.tenant, user.id, user.email.clone(), user.role)
}

/// A repository that knows `users` and counts the active administrators among them.
fn repository_with(users: &[&User]) -> MockUserRepository {
    let mut repository = MockUserRepository::new();
    let known: Vec<User> = users.iter().map(|u| (*u).clone()).collect();
    let admins = known.iter().filter(|u| u.is_active_administrator()).count() as u64;
    repository.expect_get().returning(move |_, id| Ok(known.iter().find(|u| u.id == id).cloned()));
    repository.expect_count_active_administrators().returning(move |_| Ok(admins));
    repository
}

fn service(repository: MockUserRepository) -> UserService {
    let mut clock = MockClock::new();
    clock.expect_now().returning(Utc::now);
    UserService::new(Arc::new(repository), Arc::new(clock))
}

fn nothing_written(repository: &mut MockUserRepository) {
    repository.expect_update().never();
    repository.expect_purge().never();
    repository.expect_insert().never();
}

#[tokio::test]
async fn a_collaborator_cannot_make_someone_an_administrator() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let member = user("u@example.com", Role::User);
    let mut repository = repository_with(&[&collaborator, &member]);
    nothing_written(&mut repository);
    let result = service(repository).change_role(&actor_of(&collaborator), member.id, Role::Administrator).await;
    assert!(matches!(result, Err(ChangeRoleError::Forbidden(Violation::AdministratorRoleReserved))));
}

#[tokio::test]
async fn a_collaborator_cannot_make_themselves_an_administrator() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let mut repository = repository_with(&[&collaborator]);
    nothing_written(&mut repository);
    let result = service(repository).change_role(&actor_of(&collaborator), collaborator.id, Role::Administrator).await;
    assert!(matches!(result, Err(ChangeRoleError::Forbidden(Violation::AdministratorRoleReserved))));
}

#[tokio::test]
async fn a_collaborator_cannot_create_an_administrator() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let mut repository = MockUserRepository::new();
    nothing_written(&mut repository);
    let new = NewUser {
        email: Email::parse("n@example.com").unwrap(),
        name: None,
        phone: None,
        role: Role::Administrator,
        referral_code: None,
    };
    let result = service(repository).create(&actor_of(&collaborator), new).await;
    assert!(matches!(result, Err(CreateUserError::Forbidden(Violation::AdministratorRoleReserved))));
}

#[tokio::test]
async fn a_collaborator_cannot_remove_the_administrator_role() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let admin = user("a@example.com", Role::Administrator);
    let other_admin = user("b@example.com", Role::Administrator);
    let mut repository = repository_with(&[&collaborator, &admin, &other_admin]);
    nothing_written(&mut repository);
    let result = service(repository).change_role(&actor_of(&collaborator), admin.id, Role::User).await;
    assert!(matches!(result, Err(ChangeRoleError::Forbidden(Violation::AdministratorRoleReserved))));
}

#[tokio::test]
async fn a_collaborator_cannot_deactivate_an_administrator() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let admin = user("a@example.com", Role::Administrator);
    let other_admin = user("b@example.com", Role::Administrator);
    let mut repository = repository_with(&[&collaborator, &admin, &other_admin]);
    nothing_written(&mut repository);
    let result = service(repository).deactivate(&actor_of(&collaborator), admin.id).await;
    assert!(matches!(result, Err(DeactivateUserError::Forbidden(Violation::AdministratorTarget))));
}

#[tokio::test]
async fn a_collaborator_cannot_edit_an_administrators_profile() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let admin = user("a@example.com", Role::Administrator);
    let mut repository = repository_with(&[&collaborator, &admin]);
    nothing_written(&mut repository);
    let changes = ProfileChanges { name: Some(None), ..ProfileChanges::default() };
    let result = service(repository).update_profile(&actor_of(&collaborator), admin.id, changes).await;
    assert!(matches!(result, Err(UpdateProfileError::Forbidden(Violation::AdministratorTarget))));
}

#[tokio::test]
async fn a_collaborator_cannot_reactivate_an_administrator() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let admin = user("a@example.com", Role::Administrator).deactivated(Utc::now());
    let mut repository = repository_with(&[&collaborator, &admin]);
    nothing_written(&mut repository);
    let result = service(repository).reactivate(&actor_of(&collaborator), admin.id).await;
    assert!(matches!(result, Err(ReactivateUserError::Forbidden(Violation::AdministratorTarget))));
}

#[tokio::test]
async fn a_collaborator_cannot_purge_anyone() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let member = user("u@example.com", Role::User);
    let mut repository = repository_with(&[&collaborator, &member]);
    nothing_written(&mut repository);
    let result = service(repository).purge(&actor_of(&collaborator), member.id, "u@example.com").await;
    assert!(matches!(result, Err(PurgeUserError::Forbidden(Violation::MissingCapability(Capability::PurgeUsers)))));
}

#[tokio::test]
async fn an_administrator_cannot_change_their_own_role() {
    let admin = user("a@example.com", Role::Administrator);
    let other_admin = user("b@example.com", Role::Administrator);
    let mut repository = repository_with(&[&admin, &other_admin]);
    nothing_written(&mut repository);
    let result = service(repository).change_role(&actor_of(&admin), admin.id, Role::User).await;
    assert!(matches!(result, Err(ChangeRoleError::Forbidden(Violation::SelfRoleChange))));
}

#[tokio::test]
async fn a_collaborator_cannot_change_their_own_role() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let mut repository = repository_with(&[&collaborator]);
    nothing_written(&mut repository);
    let result = service(repository).change_role(&actor_of(&collaborator), collaborator.id, Role::User).await;
    assert!(matches!(result, Err(ChangeRoleError::Forbidden(Violation::SelfRoleChange))));
}

#[tokio::test]
async fn an_administrator_cannot_deactivate_themselves() {
    let admin = user("a@example.com", Role::Administrator);
    let other_admin = user("b@example.com", Role::Administrator);
    let mut repository = repository_with(&[&admin, &other_admin]);
    nothing_written(&mut repository);
    let result = service(repository).deactivate(&actor_of(&admin), admin.id).await;
    assert!(matches!(result, Err(DeactivateUserError::Forbidden(Violation::SelfDeactivation))));
}

#[tokio::test]
async fn an_administrator_cannot_purge_themselves() {
    let admin = user("a@example.com", Role::Administrator);
    let other_admin = user("b@example.com", Role::Administrator);
    let mut repository = repository_with(&[&admin, &other_admin]);
    nothing_written(&mut repository);
    let result = service(repository).purge(&actor_of(&admin), admin.id, "a@example.com").await;
    assert!(matches!(result, Err(PurgeUserError::Forbidden(Violation::SelfDeletion))));
}

#[tokio::test]
async fn the_last_administrator_cannot_be_demoted() {
    let admin = user("a@example.com", Role::Administrator);
    let mut repository = repository_with(&[&admin]);
    nothing_written(&mut repository);
    let result = service(repository).change_role(&Actor::system(tenant()), admin.id, Role::Collaborator).await;
    assert!(matches!(result, Err(ChangeRoleError::LastAdministrator)));
}

#[tokio::test]
async fn the_last_administrator_cannot_be_deactivated() {
    let admin = user("a@example.com", Role::Administrator);
    let mut repository = repository_with(&[&admin]);
    nothing_written(&mut repository);
    let result = service(repository).deactivate(&Actor::system(tenant()), admin.id).await;
    assert!(matches!(result, Err(DeactivateUserError::LastAdministrator)));
}

#[tokio::test]
async fn the_last_administrator_cannot_be_purged() {
    let admin = user("a@example.com", Role::Administrator);
    let mut repository = repository_with(&[&admin]);
    nothing_written(&mut repository);
    let result = service(repository).purge(&Actor::system(tenant()), admin.id, "a@example.com").await;
    assert!(matches!(result, Err(PurgeUserError::LastAdministrator)));
}

#[tokio::test]
async fn the_last_administrator_demoting_themselves_is_told_they_are_the_last() {
    let admin = user("a@example.com", Role::Administrator);
    let mut repository = repository_with(&[&admin]);
    nothing_written(&mut repository);
    let result = service(repository).change_role(&actor_of(&admin), admin.id, Role::User).await;
    assert!(matches!(result, Err(ChangeRoleError::LastAdministrator)));
}

#[tokio::test]
async fn a_deactivated_administrator_does_not_count_towards_keeping_one() {
    let admin = user("a@example.com", Role::Administrator);
    let dormant = user("d@example.com", Role::Administrator).deactivated(Utc::now());
    let mut repository = repository_with(&[&admin, &dormant]);
    nothing_written(&mut repository);
    let result = service(repository).deactivate(&Actor::system(tenant()), admin.id).await;
    assert!(matches!(result, Err(DeactivateUserError::LastAdministrator)));
}

#[tokio::test]
async fn a_demotion_that_loses_a_race_to_the_last_administrator_rule_is_refused() {
    let admin = user("a@example.com", Role::Administrator);
    let other_admin = user("b@example.com", Role::Administrator);
    let mut repository = repository_with(&[&admin, &other_admin]);
    repository.expect_update().returning(|_, _, _| Err(StoreError::LastAdministrator));
    let result = service(repository).change_role(&actor_of(&admin), other_admin.id, Role::User).await;
    assert!(matches!(result, Err(ChangeRoleError::LastAdministrator)));
}

#[tokio::test]
async fn an_administrator_demoting_another_asks_storage_to_keep_an_administrator() {
    let admin = user("a@example.com", Role::Administrator);
    let other_admin = user("b@example.com", Role::Administrator);
    let (admin_id, target_id) = (admin.id, other_admin.id);
    let mut repository = repository_with(&[&admin, &other_admin]);
    repository
        .expect_update()
        .withf(move |updated, premises, audit| {
            updated.role == Role::Collaborator
                && premises.target == target_id
                && premises.version == 0
                && premises.keep_an_administrator
                && premises.actor == Some((admin_id, Role::Administrator))
                && audit.action == AuditAction::UserRoleChanged
                && audit.before == Some(serde_json::json!({ "role": "administrator" }))
                && audit.after == Some(serde_json::json!({ "role": "collaborator" }))
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let updated = service(repository).change_role(&actor_of(&admin), target_id, Role::Collaborator).await.unwrap();
    assert_eq!(updated.role, Role::Collaborator);
}

#[tokio::test]
async fn a_change_that_keeps_losing_races_is_reported_as_a_conflict_after_three_attempts() {
    let admin = user("a@example.com", Role::Administrator);
    let member = user("u@example.com", Role::User);
    let mut repository = repository_with(&[&admin, &member]);
    repository.expect_update().times(3).returning(|_, _, _| Err(StoreError::Stale));
    let result = service(repository).deactivate(&actor_of(&admin), member.id).await;
    assert!(matches!(result, Err(DeactivateUserError::Conflict)));
}

#[tokio::test]
async fn a_change_that_lost_a_race_is_decided_again_on_the_current_user() {
    let admin = user("a@example.com", Role::Administrator);
    let member = user("u@example.com", Role::User);
    let renamed =
        ProfileChanges { name: Some(Some(PersonName::parse("Renamed").unwrap())), ..ProfileChanges::default() };
    let current = member.with_profile(renamed, Utc::now()).expect("a change");
    let (first, second) = (member.clone(), current.clone());
    let mut repository = MockUserRepository::new();
    let mut reads = mockall::Sequence::new();
    repository.expect_get().times(1).in_sequence(&mut reads).returning(move |_, _| Ok(Some(first.clone())));
    repository.expect_get().times(1).in_sequence(&mut reads).returning(move |_, _| Ok(Some(second.clone())));
    let mut writes = mockall::Sequence::new();
    repository.expect_update().times(1).in_sequence(&mut writes).returning(|_, _, _| Err(StoreError::Stale));
    repository
        .expect_update()
        .times(1)
        .in_sequence(&mut writes)
        .withf(|updated, premises, _| premises.version == 1 && updated.version == 2 && updated.name.is_some())
        .returning(|_, _, _| Ok(()));
    let updated = service(repository).deactivate(&actor_of(&admin), member.id).await.unwrap();
    assert_eq!(updated.status, UserStatus::Deactivated);
    assert_eq!(updated.name, current.name, "the concurrent rename is kept");
}

#[tokio::test]
async fn a_change_decided_again_follows_the_rules_for_the_current_user() {
    let collaborator = user("c@example.com", Role::Collaborator);
    let member = user("u@example.com", Role::User);
    let promoted = member.with_role(Role::Administrator, Utc::now());
    let (first, second) = (member.clone(), promoted.clone());
    let mut repository = MockUserRepository::new();
    let mut reads = mockall::Sequence::new();
    repository.expect_get().times(1).in_sequence(&mut reads).returning(move |_, _| Ok(Some(first.clone())));
    repository.expect_get().times(1).in_sequence(&mut reads).returning(move |_, _| Ok(Some(second.clone())));
    repository.expect_count_active_administrators().returning(|_| Ok(2));
    repository.expect_update().times(1).returning(|_, _, _| Err(StoreError::Stale));
    let result = service(repository).deactivate(&actor_of(&collaborator), member.id).await;
    assert!(matches!(result, Err(DeactivateUserError::Forbidden(Violation::AdministratorTarget))), "{result:?}");
}

#[tokio::test]
async fn a_change_by_an_actor_who_changed_meanwhile_is_a_conflict_without_retry() {
    let admin = user("a@example.com", Role::Administrator);
    let member = user("u@example.com", Role::User);
    let mut repository = repository_with(&[&admin, &member]);
    repository.expect_update().times(1).returning(|_, _, _| Err(StoreError::ActorChanged));
    let result = service(repository).change_role(&actor_of(&admin), member.id, Role::Collaborator).await;
    assert!(matches!(result, Err(ChangeRoleError::Conflict)));
}

#[tokio::test]
async fn a_user_created_by_a_user_carries_the_actor_for_storage_to_recheck() {
    let admin = user("a@example.com", Role::Administrator);
    let admin_id = admin.id;
    let mut repository = MockUserRepository::new();
    repository
        .expect_insert()
        .withf(move |user, acting, audit| {
            *acting == Some((admin_id, Role::Administrator)) && audit.target.id == uuid::Uuid::from(user.id)
        })
        .times(1)
        .returning(|_, _, _| Err(StoreError::ActorChanged));
    let new = NewUser {
        email: Email::parse("n@example.com").unwrap(),
        name: None,
        phone: None,
        role: Role::Administrator,
        referral_code: None,
    };
    let result = service(repository).create(&actor_of(&admin), new).await;
    assert!(matches!(result, Err(CreateUserError::Conflict)));
}

#[tokio::test]
async fn a_user_cannot_see_another_user() {
    let member = user("u@example.com", Role::User);
    let other = user("o@example.com", Role::User);
    let mut repository = MockUserRepository::new();
    repository.expect_get().never();
    let result = service(repository).get(&actor_of(&member), other.id).await;
    assert!(matches!(result, Err(GetUserError::Forbidden(Violation::MissingCapability(Capability::ViewUsers)))));
}

#[tokio::test]
async fn a_user_cannot_list_users() {
    let member = user("u@example.com", Role::User);
    let mut repository = MockUserRepository::new();
    repository.expect_list().never();
    let result = service(repository).list(&actor_of(&member), &UserQuery::default()).await;
    assert!(matches!(result, Err(ListUsersError::Forbidden(_))));
}

#[tokio::test]
async fn a_user_cannot_edit_another_user() {
    let member = user("u@example.com", Role::User);
    let other = user("o@example.com", Role::User);
    let mut repository = repository_with(&[&member, &other]);
    nothing_written(&mut repository);
    let changes = ProfileChanges { name: Some(None), ..ProfileChanges::default() };
    let result = service(repository).update_profile(&actor_of(&member), other.id, changes).await;
    assert!(matches!(
        result,
        Err(UpdateProfileError::Forbidden(Violation::MissingCapability(Capability::ManageUsers)))
    ));
}

#[tokio::test]
async fn a_user_cannot_deactivate_another_user() {
    let member = user("u@example.com", Role::User);
    let other = user("o@example.com", Role::User);
    let mut repository = repository_with(&[&member, &other]);
    nothing_written(&mut repository);
    let result = service(repository).deactivate(&actor_of(&member), other.id).await;
    assert!(matches!(
        result,
        Err(DeactivateUserError::Forbidden(Violation::MissingCapability(Capability::ManageUsers)))
    ));
}

#[tokio::test]
async fn a_user_can_see_and_edit_their_own_profile() {
    let member = user("u@example.com", Role::User);
    let mut repository = repository_with(&[&member]);
    repository
        .expect_update()
        .withf(|updated, premises, audit| {
            updated.name.as_ref().map(PersonName::as_str) == Some("Ursula")
                && !premises.keep_an_administrator
                && audit.action == AuditAction::UserUpdated
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let service = service(repository);
    assert_eq!(service.get(&actor_of(&member), member.id).await.unwrap(), member);
    let changes =
        ProfileChanges { name: Some(Some(PersonName::parse("Ursula").unwrap())), ..ProfileChanges::default() };
    let updated = service.update_profile(&actor_of(&member), member.id, changes).await.unwrap();
    assert_eq!(updated.email, member.email);
}

#[tokio::test]
async fn a_purge_needs_the_users_email_as_confirmation() {
    let admin = user("a@example.com", Role::Administrator);
    let member = user("u@example.com", Role::User);
    let mut repository = repository_with(&[&admin, &member]);
    nothing_written(&mut repository);
    let result = service(repository).purge(&actor_of(&admin), member.id, "someone@example.com").await;
    assert!(matches!(result, Err(PurgeUserError::ConfirmationMismatch)));
}

#[tokio::test]
async fn a_purge_confirmed_in_other_letter_case_proceeds() {
    let admin = user("a@example.com", Role::Administrator);
    let member = user("u@example.com", Role::User);
    let target = member.id;
    let mut repository = repository_with(&[&admin, &member]);
    repository
        .expect_purge()
        .withf(move |_, premises, audit| {
            premises.target == target && audit.action == AuditAction::UserPurged && audit.target.label.is_none()
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    service(repository).purge(&actor_of(&admin), member.id, " U@Example.com").await.unwrap();
}

#[tokio::test]
async fn a_duplicate_email_is_reported_as_taken() {
    let admin = user("a@example.com", Role::Administrator);
    let mut repository = MockUserRepository::new();
    repository.expect_insert().returning(|_, _, _| Err(StoreError::EmailTaken));
    let new = NewUser {
        email: Email::parse("Dup@example.com").unwrap(),
        name: None,
        phone: None,
        role: Role::User,
        referral_code: None,
    };
    let result = service(repository).create(&actor_of(&admin), new).await;
    assert!(matches!(result, Err(CreateUserError::EmailTaken(email)) if email.as_str() == "dup@example.com"));
}

#[tokio::test]
async fn deactivating_a_deactivated_user_writes_nothing() {
    let admin = user("a@example.com", Role::Administrator);
    let gone = user("g@example.com", Role::User).deactivated(Utc::now());
    let mut repository = repository_with(&[&admin, &gone]);
    nothing_written(&mut repository);
    let result = service(repository).deactivate(&actor_of(&admin), gone.id).await.unwrap();
    assert_eq!(result, gone);
}

#[tokio::test]
async fn a_reactivated_user_who_never_accepted_is_invited_again() {
    let admin = user("a@example.com", Role::Administrator);
    let mut invitee = user("i@example.com", Role::User);
    invitee.status = UserStatus::Invited;
    invitee.activated_at = None;
    let invitee = invitee.deactivated(Utc::now());
    let mut repository = repository_with(&[&admin, &invitee]);
    repository.expect_update().times(1).returning(|_, _, _| Ok(()));
    let result = service(repository).reactivate(&actor_of(&admin), invitee.id).await.unwrap();
    assert_eq!(result.status, UserStatus::Invited);
    assert_eq!(result.deactivated_at, None);
}

#[tokio::test]
async fn an_unknown_user_is_not_found() {
    let admin = user("a@example.com", Role::Administrator);
    let repository = repository_with(&[&admin]);
    let result = service(repository).change_role(&actor_of(&admin), UserId::new(), Role::User).await;
    assert!(matches!(result, Err(ChangeRoleError::NotFound)));
}
