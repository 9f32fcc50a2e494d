//! Bearer authentication.

use reqwest::Method;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::json;

use crate::helpers::spawn_app;

async fn requests_without_a_valid_token_are_unauthenticated(db: TestDatabase) {
    let app = spawn_app(&db).await;
    app.call(Method::GET, "/v1/users", None, None).await.expect_problem(401, "unauthenticated");
    app.get("/v1/users", "rst_not-a-real-token").await.expect_problem(401, "unauthenticated");
    let unknown = "rst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    app.get("/v1/me", unknown).await.expect_problem(401, "unauthenticated");
    app.call(Method::POST, "/v1/users", None, Some(json!({ "email": "x@example.com" })))
        .await
        .expect_problem(401, "unauthenticated");
}

async fn a_deactivated_users_token_stops_working_at_once_and_for_good(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (id, token) = app.user_with_token("t@example.com", "collaborator").await;
    app.get("/v1/users", &token).await.expect(200);
    app.delete(&format!("/v1/users/{id}"), &app.admin_token).await.expect(200);
    app.get("/v1/me", &token).await.expect_problem(401, "unauthenticated");
    app.post(&format!("/v1/users/{id}/reactivate"), &app.admin_token, json!({})).await.expect(200);
    app.get("/v1/me", &token).await.expect_problem(401, "unauthenticated");
    let fresh = app.token_for("t@example.com").await;
    app.get("/v1/me", &fresh).await.expect(200);
}

async fn a_demoted_users_token_acts_with_the_new_role(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (id, token) = app.user_with_token("c@example.com", "collaborator").await;
    app.get("/v1/users", &token).await.expect(200);
    app.put(&format!("/v1/users/{id}/role"), &app.admin_token, json!({ "role": "user" })).await.expect(200);
    app.get("/v1/users", &token).await.expect_problem(403, "forbidden");
}

on_both_databases!(
    requests_without_a_valid_token_are_unauthenticated,
    a_deactivated_users_token_stops_working_at_once_and_for_good,
    a_demoted_users_token_acts_with_the_new_role,
);
