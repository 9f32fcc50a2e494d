//! Imports and exports larger than a batch or a page: 100,000 rows in one request, and an
//! export of thousands of users, complete and in creation order.

use std::collections::HashSet;

use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{plain, report, spawn_app};

/// The French mobile number of user `i` (below 1,000,000), nationally written.
fn phone_of(i: u32) -> String {
    format!("06 12 {:02} {:02} {:02}", i / 10_000, i / 100 % 100, i % 100)
}

async fn a_hundred_thousand_rows_import_in_one_request(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let mut file = String::with_capacity(100_000 * 40);
    for i in 0..100_000 {
        file.push_str(&format!("user{i}@example.com,33,{}\n", phone_of(i)));
    }
    let imported = app.import_file("", file).await;
    assert_eq!(imported, report(plain(), [100_000, 100_000, 0, 0, 0], json!([])));

    let metrics = app.get("/v1/metrics", &app.admin_token).await.expect(200).clone();
    let totals = ["total_users", "active", "unlicensed", "licensed", "administrators", "pending_invitations"]
        .map(|field| metrics[field].as_u64().unwrap_or_else(|| panic!("{metrics}")));
    assert_eq!(totals, [100_001, 100_001, 100_001, 0, 1, 0]);
    let users = app.get("/v1/users?role=user&limit=1", &app.admin_token).await;
    assert_eq!([&users.expect(200)["total"], &users.body["total_exact"]], [&json!(100_000), &json!(true)]);
    for i in [0, 499, 500, 54_321, 99_999] {
        let found = app.get(&format!("/v1/users?q=user{i}%40example.com"), &app.admin_token).await;
        let found = found.expect(200)["items"].as_array().unwrap().clone();
        let user = found.iter().find(|user| user["email"] == format!("user{i}@example.com"));
        let user = user.unwrap_or_else(|| panic!("user{i} missing: {found:?}"));
        let expected = format!("+33612{i:06}");
        assert_eq!(
            [&user["phone"], &user["role"], &user["source"]],
            [&json!(expected), &json!("user"), &json!("imported")]
        );
    }
}

async fn a_report_lists_the_first_10_000_problems_and_counts_the_others(db: TestDatabase) {
    let app = spawn_app(&db).await;
    // 12,000 invalid rows around 3,000 good ones: a file of junk must not cost the server a report
    // of unbounded size.
    let file: String = (1..=15_000)
        .map(|line| if line % 5 == 0 { format!("ok{line}@example.com\n") } else { "junk\n".into() })
        .collect();
    let imported = app.import_file("", file).await;
    assert_eq!([&imported["rows"], &imported["created"], &imported["failed"]], [15_000, 3_000, 12_000]);
    let problems = imported["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 10_000);
    assert_eq!(imported["problems_omitted"], 2_000);
    let lines: Vec<u64> = problems.iter().map(|problem| problem["line"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=15_000).filter(|line| line % 5 != 0).take(10_000).collect();
    assert_eq!(lines, expected, "the first problems of the file, in its order");
    assert!(problems.iter().all(|problem| problem["reason"] == "invalid_email"));
}

async fn thousands_of_users_are_exported_completely_and_in_creation_order(db: TestDatabase) {
    let app = spawn_app(&db).await;
    // Neither in email order nor in reverse: a permutation of 0..2600.
    let order: Vec<u32> = (0..2600).map(|i| i * 7919 % 2600).collect();
    let file: String = order.iter().map(|i| format!("user{i:04}@example.com\n")).collect();
    assert_eq!(app.import_file("", file).await["created"], 2600);

    let exported: Vec<String> =
        app.export_rows("").await.into_iter().map(|mut row| row.remove("email").unwrap()).collect();
    let mut expected = vec!["admin@example.com".to_owned()];
    expected.extend(order.iter().map(|i| format!("user{i:04}@example.com")));
    assert_eq!(exported.len(), 2601);
    assert_eq!(exported.iter().collect::<HashSet<_>>().len(), 2601, "no user twice");
    assert_eq!(exported, expected, "in creation order: the file's");
    let listed: Vec<String> =
        app.all_users("").await.iter().map(|user: &Value| user["email"].as_str().unwrap().to_owned()).collect();
    assert_eq!(exported, listed, "as the list sorts by creation, oldest first");
    assert_eq!(app.export_rows("role=user").await.len(), 2600);
}

on_both_databases!(
    a_report_lists_the_first_10_000_problems_and_counts_the_others,
    a_hundred_thousand_rows_import_in_one_request,
    thousands_of_users_are_exported_completely_and_in_creation_order,
);
