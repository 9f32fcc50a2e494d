//! The rules around invitations: who may invite, what accepting refuses (and how often a
//! client may try), racing accepts, the invitation lifetime setting, and deactivation.

use chrono::TimeDelta;
use reqwest::Method;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::json;

use std::sync::Arc;

use roster_domain::ports::SystemClock;
use roster_http::Settings;

use crate::helpers::{id_of, spawn_app, spawn_app_with, spawn_mailing_app};
use crate::invitations::{instant, invitation_metrics, listed};

async fn only_those_allowed_may_invite_and_a_refused_invitation_creates_nothing(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let kind = app.create_license("Pro", 1).await;
    let (_, collaborator) = app.user_with_token("c@example.com", "collaborator").await;
    let (user_id, user) = app.user_with_token("u@example.com", "user").await;

    app.invite(&collaborator, json!({ "email": "boss@example.com", "role": "administrator" }))
        .await
        .expect_problem(403, "forbidden_role_change");
    app.invite(&collaborator, json!({ "email": "seat@example.com", "license": kind }))
        .await
        .expect_problem(403, "forbidden");
    app.invite(&user, json!({ "email": "friend@example.com" })).await.expect_problem(403, "forbidden");
    // What a collaborator may do: invite a non-administrator without a seat.
    let member = app.invite(&collaborator, json!({ "email": "member@example.com", "role": "collaborator" })).await;
    assert_eq!(member.expect(201)["role"], "collaborator");
    app.mailed_link().await;

    app.invite(&app.admin_token, json!({ "email": "U@Example.com" })).await.expect_problem(409, "email_taken");
    app.invite(&app.admin_token, json!({ "email": "member@example.com" })).await.expect_problem(409, "email_taken");
    app.reinvite(&user_id).await.expect_problem(409, "not_invited");

    let (first, _) = app.invite_and_read_link("first@example.com", json!({ "license": kind })).await;
    assert_eq!(first["license"]["id"], kind.as_str());
    let everyone = listed(&app, "limit=200").await;
    let full = app.invite(&app.admin_token, json!({ "email": "second@example.com", "license": kind })).await;
    full.expect_problem(409, "no_seats_available");
    assert_eq!((&full.body["kind"], &full.body["seats"], &full.body["assigned"]), (&json!(kind), &json!(1), &json!(1)));
    assert_eq!(listed(&app, "limit=200").await, everyone, "nobody was created");
    assert_eq!(app.license(&kind).await["assigned"], 1);
    assert_eq!(invitation_metrics(&app).await, (json!(2), json!(0)));
    app.expect_no_mail().await;
}

async fn a_malformed_and_an_unknown_token_get_the_same_answer_and_a_bad_name_is_refused(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let (_, link) = app.invite_and_read_link("x@example.com", json!({})).await;

    let malformed = app.accept_token("not-a-token", None).await;
    malformed.expect_problem(404, "invitation_not_found");
    let unknown = app.accept_token(&format!("inv_{}", "A".repeat(43)), None).await;
    unknown.expect_problem(404, "invitation_not_found");
    assert_eq!(malformed.body, unknown.body, "the answer tells nothing about which");

    app.accept(&link, Some("Bad\u{7}Name")).await.expect_problem(422, "invalid_name");
    let accepted = app.accept(&link, Some("Good Name")).await;
    assert_eq!(accepted.expect(200)["user"]["name"], "Good Name", "a refused name does not use up the link");
}

async fn the_eleventh_accept_attempt_within_a_minute_is_refused_with_retry_after(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let (user, link) = app.invite_and_read_link("x@example.com", json!({})).await;
    let guess = format!("inv_{}", "B".repeat(43));
    for attempt in 1..=10 {
        let reply = app.accept_token(&guess, None).await;
        assert_eq!(reply.status, 404, "attempt {attempt}: {reply:?}");
    }

    let limited = app.accept(&link, None).await;
    limited.expect_problem(429, "too_many_requests");
    let wait: u64 = limited.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    assert_eq!(app.user(&id_of(&user)).await["status"], "invited", "even a valid link waits");
}

/// `POST /v1/invitations/accept` of a guessed token, as sent through a proxy for `forwarded`.
async fn guess_from(app: &crate::helpers::TestApp, forwarded: &str) -> u16 {
    let url = format!("{}/v1/invitations/accept", app.base);
    let body = json!({ "token": format!("inv_{}", "B".repeat(43)) });
    let sent = app.client.post(url).header("x-forwarded-for", forwarded).json(&body).send().await.unwrap();
    sent.status().as_u16()
}

async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_attempts(db: TestDatabase) {
    let trusting =
        Settings { trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()], ..Settings::for_database(&db.url) };
    let app = spawn_app_with(&trusting, Arc::new(SystemClock)).await;
    for attempt in 1..=10 {
        assert_eq!(guess_from(&app, "198.51.100.1").await, 404, "attempt {attempt}");
    }
    assert_eq!(guess_from(&app, "198.51.100.1").await, 429);
    assert_eq!(guess_from(&app, "198.51.100.2").await, 404, "another client behind the same proxy");
    // What the client writes itself stands left of what the proxy appends.
    assert_eq!(guess_from(&app, "198.51.100.2, 198.51.100.1").await, 429);
}

async fn without_trusted_proxies_a_forwarded_address_changes_nothing(db: TestDatabase) {
    let app = spawn_app(&db).await;
    for attempt in 1..=10 {
        assert_eq!(guess_from(&app, &format!("198.51.100.{attempt}")).await, 404, "attempt {attempt}");
    }
    assert_eq!(guess_from(&app, "198.51.100.99").await, 429, "every attempt came from 127.0.0.1");
}

async fn two_concurrent_accepts_of_one_link_make_one_active_user(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    for invitee in ["one@example.com", "two@example.com", "three@example.com"] {
        let (user, link) = app.invite_and_read_link(invitee, json!({})).await;

        let (first, second) = futures::join!(app.accept(&link, Some("First")), app.accept(&link, Some("Second")));

        let (won, lost) = if first.status == 200 { (first, second) } else { (second, first) };
        won.expect(200);
        lost.expect_problem(404, "invitation_not_found");
        let active = app.user(&id_of(&user)).await;
        assert_eq!([&active["status"], &active["name"]], [&json!("active"), &won.body["user"]["name"]]);
        assert_eq!(app.get("/v1/me", won.body["token"].as_str().unwrap()).await.status, 200);
    }
}

async fn the_invitation_lifetime_is_an_administrator_setting_that_applies_to_the_next_links(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let (_, collaborator) = app.user_with_token("c@example.com", "collaborator").await;
    let (early, _) = app.invite_and_read_link("early@example.com", json!({})).await;
    assert_eq!(
        app.get("/v1/settings", &app.admin_token).await.expect(200),
        &json!({ "invitation_ttl_seconds": 604_800 })
    );

    let changed = app.patch("/v1/settings", &app.admin_token, json!({ "invitation_ttl_seconds": 3600 })).await;
    assert_eq!(changed.expect(200), &json!({ "invitation_ttl_seconds": 3600 }));
    assert_eq!(app.get("/v1/settings", &app.admin_token).await.expect(200)["invitation_ttl_seconds"], 3600);
    let (user, link) = app.invite_and_read_link("hour@example.com", json!({})).await;
    let invitation = &user["invitation"];
    assert_eq!(instant(&invitation["expires_at"]) - instant(&user["created_at"]), TimeDelta::hours(1));
    assert_eq!(invitation["expires_in_seconds"], 3600);
    assert_eq!(app.user(&id_of(&early)).await["invitation"]["expires_in_seconds"], 604_800, "links sent keep theirs");

    for seconds in [3599, 2_592_001] {
        app.patch("/v1/settings", &app.admin_token, json!({ "invitation_ttl_seconds": seconds }))
            .await
            .expect_problem(400, "invalid_request");
    }
    let unchanged = app.patch("/v1/settings", &app.admin_token, json!({})).await;
    assert_eq!(unchanged.expect(200)["invitation_ttl_seconds"], 3600);
    app.get("/v1/settings", &collaborator).await.expect_problem(403, "forbidden");
    app.patch("/v1/settings", &collaborator, json!({ "invitation_ttl_seconds": 7200 }))
        .await
        .expect_problem(403, "forbidden");

    app.clock.advance(TimeDelta::hours(1));
    app.accept(&link, None).await.expect_problem(410, "invitation_expired");
}

async fn deactivating_an_invited_user_kills_their_link_and_a_reactivated_one_needs_a_reinvite(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let (user, link) = app.invite_and_read_link("paused@example.com", json!({})).await;
    let id = id_of(&user);

    let deactivated = app.delete(&format!("/v1/users/{id}"), &app.admin_token).await;
    assert_eq!(deactivated.expect(200)["status"], "deactivated");
    assert!(deactivated.body.get("invitation").is_none(), "{:?}", deactivated.body);
    app.accept(&link, None).await.expect_problem(404, "invitation_not_found");

    let path = format!("/v1/users/{id}/reactivate");
    let reactivated = app.call(Method::POST, &path, Some(&app.admin_token), None).await;
    let body = reactivated.expect(200);
    assert_eq!([&body["status"], &body["invitation"]["state"]], ["invited", "expired"], "{body}");
    assert!(body["invitation"].get("expires_at").is_none(), "no link, no expiry: {body}");
    assert_eq!(body["invitation"]["expires_in_seconds"], 0);
    app.accept(&link, None).await.expect_problem(404, "invitation_not_found");
    assert_eq!(listed(&app, "invitation=expired").await, ["paused@example.com"]);

    let reinvited = app.reinvite(&id).await;
    assert_eq!(reinvited.expect(200)["invitation"]["state"], "pending");
    let renewed = app.mailed_link().await;
    assert_eq!(app.accept(&renewed, None).await.expect(200)["user"]["status"], "active");
}

async fn two_administrators_changing_different_settings_at_once_both_land(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (_, second) = app.user_with_token("second@example.com", "administrator").await;
    for round in 0..10_u64 {
        let seconds = 3600 * (round + 2);
        let limit = 100 * (round + 1);
        let (ttl, budget) = futures::join!(
            app.patch("/v1/settings", &app.admin_token, json!({ "invitation_ttl_seconds": seconds })),
            app.patch("/v1/settings", &second, json!({ "default_budget": { "limit": limit, "period": "monthly" } })),
        );
        ttl.expect(200);
        budget.expect(200);

        let settings = app.get("/v1/settings", &app.admin_token).await.expect(200).clone();
        assert_eq!(settings["invitation_ttl_seconds"], seconds, "round {round}: {settings}");
        assert_eq!(settings["default_budget"]["limit"], limit, "round {round}: {settings}");
    }
}

on_both_databases!(
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_attempts,
    without_trusted_proxies_a_forwarded_address_changes_nothing,
    two_administrators_changing_different_settings_at_once_both_land,
    only_those_allowed_may_invite_and_a_refused_invitation_creates_nothing,
    a_malformed_and_an_unknown_token_get_the_same_answer_and_a_bad_name_is_refused,
    the_eleventh_accept_attempt_within_a_minute_is_refused_with_retry_after,
    two_concurrent_accepts_of_one_link_make_one_active_user,
    the_invitation_lifetime_is_an_administrator_setting_that_applies_to_the_next_links,
    deactivating_an_invited_user_kills_their_link_and_a_reactivated_one_needs_a_reinvite,
);
