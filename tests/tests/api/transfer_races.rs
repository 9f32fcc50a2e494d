//! Imports racing each other through two instances on one database: the same file at once
//! creates every email once; imports giving seats of one small pool never give more than it has.

use std::collections::{BTreeMap, HashSet};

use futures::future::join_all;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::Value;

use crate::helpers::{Reply, TestApp, counts, spawn_app};

/// How many rows of each reason the reports of `replies` list, all of which must be 200s.
fn reasons(replies: &[Reply]) -> BTreeMap<String, u64> {
    let mut reasons = BTreeMap::new();
    for reply in replies {
        for problem in reply.expect(200)["problems"].as_array().unwrap() {
            *reasons.entry(problem["reason"].as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
    reasons
}

/// How many `action` events of the first administrator the audit trail holds, page after page.
async fn audited(app: &TestApp, action: &str) -> usize {
    let mut seen = 0;
    let mut cursor = String::new();
    loop {
        let page = app
            .get(&format!("/v1/audit?actor={}&action={action}&limit=200{cursor}", app.admin_id), &app.admin_token)
            .await;
        let page = page.expect(200).clone();
        seen += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return seen,
        }
    }
}

async fn two_instances_importing_the_same_file_at_once_create_every_email_once(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let other = app.another_instance(&db).await;
    let emails: Vec<String> = (0..1500).map(|i| format!("racer{i}@example.com")).collect();
    let forward: String = emails.iter().map(|email| format!("{email}\n")).collect();
    let backward: String = emails.iter().rev().map(|email| format!("{}\n", email.to_uppercase())).collect();
    let imports = [(&app, &forward), (&other, &backward), (&other, &forward), (&app, &backward)]
        .map(|(instance, file)| instance.import_as(&app.admin_token, "", file.clone()));
    let replies = join_all(imports).await;

    let mut created = 0;
    for reply in &replies {
        let [rows, made, updated, skipped, failed] = counts(reply.expect(200));
        assert_eq!([rows, made + skipped, updated, failed], [1500, 1500, 0, 0], "{:?}", reply.body["problems"]);
        created += made;
    }
    assert_eq!(created, 1500, "the creations sum to the emails");
    assert_eq!(reasons(&replies), BTreeMap::from([("already_exists".to_owned(), 4 * 1500 - 1500)]));

    let users = app.all_users("").await;
    let listed: Vec<&str> = users.iter().map(|user: &Value| user["email"].as_str().unwrap()).collect();
    let distinct: HashSet<&str> = listed.iter().copied().collect();
    assert_eq!((listed.len(), distinct.len()), (1501, 1501), "every email once");
    assert!(emails.iter().all(|email| distinct.contains(email.as_str())));
    for instance in [&app, &other] {
        let metrics = instance.get("/v1/metrics", &app.admin_token).await;
        assert_eq!([&metrics.expect(200)["total_users"], &metrics.body["active"]], [1501, 1501]);
    }
    assert_eq!(audited(&app, "user.created").await, 1500, "each creation audited once");
}

async fn parallel_imports_giving_seats_of_one_small_pool_never_give_more_than_it_has(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let other = app.another_instance(&db).await;
    let pool = app.create_license("Pool", 150).await;
    let query = format!("license={pool}");
    let files: Vec<String> =
        (0..4).map(|f| (0..100).map(|i| format!("file{f}.user{i}@example.com\n")).collect()).collect();
    let imports = files.iter().enumerate().map(|(f, file)| {
        let instance = if f % 2 == 0 { &app } else { &other };
        instance.import_as(&app.admin_token, &query, file.clone())
    });
    let replies = join_all(imports).await;

    let mut created = 0;
    for reply in &replies {
        let [rows, made, updated, skipped, failed] = counts(reply.expect(200));
        assert_eq!([rows, made + failed, updated, skipped], [100, 100, 0, 0], "{:?}", reply.body);
        created += made;
    }
    assert_eq!(created, 150, "as many users as seats");
    assert_eq!(reasons(&replies), BTreeMap::from([("no_seats_available".to_owned(), 250)]));

    let kind = app.license(&pool).await;
    assert_eq!([&kind["seats"], &kind["assigned"], &kind["available"]], [150, 150, 0]);
    let holders = app.all_users(&query).await;
    assert_eq!(holders.len(), 150, "the users holding the kind are the seats assigned");
    assert_eq!(app.all_users("").await.len(), 151, "a row without a seat creates nobody");
    let metrics = other.get("/v1/metrics", &app.admin_token).await;
    assert_eq!([&metrics.expect(200)["licensed"], &metrics.body["licenses"][0]["assigned"]], [150, 150]);
}

on_both_databases!(
    two_instances_importing_the_same_file_at_once_create_every_email_once,
    parallel_imports_giving_seats_of_one_small_pool_never_give_more_than_it_has,
);
