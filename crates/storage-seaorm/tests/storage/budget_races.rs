//! A budget given to a user while their reservations come and go (on PostgreSQL, transactions
//! that overlap, of two instances) holds exactly the credits of the reservations still active: a reservation made
//! or closed at the same moment is counted once, neither lost (which would let the user
//! overspend) nor kept after its close (which would hold credits forever).

use futures::future::join_all;
use roster_domain::ports::UsageLedger;
use roster_domain::usage::{CommitOutcome, Metrics, Reservation, ReserveOutcome};
use roster_storage::testing::TestDatabase;
use roster_storage::{PoolSettings, Store, on_both_databases};

use crate::fixtures::{
    add_license, add_licensed, count, credits, granted, hard, held_and_consumed, now, reserve, set_budget, tenant,
};

async fn a_budget_set_while_reservations_come_and_go_holds_exactly_the_active_ones(db: TestDatabase) {
    // Half of the ledger's work goes through a second instance, with batches of its own.
    let other = Store::open(&db.url, PoolSettings::default()).await.unwrap();
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 100).await;
    for round in 0..12 {
        let user = add_licensed(&db.store, &acme, &format!("round{round}@example.com"), &kind).await;
        let mut early: Vec<Reservation> = Vec::new();
        for n in 0..6 {
            early.push(granted(reserve(&db.store, &user, &format!("{round}-early-{n}"), 10, now()).await));
        }
        // Six reservations made and six committed, all without a budget, while one is given.
        let made = (0..6).map(|n| {
            let (store, user) = (if n % 2 == 0 { db.store.clone() } else { other.clone() }, user.clone());
            tokio::spawn(async move {
                let outcome = reserve(&store, &user, &format!("{round}-late-{n}"), 10, now()).await;
                assert!(matches!(outcome, ReserveOutcome::Reserved { .. }), "{outcome:?}");
            })
        });
        let committed = early.into_iter().enumerate().map(|(n, reservation)| {
            let store = if n % 2 == 0 { other.clone() } else { db.store.clone() };
            tokio::spawn(async move {
                let outcome =
                    store.commit(reservation.tenant, reservation.id, credits(3), &Metrics::default(), now()).await;
                assert!(matches!(outcome, Ok(CommitOutcome::Committed { .. })), "{outcome:?}");
            })
        });
        let given = {
            let (store, user) = (db.store.clone(), user.clone());
            tokio::spawn(async move { set_budget(&store, &user, Some(hard(100_000)), now()).await.unwrap() })
        };
        for done in join_all(made.chain(committed)).await {
            done.unwrap();
        }
        given.await.unwrap();
        let sql = "SELECT CAST(COALESCE(SUM(credits), 0) AS BIGINT) AS n FROM reservations \
                   WHERE user_id = ? AND status = 'active'";
        let active = count(&db, sql, [user.id.as_uuid().into()]).await;
        assert_eq!(active, 60, "round {round}");
        let (held, _) = held_and_consumed(&db.store, &user).await;
        assert_eq!(held, active, "round {round}: the budget holds {held} credits, the active reservations {active}");
    }
}

on_both_databases!(a_budget_set_while_reservations_come_and_go_holds_exactly_the_active_ones);
