//! Seats under concurrency: requests all in flight together never hand out more seats than a
//! pool has, on one instance, on two instances sharing the database, and in a storm of mixed
//! seat and status changes.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt as _;
use futures::future::join_all;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, id_of, spawn_app, statuses};

/// Creates `n` users, eight at a time, and returns their ids in order.
async fn create_users(app: &TestApp, n: usize) -> Vec<String> {
    futures::stream::iter(0..n)
        .map(|i| async move { id_of(&app.create_user(&format!("user{i:02}@example.com"), "user").await) })
        .buffered(8)
        .collect()
        .await
}

/// The ids of the users listed by `query`, checking the total counts them all.
async fn listed_ids(app: &TestApp, query: &str) -> HashSet<String> {
    let page = app.get(&format!("/v1/users?limit=200&{query}"), &app.admin_token).await;
    let items = page.expect(200)["items"].as_array().unwrap();
    assert_eq!(page.body["total"], items.len(), "{query}");
    assert_eq!(page.body["total_exact"], true, "{query}");
    items.iter().map(id_of).collect()
}

/// 50 users ask for one of 10 seats at once, through `instances` in turn.
async fn fifty_ask_for_ten_seats(instances: &[&TestApp]) {
    let app = instances[0];
    let kind = app.create_license("Pro", 10).await;
    let users = create_users(app, 50).await;
    let asks = users.iter().enumerate().map(|(i, user)| instances[i % instances.len()].assign(user, &kind));
    let replies = join_all(asks).await;

    let mut winners = HashSet::new();
    for (user, reply) in users.iter().zip(&replies) {
        if reply.status == 200 {
            assert_eq!(reply.body["license"]["id"], kind, "{reply:?}");
            winners.insert(user.clone());
        } else {
            reply.expect_problem(409, "no_seats_available");
            let reported = [&reply.body["kind"], &reply.body["seats"], &reply.body["assigned"]];
            assert_eq!(reported, [&json!(kind), &json!(10), &json!(10)], "{reply:?}");
        }
    }
    assert_eq!(winners.len(), 10, "exactly ten seats given: {:?}", statuses(&replies));
    for instance in instances {
        let pool = instance.get(&format!("/v1/licenses/{kind}"), &instance.admin_token).await;
        assert_eq!([&pool.expect(200)["assigned"], &pool.body["available"]], [&json!(10), &json!(0)]);
        assert_eq!(listed_ids(instance, &format!("license={kind}")).await, winners);
    }
}

async fn fifty_parallel_requests_for_ten_seats_get_exactly_ten(db: TestDatabase) {
    let app = spawn_app(&db).await;
    fifty_ask_for_ten_seats(&[&app]).await;
}

async fn fifty_parallel_requests_for_ten_seats_through_two_instances_get_exactly_ten(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let other = app.another_instance(&db).await;
    fifty_ask_for_ten_seats(&[&app, &other]).await;
}

/// One request of the storm.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// A seat of the kind with this index.
    Assign(usize),
    Unassign,
    Deactivate,
    Reactivate,
}

async fn send(app: &TestApp, change: Change, user: &str, kinds: &[String]) -> Reply {
    let path = format!("/v1/users/{user}");
    match change {
        Change::Assign(kind) => app.assign(user, &kinds[kind]).await,
        Change::Unassign => app.delete(&format!("{path}/license"), &app.admin_token).await,
        Change::Deactivate => app.delete(&path, &app.admin_token).await,
        Change::Reactivate => app.post(&format!("{path}/reactivate"), &app.admin_token, json!({})).await,
    }
}

/// 150 changes drawn with a fixed seed: a change and the index of the user it targets.
fn storm(users: usize) -> Vec<(Change, usize)> {
    let mut rng = StdRng::seed_from_u64(20_261_122);
    (0..150)
        .map(|_| {
            let change = match rng.random_range(0..5) {
                0 => Change::Assign(0),
                1 => Change::Assign(1),
                2 => Change::Unassign,
                3 => Change::Deactivate,
                _ => Change::Reactivate,
            };
            (change, rng.random_range(0..users))
        })
        .collect()
}

async fn a_storm_of_seat_and_status_changes_leaves_every_pool_exact(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let other = app.another_instance(&db).await;
    let kinds = [app.create_license("Business", 4).await, app.create_license("Pro", 3).await];
    let seats = [4_u64, 3];
    let users = create_users(&app, 30).await;

    let changes = storm(users.len());
    let instances = [&app, &other];
    let sent =
        changes.iter().enumerate().map(|(i, (change, user))| send(instances[i % 2], *change, &users[*user], &kinds));
    let replies = join_all(sent).await;
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for ((change, _), reply) in changes.iter().zip(&replies) {
        let outcome = match reply.status.as_u16() {
            200 => "ok",
            409 => reply.body["code"].as_str().unwrap_or_default(),
            _ => panic!("{change:?}: {reply:?}"),
        };
        let expected = ["ok", "no_seats_available", "user_deactivated", "concurrent_modification"];
        assert!(expected.contains(&outcome), "{change:?}: {reply:?}");
        *outcomes.entry(outcome.to_owned()).or_default() += 1;
    }
    assert!(outcomes.contains_key("ok") && outcomes.contains_key("no_seats_available"), "{outcomes:?}");

    // Every user as stored: the seat they hold, and whether they are deactivated.
    let mut holders: HashMap<String, HashSet<String>> = HashMap::new();
    let mut deactivated = HashSet::new();
    for user in &users {
        let body = app.user(user).await;
        let active = body["status"] == "active";
        if !active {
            deactivated.insert(user.clone());
        }
        if let Some(kind) = body["license"]["id"].as_str() {
            assert!(active, "deactivated users hold no seat: {body}");
            holders.entry(kind.to_owned()).or_default().insert(user.clone());
        }
        let entitlements = app.get(&format!("/v1/users/{user}/entitlements"), &app.admin_token).await;
        assert_eq!(entitlements.expect(200)["license"], body["license"], "{body}");
        assert_eq!(entitlements.body["ai_access"], active && body["license"].is_object(), "{body}");
    }

    let mut licensed = 0;
    for (kind, seats) in kinds.iter().zip(seats) {
        let pool = app.license(kind).await;
        let assigned = pool["assigned"].as_u64().unwrap();
        assert!(assigned <= seats, "{pool}");
        assert_eq!(pool["available"], seats - assigned, "{pool}");
        let holding = holders.remove(kind).unwrap_or_default();
        assert_eq!(holding.len() as u64, assigned, "{pool}: the users whose body shows it");
        assert_eq!(listed_ids(&app, &format!("license={kind}")).await, holding, "{pool}: the list");
        licensed += assigned;
    }
    assert!(holders.is_empty(), "seats of no known kind: {holders:?}");
    assert_eq!(listed_ids(&app, "status=deactivated").await, deactivated);
    assert_eq!(listed_ids(&app, "licensed=true").await.len() as u64, licensed);

    let metrics = app.get("/v1/metrics", &app.admin_token).await.expect(200).clone();
    let deactivated = deactivated.len() as u64;
    let counts = ["total_users", "licensed", "unlicensed", "active", "deactivated"].map(|field| &metrics[field]);
    let expected: [Value; 5] =
        [31, licensed, 31 - deactivated - licensed, 31 - deactivated, deactivated].map(Value::from);
    assert_eq!(counts, expected.each_ref(), "{metrics}");
}

on_both_databases!(
    fifty_parallel_requests_for_ten_seats_get_exactly_ten,
    fifty_parallel_requests_for_ten_seats_through_two_instances_get_exactly_ten,
    a_storm_of_seat_and_status_changes_leaves_every_pool_exact,
);
