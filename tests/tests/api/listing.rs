//! The user list over HTTP: every filter, ordering, and paging through 250 users.

use std::collections::HashSet;

use futures::StreamExt as _;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// The emails of the first page for `query`, and the total.
async fn emails(app: &TestApp, query: &str) -> (Vec<String>, u64) {
    let page = app.get(&format!("/v1/users?sort=email&order=asc&{query}"), &app.admin_token).await;
    let body = page.expect(200);
    assert_eq!(body["total_exact"], true, "{query}");
    let emails = body["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()).collect();
    (emails, body["total"].as_u64().unwrap())
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

async fn each_list_filter_works(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let post = |body: Value| async { app.post("/v1/users", &app.admin_token, body).await.expect(201).clone() };
    post(json!({ "email": "martin.dupont@example.com", "role": "collaborator", "referral_code": "SPRING" })).await;
    post(json!({ "email": "ana@example.com", "name": "Ana Martinez" })).await;
    let gone = post(json!({ "email": "gone@example.com", "referral_code": "FALL" })).await;
    app.delete(&format!("/v1/users/{}", gone["id"].as_str().unwrap()), &app.admin_token).await.expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let boundary = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    post(json!({ "email": "late@example.com", "role": "collaborator" })).await;
    let boundary = boundary.replace('+', "%2B");

    assert_eq!(emails(&app, "q=MARTIN").await, (strings(&["ana@example.com", "martin.dupont@example.com"]), 2));
    assert_eq!(
        emails(&app, "role=collaborator").await,
        (strings(&["late@example.com", "martin.dupont@example.com"]), 2)
    );
    assert_eq!(emails(&app, "status=deactivated").await, (strings(&["gone@example.com"]), 1));
    assert_eq!(emails(&app, "referral_code=SPRING").await, (strings(&["martin.dupont@example.com"]), 1));
    assert_eq!(emails(&app, &format!("created_from={boundary}")).await, (strings(&["late@example.com"]), 1));
    let before = emails(&app, &format!("created_to={boundary}")).await;
    assert_eq!(before.1, 4, "admin and the three early users: {before:?}");
    assert_eq!(emails(&app, "role=collaborator&q=late").await, (strings(&["late@example.com"]), 1));
    assert_eq!(emails(&app, "q=").await.1, 5, "an empty search is no filter");

    let newest_first = app.get("/v1/users", &app.admin_token).await;
    assert_eq!(newest_first.expect(200)["items"][0]["email"], "late@example.com");
    let by_email_desc = app.get("/v1/users?sort=email&order=desc&limit=1", &app.admin_token).await;
    assert_eq!(by_email_desc.expect(200)["items"][0]["email"], "martin.dupont@example.com");
    assert!(by_email_desc.body["next_cursor"].is_string());
}

async fn paging_through_250_users_returns_each_exactly_once(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let created: Vec<String> = futures::stream::iter(0..250)
        .map(|i| {
            let app = &app;
            async move {
                app.create_user(&format!("user{i:03}@example.com"), "user").await["id"].as_str().unwrap().to_owned()
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut expected: HashSet<String> = created.into_iter().collect();
    expected.insert(app.admin_id.clone());

    for sort in
        ["sort=created_at&order=desc", "sort=created_at&order=asc", "sort=email&order=asc", "sort=email&order=desc"]
    {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let after = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
            let page = app.get(&format!("/v1/users?{sort}&limit=60{after}"), &app.admin_token).await;
            let body = page.expect(200).clone();
            assert_eq!(body["total"], 251);
            seen.extend(body["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()));
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 251, "{sort}: every user exactly once");
        assert_eq!(seen.into_iter().collect::<HashSet<_>>(), expected, "{sort}");
    }
}

async fn a_page_holds_50_users_by_default_and_at_most_200(db: TestDatabase) {
    let app = spawn_app(&db).await;
    for i in 0..60 {
        app.create_user(&format!("u{i}@example.com"), "user").await;
    }
    let page = app.get("/v1/users", &app.admin_token).await;
    assert_eq!(page.expect(200)["items"].as_array().unwrap().len(), 50);
    app.get("/v1/users?limit=201", &app.admin_token).await.expect_problem(400, "invalid_request");
    app.get("/v1/users?limit=0", &app.admin_token).await.expect_problem(400, "invalid_request");
    let all = app.get("/v1/users?limit=200", &app.admin_token).await;
    assert_eq!(all.expect(200)["items"].as_array().unwrap().len(), 61);
    assert_eq!(all.body["next_cursor"], Value::Null);
}

on_both_databases!(
    each_list_filter_works,
    paging_through_250_users_returns_each_exactly_once,
    a_page_holds_50_users_by_default_and_at_most_200,
);
