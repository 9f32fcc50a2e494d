//! The access cache seen from outside: an instance serves entitlements and authenticates the
//! gateway from memory, yet a change made through another instance (another replica, or
//! another process on the same SQLite file) is honoured there within moments, and the
//! gateway's reservations are always judged by the database.

use std::time::Duration;

use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::json;

use crate::helpers::{TestApp, id_of, spawn_app};

/// Asks `path` of `app` with `token` until `done(status, body)`, for up to 5 s.
async fn eventually(app: &TestApp, path: &str, token: &str, done: impl Fn(u16, &serde_json::Value) -> bool) {
    for _ in 0..500 {
        let reply = app.get(path, token).await;
        if done(reply.status.as_u16(), &reply.body) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{path} kept answering what another instance changed");
}

async fn a_deactivation_through_one_instance_ends_ai_access_on_every_instance(db: TestDatabase) {
    let first = spawn_app(&db).await;
    let second = first.another_instance(&db).await;
    let gateway = first.service_key(&["usage:write", "entitlements:read"]).await;
    let user = first.licensed_user("worker@example.com").await;
    let path = format!("/v1/users/{user}/entitlements");
    for _ in 0..3 {
        assert_eq!(second.get(&path, &gateway).await.expect(200)["ai_access"], true);
    }
    second.reserve(&gateway, &user, 10, "before").await.expect(201);

    first.delete(&format!("/v1/users/{user}"), &first.admin_token).await.expect(200);
    assert_eq!(first.get(&path, &gateway).await.expect(200)["ai_access"], false, "at once where it was made");
    second.reserve(&gateway, &user, 10, "after").await.expect_problem(403, "user_inactive");
    eventually(&second, &path, &gateway, |status, body| status == 200 && body["ai_access"] == false).await;
}

async fn a_revoked_gateway_credential_is_refused_by_every_instance(db: TestDatabase) {
    let first = spawn_app(&db).await;
    let second = first.another_instance(&db).await;
    let body = json!({ "name": "gateway", "scopes": ["entitlements:read"] });
    let issued = first.post("/v1/service-credentials", &first.admin_token, body).await.expect(201).clone();
    let gateway = issued["secret"].as_str().unwrap().to_owned();
    let path = format!("/v1/users/{}/entitlements", first.admin_id);
    for app in [&first, &second] {
        app.get(&path, &gateway).await.expect(200);
    }
    let revoke = format!("/v1/service-credentials/{}", id_of(&issued["credential"]));
    first.delete(&revoke, &first.admin_token).await.expect(204);
    first.get(&path, &gateway).await.expect_problem(401, "unauthenticated");
    eventually(&second, &path, &gateway, |status, _| status == 401).await;
}

on_both_databases!(
    a_deactivation_through_one_instance_ends_ai_access_on_every_instance,
    a_revoked_gateway_credential_is_refused_by_every_instance,
);
