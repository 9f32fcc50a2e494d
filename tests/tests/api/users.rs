//! Creating, reading, editing, deactivating, reactivating and purging users over HTTP.

use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::json;

use crate::helpers::spawn_app;

async fn an_administrator_creates_a_collaborator_and_a_user(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let created = app
        .post(
            "/v1/users",
            &app.admin_token,
            json!({ "email": "Carla@Example.com", "name": "Carla", "phone": "+33 6 12 34 56 78", "role": "collaborator", "referral_code": "SPRING" }),
        )
        .await;
    let carla = created.expect(201).clone();
    assert_eq!(carla["email"], "carla@example.com");
    assert_eq!(carla["phone"], "+33612345678");
    assert_eq!(carla["role"], "collaborator");
    assert_eq!(carla["status"], "active");
    assert_eq!(carla["source"], "created");
    assert_eq!(carla["referral_code"], "SPRING");
    let id = carla["id"].as_str().unwrap();
    assert_eq!(created.headers["location"], format!("/v1/users/{id}"));
    assert_eq!(app.get(&format!("/v1/users/{id}"), &app.admin_token).await.expect(200), &carla);

    let ulysse = app.post("/v1/users", &app.admin_token, json!({ "email": "ulysse@example.com" })).await;
    assert_eq!(ulysse.expect(201)["role"], "user", "role defaults to user");
}

async fn a_duplicate_email_in_other_letter_case_is_refused(db: TestDatabase) {
    let app = spawn_app(&db).await;
    app.create_user("dup@example.com", "user").await;
    app.post("/v1/users", &app.admin_token, json!({ "email": "DUP@example.COM" }))
        .await
        .expect_problem(409, "email_taken");
}

async fn a_profile_is_edited_with_merge_patch_semantics(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let user = app
        .post(
            "/v1/users",
            &app.admin_token,
            json!({ "email": "p@example.com", "name": "Pat", "phone": "+14155552671" }),
        )
        .await;
    let id = user.expect(201)["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/users/{id}");
    let renamed = app.patch(&path, &app.admin_token, json!({ "name": "Patricia" })).await;
    assert_eq!(renamed.expect(200)["name"], "Patricia");
    assert_eq!(renamed.body["phone"], "+14155552671", "omitted fields stay");
    let cleared = app.patch(&path, &app.admin_token, json!({ "phone": null })).await;
    assert_eq!(cleared.expect(200)["phone"], serde_json::Value::Null);
    app.patch(&path, &app.admin_token, json!({ "email": "other@example.com" }))
        .await
        .expect_problem(400, "invalid_request");
}

async fn a_deactivated_user_can_be_reactivated(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (id, _) = app.user_with_token("d@example.com", "user").await;
    let path = format!("/v1/users/{id}");
    let gone = app.delete(&path, &app.admin_token).await;
    assert_eq!(gone.expect(200)["status"], "deactivated");
    assert!(gone.body["deactivated_at"].is_string());
    assert_eq!(app.delete(&path, &app.admin_token).await.expect(200)["status"], "deactivated", "idempotent");
    let back = app.post(&format!("{path}/reactivate"), &app.admin_token, json!({})).await;
    assert_eq!(back.expect(200)["status"], "active");
    assert_eq!(back.body["deactivated_at"], serde_json::Value::Null);
}

async fn a_purge_needs_the_users_email_and_is_irreversible(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (id, token) = app.user_with_token("purge.me@example.com", "user").await;
    let path = format!("/v1/users/{id}/purge");
    app.delete(&format!("{path}?confirm=someone@example.com"), &app.admin_token)
        .await
        .expect_problem(422, "confirmation_mismatch");
    app.delete(&path, &app.admin_token).await.expect_problem(400, "invalid_request");
    assert_eq!(app.get(&format!("/v1/users/{id}"), &app.admin_token).await.status, 200, "still there");

    let purged = app.delete(&format!("{path}?confirm=Purge.Me%40example.com"), &app.admin_token).await;
    assert_eq!(purged.status, 204, "{purged:?}");
    app.get(&format!("/v1/users/{id}"), &app.admin_token).await.expect_problem(404, "user_not_found");
    app.get("/v1/me", &token).await.expect_problem(401, "unauthenticated");
    app.delete(&format!("{path}?confirm=purge.me@example.com"), &app.admin_token)
        .await
        .expect_problem(404, "user_not_found");
}

async fn me_is_the_caller(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let me = app.get("/v1/me", &app.admin_token).await;
    assert_eq!(me.expect(200)["email"], "admin@example.com");
    assert_eq!(me.body["role"], "administrator");
    let (id, token) = app.user_with_token("u@example.com", "user").await;
    assert_eq!(app.get("/v1/me", &token).await.expect(200)["id"], id);
}

async fn users_of_another_tenant_are_invisible(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let other =
        app.app_state.tenants.create("globex".parse().unwrap(), "boss@globex.test".parse().unwrap()).await.unwrap();
    let mine = app.create_user("mine@example.com", "user").await;
    let theirs = other.token.expose();
    let path = format!("/v1/users/{}", mine["id"].as_str().unwrap());
    app.get(&path, theirs).await.expect_problem(404, "user_not_found");
    app.delete(&path, theirs).await.expect_problem(404, "user_not_found");
    let listed = app.get("/v1/users", theirs).await;
    assert_eq!(listed.expect(200)["total"], 1, "only their own administrator");
}

on_both_databases!(
    an_administrator_creates_a_collaborator_and_a_user,
    a_duplicate_email_in_other_letter_case_is_refused,
    a_profile_is_edited_with_merge_patch_semantics,
    a_deactivated_user_can_be_reactivated,
    a_purge_needs_the_users_email_and_is_irreversible,
    me_is_the_caller,
    users_of_another_tenant_are_invisible,
);
