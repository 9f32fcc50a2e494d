//! Built-in sign-in end to end, over a real SMTP server and a clock the test moves: magic links,
//! TOTP enrollment and codes, the administrator's MFA reset, sessions and their ends.
//!
//! The two public endpoints allow 10 attempts a minute per address (each test has its own
//! instance): every test stays within that.

use chrono::TimeDelta;
use reqwest::Method;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{TestApp, id_of, spawn_app, spawn_mailing_app};
use crate::invitations::instant;

/// The `session.id` of a sign-in's JSON.
fn session_id(signed_in: &Value) -> String {
    signed_in["session"]["id"].as_str().unwrap_or_else(|| panic!("no session in {signed_in}")).to_owned()
}

/// The `token` of a sign-in's JSON.
fn token(signed_in: &Value) -> String {
    signed_in["token"].as_str().unwrap_or_else(|| panic!("no token in {signed_in}")).to_owned()
}

/// `GET /v1/me` with `token` answers the user `id`.
async fn acts_as(app: &TestApp, token: &str, id: &str) {
    assert_eq!(app.get("/v1/me", token).await.expect(200)["id"], id);
}

async fn a_link_is_mailed_to_an_active_user_only_and_the_answer_never_tells_who_has_an_account(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    app.create_user("ada@example.com", "user").await;
    let gone = id_of(&app.create_user("gone@example.com", "user").await);
    app.delete(&format!("/v1/users/{gone}"), &app.admin_token).await.expect(200);
    app.invite_and_read_link("invited@example.com", json!({})).await;

    let answers = [
        app.request_link("default", "nobody@example.com").await,
        app.request_link("no-such-tenant", "ada@example.com").await,
        app.request_link("default", "invited@example.com").await,
        app.request_link("default", "gone@example.com").await,
    ];
    app.expect_no_mail().await;
    let requested = app.request_link("default", "Ada@Example.com").await;

    let body = requested.expect(202);
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    for answer in &answers {
        assert_eq!(answer.expect(202), body, "the same answer whoever asks");
    }
    let message = app.smtp.next_message(crate::helpers::MAIL_ARRIVES_WITHIN).await.expect("ada's link arrives");
    assert_eq!(message.to, ["ada@example.com"], "the first mail is ada's: nobody else got one");
    assert_eq!(message.header("Subject").as_deref(), Some("Sign in to default"));
    let link = crate::helpers::sign_in_link(&message);
    assert!(link.starts_with(&format!("{}/sign-in?token=rml_", app.base)), "{link}");
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{page:?}");
    crate::helpers::assert_secret_page_headers(page.headers());
    assert!(page.text().await.unwrap().contains("/v1/auth/magic-link/verify"), "the page posts the token to the API");
    app.expect_no_mail().await;
}

async fn a_link_signs_in_once_for_a_working_session(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let link = app.link_for("ada@example.com").await;

    let verified = app.verify_link(&link, None).await;

    let signed_in = verified.expect(201).clone();
    let secret = token(&signed_in);
    assert!(secret.starts_with("rss_"), "{signed_in}");
    assert_eq!([&signed_in["token_type"], &signed_in["mfa_enrollment_required"]], [&json!("Bearer"), &json!(false)]);
    let session = &signed_in["session"];
    assert_eq!(
        [&session["state"], &session["method"], &session["mfa"]],
        [&json!("active"), &json!("magic_link"), &json!(false)],
        "{signed_in}"
    );
    assert_eq!(signed_in["expires_at"], session["expires_at"]);
    assert_eq!(instant(&session["expires_at"]) - instant(&session["created_at"]), TimeDelta::hours(12));
    acts_as(&app, &secret, &ada).await;
    assert_eq!(app.audited(&ada).await, ["user.signed_in", "user.created"]);

    app.verify_link(&link, None).await.expect_problem(401, "invalid_link");
    acts_as(&app, &secret, &ada).await;
}

async fn a_link_works_for_15_minutes_only(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    app.create_user("ada@example.com", "user").await;
    let early = app.link_for("ada@example.com").await;
    let late = app.link_for("ada@example.com").await;

    app.clock.advance(TimeDelta::minutes(15) - TimeDelta::seconds(1));
    app.verify_link(&early, None).await.expect(201);
    app.clock.advance(TimeDelta::minutes(1));

    app.verify_link(&late, None).await.expect_problem(401, "invalid_link");
}

async fn after_enrolling_totp_every_sign_in_needs_a_fresh_code(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let first = token(&app.sign_in("ada@example.com").await);

    let started = app.call(Method::POST, "/v1/me/mfa/totp", Some(&first), None).await;
    let enrollment = started.expect(201).clone();
    let base32 = enrollment["secret"].as_str().unwrap();
    let secret = roster_domain::session::TotpSecret::from_base32(base32).expect("a base32 secret of 128 bits or more");
    let uri = enrollment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={base32}")), "{uri}");
    app.confirm_totp(&first, &app.wrong_code(&secret)).await.expect_problem(422, "invalid_mfa_code");
    assert_eq!(app.confirm_totp(&first, &app.code(&secret)).await.status, 204);
    let again = app.call(Method::POST, "/v1/me/mfa/totp", Some(&first), None).await;
    again.expect_problem(409, "mfa_already_enrolled");
    assert_eq!(app.audited(&ada).await[0], "user.mfa_enrolled");
    acts_as(&app, &first, &ada).await;

    app.clock.advance(TimeDelta::seconds(30));
    let link = app.link_for("ada@example.com").await;
    app.verify_link(&link, None).await.expect_problem(401, "mfa_code_required");
    for _ in 0..4 {
        app.verify_link(&link, Some(&app.wrong_code(&secret))).await.expect_problem(401, "invalid_mfa_code");
    }
    let used = app.code(&secret);
    let verified = app.verify_link(&link, Some(&used)).await;
    let signed_in = verified.expect(201).clone();
    assert_eq!([&signed_in["session"]["mfa"], &signed_in["mfa_enrollment_required"]], [true, false], "{signed_in}");
    acts_as(&app, &token(&signed_in), &ada).await;

    // Half a minute later the used code is still within the clock skew allowed, yet refused.
    app.clock.advance(TimeDelta::seconds(30));
    let next = app.link_for("ada@example.com").await;
    app.verify_link(&next, Some(&used)).await.expect_problem(401, "invalid_mfa_code");
    app.verify_link(&next, Some(&app.code(&secret))).await.expect(201);
}

async fn five_wrong_codes_burn_the_link(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    app.create_user("ada@example.com", "user").await;
    let secret = app.enroll(&token(&app.sign_in("ada@example.com").await)).await;
    app.clock.advance(TimeDelta::seconds(30));
    let link = app.link_for("ada@example.com").await;

    for _ in 0..5 {
        app.verify_link(&link, Some(&app.wrong_code(&secret))).await.expect_problem(401, "invalid_mfa_code");
    }

    app.verify_link(&link, Some(&app.code(&secret))).await.expect_problem(401, "invalid_link");
    let fresh = app.link_for("ada@example.com").await;
    app.verify_link(&fresh, Some(&app.code(&secret))).await.expect(201);
}

async fn after_an_mfa_reset_the_next_sign_in_may_only_enroll_again(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let before = token(&app.sign_in("ada@example.com").await);
    let lost = app.enroll(&before).await;

    let reset = app.delete(&format!("/v1/users/{ada}/mfa"), &app.admin_token).await;

    assert_eq!(reset.status, 204, "{reset:?}");
    let trail = app.get(&format!("/v1/audit?target={ada}&action=user.mfa_reset"), &app.admin_token).await;
    let event = &trail.expect(200)["items"][0];
    assert_eq!([&event["actor"]["id"], &event["target"]["id"]], [app.admin_id.as_str(), ada.as_str()], "{event}");
    acts_as(&app, &before, &ada).await; // open sessions stay
    app.clock.advance(TimeDelta::seconds(30));
    let link = app.link_for("ada@example.com").await;
    let verified = app.verify_link(&link, None).await;
    let signed_in = verified.expect(201).clone();
    assert_eq!(signed_in["mfa_enrollment_required"], true, "{signed_in}");
    assert_eq!(signed_in["session"]["state"], "enrolling");
    assert_eq!(
        instant(&signed_in["expires_at"]) - instant(&signed_in["session"]["created_at"]),
        TimeDelta::minutes(15)
    );
    let enrolling = token(&signed_in);
    app.get("/v1/me", &enrolling).await.expect_problem(401, "mfa_enrollment_required");
    app.get("/v1/me/sessions", &enrolling).await.expect_problem(401, "mfa_enrollment_required");
    app.get("/v1/users", &enrolling).await.expect_problem(401, "mfa_enrollment_required");

    let secret = app.begin_totp(&enrolling).await;
    assert_ne!(secret, lost);
    let confirmed = app.confirm_totp(&enrolling, &app.code(&secret)).await;

    assert_eq!(confirmed.status, 204, "{confirmed:?}");
    acts_as(&app, &enrolling, &ada).await;
    app.clock.advance(TimeDelta::seconds(30));
    let next = app.link_for("ada@example.com").await;
    app.verify_link(&next, Some(&lost.code_at(app.now()))).await.expect_problem(401, "invalid_mfa_code");
    app.verify_link(&next, Some(&app.code(&secret))).await.expect(201);
}

async fn only_user_managers_reset_mfa_and_never_an_administrators(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (_, collaborator) = app.user_with_token("cole@example.com", "collaborator").await;
    let (ada, ada_token) = app.user_with_token("ada@example.com", "user").await;
    let (bob, _) = app.user_with_token("bob@example.com", "user").await;
    let admin = app.admin_id.clone();

    app.delete(&format!("/v1/users/{admin}/mfa"), &collaborator)
        .await
        .expect_problem(403, "forbidden_administrator_target");
    app.delete(&format!("/v1/users/{ada}/mfa"), &ada_token).await.expect_problem(403, "forbidden");
    app.delete(&format!("/v1/users/{bob}/mfa"), &ada_token).await.expect_problem(403, "forbidden");
    let sessions = format!("/v1/users/{admin}/sessions");
    app.delete(&sessions, &collaborator).await.expect_problem(403, "forbidden_administrator_target");
    app.delete(&format!("/v1/users/{bob}/sessions"), &ada_token).await.expect_problem(403, "forbidden");
    let unknown = uuid::Uuid::now_v7();
    app.delete(&format!("/v1/users/{unknown}/mfa"), &app.admin_token).await.expect_problem(404, "user_not_found");

    assert_eq!(app.delete(&format!("/v1/users/{ada}/mfa"), &collaborator).await.status, 204);
    assert_eq!(app.audited(&ada).await[0], "user.mfa_reset");
    assert_eq!(app.delete(&format!("/v1/users/{ada}/sessions"), &ada_token).await.expect(200)["ended"], 0);
    assert!(!app.audited(&admin).await.contains(&"user.mfa_reset".to_owned()), "nothing happened to the administrator");
}

async fn my_sessions_list_the_current_one_and_end_one_at_a_time(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let bob = id_of(&app.create_user("bob@example.com", "user").await);
    let older = app.sign_in("ada@example.com").await;
    app.clock.advance(TimeDelta::seconds(1));
    let newer = app.sign_in("ada@example.com").await;
    let bobs = app.sign_in("bob@example.com").await;

    let listed = app.get("/v1/me/sessions", &token(&older)).await.expect(200).clone();
    let items = listed["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [session_id(&newer), session_id(&older)], "ada's, newest first: {listed}");
    let current: Vec<&Value> = items.iter().map(|s| &s["current"]).collect();
    assert_eq!(current, [false, true]);
    assert_eq!([&items[1]["state"], &items[1]["method"]], ["active", "magic_link"]);
    assert!(listed.to_string().find("rss_").is_none(), "never a secret: {listed}");

    let ended = app.delete(&format!("/v1/me/sessions/{}", session_id(&newer)), &token(&older)).await;
    assert_eq!(ended.status, 204, "{ended:?}");
    app.get("/v1/me", &token(&newer)).await.expect_problem(401, "unauthenticated");
    assert_eq!(app.get("/v1/me/sessions", &token(&older)).await.expect(200)["items"].as_array().unwrap().len(), 1);
    let again = app.delete(&format!("/v1/me/sessions/{}", session_id(&newer)), &token(&older)).await;
    again.expect_problem(404, "session_not_found");
    let others = app.delete(&format!("/v1/me/sessions/{}", session_id(&bobs)), &token(&older)).await;
    others.expect_problem(404, "session_not_found");
    acts_as(&app, &token(&bobs), &bob).await;

    let signed_out = app.delete(&format!("/v1/me/sessions/{}", session_id(&older)), &token(&older)).await;
    assert_eq!(signed_out.status, 204, "{signed_out:?}");
    app.get("/v1/me", &token(&older)).await.expect_problem(401, "unauthenticated");
    let signed_outs = app.audited(&ada).await.into_iter().filter(|action| action == "user.signed_out").count();
    assert_eq!(signed_outs, 2, "each sign-out is audited, refusals are not");
}

async fn a_session_that_may_only_enroll_may_sign_itself_out_and_nothing_more(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let full = app.sign_in("ada@example.com").await;
    app.enroll(&token(&full)).await;
    app.delete(&format!("/v1/users/{ada}/mfa"), &app.admin_token).await;
    let link = app.link_for("ada@example.com").await;
    let enrolling = app.verify_link(&link, None).await.expect(201).clone();
    assert_eq!(enrolling["mfa_enrollment_required"], true, "{enrolling}");

    let other = app.delete(&format!("/v1/me/sessions/{}", session_id(&full)), &token(&enrolling)).await;
    other.expect_problem(401, "mfa_enrollment_required");
    let itself = app.delete(&format!("/v1/me/sessions/{}", session_id(&enrolling)), &token(&enrolling)).await;

    assert_eq!(itself.status, 204, "{itself:?}");
    app.get("/v1/me/sessions", &token(&enrolling)).await.expect_problem(401, "unauthenticated");
    acts_as(&app, &token(&full), &ada).await;
    assert_eq!(app.audited(&ada).await[0], "user.signed_out");
}

async fn an_administrator_ends_every_session_of_a_user_but_not_their_api_tokens(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let (ada, api_token) = app.user_with_token("ada@example.com", "user").await;
    let sessions = [app.sign_in("ada@example.com").await, app.sign_in("ada@example.com").await];
    let pending = app.link_for("ada@example.com").await;

    let revoked = app.delete(&format!("/v1/users/{ada}/sessions"), &app.admin_token).await;

    assert_eq!(revoked.expect(200)["ended"], 2);
    for session in &sessions {
        app.get("/v1/me", &token(session)).await.expect_problem(401, "unauthenticated");
    }
    app.verify_link(&pending, None).await.expect_problem(401, "invalid_link");
    acts_as(&app, &api_token, &ada).await;
    assert_eq!(app.audited(&ada).await[0], "user.sessions_revoked");
    assert_eq!(app.delete(&format!("/v1/users/{ada}/sessions"), &app.admin_token).await.expect(200)["ended"], 0);

    let mine = token(&app.sign_in("ada@example.com").await);
    acts_as(&app, &mine, &ada).await;
    assert_eq!(app.delete(&format!("/v1/users/{ada}/sessions"), &mine).await.expect(200)["ended"], 1, "signed out");
    app.get("/v1/me", &mine).await.expect_problem(401, "unauthenticated");
}

async fn deactivation_ends_sessions_at_once_and_reactivation_does_not_revive_them(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let ada = id_of(&app.create_user("ada@example.com", "user").await);
    let session = token(&app.sign_in("ada@example.com").await);
    let pending = app.link_for("ada@example.com").await;

    app.delete(&format!("/v1/users/{ada}"), &app.admin_token).await.expect(200);

    app.get("/v1/me", &session).await.expect_problem(401, "unauthenticated");
    app.verify_link(&pending, None).await.expect_problem(401, "invalid_link");
    app.post(&format!("/v1/users/{ada}/reactivate"), &app.admin_token, json!({})).await.expect(200);
    app.get("/v1/me", &session).await.expect_problem(401, "unauthenticated");
    app.verify_link(&pending, None).await.expect_problem(401, "invalid_link");
    acts_as(&app, &token(&app.sign_in("ada@example.com").await), &ada).await;
}

async fn an_accepted_invitation_starts_a_session(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let (user, link) = app.invite_and_read_link("nora@example.com", json!({})).await;
    let id = id_of(&user);

    let accepted = app.accept(&link, None).await.expect(200).clone();

    let secret = token(&accepted);
    assert!(secret.starts_with("rss_"), "a session, not an API token: {accepted}");
    assert_eq!(instant(&accepted["expires_at"]) - app.now(), TimeDelta::hours(12), "{accepted}");
    acts_as(&app, &secret, &id).await;
    let listed = app.get("/v1/me/sessions", &secret).await.expect(200).clone();
    let session = &listed["items"][0];
    assert_eq!(
        [&session["method"], &session["current"], &session["mfa"]],
        [&json!("invitation"), &json!(true), &json!(false)]
    );
    assert_eq!(session["expires_at"], accepted["expires_at"], "{listed}");
}

async fn malformed_sign_in_requests_are_refused(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    app.create_user("ada@example.com", "user").await;
    let link = app.link_for("ada@example.com").await;
    let public = |path: &'static str, body: Value| app.call(Method::POST, path, None, Some(body));

    app.verify_link("rml_not-a-real-link", None).await.expect_problem(401, "invalid_link");
    app.verify_link("not-a-link-at-all", None).await.expect_problem(401, "invalid_link");
    app.verify_link(&link.replace("rml_", "rss_"), None).await.expect_problem(401, "invalid_link");
    let extra = json!({ "token": link, "remember": true });
    public("/v1/auth/magic-link/verify", extra).await.expect_problem(400, "invalid_request");
    public("/v1/auth/magic-link/verify", json!({ "token": "" })).await.expect_problem(400, "invalid_request");
    let extra = json!({ "tenant": "default", "email": "ada@example.com", "next": "/" });
    public("/v1/auth/magic-link", extra).await.expect_problem(400, "invalid_request");
    app.request_link("default", "no-tld@localhost").await.expect_problem(422, "invalid_email");
    app.request_link("default", "not-an-email").await.expect_problem(422, "invalid_email");
    app.expect_no_mail().await;

    let session = token(&app.verify_link(&link, None).await.expect(201).clone());
    let confirm = app.post("/v1/me/mfa/totp/confirm", &session, json!({ "code": "123456", "x": 1 })).await;
    confirm.expect_problem(400, "invalid_request");
    app.confirm_totp(&session, "123456").await.expect_problem(409, "mfa_not_pending");
    app.delete("/v1/me/sessions/not-a-uuid", &session).await.expect_problem(400, "invalid_request");
}

async fn each_public_endpoint_allows_ten_attempts_a_minute_per_address(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    for i in 0..10 {
        app.request_link("default", &format!("nobody{i}@example.com")).await.expect(202);
        app.verify_link("rml_guess", None).await.expect_problem(401, "invalid_link");
    }

    let requested = app.request_link("default", "nobody@example.com").await;
    let verified = app.verify_link("rml_guess", None).await;

    for refused in [requested, verified] {
        refused.expect_problem(429, "too_many_requests");
        let wait: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{refused:?}");
    }
}

on_both_databases!(
    a_session_that_may_only_enroll_may_sign_itself_out_and_nothing_more,
    a_link_is_mailed_to_an_active_user_only_and_the_answer_never_tells_who_has_an_account,
    a_link_signs_in_once_for_a_working_session,
    a_link_works_for_15_minutes_only,
    after_enrolling_totp_every_sign_in_needs_a_fresh_code,
    five_wrong_codes_burn_the_link,
    after_an_mfa_reset_the_next_sign_in_may_only_enroll_again,
    only_user_managers_reset_mfa_and_never_an_administrators,
    my_sessions_list_the_current_one_and_end_one_at_a_time,
    an_administrator_ends_every_session_of_a_user_but_not_their_api_tokens,
    deactivation_ends_sessions_at_once_and_reactivation_does_not_revive_them,
    an_accepted_invitation_starts_a_session,
    malformed_sign_in_requests_are_refused,
    each_public_endpoint_allows_ten_attempts_a_minute_per_address,
);
