//! Metering for the AI gateway end to end: the life of a reservation, soft and hard budgets,
//! period rollover (daily, weekly, monthly) and expiry on a test clock, and batches of usage events (races are in
//! `metering_races`).

use chrono::{Datelike as _, NaiveDate, NaiveTime, TimeDelta};
use roster_domain::ports::Clock as _;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{event, exceeded, id_of, policy, spawn_app, spawn_clocked_app, spent};
use crate::invitations::instant;

async fn a_reservation_is_committed_once_or_released_once_never_both(db: TestDatabase) {
    let (app, clock) = spawn_clocked_app(&db).await;
    let today = clock.now().date_naive();
    let gateway = app.service_key(&["usage:write"]).await;
    let user = app.licensed_user_with_budget("life@example.com", policy(1000, "none")).await;

    let reserved = app.reserve(&gateway, &user, 100, "work-1").await.expect(201).clone();
    let id = id_of(&reserved);
    assert_eq!([&reserved["status"], &reserved["remaining"]], [&json!("active"), &json!(900)], "{reserved}");
    assert!(reserved.get("committed_credits").is_none(), "{reserved}");
    assert_eq!(instant(&reserved["expires_at"]) - instant(&reserved["created_at"]), TimeDelta::minutes(5));
    assert_eq!(spent(&reserved["budget"]), [0, 100, 900]);

    let metrics = json!({ "chats": 1, "ai_responses": 2 });
    let committed = app.commit(&gateway, &id, 80, metrics.clone()).await.expect(200).clone();
    let fields = ["id", "status", "credits", "committed_credits", "remaining"].map(|field| &committed[field]);
    assert_eq!(fields, [&json!(id), &json!("committed"), &json!(100), &json!(80), &json!(920)]);
    assert_eq!(spent(&committed["budget"]), [80, 0, 920]);
    assert_eq!(app.budget(&user).await, committed["budget"]);

    let again = app.commit(&gateway, &id, 80, metrics.clone()).await.expect(200).clone();
    assert_eq!(again, committed, "the same answer");
    app.commit(&gateway, &id, 81, metrics.clone()).await.expect_problem(409, "reservation_closed");
    app.release(&gateway, &id).await.expect_problem(409, "reservation_committed");
    assert_eq!(spent(&app.budget(&user).await), [80, 0, 920], "counted once");
    assert_eq!(app.usage(&user, today, today).await, json!({ "credits": 80, "metrics": metrics }));

    let second = id_of(app.reserve(&gateway, &user, 300, "work-2").await.expect(201));
    assert_eq!(spent(&app.budget(&user).await), [80, 300, 620]);
    let released = app.release(&gateway, &second).await;
    assert_eq!([&released.expect(200)["id"], &released.body["status"]], [&json!(second), &json!("released")]);
    assert_eq!((spent(&released.body["budget"]), &released.body["remaining"]), ([80, 0, 920], &json!(920)));
    assert_eq!(spent(&app.budget(&user).await), [80, 0, 920], "the credits are back");
    assert_eq!(app.release(&gateway, &second).await.expect(200)["status"], "released", "nothing more happens");
    app.commit(&gateway, &second, 10, json!({})).await.expect_problem(409, "reservation_closed");
    assert_eq!(spent(&app.budget(&user).await), [80, 0, 920]);

    // The actual use is recorded in full, even beyond what was held.
    let third = id_of(app.reserve(&gateway, &user, 50, "work-3").await.expect(201));
    assert_eq!(app.commit(&gateway, &third, 120, json!({ "chats": 1 })).await.expect(200)["committed_credits"], 120);
    assert_eq!(spent(&app.budget(&user).await), [200, 0, 800]);
    let expected = json!({ "credits": 200, "metrics": { "chats": 2, "ai_responses": 2 } });
    assert_eq!(app.usage(&user, today, today).await, expected);

    let unknown = uuid::Uuid::now_v7().to_string();
    app.commit(&gateway, &unknown, 1, json!({})).await.expect_problem(404, "reservation_not_found");
    app.release(&gateway, &unknown).await.expect_problem(404, "reservation_not_found");
    app.commit(&gateway, "not-a-uuid", 1, json!({})).await.expect_problem(400, "invalid_request");
    app.release(&gateway, "not-a-uuid").await.expect_problem(400, "invalid_request");
    app.commit(&gateway, &third, -1, json!({})).await.expect_problem(400, "invalid_request");
    app.commit(&gateway, &third, 120, json!({ "Chats": 1 })).await.expect_problem(422, "invalid_metrics");
    assert_eq!(spent(&app.budget(&user).await), [200, 0, 800]);
}

async fn a_soft_budget_grants_beyond_its_limit_and_only_reports(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let gateway = app.service_key(&["usage:write"]).await;
    let soft = json!({ "limit": 100, "period": "monthly", "warn_at_percent": 50, "hard": false });
    let user = app.licensed_user_with_budget("soft@example.com", soft).await;

    let first = app.reserve(&gateway, &user, 40, "soft-1").await;
    assert_eq!(first.expect(201)["budget"]["warning"], false);
    let second = app.reserve(&gateway, &user, 10, "soft-2").await;
    assert_eq!(second.expect(201)["budget"]["warning"], true, "50 of 100: the threshold");
    let beyond = app.reserve(&gateway, &user, 500, "soft-3").await;
    assert_eq!([&beyond.expect(201)["remaining"], &beyond.body["budget"]["hard"]], [&json!(0), &json!(false)]);
    assert_eq!(spent(&beyond.body["budget"]), [0, 550, 0], "remaining never goes below 0");

    app.set_budget(&user, policy(1000, "monthly")).await.expect(200);
    let hard = app.budget(&user).await;
    assert_eq!([&hard["hard"], &hard["warning"]], [&json!(true), &json!(false)], "{hard}");
    assert_eq!(spent(&hard), [0, 550, 450], "what is held stays counted under the new policy");
    app.reserve(&gateway, &user, 451, "hard-1").await.expect_problem(402, "budget_exceeded");
    app.reserve(&gateway, &user, 450, "hard-2").await.expect(201);
}

async fn a_daily_budget_starts_again_from_zero_after_midnight_utc(db: TestDatabase) {
    let (app, clock) = spawn_clocked_app(&db).await;
    let gateway = app.service_key(&["usage:write", "entitlements:read"]).await;
    let user = app.licensed_user_with_budget("daily@example.com", policy(100, "daily")).await;
    let today = clock.now().date_naive();
    let midnight = |day: NaiveDate| day.and_time(NaiveTime::MIN).and_utc();

    let id = id_of(app.reserve(&gateway, &user, 90, "day-1").await.expect(201));
    app.commit(&gateway, &id, 90, json!({ "chats": 1 })).await.expect(200);
    let budget = app.budget(&user).await;
    assert_eq!(spent(&budget), [90, 0, 10]);
    let tomorrow = today.succ_opt().unwrap();
    let period = [instant(&budget["period_start"]), instant(&budget["resets_at"])];
    assert_eq!(period, [midnight(today), midnight(tomorrow)]);
    let refused = app.reserve(&gateway, &user, 20, "day-1-more").await;
    refused.expect_problem(402, "budget_exceeded");
    assert_eq!(exceeded(&refused.body), [100, 90, 0]);

    assert_eq!(clock.advance_past_midnight(TimeDelta::seconds(1)), tomorrow);
    let entitlements = app.get(&format!("/v1/users/{user}/entitlements"), &gateway).await;
    let budget = entitlements.expect(200)["budget"].clone();
    assert_eq!(spent(&budget), [0, 0, 100], "{budget}");
    assert_eq!(budget["warning"], false);
    let day_after = tomorrow.succ_opt().unwrap();
    let period = [instant(&budget["period_start"]), instant(&budget["resets_at"])];
    assert_eq!(period, [midnight(tomorrow), midnight(day_after)]);
    assert_eq!(app.budget(&user).await, budget);

    let admitted = app.reserve(&gateway, &user, 90, "day-2").await;
    assert_eq!(spent(&admitted.expect(201)["budget"]), [0, 90, 10]);
    assert_eq!(app.usage(&user, today, today).await, json!({ "credits": 90, "metrics": { "chats": 1 } }));
    assert_eq!(app.usage(&user, tomorrow, tomorrow).await, json!({ "credits": 0, "metrics": {} }));
    let totals = app.get("/v1/metrics", &app.admin_token).await.expect(200)["budgets"].clone();
    let this_month = if tomorrow.day() == 1 { 0 } else { 90 };
    let expected = json!({ "users": 1, "limit": 100, "consumed_today": 0, "consumed_this_month": this_month });
    assert_eq!(totals, expected);

    // An instance whose clock is a little behind (set back before midnight) records use after
    // another began the new day: it is spent from the new day, not from none.
    clock.advance(TimeDelta::seconds(-2));
    let recorded = app.record(&gateway, vec![event("clock-behind", &user, 5, json!({}))]).await;
    assert_eq!(recorded.expect(200)["results"][0]["status"], "recorded");
    assert_eq!(spent(&app.budget(&user).await), [5, 90, 5]);
}

async fn weekly_and_monthly_budgets_start_again_from_zero_on_monday_and_on_the_first_utc(db: TestDatabase) {
    let (app, clock) = spawn_clocked_app(&db).await;
    let gateway = app.service_key(&["usage:write"]).await;
    let weekly = app.licensed_user_with_budget("weekly@example.com", policy(100, "weekly")).await;
    let monthly = app.licensed_user_with_budget("monthly@example.com", policy(100, "monthly")).await;
    let mut boundaries = Vec::new();
    for user in [&weekly, &monthly] {
        let id = id_of(app.reserve(&gateway, user, 60, &format!("{user}-1")).await.expect(201));
        app.commit(&gateway, &id, 60, json!({})).await.expect(200);
        let budget = app.budget(user).await;
        assert_eq!(spent(&budget), [60, 0, 40]);
        let (start, reset) = (instant(&budget["period_start"]), instant(&budget["resets_at"]));
        assert!(start <= clock.now() && clock.now() < reset, "{budget}");
        boundaries.push((reset, user));
    }
    boundaries.sort();
    for (reset, user) in boundaries {
        let before = reset - TimeDelta::seconds(1);
        if clock.now() < before {
            clock.advance(before - clock.now());
            assert_eq!(spent(&app.budget(user).await), [60, 0, 40], "{user} before {reset}");
        }
        clock.advance(reset + TimeDelta::seconds(1) - clock.now());
        let budget = app.budget(user).await;
        assert_eq!(spent(&budget), [0, 0, 100], "{user} after {reset}: {budget}");
        let next = instant(&budget["resets_at"]);
        assert_eq!(instant(&budget["period_start"]), reset);
        assert_eq!(reset.time(), NaiveTime::MIN);
        if *user == weekly {
            assert_eq!((reset.weekday(), next - reset), (chrono::Weekday::Mon, TimeDelta::days(7)));
        } else {
            let following = (reset.date_naive() + chrono::Months::new(1)).and_time(NaiveTime::MIN).and_utc();
            assert_eq!((reset.day(), next), (1, following));
        }
    }
}

async fn an_untouched_reservation_releases_itself_when_its_time_runs_out_and_its_use_still_counts(db: TestDatabase) {
    let (app, clock) = spawn_clocked_app(&db).await;
    let today = clock.now().date_naive();
    let gateway = app.service_key(&["usage:write"]).await;
    let user = app.licensed_user_with_budget("slow@example.com", policy(100, "none")).await;

    let first = app.reserve_for(&gateway, &user, 60, "slow-1", 60).await.expect(201).clone();
    assert_eq!(instant(&first["expires_at"]) - instant(&first["created_at"]), TimeDelta::seconds(60));
    let second = id_of(app.reserve_for(&gateway, &user, 40, "slow-2", 60).await.expect(201));
    app.reserve(&gateway, &user, 1, "refused-1").await.expect_problem(402, "budget_exceeded");
    clock.advance(TimeDelta::seconds(59));
    let refused = app.reserve(&gateway, &user, 1, "refused-2").await;
    refused.expect_problem(402, "budget_exceeded");
    assert_eq!(exceeded(&refused.body), [100, 0, 100], "a second before expiry, both still hold");

    clock.advance(TimeDelta::seconds(2));
    let fresh = app.reserve(&gateway, &user, 100, "fresh").await;
    assert_eq!(spent(&fresh.expect(201)["budget"]), [0, 100, 0], "the expired ones gave their credits back");
    let expired = app.release(&gateway, &second).await;
    assert_eq!(expired.expect(200)["status"], "expired", "releasing it changes nothing");
    assert_eq!(spent(&expired.body["budget"]), [0, 100, 0]);
    assert_eq!(spent(&app.budget(&user).await), [0, 100, 0]);

    let late = app.commit(&gateway, &id_of(&first), 60, json!({ "ai_responses": 1 })).await;
    assert_eq!([&late.expect(200)["status"], &late.body["committed_credits"]], [&json!("committed"), &json!(60)]);
    assert_eq!(spent(&app.budget(&user).await), [60, 100, 0], "usage is never lost, even beyond the limit");
    assert_eq!(app.usage(&user, today, today).await, json!({ "credits": 60, "metrics": { "ai_responses": 1 } }));
    app.release(&gateway, &id_of(&fresh.body)).await.expect(200);
    assert_eq!(spent(&app.budget(&user).await), [60, 0, 40]);

    // Sent again after its time, a reservation answers as it is now: expired, also for a user
    // without a budget (whose reservations are marked expired only when released).
    let free = app.licensed_user("free@example.com").await;
    let held = app.reserve_for(&gateway, &free, 10, "free-1", 60).await.expect(201).clone();
    assert_eq!(held["status"], "active");
    clock.advance(TimeDelta::seconds(61));
    let retried = app.reserve_for(&gateway, &free, 10, "free-1", 60).await;
    assert_eq!([&retried.expect(201)["id"], &retried.body["status"]], [&held["id"], &json!("expired")]);
    assert_eq!(app.release(&gateway, &id_of(&held)).await.expect(200)["status"], "expired");
}

async fn an_expired_reservation_no_longer_counts_as_held_when_the_budget_is_read(db: TestDatabase) {
    let (app, clock) = spawn_clocked_app(&db).await;
    let gateway = app.service_key(&["usage:write", "entitlements:read"]).await;
    let user = app.licensed_user_with_budget("idle@example.com", policy(100, "none")).await;
    app.reserve_for(&gateway, &user, 100, "idle", 60).await.expect(201);
    assert_eq!(spent(&app.budget(&user).await), [0, 100, 0]);

    clock.advance(TimeDelta::seconds(61));
    // `reserved` is documented as the credits held by live reservations; this one is not live.
    let entitlements = app.get(&format!("/v1/users/{user}/entitlements"), &gateway).await;
    assert_eq!(spent(&entitlements.expect(200)["budget"]), [0, 0, 100], "the access gate: {entitlements:?}");
    assert_eq!(spent(&app.budget(&user).await), [0, 0, 100], "GET /v1/users/{{id}}/budget");
    let changed = app.set_budget(&user, policy(200, "none")).await;
    assert_eq!(spent(changed.expect(200)), [0, 0, 200], "PUT answers what GET reads");
    assert_eq!(spent(&app.budget(&user).await), [0, 0, 200]);
}

async fn usage_events_are_recorded_once_by_key_and_counted_on_the_day_they_occurred(db: TestDatabase) {
    let (app, clock) = spawn_clocked_app(&db).await;
    let gateway = app.service_key(&["usage:write"]).await;
    let user = app.licensed_user_with_budget("events@example.com", policy(10, "none")).await;
    let unlicensed = id_of(&app.create_user("free@example.com", "user").await);
    let nobody = uuid::Uuid::now_v7().to_string();
    let now = clock.now();
    let (today, yesterday) = (now.date_naive(), now.date_naive().pred_opt().unwrap());
    let results = |statuses: &[(&str, &str)]| {
        let results: Vec<Value> =
            statuses.iter().map(|(key, status)| json!({ "idempotency_key": key, "status": status })).collect();
        json!({ "results": results })
    };

    let first = app
        .record(
            &gateway,
            vec![
                event("e-1", &user, 5, json!({ "pages_imported": 12 })),
                event("e-2", &unlicensed, 3, json!({ "chats": 1 })),
                event("e-3", &nobody, 4, json!({})),
            ],
        )
        .await;
    assert_eq!(first.expect(200), &results(&[("e-1", "recorded"), ("e-2", "recorded"), ("e-3", "user_not_found")]));
    let mut late = event("e-4", &user, 7, json!({ "ai_responses": 3 }));
    late["occurred_at"] = json!((now - TimeDelta::days(1)).to_rfc3339());
    let second = app.record(&gateway, vec![event("e-1", &user, 5, json!({ "pages_imported": 12 })), late]).await;
    assert_eq!(second.expect(200), &results(&[("e-1", "duplicate"), ("e-4", "recorded")]));
    // The key of a recorded event, for other use: not recorded.
    for reused in [event("e-1", &user, 6, json!({ "pages_imported": 12 })), event("e-1", &user, 5, json!({}))] {
        let answer = app.record(&gateway, vec![reused]).await;
        assert_eq!(answer.expect(200), &results(&[("e-1", "idempotency_key_reused")]));
    }

    // Refused batches record nothing.
    let twice = vec![event("e-5", &user, 1, json!({})), event("e-5", &user, 1, json!({}))];
    app.record(&gateway, twice).await.expect_problem(422, "invalid_batch");
    let too_many = (0..1001).map(|i| event(&format!("many-{i}"), &user, 1, json!({}))).collect();
    app.record(&gateway, too_many).await.expect_problem(400, "invalid_request");
    app.record(&gateway, vec![]).await.expect_problem(400, "invalid_request");
    for metrics in [json!({ "Chats": 1 }), json!({ "credits": 1 }), json!({ "chats": 1_000_000_000_001_u64 })] {
        let invalid = app.record(&gateway, vec![event("e-6", &user, 1, metrics.clone())]).await;
        invalid.expect_problem(422, "invalid_metrics");
    }
    app.record(&gateway, vec![event("e 6", &user, 1, json!({}))]).await.expect_problem(422, "invalid_idempotency_key");
    app.record(&gateway, vec![event("e-6", &user, -1, json!({}))]).await.expect_problem(400, "invalid_request");
    let mut future = event("e-6", &user, 1, json!({}));
    future["occurred_at"] = json!("9999-12-31T23:59:59-01:00");
    app.record(&gateway, vec![future.clone()]).await.expect_problem(422, "invalid_time");
    // Ahead of the server's clock by more than 5 minutes: refused, the whole batch.
    future["occurred_at"] = json!((now + TimeDelta::minutes(5) + TimeDelta::seconds(1)).to_rfc3339());
    let ahead = app.record(&gateway, vec![event("e-8", &user, 1, json!({})), future]).await;
    ahead.expect_problem(422, "event_in_future");

    // A batch is read up to 1 MiB (other operations stop at 64 KiB).
    let mut huge = event("e-7", &user, 1, json!({}));
    huge["padding"] = json!("x".repeat(1024 * 1024));
    app.record(&gateway, vec![huge]).await.expect_problem(413, "payload_too_large");
    let big: Vec<Value> = (0..1000).map(|i| event(&format!("{i:0>200}"), &nobody, 1, json!({}))).collect();
    let answered = app.record(&gateway, big).await;
    let answers = answered.expect(200)["results"].as_array().unwrap();
    assert!(answers.len() == 1000 && answers.iter().all(|r| r["status"] == "user_not_found"), "{answered:?}");
    app.reserve(&gateway, &user, 1, &"k".repeat(70 * 1024)).await.expect_problem(413, "payload_too_large");

    let on_day_before = json!({ "credits": 7, "metrics": { "ai_responses": 3 } });
    assert_eq!(app.usage(&user, yesterday, yesterday).await, on_day_before);
    assert_eq!(app.usage(&user, today, today).await, json!({ "credits": 5, "metrics": { "pages_imported": 12 } }));
    let both = json!({ "credits": 12, "metrics": { "ai_responses": 3, "pages_imported": 12 } });
    assert_eq!(app.usage(&user, yesterday, today).await, both);
    assert_eq!(app.usage(&unlicensed, today, today).await, json!({ "credits": 3, "metrics": { "chats": 1 } }));
    assert_eq!(spent(&app.budget(&user).await), [12, 0, 0], "counted beyond the hard limit: the work was done");

    let app = &app;
    let usage = |query: String| {
        let path = format!("/v1/users/{user}/usage?{query}");
        async move { app.get(&path, &app.admin_token).await }
    };
    usage(format!("from={today}&to={yesterday}")).await.expect_problem(422, "invalid_span");
    let year_ago = today - TimeDelta::days(366);
    usage(format!("from={year_ago}&to={today}")).await.expect_problem(422, "invalid_span");
    usage("from=yesterday".to_owned()).await.expect_problem(422, "invalid_date");
    usage("from=2026-1-1".to_owned()).await.expect_problem(422, "invalid_date");
    usage("to=26-01-05".to_owned()).await.expect_problem(422, "invalid_date");
    usage("from=2026-02-30".to_owned()).await.expect_problem(422, "invalid_date");
    usage("to=2026-13-01".to_owned()).await.expect_problem(422, "invalid_date");
    let month_start = today.with_day(1).unwrap();
    let default = usage(String::new()).await.expect(200).clone();
    let span = [&default["from"], &default["to"]];
    assert_eq!(span, [&json!(month_start.to_string()), &json!(today.to_string())], "the month so far");
    let path = format!("/v1/users/{nobody}/usage");
    app.get(&path, &app.admin_token).await.expect_problem(404, "user_not_found");
}

on_both_databases!(
    a_reservation_is_committed_once_or_released_once_never_both,
    a_soft_budget_grants_beyond_its_limit_and_only_reports,
    a_daily_budget_starts_again_from_zero_after_midnight_utc,
    weekly_and_monthly_budgets_start_again_from_zero_on_monday_and_on_the_first_utc,
    an_untouched_reservation_releases_itself_when_its_time_runs_out_and_its_use_still_counts,
    an_expired_reservation_no_longer_counts_as_held_when_the_budget_is_read,
    usage_events_are_recorded_once_by_key_and_counted_on_the_day_they_occurred,
);
