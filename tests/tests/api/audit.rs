//! Every mutation appears in `/v1/audit`, with its actor, target, changes and time.

use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

async fn every_mutation_appears_in_the_audit_trail(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let user = app.post("/v1/users", &app.admin_token, json!({ "email": "a@example.com", "name": "Aude" })).await;
    let id = user.expect(201)["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/users/{id}");
    app.patch(&path, &app.admin_token, json!({ "name": "Aude B." })).await.expect(200);
    app.put(&format!("{path}/role"), &app.admin_token, json!({ "role": "collaborator" })).await.expect(200);
    app.delete(&path, &app.admin_token).await.expect(200);
    app.post(&format!("{path}/reactivate"), &app.admin_token, json!({})).await.expect(200);
    assert_eq!(app.delete(&format!("{path}/purge?confirm=a@example.com"), &app.admin_token).await.status, 204);

    let trail = app.get(&format!("/v1/audit?target={id}"), &app.admin_token).await;
    let events = trail.expect(200)["items"].as_array().unwrap().clone();
    let actions: Vec<&str> = events.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["user.purged", "user.reactivated", "user.deactivated", "user.role_changed", "user.updated", "user.created"]
    );
    for event in &events {
        assert_eq!(event["actor"]["type"], "user");
        assert_eq!(event["actor"]["id"], app.admin_id.as_str());
        assert_eq!(event["target"]["id"], id.as_str());
        assert_eq!(event["target"]["label"], Value::Null, "purged: the email is gone from the trail");
        assert!(event["occurred_at"].is_string());
    }
    let role_change = &events[3];
    assert_eq!(role_change["before"], json!({ "role": "user" }));
    assert_eq!(role_change["after"], json!({ "role": "collaborator" }));
    let rename = &events[4];
    assert_eq!(rename["after"], json!({}), "the name was personal data, removed by the purge");

    let by_admin =
        app.get(&format!("/v1/audit?actor={}&action=user.role_changed", app.admin_id), &app.admin_token).await;
    assert_eq!(by_admin.expect(200)["items"].as_array().unwrap().len(), 1);
    let at_start = app.get("/v1/audit?action=tenant.created", &app.admin_token).await;
    assert_eq!(at_start.expect(200)["items"][0]["actor"]["type"], "system");
}

async fn the_audit_trail_filters_by_time_and_pages(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let start = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).replace('+', "%2B");
    for i in 0..12 {
        app.create_user(&format!("u{i}@example.com"), "user").await;
    }
    let mut seen = 0;
    let mut cursor = String::new();
    loop {
        let page = app.get(&format!("/v1/audit?from={start}&limit=5{cursor}"), &app.admin_token).await;
        let body = page.expect(200).clone();
        seen += body["items"].as_array().unwrap().len();
        match body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, 12);
    let before = app.get(&format!("/v1/audit?to={start}"), &app.admin_token).await;
    assert_eq!(
        before.expect(200)["items"].as_array().unwrap().len(),
        3,
        "tenant, administrator and token at first start"
    );
}

on_both_databases!(every_mutation_appears_in_the_audit_trail, the_audit_trail_filters_by_time_and_pages);
