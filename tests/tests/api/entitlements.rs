//! What licenses change elsewhere: the entitlements (the access gate), the user list's license
//! filters and the dashboard's metrics.

use reqwest::Method;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{TestApp, id_of, spawn_app};

async fn entitlements_say_whether_a_user_may_use_ai_right_now(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let pro = app.create_license("Pro", 5).await;
    let (licensed_id, licensed) = app.user_with_token("licensed@example.com", "user").await;
    let (unlicensed_id, unlicensed) = app.user_with_token("unlicensed@example.com", "user").await;
    let (collaborator_id, collaborator) = app.user_with_token("c@example.com", "collaborator").await;
    app.assign(&licensed_id, &pro).await.expect(200);
    let of = |id: &str| format!("/v1/users/{id}/entitlements");

    let with_seat = json!({
        "user": licensed_id, "active": true, "licensed": true, "ai_access": true,
        "license": { "id": pro, "name": "Pro" }, "role": "user", "capabilities": [],
    });
    assert_eq!(app.get("/v1/me/entitlements", &licensed).await.expect(200), &with_seat);
    assert_eq!(app.get(&of(&licensed_id), &licensed).await.expect(200), &with_seat);
    assert_eq!(app.get(&of(&licensed_id), &app.admin_token).await.expect(200), &with_seat);
    assert_eq!(app.get(&of(&licensed_id), &collaborator).await.expect(200), &with_seat);
    assert_eq!(app.get("/v1/me", &licensed).await.expect(200)["license"], with_seat["license"]);

    let without_seat = json!({
        "user": unlicensed_id, "active": true, "licensed": false, "ai_access": false, "role": "user",
        "capabilities": [],
    });
    assert_eq!(app.get("/v1/me/entitlements", &unlicensed).await.expect(200), &without_seat);
    assert_eq!(app.get(&of(&unlicensed_id), &collaborator).await.expect(200), &without_seat);
    app.get(&of(&licensed_id), &unlicensed).await.expect_problem(403, "forbidden");
    app.get(&of(&unlicensed_id), &licensed).await.expect_problem(403, "forbidden");
    app.get(&of(&app.admin_id), &licensed).await.expect_problem(403, "forbidden");

    let collaborating = app.get("/v1/me/entitlements", &collaborator).await;
    assert_eq!(
        collaborating.expect(200),
        &json!({
            "user": collaborator_id, "active": true, "licensed": false, "ai_access": false, "role": "collaborator",
            "capabilities": [
                "view_users", "manage_users", "manage_agents", "manage_workspaces", "manage_groups", "manage_connectors",
            ],
        })
    );
    let admin = app.get(&of(&app.admin_id), &collaborator).await.expect(200).clone();
    assert_eq!(
        [&admin["role"], &admin["licensed"], &admin["ai_access"]],
        [&json!("administrator"), &json!(false), &json!(false)]
    );
    assert_eq!(admin["capabilities"].as_array().unwrap().len(), 14);
    assert!(admin["capabilities"].as_array().unwrap().contains(&json!("manage_licenses")));

    app.delete(&format!("/v1/users/{licensed_id}"), &app.admin_token).await.expect(200);
    assert_eq!(
        app.get(&of(&licensed_id), &app.admin_token).await.expect(200),
        &json!({
            "user": licensed_id, "active": false, "licensed": false, "ai_access": false, "role": "user",
            "capabilities": [],
        })
    );
    app.get("/v1/me/entitlements", &licensed).await.expect_problem(401, "unauthenticated");

    let nobody = of(&uuid::Uuid::now_v7().to_string());
    app.get(&nobody, &app.admin_token).await.expect_problem(404, "user_not_found");
    app.get(&nobody, &collaborator).await.expect_problem(404, "user_not_found");
    app.get(&of("not-a-uuid"), &app.admin_token).await.expect_problem(400, "invalid_request");
    app.call(Method::GET, "/v1/me/entitlements", None, None).await.expect_problem(401, "unauthenticated");
}

/// The emails of the users matching `query`, by email, and their total.
async fn emails(app: &TestApp, query: &str) -> (Vec<String>, u64) {
    let page = app.get(&format!("/v1/users?sort=email&order=asc&limit=200&{query}"), &app.admin_token).await;
    let body = page.expect(200);
    assert_eq!(body["total_exact"], true, "{query}");
    let emails = body["items"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap().to_owned()).collect();
    (emails, body["total"].as_u64().unwrap())
}

fn at_example(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| format!("{name}@example.com")).collect()
}

async fn the_user_list_filters_by_license_and_by_holding_any(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let business = app.create_license("Business", 5).await;
    let pro = app.create_license("Pro", 5).await;
    let mut ids = std::collections::HashMap::new();
    for name in ["ann", "bob", "cat", "dan", "eve", "fay"] {
        ids.insert(name, id_of(&app.create_user(&format!("{name}@example.com"), "user").await));
    }
    for (name, kind) in [("ann", &business), ("bob", &business), ("cat", &pro), ("fay", &pro)] {
        app.assign(&ids[name], kind).await.expect(200);
    }
    app.delete(&format!("/v1/users/{}", ids["fay"]), &app.admin_token).await.expect(200);

    assert_eq!(emails(&app, &format!("license={business}")).await, (at_example(&["ann", "bob"]), 2));
    assert_eq!(emails(&app, &format!("license={pro}")).await, (at_example(&["cat"]), 1), "fay's seat went back");
    assert_eq!(emails(&app, "licensed=true").await, (at_example(&["ann", "bob", "cat"]), 3));
    assert_eq!(emails(&app, "licensed=false").await, (at_example(&["admin", "dan", "eve", "fay"]), 4));
    assert_eq!(emails(&app, &format!("license={business}&licensed=true")).await, (at_example(&["ann", "bob"]), 2));
    assert_eq!(emails(&app, &format!("license={business}&licensed=false")).await, (vec![], 0));
    assert_eq!(emails(&app, "licensed=false&status=active").await, (at_example(&["admin", "dan", "eve"]), 3));
    assert_eq!(emails(&app, &format!("license={pro}&role=user")).await, (at_example(&["cat"]), 1));
    assert_eq!(emails(&app, &format!("license={pro}&q=ann")).await, (vec![], 0));
    assert_eq!(emails(&app, &format!("license={}", uuid::Uuid::now_v7())).await, (vec![], 0));

    let listed = app.get(&format!("/v1/users?license={business}"), &app.admin_token).await;
    for user in listed.expect(200)["items"].as_array().unwrap() {
        assert_eq!(user["license"], json!({ "id": business, "name": "Business" }));
    }
    let first = app.get(&format!("/v1/users?license={business}&sort=email&order=asc&limit=1"), &app.admin_token).await;
    assert_eq!([&first.expect(200)["total"], &first.body["items"][0]["email"]], [&json!(2), &json!("ann@example.com")]);
    let cursor = first.body["next_cursor"].as_str().expect("a second page");
    let next_page = format!("/v1/users?license={business}&sort=email&order=asc&limit=1&cursor={cursor}");
    let second = app.get(&next_page, &app.admin_token).await;
    assert_eq!(second.expect(200)["items"][0]["email"], "bob@example.com");
    assert_eq!(second.body["next_cursor"], Value::Null);

    app.get("/v1/users?license=Business", &app.admin_token).await.expect_problem(400, "invalid_request");
    app.get("/v1/users?licensed=maybe", &app.admin_token).await.expect_problem(400, "invalid_request");
}

async fn the_metrics_count_users_and_seats_as_counted_by_hand(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let mut ids = std::collections::HashMap::new();
    for (name, role) in [("a1", "administrator"), ("a2", "administrator")]
        .into_iter()
        .chain([("c1", "collaborator"), ("c2", "collaborator"), ("c3", "collaborator")])
        .chain(["u1", "u2", "u3", "u4", "u5", "u6"].map(|name| (name, "user")))
    {
        ids.insert(name, id_of(&app.create_user(&format!("{name}@example.com"), role).await));
    }
    let business = app.create_license("Business", 5).await;
    let pro = app.create_license("Pro", 3).await;
    for (name, kind) in [("u1", &business), ("u2", &business), ("u3", &business), ("c1", &business)]
        .into_iter()
        .chain([("a1", &business), ("u4", &pro), ("c2", &pro)])
    {
        app.assign(&ids[name], kind).await.expect(200);
    }
    let pool = |kind: &Value, seats: u64, assigned: u64| {
        json!({
            "id": kind["id"], "name": kind["name"], "created_at": kind["created_at"],
            "seats": seats, "assigned": assigned, "available": seats - assigned,
        })
    };
    let (business_kind, pro_kind) = (app.license(&business).await, app.license(&pro).await);

    // 12 users: the first administrator, a1, a2, c1-c3, u1-u6; all active.
    // Business holds u1, u2, u3, c1, a1 (5 of 5); Pro holds u4, c2 (2 of 3): 7 licensed.
    // Unlicensed: the first administrator, a2, c3, u5, u6: 5. Administrators: 3.
    let metrics = app.get("/v1/metrics", &app.admin_token).await;
    assert_eq!(
        metrics.expect(200),
        &json!({
            "total_users": 12, "licensed": 7, "unlicensed": 5, "administrators": 3, "active": 12,
            "pending_invitations": 0, "expired_invitations": 0, "deactivated": 0,
            "budgets": { "users": 0, "limit": 0, "consumed_today": 0, "consumed_this_month": 0 },
            "licenses": [pool(&business_kind, 5, 5), pool(&pro_kind, 3, 2)],
        })
    );

    app.delete(&format!("/v1/users/{}", ids["u1"]), &app.admin_token).await.expect(200);
    app.delete(&format!("/v1/users/{}", ids["a2"]), &app.admin_token).await.expect(200);
    let purge = format!("/v1/users/{}/purge?confirm=u4@example.com", ids["u4"]);
    assert_eq!(app.delete(&purge, &app.admin_token).await.status, 204);

    // Deactivating u1 returned a Business seat (4 of 5: u2, u3, c1, a1); deactivating a2 (no
    // seat) leaves 2 administrators (the first, a1); purging u4 returned a Pro seat (1 of 3: c2).
    // Total 11 (u4 is gone), deactivated 2 (u1, a2), active 11 - 2 = 9, licensed 4 + 1 = 5,
    // unlicensed (11 - 2) - 5 = 4: the first administrator, c3, u5, u6.
    let metrics = app.get("/v1/metrics", &app.admin_token).await;
    assert_eq!(
        metrics.expect(200),
        &json!({
            "total_users": 11, "licensed": 5, "unlicensed": 4, "administrators": 2, "active": 9,
            "pending_invitations": 0, "expired_invitations": 0, "deactivated": 2,
            "budgets": { "users": 0, "limit": 0, "consumed_today": 0, "consumed_this_month": 0 },
            "licenses": [pool(&business_kind, 5, 4), pool(&pro_kind, 3, 1)],
        })
    );

    // Reactivating u1 gives no seat back: u1 becomes an active, unlicensed user.
    app.post(&format!("/v1/users/{}/reactivate", ids["u1"]), &app.admin_token, json!({})).await.expect(200);
    let metrics = app.get("/v1/metrics", &app.admin_token).await;
    let counts = ["total_users", "licensed", "unlicensed", "administrators", "active", "deactivated"]
        .map(|field| metrics.expect(200)[field].as_u64().unwrap());
    assert_eq!(counts, [11, 5, 5, 2, 10, 1]);
}

on_both_databases!(
    entitlements_say_whether_a_user_may_use_ai_right_now,
    the_user_list_filters_by_license_and_by_holding_any,
    the_metrics_count_users_and_seats_as_counted_by_hand,
);
