//! Group commit: concurrent reservations, commits and releases of one store share
//! transactions, and each is answered as if it had been alone: judged one after the other
//! under the budget's lock, every key applied once, also when another store races it.

use std::collections::BTreeSet;

use futures::future::join_all;
use roster_domain::User;
use roster_domain::ports::UsageLedger;
use roster_domain::usage::{CommitOutcome, Metrics, ReserveOutcome};
use roster_storage::testing::TestDatabase;
use roster_storage::{DbBackend, PoolSettings, Store, on_both_databases};
use sea_orm::ConnectionTrait as _;

use crate::fixtures::{
    add_budgeted, add_license, add_licensed, count, credits, granted, hard, held_and_consumed, now, reserve, statement,
    tenant,
};

/// How many write transactions the database has committed so far: PostgreSQL's transaction ids,
/// SQLite's change counter (which every write of the ledger adds one to).
async fn writes(db: &TestDatabase) -> i64 {
    let sql = match db.backend() {
        DbBackend::Postgres => "SELECT CAST(txid_current() AS BIGINT) AS n",
        _ => "SELECT n FROM cache_changes",
    };
    let row = db.store.connection().query_one_raw(statement(db.backend(), sql, [])).await.unwrap().unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

async fn concurrent_reservations_share_transactions_and_never_exceed_the_limit(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_budgeted(&db.store, &acme, "busy@example.com", &kind, hard(1000), now()).await;
    let before = writes(&db).await;
    let attempts = (0..60).map(|n| {
        let (store, user) = (db.store.clone(), user.clone());
        tokio::spawn(async move { reserve(&store, &user, &format!("work-{n}"), 25, now()).await })
    });
    let outcomes: Vec<ReserveOutcome> = join_all(attempts).await.into_iter().map(Result::unwrap).collect();
    let transactions = writes(&db).await - before;
    let held: Vec<_> = outcomes.iter().filter(|o| matches!(o, ReserveOutcome::Reserved { .. })).collect();
    let refused = outcomes.iter().filter(|o| matches!(o, ReserveOutcome::Exceeded { .. })).count();
    assert_eq!((held.len(), refused), (40, 20), "1000 credits hold 40 reservations of 25");
    assert_eq!(held_and_consumed(&db.store, &user).await, (1000, 0));
    assert!(transactions < 60, "60 reservations in {transactions} transactions");

    let metrics = Metrics::new([("chats", 1)]).unwrap();
    let commits = outcomes.into_iter().filter_map(|outcome| match outcome {
        ReserveOutcome::Reserved { reservation, .. } => Some(reservation),
        _ => None,
    });
    let commits = commits.map(|reservation| {
        let (store, metrics) = (db.store.clone(), metrics.clone());
        tokio::spawn(async move {
            store.commit(reservation.tenant, reservation.id, credits(10), &metrics, now()).await.unwrap()
        })
    });
    for outcome in join_all(commits).await {
        assert!(matches!(outcome.unwrap(), CommitOutcome::Committed { .. }));
    }
    assert_eq!(held_and_consumed(&db.store, &user).await, (0, 400));
    let today = now().date_naive();
    let usage = db.store.usage(user.tenant, user.id, today, today).await.unwrap();
    assert_eq!((usage.credits, usage.metrics.get("chats").copied()), (400, Some(40)));
}

/// Retries of one key and competing keys for several users, all at once.
async fn each_operation_of_a_batch_is_answered_as_if_it_had_been_alone(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 10).await;
    let mut users: Vec<User> = Vec::new();
    for n in 0..8 {
        users.push(add_budgeted(&db.store, &acme, &format!("u{n}@example.com"), &kind, hard(100), now()).await);
    }
    // Keys are the tenant's: each user's own "a" and "b".
    let attempts = users.iter().enumerate().flat_map(|(n, user)| {
        ["a", "a", "b", "a"].map(|key| {
            let (store, user) = (db.store.clone(), user.clone());
            tokio::spawn(async move { (user.id, key, reserve(&store, &user, &format!("{n}-{key}"), 60, now()).await) })
        })
    });
    let outcomes: Vec<_> = join_all(attempts).await.into_iter().map(Result::unwrap).collect();
    for user in &users {
        let mine: Vec<_> = outcomes.iter().filter(|(id, _, _)| *id == user.id).collect();
        let granted: BTreeSet<_> = mine
            .iter()
            .filter_map(|(_, _, outcome)| match outcome {
                ReserveOutcome::Reserved { reservation, .. } => Some(reservation.id),
                _ => None,
            })
            .collect();
        assert_eq!(granted.len(), 1, "60 + 60 > 100: one reservation, whichever came first: {mine:?}");
        let answers_of_a: BTreeSet<_> =
            mine.iter().filter(|(_, key, _)| *key == "a").map(|(_, _, outcome)| format!("{outcome:?}")).collect();
        assert_eq!(answers_of_a.len(), 1, "every retry of a key gets the same answer: {answers_of_a:?}");
        assert_eq!(held_and_consumed(&db.store, user).await, (60, 0));
    }
}

/// A user without a budget has no row to lock: two stores racing one key meet at the key's
/// unique index, and every request gets the one reservation.
async fn one_key_raced_through_two_stores_is_one_reservation(db: TestDatabase) {
    let other = Store::open(&db.url, PoolSettings::default()).await.unwrap();
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_licensed(&db.store, &acme, "free@example.com", &kind).await;
    let attempts = (0..20).map(|n| {
        let (store, user) = (if n % 2 == 0 { db.store.clone() } else { other.clone() }, user.clone());
        tokio::spawn(async move { granted(reserve(&store, &user, "once", 30, now()).await).id })
    });
    let ids: BTreeSet<_> = join_all(attempts).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let sql = "SELECT COUNT(*) AS n FROM reservations WHERE user_id = ?";
    assert_eq!(count(&db, sql, [user.id.as_uuid().into()]).await, 1);
}

/// Any visible ASCII is a key, quotes, backslashes and braces included.
async fn a_key_of_any_visible_characters_is_applied_once(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_budgeted(&db.store, &acme, "odd@example.com", &kind, hard(1000), now()).await;
    let key = r#"a"b\c,{d}'e;--"#;
    let first = granted(reserve(&db.store, &user, key, 10, now()).await);
    let again = granted(reserve(&db.store, &user, key, 10, now()).await);
    assert_eq!((again.id, again.key.as_str()), (first.id, key));
    assert_eq!(held_and_consumed(&db.store, &user).await, (10, 0));
}

on_both_databases!(
    a_key_of_any_visible_characters_is_applied_once,
    concurrent_reservations_share_transactions_and_never_exceed_the_limit,
    each_operation_of_a_batch_is_answered_as_if_it_had_been_alone,
    one_key_raced_through_two_stores_is_one_reservation,
);
