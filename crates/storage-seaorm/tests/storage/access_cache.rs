//! The access cache: what the gateway reads on every request (a user's access facts, a service
//! credential) is served from memory, but never once a write of this store or of another one
//! (another instance, another process on the same SQLite file) may have changed it, nor after
//! the user's first live reservation expires.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::TimeDelta;
use roster_domain::budget::Credits;
use roster_domain::ports::UsageLedger as _;
use roster_domain::ports::{AccessFacts, LicenseRepository as _, ServiceCredentialRepository as _};
use roster_domain::service::{Scope, ServiceCredential, ServiceName};
use roster_domain::usage::{
    CommitOutcome, Metrics, ReleaseOutcome, Reservation, ReservationStatus, ReservationTtl, ReserveRequest,
};
use roster_domain::{Actor, AuditAction, AuditEvent, Role, Timestamp, User, UserStatus};
use roster_storage::testing::TestDatabase;
use roster_storage::{PoolSettings, Store, on_both_databases};
use sea_orm::ConnectionTrait as _;

use crate::fixtures::{
    add_budgeted, add_license, add_licensed, change, granted, hard, now, request, reserve, spend, statement, tenant,
};

/// `db`'s store with the access cache on, once it serves from memory.
async fn cached(store: &Store) -> Store {
    let store = store.clone().with_access_cache(1000);
    for _ in 0..200 {
        if store.access_cache_is_live() {
            return store;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the access cache never became live");
}

/// Another instance on `db` (its own pool, its own process-wide state).
async fn another_instance(db: &TestDatabase) -> Store {
    Store::open(&db.url, PoolSettings::default()).await.expect("a second store")
}

/// An active, licensed user of `acme` with a hard budget of 1000.
async fn spender(store: &Store) -> User {
    let acme = tenant(store, "acme").await;
    let kind = add_license(store, &acme, "Pro", 5).await;
    add_budgeted(store, &acme, "spender@example.com", &kind, hard(1000), now()).await
}

async fn facts(store: &Store, user: &User, at: Timestamp) -> AccessFacts {
    store.access_facts(user.tenant, user.id, at).await.unwrap().expect("the user exists")
}

/// Changes the user's status behind every store's back (raw SQL, which tells no cache).
async fn sneak_status(db: &TestDatabase, user: &User, status: UserStatus) {
    let sql = "UPDATE users SET status = ? WHERE id = ?";
    let values = [status.as_str().into(), user.id.as_uuid().into()];
    db.store.connection().execute_raw(statement(db.backend(), sql, values)).await.unwrap();
}

/// Reads the facts of `user` through `store` until `done` holds, for up to 5 s.
async fn eventually(store: &Store, user: &User, done: impl Fn(&AccessFacts) -> bool) -> AccessFacts {
    for _ in 0..500 {
        let read = facts(store, user, now()).await;
        if done(&read) {
            return read;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the cache kept serving what another store changed");
}

async fn facts_are_served_from_memory_until_this_store_writes(db: TestDatabase) {
    let store = cached(&db.store).await;
    let user = spender(&store).await;
    assert_eq!(facts(&store, &user, now()).await.status, UserStatus::Active);
    sneak_status(&db, &user, UserStatus::Invited).await;
    assert_eq!(facts(&store, &user, now()).await.status, UserStatus::Active, "served from memory");
    assert_eq!(facts(&db.store, &user, now()).await.status, UserStatus::Invited, "a store without cache reads");

    sneak_status(&db, &user, UserStatus::Active).await;
    let deactivated = user.deactivated(now());
    change(&store, &user, &deactivated, AuditAction::UserDeactivated).await.unwrap();
    assert_eq!(facts(&store, &user, now()).await.status, UserStatus::Deactivated, "at once after the write");
}

async fn a_reservation_changes_the_budget_served_at_once(db: TestDatabase) {
    let store = cached(&db.store).await;
    let user = spender(&store).await;
    assert_eq!(facts(&store, &user, now()).await.budget.unwrap().reserved.get(), 0);
    granted(reserve(&store, &user, "work", 70, now()).await);
    assert_eq!(facts(&store, &user, now()).await.budget.unwrap().reserved.get(), 70);
}

/// The gateway checks a user's entitlements between their reservations: what a reservation or a
/// commit leaves of the budget is written through the cache, not read again.
async fn a_metering_batch_writes_the_budget_through_the_cache(db: TestDatabase) {
    let store = cached(&db.store).await;
    let user = spender(&store).await;
    assert_eq!(facts(&store, &user, now()).await.budget.unwrap().reserved.get(), 0);
    // Behind every store's back: whoever serves it read the database.
    let sql = "UPDATE users SET role = 'collaborator' WHERE id = ?";
    db.store.connection().execute_raw(statement(db.backend(), sql, [user.id.as_uuid().into()])).await.unwrap();
    let held = granted(reserve(&store, &user, "work", 70, now()).await);
    let served = facts(&store, &user, now()).await;
    assert_eq!(served.role, Role::User, "still served from memory");
    assert_eq!(served.budget.unwrap().reserved.get(), 70);
    let metrics = Metrics::default();
    let committed = store.commit(user.tenant, held.id, Credits::new(50).unwrap(), &metrics, now()).await.unwrap();
    assert!(matches!(committed, CommitOutcome::Committed { .. }));
    let served = facts(&store, &user, now()).await;
    let read = facts(&db.store, &user, now()).await;
    assert_eq!((served.role, read.role), (Role::User, Role::Collaborator), "from memory");
    assert_eq!(served.budget, read.budget, "the budget as stored");
    assert_eq!((read.budget.unwrap().reserved.get(), read.budget.unwrap().consumed.get()), (0, 50));
}

async fn what_another_instance_writes_is_not_served_for_long(db: TestDatabase) {
    let store = cached(&db.store).await;
    let other = another_instance(&db).await;
    let user = spender(&other).await;
    assert_eq!(facts(&store, &user, now()).await.status, UserStatus::Active);

    granted(reserve(&other, &user, "elsewhere", 40, now()).await);
    eventually(&store, &user, |facts| facts.budget.is_some_and(|budget| budget.reserved.get() == 40)).await;

    let deactivated = user.deactivated(now());
    change(&other, &user, &deactivated, AuditAction::UserDeactivated).await.unwrap();
    eventually(&store, &user, |facts| facts.status == UserStatus::Deactivated).await;
}

/// Use recorded for users without a budget changes nothing a cache keeps: no instance forgets
/// anything (an empty list of users once read as "anything" on every instance).
async fn use_that_changes_no_budget_makes_no_instance_forget(db: TestDatabase) {
    let store = cached(&db.store).await;
    let other = another_instance(&db).await;
    let acme = tenant(&store, "acme").await;
    let kind = add_license(&store, &acme, "Pro", 5).await;
    let budgeted = add_budgeted(&store, &acme, "spender@example.com", &kind, hard(1000), now()).await;
    let unbudgeted = add_licensed(&store, &acme, "free@example.com", &kind).await;
    assert_eq!(facts(&store, &budgeted, now()).await.status, UserStatus::Active);
    sneak_status(&db, &budgeted, UserStatus::Invited).await;
    spend(&store, &unbudgeted, "here", 5, now()).await;
    spend(&other, &unbudgeted, "elsewhere", 5, now()).await;
    // Longer than SQLite's poll of the change counter (100 ms) and a notification's way.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(facts(&store, &budgeted, now()).await.status, UserStatus::Active, "still served from memory");
}

async fn facts_are_not_served_past_the_expiry_of_a_live_reservation(db: TestDatabase) {
    let store = cached(&db.store).await;
    let user = spender(&store).await;
    let start = now();
    let held = granted(reserve(&store, &user, "short", 30, start).await);
    let reserved = |facts: AccessFacts| facts.budget.unwrap().reserved.get();
    assert_eq!(reserved(facts(&store, &user, start + TimeDelta::seconds(1)).await), 30);
    assert_eq!(reserved(facts(&store, &user, start + TimeDelta::seconds(2)).await), 30);
    assert_eq!(reserved(facts(&store, &user, held.expires_at).await), 0, "expired: no longer held");
}

/// A commit or release judges the user's budget as of its instant, without what expired meanwhile
/// of their other reservations: the budget it answers and writes through is the one stored.
async fn a_commit_or_release_serves_the_budget_without_what_expired_meanwhile(db: TestDatabase) {
    let store = cached(&db.store).await;
    let user = spender(&store).await;
    let start = now();
    let short = |key: &'static str, credits: i64| {
        let ttl = ReservationTtl::from_seconds(1).unwrap();
        ReserveRequest { ttl, ..request(&user, key, credits) }
    };
    let first = granted(store.reserve(&short("first", 300), start).await.unwrap());
    granted(store.reserve(&short("second", 400), start).await.unwrap());
    let later = start + TimeDelta::seconds(2);
    let budget = |facts: AccessFacts| facts.budget.map(|budget| (budget.reserved.get(), budget.consumed.get()));
    assert_eq!(budget(facts(&store, &user, later).await), Some((0, 0)), "both expired");

    let metrics = Metrics::default();
    let outcome = store.commit(user.tenant, first.id, Credits::new(10).unwrap(), &metrics, later).await.unwrap();
    let CommitOutcome::Committed { budget: Some(answered), .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!((answered.reserved.get(), answered.consumed.get()), (0, 10));
    assert_eq!(budget(facts(&store, &user, later).await), Some((0, 10)), "served");
    assert_eq!(budget(facts(&db.store, &user, later).await), Some((0, 10)), "stored");

    let third = granted(store.reserve(&short("third", 200), later).await.unwrap());
    let fourth = granted(store.reserve(&request(&user, "fourth", 100), later).await.unwrap());
    let after = later + TimeDelta::seconds(2);
    let outcome = store.release(user.tenant, fourth.id, after).await.unwrap();
    let ReleaseOutcome::Released { reservation, budget: Some(answered) } = outcome else { panic!("{outcome:?}") };
    assert_eq!(reservation, Reservation { status: ReservationStatus::Released, ..fourth });
    assert_eq!((answered.reserved.get(), answered.consumed.get()), (0, 10));
    assert_eq!(budget(facts(&store, &user, after).await), Some((0, 10)), "served");
    assert_eq!(budget(facts(&db.store, &user, after).await), Some((0, 10)), "stored");
    // Marked expired by that release, and told so.
    let outcome = store.release(user.tenant, third.id, after).await.unwrap();
    let ReleaseOutcome::Released { reservation, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(reservation, Reservation { status: ReservationStatus::Expired, ..third });
}

async fn a_revoked_service_credential_stops_here_at_once_and_elsewhere_soon(db: TestDatabase) {
    let store = cached(&db.store).await;
    let other = cached(&another_instance(&db).await).await;
    let acme = tenant(&store, "acme").await;
    let admin = Actor::user(acme.tenant.id, acme.admin.id, acme.admin.email.clone(), acme.admin.role);
    let scopes = BTreeSet::from(Scope::ALL);
    let (credential, secret): (ServiceCredential, _) =
        ServiceCredential::issue(acme.tenant.id, ServiceName::parse("gateway").unwrap(), scopes, now());
    let audit = AuditEvent::service_credential_created(&admin, &credential, now());
    store.insert_credential(&credential, None, &audit).await.unwrap();
    for instance in [&store, &other] {
        assert!(instance.authenticate_service(&secret.hash()).await.unwrap().is_some());
    }
    let audit = AuditEvent::service_credential_revoked(&admin, &credential, now());
    store.revoke_credential(acme.tenant.id, credential.id, None, &audit).await.unwrap();
    assert!(store.authenticate_service(&secret.hash()).await.unwrap().is_none(), "at once on this instance");
    for _ in 0..500 {
        if other.authenticate_service(&secret.hash()).await.unwrap().is_none() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the other instance kept accepting a revoked credential");
}

on_both_databases!(
    facts_are_served_from_memory_until_this_store_writes,
    a_reservation_changes_the_budget_served_at_once,
    a_metering_batch_writes_the_budget_through_the_cache,
    what_another_instance_writes_is_not_served_for_long,
    use_that_changes_no_budget_makes_no_instance_forget,
    facts_are_not_served_past_the_expiry_of_a_live_reservation,
    a_commit_or_release_serves_the_budget_without_what_expired_meanwhile,
    a_revoked_service_credential_stops_here_at_once_and_elsewhere_soon,
);

/// SQLite: another process that writes just before this store does is not missed. This store's
/// write finds the change counter two ahead of what it last saw, and forgets everything, where
/// remembering the new value would hide the other write from every later poll.
#[tokio::test]
async fn another_process_writing_just_before_this_store_is_not_missed() {
    roster_storage::testing::on_sqlite(|db: TestDatabase| async move {
        let store = cached(&db.store).await;
        let other = another_instance(&db).await;
        let acme = tenant(&other, "acme").await;
        let kind = add_license(&other, &acme, "Pro", 5).await;
        let user = add_budgeted(&other, &acme, "spender@example.com", &kind, hard(1000), now()).await;
        let second = add_budgeted(&other, &acme, "second@example.com", &kind, hard(1000), now()).await;
        eventually(&store, &user, |facts| facts.role == Role::User).await;
        let mut current = user;
        for attempt in 0..3 {
            // Just after a poll, a write elsewhere, then one here, before the next poll.
            tokio::time::sleep(Duration::from_millis(150)).await;
            let role = if current.role == Role::User { Role::Collaborator } else { Role::User };
            let after = current.with_role(role, now());
            change(&other, &current, &after, AuditAction::UserRoleChanged).await.unwrap();
            current = after;
            granted(reserve(&store, &second, &format!("here-{attempt}"), 10, now()).await);
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(
                facts(&store, &current, now()).await.role,
                role,
                "attempt {attempt}: the other write was missed"
            );
        }
    })
    .await;
}

/// PostgreSQL: a write whose request is cancelled while it commits (its future dropped) is not
/// served stale on its own instance, which ignores its own notifications: the commit goes on,
/// and then the cache forgets what it changed, also what was read meanwhile. (A deferred trigger
/// makes the commit slow.)
#[tokio::test]
async fn a_write_cancelled_while_it_commits_is_not_served_stale_here() {
    roster_storage::testing::on_postgres(|db: TestDatabase| async move {
        let store = cached(&db.store).await;
        let user = spender(&store).await;
        assert_eq!(facts(&store, &user, now()).await.status, UserStatus::Active);
        let slow = [
            "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql \
             AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$",
            "CREATE CONSTRAINT TRIGGER slow_commit AFTER UPDATE ON users \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()",
        ];
        for sql in slow {
            db.store.connection().execute_unprepared(sql).await.unwrap();
        }
        let deactivated = user.deactivated(now());
        let cancelled = tokio::time::timeout(
            Duration::from_millis(250),
            change(&store, &user, &deactivated, AuditAction::UserDeactivated),
        );
        assert!(cancelled.await.is_err(), "dropped while committing");
        // Read (and kept) while the commit is still under way.
        assert_eq!(facts(&store, &user, now()).await.status, UserStatus::Active, "not committed yet");
        tokio::time::sleep(Duration::from_millis(750)).await;
        assert_eq!(facts(&db.store, &user, now()).await.status, UserStatus::Deactivated, "committed");
        assert_eq!(facts(&store, &user, now()).await.status, UserStatus::Deactivated, "not served stale");
    })
    .await;
}

/// PostgreSQL: when the notification connection is lost, the cache serves nothing it may have
/// missed news of; it listens again and serves from memory again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_notification_connection_is_replaced_and_what_was_missed_is_not_served() {
    roster_storage::testing::on_postgres(|db: TestDatabase| async move {
        let store = cached(&db.store).await;
        let other = another_instance(&db).await;
        let user = spender(&other).await;
        assert_eq!(facts(&store, &user, now()).await.status, UserStatus::Active);
        let kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                    WHERE datname = current_database() AND query LIKE 'LISTEN%'";
        let killed = db.store.connection().query_all_raw(statement(db.backend(), kill, [])).await.unwrap();
        assert_eq!(killed.len(), 1, "the listening connection");
        let deactivated = user.deactivated(now());
        change(&other, &user, &deactivated, AuditAction::UserDeactivated).await.unwrap();
        eventually(&store, &user, |facts| facts.status == UserStatus::Deactivated).await;
        for _ in 0..500 {
            if store.access_cache_is_live() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the cache never listened again");
    })
    .await;
}
