//! Invitations end to end, over a real SMTP server: invite, follow the mailed link, accept;
//! reinvite, expiry, revoke, copy link, and a failed delivery.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::Method;
use roster_email::testing::closed_port;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{
    MAIL_ARRIVES_WITHIN, TestApp, accept_link, id_of, smtp_settings, spawn_app_with, spawn_mailing_app,
};

/// The instant a JSON field holds.
pub fn instant(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().unwrap_or_else(|| panic!("not a time: {value}"));
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}")).to_utc()
}

/// The emails of the users `GET /v1/users?{query}` lists.
pub async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    let page = app.get(&format!("/v1/users?{query}"), &app.admin_token).await.expect(200).clone();
    page["items"].as_array().unwrap().iter().map(|user| user["email"].as_str().unwrap().to_owned()).collect()
}

/// `pending_invitations` and `expired_invitations` of `/v1/metrics`.
pub async fn invitation_metrics(app: &TestApp) -> (Value, Value) {
    let metrics = app.get("/v1/metrics", &app.admin_token).await.expect(200).clone();
    (metrics["pending_invitations"].clone(), metrics["expired_invitations"].clone())
}

async fn an_invitee_follows_the_mailed_link_and_becomes_an_active_user_with_a_token_and_their_seat(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let kind = app.create_license("Pro", 1).await;

    let invited = app.invite(&app.admin_token, json!({ "email": "Nora@Example.com", "license": kind })).await;
    let user = invited.expect(201).clone();
    let id = id_of(&user);
    assert_eq!(invited.headers["location"], format!("/v1/users/{id}"));
    assert_eq!([&user["email"], &user["status"], &user["source"]], ["nora@example.com", "invited", "invited"]);
    assert_eq!(user["license"]["id"], kind.as_str());
    assert!(user["activated_at"].is_null(), "{user}");
    let invitation = &user["invitation"];
    assert_eq!([&invitation["state"], &invitation["delivery"]["status"]], ["pending", "sent"], "{user}");
    assert_eq!(invitation["expires_in_seconds"], 604_800, "the clock stands still: exactly 7 days");
    assert_eq!(instant(&invitation["expires_at"]) - instant(&user["created_at"]), TimeDelta::days(7));
    assert_eq!(app.license(&kind).await["assigned"], 1, "the seat is reserved at once");
    assert_eq!(invitation_metrics(&app).await, (json!(1), json!(0)));

    let message = app.smtp.next_message(MAIL_ARRIVES_WITHIN).await.expect("the invitation mail arrives");
    assert_eq!(message.to, ["nora@example.com"]);
    assert_eq!(message.header("Subject").as_deref(), Some("You are invited to join default"));
    let link = accept_link(&message);
    assert!(link.starts_with(&format!("{}/invitations/accept?token=inv_", app.base)), "{link}");

    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{page:?}");
    crate::helpers::assert_secret_page_headers(page.headers());
    assert!(page.text().await.unwrap().contains("/v1/invitations/accept"), "the page posts the token to the API");

    let accepted = app.accept(&link, Some("Nora Batty")).await;
    let body = accepted.expect(200).clone();
    let active = &body["user"];
    assert_eq!([&active["id"], &active["status"], &active["name"]], [id.as_str(), "active", "Nora Batty"]);
    assert!(active["activated_at"].is_string(), "{body}");
    assert!(active.get("invitation").is_none(), "an active user has no invitation: {body}");
    assert_eq!(body["token_type"], "Bearer");
    let token = body["token"].as_str().unwrap();
    let me = app.get("/v1/me", token).await;
    assert_eq!([&me.expect(200)["id"], &me.body["status"]], [id.as_str(), "active"]);

    assert_eq!(app.user(&id).await["license"]["id"], kind.as_str(), "the reserved seat stays theirs");
    assert_eq!(app.license(&kind).await["assigned"], 1);
    assert_eq!(invitation_metrics(&app).await, (json!(0), json!(0)));
    app.accept(&link, None).await.expect_problem(404, "invitation_not_found");
}

async fn a_reinvite_mails_a_new_link_and_the_first_one_stops_working(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let (user, first) = app.invite_and_read_link("ann@example.com", json!({})).await;
    let id = id_of(&user);

    let reinvited = app.reinvite(&id).await;
    let body = reinvited.expect(200);
    assert_eq!([&body["status"], &body["invitation"]["delivery"]["status"]], ["invited", "sent"]);
    let second = app.mailed_link().await;
    assert_ne!(first, second);

    app.accept(&first, None).await.expect_problem(404, "invitation_not_found");
    let accepted = app.accept(&second, None).await;
    assert_eq!(accepted.expect(200)["user"]["status"], "active");
}

async fn an_expired_link_is_gone_shows_as_expired_and_a_reinvite_renews_it(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let (user, link) = app.invite_and_read_link("late@example.com", json!({})).await;
    let id = id_of(&user);
    app.create_user("active@example.com", "user").await;

    app.clock.advance(TimeDelta::days(7) + TimeDelta::seconds(1));

    app.accept(&link, None).await.expect_problem(410, "invitation_expired");
    let expired = app.user(&id).await;
    assert_eq!([&expired["status"], &expired["invitation"]["state"]], ["invited", "expired"], "{expired}");
    assert_eq!(expired["invitation"]["expires_in_seconds"], 0);
    assert_eq!(listed(&app, "invitation=expired").await, ["late@example.com"]);
    assert!(listed(&app, "invitation=pending").await.is_empty());
    assert_eq!(invitation_metrics(&app).await, (json!(0), json!(1)));

    let renewed = app.reinvite(&id).await;
    assert_eq!(renewed.expect(200)["invitation"]["state"], "pending");
    assert_eq!(renewed.body["invitation"]["expires_in_seconds"], 604_800);
    assert_eq!(listed(&app, "invitation=pending").await, ["late@example.com"]);
    assert_eq!(invitation_metrics(&app).await, (json!(1), json!(0)));
    let renewed_link = app.mailed_link().await;
    assert_eq!(app.accept(&renewed_link, None).await.expect(200)["user"]["status"], "active");
}

async fn revoking_an_invitation_removes_the_user_returns_the_seat_and_kills_the_link(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let kind = app.create_license("Pro", 1).await;
    let (user, link) = app.invite_and_read_link("gone@example.com", json!({ "license": kind })).await;
    let id = id_of(&user);
    assert_eq!(app.license(&kind).await["assigned"], 1);

    let revoked = app.delete(&format!("/v1/users/{id}/invitation"), &app.admin_token).await;
    assert_eq!(revoked.status, 204, "{revoked:?}");
    assert_eq!(app.license(&kind).await["assigned"], 0, "the reserved seat is back in the pool");
    app.get(&format!("/v1/users/{id}"), &app.admin_token).await.expect_problem(404, "user_not_found");
    app.accept(&link, None).await.expect_problem(404, "invitation_not_found");
    app.delete(&format!("/v1/users/{id}/invitation"), &app.admin_token).await.expect_problem(404, "user_not_found");

    let active = id_of(&app.create_user("active@example.com", "user").await);
    app.delete(&format!("/v1/users/{active}/invitation"), &app.admin_token).await.expect_problem(409, "not_invited");
    assert_eq!(app.user(&active).await["status"], "active", "nothing happened to them");
}

async fn a_copied_link_is_returned_not_mailed_and_replaces_the_previous_one(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let (user, mailed) = app.invite_and_read_link("copy@example.com", json!({})).await;
    let id = id_of(&user);

    let path = format!("/v1/users/{id}/invitation/link");
    let copied = app.call(Method::POST, &path, Some(&app.admin_token), None).await;
    let body = copied.expect(200).clone();
    let link = body["link"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&format!("{}/invitations/accept?token=inv_", app.base)), "{link}");
    assert_ne!(link, mailed);
    assert_eq!(body["user"]["id"], id.as_str());
    assert_eq!(body["user"]["invitation"]["delivery"]["status"], "not_sent");
    assert_eq!(body["user"]["invitation"]["expires_at"], body["expires_at"]);
    assert_eq!(instant(&body["expires_at"]) - instant(&body["user"]["created_at"]), TimeDelta::days(7));
    app.expect_no_mail().await;

    app.accept(&mailed, None).await.expect_problem(404, "invitation_not_found");
    assert_eq!(app.accept(&link, None).await.expect(200)["user"]["status"], "active");
    app.call(Method::POST, &path, Some(&app.admin_token), None).await.expect_problem(409, "not_invited");
}

async fn a_failed_delivery_keeps_the_invitation_and_a_reinvite_through_a_working_relay_sends_it(db: TestDatabase) {
    let dead = smtp_settings(&db, closed_port());
    let app = spawn_app_with(&dead, crate::helpers::TestClock::new()).await;

    let invited = app.invite(&app.admin_token, json!({ "email": "unlucky@example.com" })).await;
    let user = invited.expect(201).clone();
    let id = id_of(&user);
    let delivery = &user["invitation"]["delivery"];
    assert_eq!([&user["status"], &user["invitation"]["state"], &delivery["status"]], ["invited", "pending", "failed"]);
    assert!(!delivery["error"].as_str().unwrap_or_default().is_empty(), "the reason is shown: {user}");
    assert!(delivery["at"].is_string(), "{user}");
    assert_eq!(listed(&app, "status=invited").await, ["unlucky@example.com"]);
    assert_eq!(app.user(&id).await["invitation"]["delivery"]["status"], "failed", "the outcome is stored");

    // The relay is back: a replica configured with it resends.
    let smtp = roster_email::testing::TestSmtpServer::start();
    let working = app.another_instance_with(&smtp_settings(&db, smtp.port())).await;
    let resent = working.reinvite(&id).await;
    let delivery = &resent.expect(200)["invitation"]["delivery"];
    assert_eq!(delivery["status"], "sent");
    assert!(delivery.get("error").is_none(), "{delivery}");
    let message = smtp.next_message(MAIL_ARRIVES_WITHIN).await.expect("the new link is mailed");
    assert_eq!(message.to, ["unlucky@example.com"]);
    assert_eq!(working.accept(&accept_link(&message), None).await.expect(200)["user"]["status"], "active");
}

on_both_databases!(
    an_invitee_follows_the_mailed_link_and_becomes_an_active_user_with_a_token_and_their_seat,
    a_reinvite_mails_a_new_link_and_the_first_one_stops_working,
    an_expired_link_is_gone_shows_as_expired_and_a_reinvite_renews_it,
    revoking_an_invitation_removes_the_user_returns_the_seat_and_kills_the_link,
    a_copied_link_is_returned_not_mailed_and_replaces_the_previous_one,
    a_failed_delivery_keeps_the_invitation_and_a_reinvite_through_a_working_relay_sends_it,
);
