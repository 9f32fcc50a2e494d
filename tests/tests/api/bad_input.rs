//! Bad input gets a 4xx problem with a stable code: never a 500, never a panic.

use reqwest::Method;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::json;

use crate::helpers::{reply, spawn_app};

/// `text` percent-encoded for a query string.
fn urlencoding(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn malformed_bodies_are_400_or_415_problems(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let url = format!("{}/v1/users", app.base);
    let send = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app.client.post(&url).bearer_auth(&app.admin_token).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        async move { reply(request.send().await.unwrap()).await }
    };
    send(r#"{"email": "x@example.com""#, Some("application/json")).await.expect_problem(400, "invalid_request");
    send(r#"{"email": 42}"#, Some("application/json")).await.expect_problem(400, "invalid_request");
    send(r#"{"email": "x@example.com", "admin": true}"#, Some("application/json"))
        .await
        .expect_problem(400, "invalid_request");
    send(r#"{"email": "x@example.com", "role": "superuser"}"#, Some("application/json"))
        .await
        .expect_problem(400, "invalid_request");
    send(r#"[]"#, Some("application/json")).await.expect_problem(400, "invalid_request");
    // Numbers and booleans are not strings, whatever a lenient parser would make of them.
    send(r#"{"email": "x@example.com", "name": 1}"#, Some("application/json"))
        .await
        .expect_problem(400, "invalid_request");
    send(r#"{"email": "x@example.com", "referral_code": true}"#, Some("application/json"))
        .await
        .expect_problem(400, "invalid_request");
    send(r#"{"email": "x@example.com", "phone": 33612345678}"#, Some("application/json"))
        .await
        .expect_problem(400, "invalid_request");
    send(r#"{"email": "x@example.com"}"#, None).await.expect_problem(415, "unsupported_media_type");
    send(r#"{"email": "x@example.com"}"#, Some("text/plain")).await.expect_problem(415, "unsupported_media_type");
}

async fn unacceptable_values_are_422_problems_naming_the_field(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let create = |body| app.post("/v1/users", &app.admin_token, body);
    // Every unacceptable email, name, phone, referral code and search is one 422 code, whatever
    // makes it so (its form, its length, the white space around it).
    for email in ["no-tld@localhost", "not-an-email", "x@example..com", ".x@example.com", "", &"x".repeat(300)] {
        create(json!({ "email": email })).await.expect_problem(422, "invalid_email");
    }
    create(json!({ "email": " padded@example.com " })).await.expect(201);
    for name in ["", "   ", &"n".repeat(201)] {
        create(json!({ "email": "x@example.com", "name": name })).await.expect_problem(422, "invalid_name");
    }
    for code in ["", "has space", "é", &"r".repeat(65)] {
        create(json!({ "email": "x@example.com", "referral_code": code }))
            .await
            .expect_problem(422, "invalid_referral_code");
        app.get(&format!("/v1/users?referral_code={}", urlencoding(code)), &app.admin_token)
            .await
            .expect_problem(422, "invalid_referral_code");
    }
    let long_search = format!("{}a", "%20".repeat(150));
    app.get(&format!("/v1/users?q={long_search}"), &app.admin_token).await.expect(200);
    app.get(&format!("/v1/users?q={}", "a".repeat(101)), &app.admin_token).await.expect_problem(422, "invalid_search");
    create(json!({ "email": "x@example.com", "phone": "" })).await.expect_problem(422, "invalid_phone");
    create(json!({ "email": "x@example.com", "phone": "06 12 34 56 78" })).await.expect_problem(422, "invalid_phone");
    create(json!({ "email": "x@example.com", "phone": "+33 12" })).await.expect_problem(422, "invalid_phone");
    create(json!({ "email": "x@example.com", "name": "line\nbreak" })).await.expect_problem(422, "invalid_name");
    create(json!({ "email": "x@example.com", "name": "   " })).await.expect_problem(422, "invalid_name");
    app.get("/v1/users?cursor=garbage", &app.admin_token).await.expect_problem(422, "invalid_cursor");
    create(json!({ "email": "second@example.com" })).await.expect(201);
    let by_email = app.get("/v1/users?sort=email&limit=1", &app.admin_token).await;
    let cursor = by_email.expect(200)["next_cursor"].as_str().expect("a second page").to_owned();
    app.get(&format!("/v1/users?sort=email&cursor={cursor}"), &app.admin_token).await.expect(200);
    for other_order in ["sort=created_at", "sort=email&order=asc"] {
        app.get(&format!("/v1/users?{other_order}&cursor={cursor}"), &app.admin_token)
            .await
            .expect_problem(422, "invalid_cursor");
    }
    app.get("/v1/audit?cursor=garbage", &app.admin_token).await.expect_problem(422, "invalid_cursor");
    // A cursor we never issued, naming an instant no database orders alike: cd|-7000000000000000000|<uuid>.
    let far = "Y2R8LTcwMDAwMDAwMDAwMDAwMDAwMDB8MDE5MDAwMDAtMDAwMC03MDAwLTgwMDAtMDAwMDAwMDAwMDAw";
    app.get(&format!("/v1/users?cursor={far}"), &app.admin_token).await.expect_problem(422, "invalid_cursor");
    app.get("/v1/users?q=a%00b", &app.admin_token).await.expect_problem(422, "invalid_search");
    let year_10000 = "9999-12-31T23:59:59-01:00";
    app.get(&format!("/v1/users?created_to={year_10000}"), &app.admin_token).await.expect_problem(422, "invalid_time");
    app.get(&format!("/v1/audit?from={year_10000}"), &app.admin_token).await.expect_problem(422, "invalid_time");
}

async fn malformed_parameters_are_400_problems(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let token = &app.admin_token;
    app.get("/v1/users/not-a-uuid", token).await.expect_problem(400, "invalid_request");
    app.get("/v1/users?role=king", token).await.expect_problem(400, "invalid_request");
    app.get("/v1/users?created_from=yesterday", token).await.expect_problem(400, "invalid_request");
    app.get("/v1/users?limit=many", token).await.expect_problem(400, "invalid_request");
    app.get("/v1/audit?actor=nobody", token).await.expect_problem(400, "invalid_request");
    app.get("/v1/audit?action=user.exploded", token).await.expect_problem(400, "invalid_request");
    app.put(&format!("/v1/users/{}/role", app.admin_id), token, json!({})).await.expect_problem(400, "invalid_request");
    app.get(&format!("/v1/users/{}", uuid::Uuid::now_v7()), token).await.expect_problem(404, "user_not_found");
}

async fn oversized_bodies_are_refused_with_413(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let huge = json!({ "email": "x@example.com", "name": "n".repeat(70 * 1024) });
    app.post("/v1/users", &app.admin_token, huge).await.expect_problem(413, "payload_too_large");
    let chunks: Vec<Result<String, std::io::Error>> = (0..100).map(|_| Ok("x".repeat(1024))).collect();
    let streamed = app
        .client
        .post(format!("{}/v1/users", app.base))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    reply(streamed).await.expect_problem(413, "payload_too_large");

    // Operations without a request body never read it: no 413 there (none is declared).
    let ignored = app
        .client
        .get(format!("{}/v1/me", app.base))
        .bearer_auth(&app.admin_token)
        .body("x".repeat(300 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(ignored.status(), 200);
}

async fn unknown_routes_and_methods_are_problems(db: TestDatabase) {
    let app = spawn_app(&db).await;
    app.get("/v2/users", &app.admin_token).await.expect_problem(404, "route_not_found");
    let wrong = app.call(Method::PUT, "/v1/users", Some(&app.admin_token), Some(json!({}))).await;
    wrong.expect_problem(405, "method_not_allowed");
    assert_eq!(wrong.headers["allow"], "GET, POST");
    let trace = app.call(Method::TRACE, &format!("/v1/users/{}", app.admin_id), Some(&app.admin_token), None).await;
    trace.expect_problem(405, "method_not_allowed");
    assert_eq!(trace.headers["allow"], "DELETE, GET, PATCH");
}

async fn a_patch_with_a_wrongly_typed_field_changes_nothing(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let path = format!("/v1/users/{}", app.admin_id);
    app.patch(&path, &app.admin_token, json!({ "name": 1 })).await.expect_problem(400, "invalid_request");
    let me = app.get(&path, &app.admin_token).await;
    assert!(me.expect(200).get("name").is_none(), "absent fields are omitted, not null: {me:?}");
}

on_both_databases!(
    malformed_bodies_are_400_or_415_problems,
    unacceptable_values_are_422_problems_naming_the_field,
    malformed_parameters_are_400_problems,
    oversized_bodies_are_refused_with_413,
    unknown_routes_and_methods_are_problems,
    a_patch_with_a_wrongly_typed_field_changes_nothing,
);
