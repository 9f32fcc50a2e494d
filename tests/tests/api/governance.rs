//! The governance rules, through the HTTP API, each with its stable code.

use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::json;

use crate::helpers::spawn_app;

async fn a_collaborator_cannot_make_anyone_an_administrator(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (collaborator_id, collaborator) = app.user_with_token("c@example.com", "collaborator").await;
    let user = app.create_user("u@example.com", "user").await;
    let user_id = user["id"].as_str().unwrap();

    let promote = json!({ "role": "administrator" });
    app.put(&format!("/v1/users/{user_id}/role"), &collaborator, promote.clone())
        .await
        .expect_problem(403, "forbidden_role_change");
    app.put(&format!("/v1/users/{collaborator_id}/role"), &collaborator, promote)
        .await
        .expect_problem(403, "forbidden_role_change");
    let new_admin = json!({ "email": "sneaky@example.com", "role": "administrator" });
    app.post("/v1/users", &collaborator, new_admin).await.expect_problem(403, "forbidden_role_change");
    app.put(&format!("/v1/users/{}/role", app.admin_id), &collaborator, json!({ "role": "user" }))
        .await
        .expect_problem(403, "forbidden_role_change");

    // What a collaborator may do: manage non-administrators.
    let changed = app.put(&format!("/v1/users/{user_id}/role"), &collaborator, json!({ "role": "collaborator" })).await;
    assert_eq!(changed.expect(200)["role"], "collaborator");
}

async fn a_collaborator_cannot_act_on_an_administrator(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (_, collaborator) = app.user_with_token("c@example.com", "collaborator").await;
    let admin = format!("/v1/users/{}", app.admin_id);
    app.patch(&admin, &collaborator, json!({ "name": "Pwned" }))
        .await
        .expect_problem(403, "forbidden_administrator_target");
    app.delete(&admin, &collaborator).await.expect_problem(403, "forbidden_administrator_target");
    app.delete(&format!("{admin}/purge?confirm=admin@example.com"), &collaborator)
        .await
        .expect_problem(403, "forbidden");
}

async fn an_administrator_cannot_change_their_own_role_or_deactivate_or_delete_themselves(db: TestDatabase) {
    let app = spawn_app(&db).await;
    app.create_user("second.admin@example.com", "administrator").await;
    let me = format!("/v1/users/{}", app.admin_id);
    app.put(&format!("{me}/role"), &app.admin_token, json!({ "role": "user" }))
        .await
        .expect_problem(403, "forbidden_self_role_change");
    app.delete(&me, &app.admin_token).await.expect_problem(403, "forbidden_self_deactivation");
    app.delete(&format!("{me}/purge?confirm=admin@example.com"), &app.admin_token)
        .await
        .expect_problem(403, "forbidden_self_deletion");
    assert_eq!(app.get("/v1/me", &app.admin_token).await.expect(200)["role"], "administrator");
}

async fn the_last_administrator_cannot_be_demoted_deactivated_or_purged(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let me = format!("/v1/users/{}", app.admin_id);
    app.put(&format!("{me}/role"), &app.admin_token, json!({ "role": "collaborator" }))
        .await
        .expect_problem(409, "last_administrator");
    app.delete(&me, &app.admin_token).await.expect_problem(409, "last_administrator");
    app.delete(&format!("{me}/purge?confirm=admin@example.com"), &app.admin_token)
        .await
        .expect_problem(409, "last_administrator");

    // A deactivated administrator does not count.
    let dormant = app.create_user("dormant@example.com", "administrator").await;
    app.delete(&format!("/v1/users/{}", dormant["id"].as_str().unwrap()), &app.admin_token).await.expect(200);
    app.put(&format!("{me}/role"), &app.admin_token, json!({ "role": "collaborator" }))
        .await
        .expect_problem(409, "last_administrator");
}

async fn two_administrators_deactivating_each_other_at_once_leave_one(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (second_id, second) = app.user_with_token("second@example.com", "administrator").await;
    let (second_path, first_path) = (format!("/v1/users/{second_id}"), format!("/v1/users/{}", app.admin_id));
    let (a, b) = futures::join!(app.delete(&second_path, &app.admin_token), app.delete(&first_path, &second));
    let outcomes = [a.status.as_u16(), b.status.as_u16()];
    assert_eq!(outcomes.iter().filter(|s| **s == 200).count(), 1, "{a:?} {b:?}");
    let loser = if a.status == 200 { &b } else { &a };
    assert!(
        ["last_administrator", "concurrent_modification", "unauthenticated"]
            .contains(&loser.body["code"].as_str().unwrap()),
        "{loser:?}"
    );
    let admins = app.app_state.store.clone();
    let active = roster_domain::ports::UserRepository::count_active_administrators(&admins, app_tenant(&app).await)
        .await
        .unwrap();
    assert_eq!(active, 1);
}

async fn app_tenant(app: &crate::helpers::TestApp) -> roster_domain::TenantId {
    let tenant =
        roster_domain::ports::TenantRepository::find_by_name(&app.app_state.store, &"default".parse().unwrap()).await;
    tenant.unwrap().unwrap().id
}

async fn users_act_only_on_themselves(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (me_id, me) = app.user_with_token("me@example.com", "user").await;
    let other = app.create_user("other@example.com", "user").await;
    let other_path = format!("/v1/users/{}", other["id"].as_str().unwrap());
    let my_path = format!("/v1/users/{me_id}");

    assert_eq!(app.get(&my_path, &me).await.expect(200)["email"], "me@example.com");
    assert_eq!(app.patch(&my_path, &me, json!({ "name": "Me" })).await.expect(200)["name"], "Me");
    app.get(&other_path, &me).await.expect_problem(403, "forbidden");
    app.patch(&other_path, &me, json!({ "name": "You" })).await.expect_problem(403, "forbidden");
    app.delete(&other_path, &me).await.expect_problem(403, "forbidden");
    app.put(&format!("{other_path}/role"), &me, json!({ "role": "collaborator" }))
        .await
        .expect_problem(403, "forbidden");
    app.put(&format!("{my_path}/role"), &me, json!({ "role": "collaborator" })).await.expect_problem(403, "forbidden");
    app.get("/v1/users", &me).await.expect_problem(403, "forbidden");
    app.get("/v1/audit", &me).await.expect_problem(403, "forbidden");
    app.post("/v1/users", &me, json!({ "email": "new@example.com" })).await.expect_problem(403, "forbidden");
}

async fn a_collaborator_cannot_read_the_audit_trail_or_purge(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (_, collaborator) = app.user_with_token("c@example.com", "collaborator").await;
    let user = app.create_user("u@example.com", "user").await;
    app.get("/v1/audit", &collaborator).await.expect_problem(403, "forbidden");
    let purge = format!("/v1/users/{}/purge?confirm=u@example.com", user["id"].as_str().unwrap());
    app.delete(&purge, &collaborator).await.expect_problem(403, "forbidden");
}

on_both_databases!(
    a_collaborator_cannot_make_anyone_an_administrator,
    a_collaborator_cannot_act_on_an_administrator,
    an_administrator_cannot_change_their_own_role_or_deactivate_or_delete_themselves,
    the_last_administrator_cannot_be_demoted_deactivated_or_purged,
    two_administrators_deactivating_each_other_at_once_leave_one,
    users_act_only_on_themselves,
    a_collaborator_cannot_read_the_audit_trail_or_purge,
);
