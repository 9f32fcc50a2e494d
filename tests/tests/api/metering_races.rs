//! Metering under concurrency: reservations racing for one budget (one and two instances),
//! idempotent retries all in flight together (reservations and events), parallel batches of
//! events, and late commits racing new reservations. Every outcome is judged one after the
//! other, whatever the timing.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::TimeDelta;
use futures::future::join_all;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::json;

use crate::helpers::{Reply, TestApp, event, exceeded, id_of, policy, spawn_app, spawn_clocked_app, spent, statuses};

/// 200 reservations of 10 credits with distinct keys, all in flight together through
/// `instances` in turn, for a user whose hard budget is 1000 credits.
async fn two_hundred_ask_for_ten_credits_of_a_thousand(instances: &[&TestApp]) {
    let app = instances[0];
    let gateway = app.service_key(&["usage:write"]).await;
    let user = app.licensed_user_with_budget("racer@example.com", policy(1000, "monthly")).await;
    let keys: Vec<String> = (0..200).map(|i| format!("race-{i}")).collect();
    let asks = keys.iter().enumerate().map(|(i, key)| instances[i % instances.len()].reserve(&gateway, &user, 10, key));
    let replies = join_all(asks).await;

    let mut ids = HashSet::new();
    let mut held_after = BTreeSet::new();
    for reply in &replies {
        if reply.status == 201 {
            let body = &reply.body;
            assert_eq!(
                [&body["status"], &body["user"], &body["credits"]],
                [&json!("active"), &json!(user), &json!(10)]
            );
            ids.insert(id_of(body));
            held_after.insert(body["budget"]["reserved"].as_i64().unwrap());
        } else {
            reply.expect_problem(402, "budget_exceeded");
            assert_eq!(exceeded(&reply.body), [1000, 0, 1000], "refused only once the budget is full: {reply:?}");
        }
    }
    assert_eq!(statuses(&replies), BTreeMap::from([(201, 100), (402, 100)]));
    assert_eq!(ids.len(), 100, "a hundred distinct reservations");
    let expected: BTreeSet<i64> = (1..=100).map(|n| n * 10).collect();
    assert_eq!(held_after, expected, "each grant was judged after the one before it");
    for instance in instances {
        let budget = instance.budget(&user).await;
        assert_eq!(spent(&budget), [0, 1000, 0], "{budget}");
    }
}

async fn two_hundred_parallel_reservations_of_ten_credits_fill_a_budget_of_a_thousand_exactly(db: TestDatabase) {
    let app = spawn_app(&db).await;
    two_hundred_ask_for_ten_credits_of_a_thousand(&[&app]).await;
}

async fn two_hundred_parallel_reservations_through_two_instances_fill_a_budget_of_a_thousand_exactly(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let other = app.another_instance(&db).await;
    two_hundred_ask_for_ten_credits_of_a_thousand(&[&app, &other]).await;
}

/// Sends the reservation of 10 credits under `key` for `user` 20 times at once, and returns the
/// one reservation id every answer must carry.
async fn twenty_retries_at_once(app: &TestApp, gateway: &str, user: &str, key: &str) -> String {
    let replies = join_all((0..20).map(|_| app.reserve(gateway, user, 10, key))).await;
    let odd: Vec<&Reply> = replies.iter().filter(|reply| reply.status != 201).collect();
    assert_eq!(statuses(&replies), BTreeMap::from([(201, 20)]), "not the original answer: {odd:#?}");
    let ids: HashSet<String> = replies.iter().map(|reply| id_of(&reply.body)).collect();
    assert_eq!(ids.len(), 1, "one reservation: {ids:?}");
    ids.into_iter().next().unwrap()
}

async fn twenty_parallel_retries_of_one_key_get_one_reservation_and_hold_its_credits_once(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let gateway = app.service_key(&["usage:write"]).await;
    let user = app.licensed_user_with_budget("retry@example.com", policy(1000, "monthly")).await;

    let id = twenty_retries_at_once(&app, &gateway, &user, "retry-key").await;
    assert_eq!(spent(&app.budget(&user).await), [0, 10, 990]);
    let later = app.reserve(&gateway, &user, 10, "retry-key").await;
    assert_eq!([id_of(later.expect(201)), later.body["status"].as_str().unwrap().to_owned()], [id.as_str(), "active"]);

    app.reserve(&gateway, &user, 11, "retry-key").await.expect_problem(409, "idempotency_key_reused");
    let other = app.licensed_user("other@example.com").await;
    app.reserve(&gateway, &other, 10, "retry-key").await.expect_problem(409, "idempotency_key_reused");
    assert_eq!(spent(&app.budget(&user).await), [0, 10, 990], "held once");

    // A retry after the commit still gets the original reservation, and holds nothing.
    app.commit(&gateway, &id, 10, json!({})).await.expect(200);
    let after = app.reserve(&gateway, &user, 10, "retry-key").await;
    assert_eq!(
        [id_of(after.expect(201)), after.body["status"].as_str().unwrap().to_owned()],
        [id.as_str(), "committed"]
    );
    assert_eq!(spent(&app.budget(&user).await), [10, 0, 990]);
}

async fn parallel_retries_of_a_reservation_that_fills_the_budget_all_get_the_original_answer(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let gateway = app.service_key(&["usage:write"]).await;
    let user = app.licensed_user_with_budget("exact@example.com", policy(10, "monthly")).await;
    twenty_retries_at_once(&app, &gateway, &user, "exact-fit").await;
    assert_eq!(spent(&app.budget(&user).await), [0, 10, 0]);
}

async fn parallel_batches_over_the_same_users_in_any_order_are_all_recorded(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let gateway = app.service_key(&["usage:write"]).await;
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(app.licensed_user_with_budget(&format!("u{i}@example.com"), policy(1_000_000, "none")).await);
    }
    // Eight gateway nodes flush at once, each a batch with one event per user, in its own order.
    let batches = (0..8).map(|node| {
        let mut order: Vec<usize> = (0..users.len()).collect();
        order.rotate_left(node % users.len());
        if node % 2 == 1 {
            order.reverse();
        }
        order
            .into_iter()
            .map(|u| event(&format!("node-{node}-user-{u}"), &users[u], 10, json!({ "chats": 1 })))
            .collect()
    });
    let replies = join_all(batches.map(|events| app.record(&gateway, events))).await;
    let odd: Vec<&Reply> = replies.iter().filter(|reply| reply.status != 200).collect();
    assert_eq!(statuses(&replies), BTreeMap::from([(200, 8)]), "{odd:#?}");
    for user in &users {
        assert_eq!(spent(&app.budget(user).await), [80, 0, 999_920]);
    }
}

/// One usage event sent 20 times at once, through `instances` in turn: recorded once, every
/// other answer a duplicate, its credits and metrics counted once.
async fn one_event_sent_twenty_times_at_once(instances: &[&TestApp]) {
    let app = instances[0];
    let gateway = app.service_key(&["usage:write"]).await;
    let user = app.licensed_user_with_budget("events@example.com", policy(1000, "monthly")).await;
    let sent = (0..20).map(|i| {
        let events = vec![event("flush-1", &user, 7, json!({ "pages_imported": 3 }))];
        instances[i % instances.len()].record(&gateway, events)
    });
    let replies = join_all(sent).await;
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for reply in &replies {
        let results = &reply.expect(200)["results"];
        assert_eq!(results[0]["idempotency_key"], "flush-1", "{reply:?}");
        *answers.entry(results[0]["status"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(answers, BTreeMap::from([("duplicate".to_owned(), 19), ("recorded".to_owned(), 1)]));
    for instance in instances {
        assert_eq!(spent(&instance.budget(&user).await), [7, 0, 993]);
    }
    let usage = app.get(&format!("/v1/users/{user}/usage"), &app.admin_token).await;
    assert_eq!(usage.expect(200)["usage"], json!({ "credits": 7, "metrics": { "pages_imported": 3 } }));
}

async fn one_usage_event_sent_twenty_times_in_parallel_counts_once(db: TestDatabase) {
    let app = spawn_app(&db).await;
    one_event_sent_twenty_times_at_once(&[&app]).await;
}

async fn one_usage_event_sent_twenty_times_in_parallel_through_two_instances_counts_once(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let other = app.another_instance(&db).await;
    one_event_sent_twenty_times_at_once(&[&app, &other]).await;
}

async fn late_commits_racing_new_reservations_of_the_same_user_all_succeed(db: TestDatabase) {
    let (app, clock) = spawn_clocked_app(&db).await;
    let gateway = app.service_key(&["usage:write"]).await;
    let user = app.licensed_user_with_budget("late@example.com", policy(1000, "none")).await;
    let mut held = Vec::new();
    for i in 0..50 {
        held.push(id_of(app.reserve_for(&gateway, &user, 10, &format!("old-{i}"), 60).await.expect(201)));
    }
    clock.advance(TimeDelta::seconds(61));
    // The work finished late: its commits arrive while new work reserves (expiring the old).
    let commits = held.iter().map(|id| app.commit(&gateway, id, 5, json!({})));
    let keys: Vec<String> = (0..50).map(|i| format!("new-{i}")).collect();
    let reserves = keys.iter().map(|key| app.reserve(&gateway, &user, 10, key));
    let (committed, reserved) = futures::join!(join_all(commits), join_all(reserves));
    let odd: Vec<&Reply> = committed.iter().chain(&reserved).filter(|reply| !reply.status.is_success()).collect();
    assert_eq!(statuses(&committed), BTreeMap::from([(200, 50)]), "{odd:#?}");
    assert_eq!(statuses(&reserved), BTreeMap::from([(201, 50)]), "{odd:#?}");
    assert_eq!(spent(&app.budget(&user).await), [250, 500, 250]);
}

on_both_databases!(
    two_hundred_parallel_reservations_of_ten_credits_fill_a_budget_of_a_thousand_exactly,
    two_hundred_parallel_reservations_through_two_instances_fill_a_budget_of_a_thousand_exactly,
    twenty_parallel_retries_of_one_key_get_one_reservation_and_hold_its_credits_once,
    parallel_retries_of_a_reservation_that_fills_the_budget_all_get_the_original_answer,
    parallel_batches_over_the_same_users_in_any_order_are_all_recorded,
    one_usage_event_sent_twenty_times_in_parallel_counts_once,
    one_usage_event_sent_twenty_times_in_parallel_through_two_instances_counts_once,
    late_commits_racing_new_reservations_of_the_same_user_all_succeed,
);
