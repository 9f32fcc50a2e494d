//! `record_activity`: `last_active_at` written in batches, only ever forward, nothing else
//! touched.

use chrono::Duration;
use roster_domain::ports::UserRepository as _;
use roster_domain::{AuditAction, Role, User, UserId};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;

use crate::fixtures::{add, change, now, tenant};

async fn stored(db: &TestDatabase, user: &User) -> User {
    db.store.get(user.tenant, user.id).await.unwrap().expect("the user is stored")
}

async fn activity_moves_last_active_at_forward_only_and_nothing_else(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@acme.test", Role::User).await;
    let bob = add(&db.store, &acme, "bob@acme.test", Role::Collaborator).await;
    let before = stored(&db, &ada).await;
    assert_eq!(before.last_active_at, None);
    let (early, late) = (now() - Duration::minutes(5), now());

    db.store.record_activity(&[(ada.id, late), (UserId::new(), late)]).await.unwrap();
    let after = stored(&db, &ada).await;
    assert_eq!(after.last_active_at, Some(late));
    assert_eq!(after, User { last_active_at: Some(late), ..before }, "no version or updated_at change");
    assert_eq!(stored(&db, &bob).await.last_active_at, None, "only the users listed");

    db.store.record_activity(&[(ada.id, early), (bob.id, early)]).await.unwrap();
    assert_eq!(stored(&db, &ada).await.last_active_at, Some(late), "an earlier use never goes back");
    assert_eq!(stored(&db, &bob).await.last_active_at, Some(early));
}

async fn activity_of_more_users_than_one_statement_carries_is_written_whole(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let mut users = Vec::new();
    for i in 0..1_203 {
        users.push(add(&db.store, &acme, &format!("u{i}@acme.test"), Role::User).await);
    }
    let at = now();
    let seen: Vec<_> = users.iter().map(|user| (user.id, at)).collect();
    db.store.record_activity(&seen).await.unwrap();
    for user in [&users[0], &users[499], &users[500], &users[1_202]] {
        assert_eq!(stored(&db, user).await.last_active_at, Some(at), "{}", user.email);
    }
    db.store.record_activity(&[]).await.unwrap();
}

async fn a_change_decided_before_activity_was_written_keeps_that_activity(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let ada = add(&db.store, &acme, "ada@acme.test", Role::User).await;
    // A role change read Ada before her use was written, and is stored after it.
    let read = stored(&db, &ada).await;
    let used = now();
    db.store.record_activity(&[(ada.id, used)]).await.unwrap();

    change(&db.store, &read, &read.with_role(Role::Collaborator, now()), AuditAction::UserRoleChanged).await.unwrap();

    let after = stored(&db, &ada).await;
    assert_eq!((after.role, after.last_active_at), (Role::Collaborator, Some(used)));
}

on_both_databases!(
    a_change_decided_before_activity_was_written_keeps_that_activity,
    activity_moves_last_active_at_forward_only_and_nothing_else,
    activity_of_more_users_than_one_statement_carries_is_written_whole,
);
