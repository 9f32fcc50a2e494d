//! Who may meter and read what: service credentials and their scopes (a person's token never
//! meters), revocation, tenants, and which users may be metered at all.

use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{budget_totals, event, id_of, policy, spawn_app, spawn_mailing_app, spent};

async fn people_never_meter_and_a_credential_does_only_what_its_scopes_allow(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let admin = app.admin_token.clone();
    let user = app.licensed_user_with_budget("ai@example.com", policy(1000, "monthly")).await;
    let metering = app.service_key(&["usage:write"]).await;
    let reading = app.service_key(&["entitlements:read"]).await;
    let id = id_of(app.reserve(&metering, &user, 10, "k-1").await.expect(201));

    for person in [&admin, &reading] {
        app.reserve(person, &user, 10, "k-2").await.expect_problem(403, "missing_scope");
        app.commit(person, &id, 10, json!({})).await.expect_problem(403, "missing_scope");
        app.release(person, &id).await.expect_problem(403, "missing_scope");
        let events = vec![event("e-1", &user, 1, json!({}))];
        app.record(person, events).await.expect_problem(403, "missing_scope");
    }
    assert_eq!(spent(&app.budget(&user).await), [0, 10, 990], "nothing happened");
    let (_, own) = app.user_with_token("own@example.com", "user").await;
    app.reserve(&own, &user, 10, "k-3").await.expect_problem(403, "missing_scope");

    let entitlements = format!("/v1/users/{user}/entitlements");
    let read = app.get(&entitlements, &reading).await;
    assert_eq!([&read.expect(200)["ai_access"], &read.body["budget"]["limit"]], [&json!(true), &json!(1000)]);
    assert_eq!(spent(&read.body["budget"]), [0, 10, 990]);
    app.get(&format!("/v1/users/{}/entitlements", app.admin_id), &reading).await.expect(200);
    app.get(&entitlements, &metering).await.expect_problem(403, "missing_scope");

    for credential in [&metering, &reading] {
        for path in [
            "/v1/users".to_owned(),
            "/v1/metrics".to_owned(),
            "/v1/service-credentials".to_owned(),
            "/v1/settings".to_owned(),
            format!("/v1/users/{user}"),
            format!("/v1/users/{user}/budget"),
            format!("/v1/users/{user}/usage"),
        ] {
            app.get(&path, credential).await.expect_problem(403, "forbidden");
        }
        app.set_budget_as(credential, &user, policy(1, "none")).await.expect_problem(403, "forbidden");
        let body = json!({ "name": "escalation", "scopes": ["usage:write"] });
        app.post("/v1/service-credentials", credential, body).await.expect_problem(403, "forbidden");
        app.get("/v1/me", credential).await.expect_problem(401, "unauthenticated");
    }

    // The list shows every credential, never a secret.
    let listed = app.get("/v1/service-credentials", &admin).await.expect(200).clone();
    let items = listed["items"].as_array().unwrap();
    let scopes: Vec<&Value> = items.iter().map(|item| &item["scopes"]).collect();
    assert_eq!(scopes, [&json!(["usage:write"]), &json!(["entitlements:read"])], "{listed}");
    assert!(items.iter().all(|item| item.get("secret").is_none()), "{listed}");
    assert!(!listed.to_string().contains("rsk_"), "{listed}");

    let revoke = format!("/v1/service-credentials/{}", id_of(&items[0]));
    assert_eq!(app.delete(&revoke, &admin).await.status, 204);
    app.reserve(&metering, &user, 10, "k-4").await.expect_problem(401, "unauthenticated");
    app.release(&metering, &id).await.expect_problem(401, "unauthenticated");
    app.delete(&revoke, &admin).await.expect_problem(404, "service_credential_not_found");
    assert_eq!(app.get("/v1/service-credentials", &admin).await.expect(200)["items"].as_array().unwrap().len(), 1);
    app.get(&entitlements, &reading).await.expect(200);
    let forged = format!("rsk_{}", "A".repeat(43));
    app.get(&entitlements, &forged).await.expect_problem(401, "unauthenticated");

    let bad = |body: Value| app.post("/v1/service-credentials", &admin, body);
    bad(json!({ "name": "x", "scopes": ["users:write"] })).await.expect_problem(400, "invalid_request");
    bad(json!({ "name": "x", "scopes": [] })).await.expect_problem(400, "invalid_request");
    bad(json!({ "name": "x", "scopes": ["usage:write"], "admin": true })).await.expect_problem(400, "invalid_request");
    bad(json!({ "name": "line\nbreak", "scopes": ["usage:write"] })).await.expect_problem(422, "invalid_name");
}

async fn only_active_users_holding_a_seat_get_credits_reserved(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let gateway = app.service_key(&["usage:write"]).await;
    let kind = app.create_license("Pro", 5).await;

    let unlicensed = id_of(&app.create_user("free@example.com", "user").await);
    app.set_budget(&unlicensed, policy(100, "monthly")).await.expect(200);
    app.reserve(&gateway, &unlicensed, 10, "k-1").await.expect_problem(403, "no_license");
    let leaving = app.licensed_user_with_budget("leaving@example.com", policy(100, "monthly")).await;
    app.reserve(&gateway, &leaving, 10, "k-2").await.expect(201);
    app.delete(&format!("/v1/users/{leaving}"), &app.admin_token).await.expect(200);
    app.reserve(&gateway, &leaving, 10, "k-3").await.expect_problem(403, "user_inactive");
    let (invited, _) = app.invite_and_read_link("new@example.com", json!({ "license": kind })).await;
    app.reserve(&gateway, &id_of(&invited), 10, "k-4").await.expect_problem(403, "user_inactive");
    let nobody = uuid::Uuid::now_v7().to_string();
    app.reserve(&gateway, &nobody, 10, "k-5").await.expect_problem(404, "user_not_found");
    assert_eq!(spent(&app.budget(&unlicensed).await), [0, 0, 100], "nothing held for a refused user");

    // A refusal keeps nothing under its key: once licensed, the same request is granted.
    app.assign(&unlicensed, &kind).await.expect(200);
    assert_eq!(spent(&app.reserve(&gateway, &unlicensed, 10, "k-1").await.expect(201)["budget"]), [0, 10, 90]);
    // A user without a budget has no limit.
    let unlimited = app.licensed_user("unlimited@example.com").await;
    let granted = app.reserve(&gateway, &unlimited, 1_000_000_000_000_000, "k-6").await;
    assert!(granted.expect(201).get("budget").is_none() && granted.body.get("remaining").is_none(), "{granted:?}");

    let reserve = |body: Value| app.post("/v1/usage/reservations", &gateway, body);
    let valid = json!({ "user": unlimited, "credits": 1, "idempotency_key": "k-7" });
    for (field, value) in [
        ("credits", json!(-1)),
        ("credits", json!(1_000_000_000_000_001_i64)),
        ("ttl_seconds", json!(0)),
        ("ttl_seconds", json!(3601)),
        ("idempotency_key", json!("")),
        ("idempotency_key", json!("k".repeat(201))),
        ("user", json!("not-a-uuid")),
        ("priority", json!("high")),
    ] {
        let mut body = valid.clone();
        body[field] = value;
        reserve(body).await.expect_problem(400, "invalid_request");
    }
    let mut spaced = valid.clone();
    spaced["idempotency_key"] = json!("has space");
    reserve(spaced).await.expect_problem(422, "invalid_idempotency_key");
}

async fn a_credential_meters_and_reads_only_its_own_tenant(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let other = app.another_tenant("other", "boss@other.example.com").await;
    let ours = app.service_key(&["usage:write", "entitlements:read"]).await;
    let theirs = other.service_key(&["usage:write", "entitlements:read"]).await;
    let user = app.licensed_user_with_budget("ours@example.com", policy(100, "monthly")).await;
    let stranger = other.licensed_user_with_budget("theirs@example.com", policy(100, "monthly")).await;
    let held = id_of(app.reserve(&ours, &user, 10, "shared-key").await.expect(201));

    app.reserve(&theirs, &user, 10, "k-1").await.expect_problem(404, "user_not_found");
    app.commit(&theirs, &held, 10, json!({})).await.expect_problem(404, "reservation_not_found");
    app.release(&theirs, &held).await.expect_problem(404, "reservation_not_found");
    let crossing = app.record(&theirs, vec![event("e-1", &user, 10, json!({}))]).await;
    assert_eq!(crossing.expect(200)["results"][0]["status"], "user_not_found");
    app.get(&format!("/v1/users/{user}/entitlements"), &theirs).await.expect_problem(404, "user_not_found");
    app.get(&format!("/v1/users/{user}/budget"), &other.admin_token).await.expect_problem(404, "user_not_found");
    assert_eq!(spent(&app.budget(&user).await), [0, 10, 90], "untouched");

    // Keys are the tenant's own: the same key in another tenant is another request.
    let same_key = other.reserve(&theirs, &stranger, 20, "shared-key").await;
    assert_ne!(id_of(same_key.expect(201)), held);
    let mine = app.record(&ours, vec![event("e-1", &user, 1, json!({}))]).await;
    assert_eq!(mine.expect(200)["results"][0]["status"], "recorded");
    let theirs_too = other.record(&theirs, vec![event("e-1", &stranger, 2, json!({}))]).await;
    assert_eq!(theirs_too.expect(200)["results"][0]["status"], "recorded");
    assert_eq!(spent(&app.budget(&user).await), [1, 10, 89]);
    assert_eq!(spent(&other.budget(&stranger).await), [2, 20, 78]);
    assert_eq!(budget_totals(&app).await["consumed_today"], 1);
    assert_eq!(budget_totals(&other).await["consumed_today"], 2);
}

on_both_databases!(
    people_never_meter_and_a_credential_does_only_what_its_scopes_allow,
    only_active_users_holding_a_seat_get_credits_reserved,
    a_credential_meters_and_reads_only_its_own_tenant,
);
