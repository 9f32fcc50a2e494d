//! OpenID Connect end to end: a real issuer on 127.0.0.1 (`TestIssuer`), trusted through
//! `PUT /v1/settings/oidc`, whose tokens act as the users they map to; the tokens refused; key
//! rotation; provisioning just in time; revocation; and the settings API itself.

use std::sync::Arc;
use std::time::Duration;

use roster_domain::ports::SystemClock;
use roster_http::Settings;
use roster_identity::testing::TestIssuer;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{
    AUDIENCE, TestApp, epoch_now, id_of, spawn_app, spawn_app_with, spawn_oidc_app, spawn_oidc_app_with,
};

/// `GET /v1/me` with `token` answers the user `id`.
async fn acts_as(app: &TestApp, token: &str, id: &str) {
    assert_eq!(app.get("/v1/me", token).await.expect(200)["id"], id);
}

/// What `GET /v1/users` answers `token`, for the refusals of people who may not sign in
/// (`not_provisioned`, `user_inactive`); [`a_refused_person_gets_403_on_their_own_endpoints_too`]
/// shows `GET /v1/me` and `/v1/me/entitlements` refuse them alike.
async fn refusal(app: &TestApp, token: &str) -> crate::helpers::Reply {
    app.get("/v1/users", token).await
}

/// Sleeps into the next whole second: a token issued then has an `iat` later than anything
/// done before the sleep.
async fn next_second() {
    let into_second = chrono::Utc::now().timestamp_subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1000 - into_second.min(999)) + 20)).await;
}

async fn an_issuers_token_acts_as_the_user_it_maps_to_with_their_role(db: TestDatabase) {
    let app = spawn_oidc_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let me = app.get("/v1/me", &app.admin_token).await.expect(200).clone();
    let admin_email = me["email"].as_str().unwrap();

    let token = app.id_token("sub-ada", "Ada@Example.com");

    acts_as(&app, &token, &ada).await;
    app.get("/v1/users", &token).await.expect_problem(403, "forbidden");
    let es256 = app.issuer.token_es256(app.claims("sub-ada", "ada@example.com"));
    acts_as(&app, &es256, &ada).await;
    let admin = app.id_token("sub-admin", admin_email);
    assert_eq!(app.get("/v1/users", &admin).await.expect(200)["items"].as_array().unwrap().len(), 2);
    let created = app.post("/v1/users", &admin, json!({ "email": "new@example.com" })).await;
    assert_eq!(created.expect(201)["role"], "user");
}

async fn without_an_email_the_preferred_username_maps_the_token(db: TestDatabase) {
    let app = spawn_oidc_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let bob = id_of(&app.create_user("bob@example.com", "user").await);

    let no_email = app.claims_with("sub-bob", "", json!({ "email": null, "preferred_username": "bob@example.com" }));
    acts_as(&app, &app.issuer.token(no_email), &bob).await;

    // An address the issuer has not verified maps to nobody: the username decides.
    let unverified = app.claims_with(
        "sub-carl",
        "ada@example.com",
        json!({ "email_verified": false, "preferred_username": "bob@example.com" }),
    );
    acts_as(&app, &app.issuer.token(unverified), &bob).await;
    let neither = app.claims_with("sub-dan", "", json!({ "email": null, "preferred_username": "dan" }));
    refusal(&app, &app.issuer.token(neither)).await.expect_problem(403, "not_provisioned");
    acts_as(&app, &app.id_token("sub-ada", "ada@example.com"), &ada).await;
}

async fn a_linked_subject_keeps_its_user_when_the_issuer_sends_another_email(db: TestDatabase) {
    let app = spawn_oidc_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    app.create_user("bob@example.com", "user").await;
    refusal(&app, &app.id_token("sub-other", "nobody@example.com")).await.expect_problem(403, "not_provisioned");

    acts_as(&app, &app.id_token("sub-ada", "ada@example.com"), &ada).await;

    acts_as(&app, &app.id_token("sub-ada", "ada.lovelace@example.com"), &ada).await;
    acts_as(&app, &app.id_token("sub-ada", "bob@example.com"), &ada).await;
}

async fn forged_expired_and_foreign_tokens_are_unauthenticated_with_a_reason(db: TestDatabase) {
    let app = spawn_oidc_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let issuer = &app.issuer;
    let now = epoch_now();
    let with = |changes: Value| app.claims_with("sub-ada", "ada@example.com", changes);
    let valid = app.id_token("sub-ada", "ada@example.com");
    let elsewhere = TestIssuer::start().await;

    let refused = [
        ("expired", issuer.token(with(json!({ "iat": now - 900, "nbf": now - 900, "exp": now - 120 }))), "exp"),
        ("not valid yet", issuer.token(with(json!({ "nbf": now + 120 }))), "nbf"),
        ("another audience", issuer.token(issuer.claims("api://other", "sub-ada", "ada@example.com")), "aud"),
        ("an unknown key", issuer.token_with_kid(with(json!({})), "rsa-99"), "key"),
        ("a tampered payload", issuer.tampered(&valid), "signature"),
        ("alg none", issuer.unsigned_token(with(json!({}))), "algorithm"),
        ("HS256 keyed with the public key", issuer.hs256_with_public_key(with(json!({}))), "HS256"),
    ];
    for (case, token, reason) in refused {
        let answer = app.get("/v1/me", &token).await;
        answer.expect_problem(401, "unauthenticated");
        let detail = answer.body["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(reason), "{case}: the detail gives the reason ({reason}): {detail}");
        assert!(!detail.contains(&token), "{case}: never the token");
    }
    let foreign = elsewhere.token(elsewhere.claims(AUDIENCE, "sub-ada", "ada@example.com"));
    app.get("/v1/me", &foreign).await.expect_problem(401, "unauthenticated");

    // Within the 60 s allowed for clock skew.
    acts_as(&app, &issuer.token(with(json!({ "nbf": now + 30 }))), &ada).await;
    acts_as(&app, &issuer.token(with(json!({ "iat": now - 900, "nbf": now - 900, "exp": now - 30 }))), &ada).await;
    acts_as(&app, &valid, &ada).await;
}

async fn a_key_rotated_at_the_issuer_is_picked_up_without_a_restart(db: TestDatabase) {
    let settings = Settings { oidc_min_refetch_seconds: 0, ..Settings::for_database(&db.url) };
    let app = spawn_oidc_app_with(&settings, json!({})).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let old = app.id_token("sub-ada", "ada@example.com");
    acts_as(&app, &old, &ada).await;

    tokio::task::block_in_place(|| app.issuer.rotate());
    let new = app.id_token("sub-ada", "ada@example.com");

    acts_as(&app, &new, &ada).await;
    app.get("/v1/me", &old).await.expect_problem(401, "unauthenticated");
}

async fn unknown_keys_refetch_the_issuers_keys_at_most_once_per_ten_seconds(db: TestDatabase) {
    let app = spawn_oidc_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    acts_as(&app, &app.id_token("sub-ada", "ada@example.com"), &ada).await;
    let fetched = app.issuer.jwks_fetches();
    assert!(fetched >= 1, "the keys were fetched for the first token");

    for kid in ["rsa-41", "rsa-42"] {
        let token = app.issuer.token_with_kid(app.claims("sub-ada", "ada@example.com"), kid);
        app.get("/v1/me", &token).await.expect_problem(401, "unauthenticated");
    }

    assert!(app.issuer.jwks_fetches() - fetched <= 1, "{} fetches after {fetched}", app.issuer.jwks_fetches());
    acts_as(&app, &app.id_token("sub-ada", "ada@example.com"), &ada).await;
}

async fn an_unknown_person_is_not_provisioned_unless_the_tenant_creates_users_just_in_time(db: TestDatabase) {
    let app = spawn_oidc_app(&db).await;
    let token = app.id_token("sub-nina", "nina@example.com");

    refusal(&app, &token).await.expect_problem(403, "not_provisioned");

    let users = app.get("/v1/users", &app.admin_token).await.expect(200).clone();
    assert_eq!(users["items"].as_array().unwrap().len(), 1, "nobody was created: {users}");
    let jit = json!({ "issuer": app.issuer.issuer(), "audience": AUDIENCE, "just_in_time": true });
    assert_eq!(app.put("/v1/settings/oidc", &app.admin_token, jit).await.expect(200)["just_in_time"], true);
    let off = json!({ "issuer": app.issuer.issuer(), "audience": AUDIENCE, "just_in_time": false });
    app.put("/v1/settings/oidc", &app.admin_token, off).await.expect(200);
    refusal(&app, &token).await.expect_problem(403, "not_provisioned");
}

async fn just_in_time_an_unknown_person_becomes_an_active_user_without_a_license_with_the_default_budget(
    db: TestDatabase,
) {
    let app = spawn_oidc_app_with(&Settings::for_database(&db.url), json!({ "just_in_time": true })).await;
    let default = json!({ "limit": 250, "period": "daily", "hard": true });
    app.patch("/v1/settings", &app.admin_token, json!({ "default_budget": default })).await.expect(200);
    let claims = app.claims_with("sub-nina", "nina@example.com", json!({ "name": "Nina Simone" }));
    let token = app.issuer.token(claims);

    let me = app.get("/v1/me", &token).await.expect(200).clone();
    let budget = &me["budget"];
    assert_eq!([&budget["limit"], &budget["period"], &budget["hard"]], [&json!(250), &json!("daily"), &json!(true)]);

    let id = id_of(&me);
    let user = app.user(&id).await;
    assert_eq!(
        [&user["email"], &user["name"], &user["role"], &user["source"], &user["status"]],
        ["nina@example.com", "Nina Simone", "user", "oidc", "active"],
        "{user}"
    );
    assert!(user["license"].is_null(), "no license: {user}");
    let trail = app.get(&format!("/v1/audit?target={id}"), &app.admin_token).await.expect(200).clone();
    let events = trail["items"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{trail}");
    assert_eq!([&events[1]["action"], &events[1]["actor"]["type"]], ["user.created", "system"], "{trail}");
    let given = json!({ "limit": 250, "period": "daily", "warn_at": null, "hard": true });
    assert_eq!(events[1]["after"]["budget"], given, "the default budget came with the creation: {trail}");
    let linked = &events[0];
    assert_eq!([&linked["action"], &linked["actor"]["id"]], [&json!("user.identity_linked"), &json!(id)], "{trail}");
    assert_eq!(linked["after"], json!({ "issuer": app.issuer.issuer(), "subject": "sub-nina" }), "{trail}");
    acts_as(&app, &token, &id).await;
    app.get("/v1/users", &token).await.expect_problem(403, "forbidden");
    assert_eq!(app.get("/v1/users", &app.admin_token).await.expect(200)["items"].as_array().unwrap().len(), 2);

    // Purged, the person leaves no trace: their identity provider's id for them goes too.
    let purge = app.delete(&format!("/v1/users/{id}/purge?confirm=nina@example.com"), &app.admin_token).await;
    assert_eq!(purge.status, 204, "{purge:?}");
    let trail = app.get(&format!("/v1/audit?target={id}"), &app.admin_token).await.expect(200).clone();
    let linked = trail["items"].as_array().unwrap().iter().find(|e| e["action"] == "user.identity_linked").cloned();
    assert_eq!(linked.expect("still recorded")["after"], json!({ "issuer": app.issuer.issuer() }), "{trail}");
}

async fn a_deactivated_user_is_refused_and_reactivation_needs_a_fresh_token(db: TestDatabase) {
    let app = spawn_oidc_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let before = app.id_token("sub-ada", "ada@example.com");
    acts_as(&app, &before, &ada).await;

    app.delete(&format!("/v1/users/{ada}"), &app.admin_token).await.expect(200);

    refusal(&app, &before).await.expect_problem(403, "user_inactive");
    refusal(&app, &app.id_token("sub-ada", "ada@example.com")).await.expect_problem(403, "user_inactive");
    app.post(&format!("/v1/users/{ada}/reactivate"), &app.admin_token, json!({})).await.expect(200);
    app.get("/v1/me", &before).await.expect_problem(401, "unauthenticated");
    next_second().await;
    acts_as(&app, &app.id_token("sub-ada", "ada@example.com"), &ada).await;
}

async fn ending_a_users_sessions_refuses_the_tokens_issued_before(db: TestDatabase) {
    let app = spawn_oidc_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let before = app.id_token("sub-ada", "ada@example.com");
    acts_as(&app, &before, &ada).await;

    let revoked = app.delete(&format!("/v1/users/{ada}/sessions"), &app.admin_token).await;

    assert_eq!(revoked.expect(200)["ended"], 0, "no built-in session to end");
    app.get("/v1/me", &before).await.expect_problem(401, "unauthenticated");
    next_second().await;
    acts_as(&app, &app.id_token("sub-ada", "ada@example.com"), &ada).await;
    app.get("/v1/me", &before).await.expect_problem(401, "unauthenticated");
}

async fn administrators_read_set_and_remove_the_oidc_settings(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (_, collaborator) = app.user_with_token("cole@example.com", "collaborator").await;
    let put = |body: Value| app.put("/v1/settings/oidc", &app.admin_token, body);
    app.get("/v1/settings/oidc", &app.admin_token).await.expect_problem(404, "oidc_not_configured");

    put(json!({ "issuer": "http://example.com", "audience": "roster" })).await.expect_problem(422, "invalid_issuer");
    put(json!({ "audience": "roster" })).await.expect_problem(422, "invalid_issuer");
    let userinfo = json!({ "issuer": "http://127.0.0.1:80@evil.example.com/", "audience": "roster" });
    put(userinfo).await.expect_problem(422, "invalid_issuer");
    let bad_guid = json!({ "entra_tenant_id": "not-a-guid", "audience": "roster" });
    put(bad_guid).await.expect_problem(422, "invalid_entra_tenant_id");
    let unknown_field = json!({ "issuer": "https://idp.example.com", "audience": "roster", "scope": "x" });
    put(unknown_field).await.expect_problem(400, "invalid_request");
    app.get("/v1/settings/oidc", &app.admin_token).await.expect_problem(404, "oidc_not_configured");

    let set = put(json!({ "issuer": "https://idp.example.com/acme", "audience": "roster" })).await;
    let expected = json!({ "issuer": "https://idp.example.com/acme", "audience": "roster", "just_in_time": false });
    assert_eq!(set.expect(200), &expected);
    assert_eq!(app.get("/v1/settings/oidc", &app.admin_token).await.expect(200), &expected);

    let guid = "0b5e7c1a-3f2d-4e8b-9a6c-1d2e3f4a5b6c";
    let entra = put(json!({ "entra_tenant_id": guid, "audience": "api://roster", "just_in_time": true })).await;
    let expected = json!({
        "issuer": format!("https://login.microsoftonline.com/{guid}/v2.0"),
        "audience": "api://roster",
        "entra_tenant_id": guid,
        "just_in_time": true,
    });
    assert_eq!(entra.expect(200), &expected);
    assert_eq!(app.get("/v1/settings/oidc", &app.admin_token).await.expect(200), &expected);

    app.get("/v1/settings/oidc", &collaborator).await.expect_problem(403, "forbidden");
    let theirs = json!({ "issuer": "https://evil.example.com", "audience": "roster" });
    app.put("/v1/settings/oidc", &collaborator, theirs).await.expect_problem(403, "forbidden");
    let bad = json!({ "issuer": "bad", "audience": "roster" });
    app.put("/v1/settings/oidc", &collaborator, bad).await.expect_problem(403, "forbidden");
    app.delete("/v1/settings/oidc", &collaborator).await.expect_problem(403, "forbidden");
    assert_eq!(app.get("/v1/settings/oidc", &app.admin_token).await.expect(200), &expected, "unchanged");

    let trail = app.get("/v1/audit?action=tenant.oidc_changed", &app.admin_token).await.expect(200).clone();
    assert_eq!(trail["items"].as_array().unwrap().len(), 2, "{trail}");
    assert_eq!(trail["items"][0]["actor"]["id"], app.admin_id.as_str());
    let removed = app.delete("/v1/settings/oidc", &app.admin_token).await;
    assert_eq!(removed.status, 204, "{removed:?}");
    app.get("/v1/settings/oidc", &app.admin_token).await.expect_problem(404, "oidc_not_configured");
    assert_eq!(app.delete("/v1/settings/oidc", &app.admin_token).await.status, 204, "idempotent");
}

async fn once_the_issuer_is_removed_its_tokens_are_refused(db: TestDatabase) {
    let app = spawn_oidc_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let token = app.id_token("sub-ada", "ada@example.com");
    acts_as(&app, &token, &ada).await;

    let removed = app.delete("/v1/settings/oidc", &app.admin_token).await;

    assert_eq!(removed.status, 204, "{removed:?}");
    app.get("/v1/me", &token).await.expect_problem(401, "unauthenticated");
    app.get("/v1/me", &app.id_token("sub-ada", "ada@example.com")).await.expect_problem(401, "unauthenticated");
}

async fn a_tenant_that_trusts_no_issuer_refuses_every_jwt(db: TestDatabase) {
    // Loopback issuers allowed: only trust may keep the keys from being fetched.
    let settings = Settings { oidc_allow_private_networks: true, ..Settings::for_database(&db.url) };
    let app = spawn_app_with(&settings, Arc::new(SystemClock)).await;
    let issuer = TestIssuer::start().await;
    app.create_user("ada@example.com", "user").await;

    let token = issuer.token(issuer.claims(AUDIENCE, "sub-ada", "ada@example.com"));

    app.get("/v1/me", &token).await.expect_problem(401, "unauthenticated");
    assert_eq!(issuer.jwks_fetches(), 0, "an issuer no tenant trusts is never asked for keys");
}

async fn a_refused_person_gets_403_on_their_own_endpoints_too(db: TestDatabase) {
    let app = spawn_oidc_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let stranger = app.id_token("sub-nina", "nina@example.com");
    app.delete(&format!("/v1/users/{ada}"), &app.admin_token).await.expect(200);
    let inactive = app.id_token("sub-ada", "ada@example.com");

    for path in ["/v1/me", "/v1/me/entitlements"] {
        app.get(path, &stranger).await.expect_problem(403, "not_provisioned");
        app.get(path, &inactive).await.expect_problem(403, "user_inactive");
    }
}

async fn an_issuer_and_audience_trusted_by_one_tenant_cannot_be_trusted_by_another(db: TestDatabase) {
    let app = spawn_oidc_app(&db).await;
    let beta = app.another_tenant("beta", "bob@beta.example").await;
    let bob = id_of(&app.get("/v1/me", &beta.admin_token).await.expect(200).clone());
    let same = json!({ "issuer": app.issuer.issuer(), "audience": AUDIENCE, "just_in_time": true });

    beta.put("/v1/settings/oidc", &beta.admin_token, same).await.expect_problem(409, "issuer_taken");

    beta.get("/v1/settings/oidc", &beta.admin_token).await.expect_problem(404, "oidc_not_configured");
    let for_default = app.id_token("sub-bob", "bob@beta.example");
    refusal(&app, &for_default).await.expect_problem(403, "not_provisioned");
    assert_eq!(app.get("/v1/users", &app.admin_token).await.expect(200)["items"].as_array().unwrap().len(), 1);
    // The same issuer with an audience of beta's own: its tokens sign beta's users in.
    let own = json!({ "issuer": app.issuer.issuer(), "audience": "api://beta" });
    beta.put("/v1/settings/oidc", &beta.admin_token, own).await.expect(200);
    let for_beta = app.issuer.token(app.issuer.claims("api://beta", "sub-bob", "bob@beta.example"));
    acts_as(&app, &for_beta, &bob).await;
    // A token for both audiences names no tenant of its own.
    let both = app.claims_with("sub-bob", "bob@beta.example", json!({ "aud": [AUDIENCE, "api://beta"] }));
    app.get("/v1/me", &app.issuer.token(both)).await.expect_problem(401, "unauthenticated");
}

async fn an_issuer_on_a_private_address_is_not_reached_unless_the_operator_allows_it(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let issuer = TestIssuer::start().await;
    app.create_user("ada@example.com", "user").await;
    let trust = json!({ "issuer": issuer.issuer(), "audience": AUDIENCE });
    app.put("/v1/settings/oidc", &app.admin_token, trust).await.expect(200);

    let refused = app.get("/v1/me", &issuer.token(issuer.claims(AUDIENCE, "sub-ada", "ada@example.com"))).await;

    refused.expect_problem(401, "unauthenticated");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("cannot be reached") && !detail.contains("127.0.0.1"),
        "the reason is only logged: {detail}"
    );
    assert_eq!(issuer.discovery_fetches(), 0, "nothing reached the issuer");
}

on_both_databases!(
    an_issuer_and_audience_trusted_by_one_tenant_cannot_be_trusted_by_another,
    an_issuer_on_a_private_address_is_not_reached_unless_the_operator_allows_it,
    an_issuers_token_acts_as_the_user_it_maps_to_with_their_role,
    without_an_email_the_preferred_username_maps_the_token,
    a_linked_subject_keeps_its_user_when_the_issuer_sends_another_email,
    forged_expired_and_foreign_tokens_are_unauthenticated_with_a_reason,
    a_key_rotated_at_the_issuer_is_picked_up_without_a_restart,
    unknown_keys_refetch_the_issuers_keys_at_most_once_per_ten_seconds,
    an_unknown_person_is_not_provisioned_unless_the_tenant_creates_users_just_in_time,
    a_deactivated_user_is_refused_and_reactivation_needs_a_fresh_token,
    ending_a_users_sessions_refuses_the_tokens_issued_before,
    administrators_read_set_and_remove_the_oidc_settings,
    once_the_issuer_is_removed_its_tokens_are_refused,
    a_tenant_that_trusts_no_issuer_refuses_every_jwt,
    a_refused_person_gets_403_on_their_own_endpoints_too,
    just_in_time_an_unknown_person_becomes_an_active_user_without_a_license_with_the_default_budget,
);
