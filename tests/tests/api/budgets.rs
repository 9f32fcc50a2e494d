//! Budgets end to end: who reads and sets them (roles), the tenant's default budget, budgets and
//! usage in the user list and the dashboard, and the audit trail of budgets and credentials.

use chrono::{Datelike as _, NaiveTime, TimeDelta, Weekday};
use roster_domain::ports::Clock as _;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, budget_totals, event, id_of, policy, spawn_app, spawn_clocked_app, spawn_mailing_app, spent,
};
use crate::invitations::instant;

async fn collaborators_read_budgets_users_read_their_own_and_only_administrators_set_them(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (_, collaborator) = app.user_with_token("c@example.com", "collaborator").await;
    let (me, mine) = app.user_with_token("me@example.com", "user").await;
    let other = id_of(&app.create_user("other@example.com", "user").await);
    let weekly = json!({ "limit": 500, "period": "weekly", "warn_at_percent": 80, "hard": false });
    let set = app.set_budget(&me, weekly).await.expect(200).clone();
    let fields = ["limit", "period", "warn_at_percent", "hard", "warning"].map(|field| &set[field]);
    assert_eq!(fields, [&json!(500), &json!("weekly"), &json!(80), &json!(false), &json!(false)]);
    assert_eq!(spent(&set), [0, 0, 500]);
    let start = instant(&set["period_start"]);
    assert_eq!((start.weekday(), start.time()), (Weekday::Mon, NaiveTime::MIN), "{set}");
    assert_eq!(instant(&set["resets_at"]) - start, TimeDelta::days(7));
    let budget = |id: &str| format!("/v1/users/{id}/budget");
    let usage = |id: &str| format!("/v1/users/{id}/usage");

    let credential = json!({ "name": "mine", "scopes": ["usage:write"] });
    app.post("/v1/service-credentials", &collaborator, credential).await.expect_problem(403, "forbidden");
    app.get("/v1/service-credentials", &collaborator).await.expect_problem(403, "forbidden");
    app.set_budget_as(&collaborator, &me, policy(1, "none")).await.expect_problem(403, "forbidden");
    app.delete(&budget(&me), &collaborator).await.expect_problem(403, "forbidden");
    assert_eq!(app.get(&budget(&me), &collaborator).await.expect(200), &set);
    assert_eq!(app.get(&usage(&me), &collaborator).await.expect(200)["usage"], json!({ "credits": 0, "metrics": {} }));

    assert_eq!(app.get(&budget(&me), &mine).await.expect(200), &set);
    assert_eq!(app.get(&usage(&me), &mine).await.expect(200)["usage"]["credits"], 0);
    assert_eq!(app.get("/v1/me", &mine).await.expect(200)["budget"], set);
    assert_eq!(app.get("/v1/me/entitlements", &mine).await.expect(200)["budget"], set);
    app.get(&budget(&other), &mine).await.expect_problem(403, "forbidden");
    app.get(&usage(&other), &mine).await.expect_problem(403, "forbidden");
    let bad_day = format!("{}?from=someday", usage(&other));
    app.get(&bad_day, &mine).await.expect_problem(403, "forbidden");
    app.get(&format!("{}?from=someday", usage(&me)), &mine).await.expect_problem(422, "invalid_date");
    app.get(&budget(&app.admin_id), &mine).await.expect_problem(403, "forbidden");
    app.set_budget_as(&mine, &me, policy(1_000_000, "none")).await.expect_problem(403, "forbidden");
    app.delete(&budget(&me), &mine).await.expect_problem(403, "forbidden");
    assert_eq!(app.budget(&me).await, set, "nobody but an administrator changed it");

    assert_eq!(app.delete(&budget(&me), &app.admin_token).await.status, 204);
    app.get(&budget(&me), &mine).await.expect_problem(404, "no_budget");
    assert!(app.user(&me).await.get("budget").is_none());
    assert_eq!(app.delete(&budget(&me), &app.admin_token).await.status, 204, "removing none is fine");

    let nobody = uuid::Uuid::now_v7().to_string();
    app.get(&budget(&nobody), &app.admin_token).await.expect_problem(404, "user_not_found");
    app.set_budget(&nobody, policy(1, "none")).await.expect_problem(404, "user_not_found");
    app.delete(&budget(&nobody), &app.admin_token).await.expect_problem(404, "user_not_found");
    app.get(&budget("not-a-uuid"), &app.admin_token).await.expect_problem(400, "invalid_request");
    for invalid in [
        json!({ "limit": -1, "period": "daily" }),
        json!({ "limit": 1_000_000_000_000_001_i64, "period": "daily" }),
        json!({ "limit": 10, "period": "yearly" }),
        json!({ "limit": 10, "period": "daily", "warn_at_percent": 0 }),
        json!({ "limit": 10, "period": "daily", "warn_at_percent": 101 }),
        json!({ "limit": 10, "period": "daily", "soft": true }),
        json!({ "period": "daily" }),
    ] {
        app.set_budget(&other, invalid.clone()).await.expect_problem(400, "invalid_request");
    }
    assert_eq!(app.budget(&other).await, Value::Null);
}

async fn the_tenant_default_budget_goes_to_users_created_or_invited_after_it(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let admin = app.admin_token.clone();
    let before = id_of(&app.create_user("before@example.com", "user").await);
    assert!(app.get("/v1/settings", &admin).await.expect(200).get("default_budget").is_none());

    let default = json!({ "limit": 500, "period": "monthly", "warn_at_percent": 80 });
    let set = app.patch("/v1/settings", &admin, json!({ "default_budget": default })).await;
    let shown = json!({ "limit": 500, "period": "monthly", "warn_at_percent": 80, "hard": true });
    assert_eq!(set.expect(200)["default_budget"], shown);
    assert_eq!(app.get("/v1/settings", &admin).await.expect(200)["default_budget"], shown);

    let created = app.create_user("created@example.com", "user").await;
    let budget = &created["budget"];
    let fields = ["limit", "period", "warn_at_percent", "hard", "warning"].map(|field| &budget[field]);
    assert_eq!(fields, [&json!(500), &json!("monthly"), &json!(80), &json!(true), &json!(false)], "{created}");
    assert_eq!(spent(budget), [0, 0, 500]);
    let (invited, _) = app.invite_and_read_link("invited@example.com", json!({})).await;
    assert_eq!(invited["budget"], *budget, "{invited}");
    assert_eq!(app.budget(&id_of(&invited)).await, *budget);
    let imported = app.import_file("", "imported@example.com\r\n").await;
    assert_eq!(imported["created"], 1, "{imported}");
    assert!(app.user(&before).await.get("budget").is_none(), "users that existed keep none");
    assert_eq!(app.budget(&before).await, Value::Null);
    assert_eq!(
        budget_totals(&app).await,
        json!({ "users": 3, "limit": 1500, "consumed_today": 0, "consumed_this_month": 0 })
    );
    // Each creation's audit event says that the user got the default budget with it.
    let trail = app.get("/v1/audit", &admin).await.expect(200).clone();
    let given = |email: &str| {
        let events = trail["items"].as_array().unwrap();
        let creation = |event: &&Value| ["user.created", "user.invited"].contains(&event["action"].as_str().unwrap());
        let event = events.iter().filter(creation).find(|event| event["after"]["email"] == email).expect("created");
        event["after"]["budget"].clone()
    };
    let recorded = json!({ "limit": 500, "period": "monthly", "warn_at": 80, "hard": true });
    for email in ["created@example.com", "invited@example.com", "imported@example.com"] {
        assert_eq!(given(email), recorded, "{email}: {trail}");
    }
    assert_eq!(given("before@example.com"), Value::Null, "{trail}");

    let kept = app.patch("/v1/settings", &admin, json!({ "invitation_ttl_seconds": 7200 })).await;
    assert_eq!(kept.expect(200)["default_budget"], shown, "an omitted default stays");
    let daily = json!({ "limit": 50, "period": "daily", "hard": false });
    let changed = app.patch("/v1/settings", &admin, json!({ "default_budget": daily })).await;
    assert_eq!(changed.expect(200)["default_budget"], json!({ "limit": 50, "period": "daily", "hard": false }));
    let later = app.create_user("later@example.com", "user").await;
    assert_eq!([&later["budget"]["limit"], &later["budget"]["hard"]], [&json!(50), &json!(false)]);
    assert_eq!(app.budget(&id_of(&created)).await["limit"], 500, "earlier users keep theirs");

    let removed = app.patch("/v1/settings", &admin, json!({ "default_budget": null })).await;
    assert!(removed.expect(200).get("default_budget").is_none(), "{removed:?}");
    assert!(app.get("/v1/settings", &admin).await.expect(200).get("default_budget").is_none());
    let after = app.create_user("after@example.com", "user").await;
    assert!(after.get("budget").is_none(), "{after}");
    assert_eq!(app.budget(&id_of(&later)).await["limit"], 50, "users keep the budget they were given");
    assert_eq!(
        budget_totals(&app).await,
        json!({ "users": 4, "limit": 1550, "consumed_today": 0, "consumed_this_month": 0 })
    );
    let revoked = app.delete(&format!("/v1/users/{}/invitation", id_of(&invited)), &admin).await;
    assert_eq!(revoked.status, 204, "{revoked:?}");
    let purge = format!("/v1/users/{}/purge?confirm=later@example.com", id_of(&later));
    assert_eq!(app.delete(&purge, &admin).await.status, 204);
    let left = json!({ "users": 2, "limit": 1000, "consumed_today": 0, "consumed_this_month": 0 });
    assert_eq!(budget_totals(&app).await, left, "a removed user's budget leaves the totals");

    for invalid in [
        json!({ "default_budget": { "limit": -1, "period": "monthly" } }),
        json!({ "default_budget": { "limit": 5, "period": "monthly", "extra": 1 } }),
        json!({ "default_budget": { "limit": 5 } }),
    ] {
        app.patch("/v1/settings", &admin, invalid).await.expect_problem(400, "invalid_request");
    }
    let (_, collaborator) = app.user_with_token("c@example.com", "collaborator").await;
    let attempt = json!({ "default_budget": { "limit": 5, "period": "daily" } });
    app.patch("/v1/settings", &collaborator, attempt).await.expect_problem(403, "forbidden");
    assert!(app.get("/v1/settings", &admin).await.expect(200).get("default_budget").is_none());
}

/// The users of the list by email, each with only the fields asked for.
async fn listed(app: &TestApp, fields: &[&str]) -> Value {
    let page = app.get("/v1/users?sort=email&order=asc&limit=200", &app.admin_token).await.expect(200).clone();
    let mut users = serde_json::Map::new();
    for user in page["items"].as_array().unwrap() {
        let picked = fields.iter().filter_map(|f| user.get(*f).map(|v| ((*f).to_owned(), v.clone()))).collect();
        users.insert(user["email"].as_str().unwrap().to_owned(), Value::Object(picked));
    }
    Value::Object(users)
}

/// The `limit`, `consumed`, `reserved`, `remaining` and `warning` of a budget, as JSON.
fn summary(limit: i64, [consumed, reserved, remaining]: [i64; 3], warning: bool) -> Value {
    json!({ "limit": limit, "consumed": consumed, "reserved": reserved, "remaining": remaining, "warning": warning })
}

/// The budgets of `listed(app, ["budget", "usage"])`, each reduced to [`summary`]'s fields.
fn summaries(users: &Value) -> Value {
    let fields = ["limit", "consumed", "reserved", "remaining", "warning"];
    let mut out = users.clone();
    for user in out.as_object_mut().unwrap().values_mut() {
        if let Some(budget) = user.get_mut("budget") {
            *budget = fields.iter().map(|f| ((*f).to_owned(), budget[*f].clone())).collect();
        }
    }
    out
}

async fn the_user_list_and_the_dashboard_show_budgets_and_usage_as_counted_by_hand(db: TestDatabase) {
    let (app, clock) = spawn_clocked_app(&db).await;
    let gateway = app.service_key(&["usage:write"]).await;
    let now = clock.now();
    let today = now.date_naive();
    let yesterday = today.pred_opt().unwrap();

    let ann = app.licensed_user_with_budget("ann@example.com", policy(1000, "monthly")).await;
    let bob_policy = json!({ "limit": 500, "period": "daily", "warn_at_percent": 5 });
    let bob = app.licensed_user_with_budget("bob@example.com", bob_policy).await;
    let cid = app.licensed_user("cid@example.com").await;
    let dan = app.licensed_user_with_budget("dan@example.com", policy(200, "none")).await;
    app.create_user("eve@example.com", "user").await;
    assert_eq!(
        budget_totals(&app).await,
        json!({ "users": 3, "limit": 1700, "consumed_today": 0, "consumed_this_month": 0 })
    );
    app.set_budget(&ann, policy(2000, "monthly")).await.expect(200);
    assert_eq!(app.delete(&format!("/v1/users/{dan}/budget"), &app.admin_token).await.status, 204);
    assert_eq!(
        budget_totals(&app).await,
        json!({ "users": 2, "limit": 2500, "consumed_today": 0, "consumed_this_month": 0 })
    );

    // Ann: 150 held, 100 used; 50 held and released; 25 still held.
    let first = id_of(app.reserve(&gateway, &ann, 150, "ann-1").await.expect(201));
    app.commit(&gateway, &first, 100, json!({ "chats": 1, "ai_responses": 1 })).await.expect(200);
    let second = id_of(app.reserve(&gateway, &ann, 50, "ann-2").await.expect(201));
    app.release(&gateway, &second).await.expect(200);
    app.reserve(&gateway, &ann, 25, "ann-3").await.expect(201);
    // Bob: 30 today. Cid: 40 today, 20 yesterday, 70 forty days ago. Dan: 5 today.
    let at = |mut event: Value, when: chrono::DateTime<chrono::Utc>| {
        event["occurred_at"] = json!(when.to_rfc3339());
        event
    };
    let events = vec![
        event("bob-1", &bob, 30, json!({ "ai_responses": 2 })),
        event("cid-1", &cid, 40, json!({})),
        at(event("cid-2", &cid, 20, json!({ "pages_imported": 3 })), now - TimeDelta::days(1)),
        at(event("cid-3", &cid, 70, json!({})), now - TimeDelta::days(40)),
        event("dan-1", &dan, 5, json!({})),
    ];
    app.record(&gateway, events).await.expect(200);

    let users = listed(&app, &["budget", "usage"]).await;
    let expected = json!({
        "admin@example.com": {},
        "ann@example.com": {
            "budget": summary(2000, [100, 25, 1875], false),
            "usage": { "credits": 100, "metrics": { "chats": 1, "ai_responses": 1 } },
        },
        "bob@example.com": {
            "budget": summary(500, [30, 0, 470], true),
            "usage": { "credits": 30, "metrics": { "ai_responses": 2 } },
        },
        "cid@example.com": { "usage": { "credits": 130, "metrics": { "pages_imported": 3 } } },
        "dan@example.com": { "usage": { "credits": 5, "metrics": {} } },
        "eve@example.com": {},
    });
    assert_eq!(summaries(&users), expected);
    let one = app.user(&ann).await;
    assert_eq!(
        [&one["budget"], &one["usage"]],
        [&users["ann@example.com"]["budget"], &users["ann@example.com"]["usage"]]
    );

    let yesterday_counts = if yesterday.month() == today.month() { 20 } else { 0 };
    let totals = json!({
        "users": 2, "limit": 2500, "consumed_today": 100 + 30 + 40 + 5,
        "consumed_this_month": 100 + 30 + 40 + 5 + yesterday_counts,
    });
    assert_eq!(budget_totals(&app).await, totals);

    // The next day: Bob's daily budget starts again, Ann's monthly one only on the first.
    let next = clock.advance_past_midnight(TimeDelta::minutes(1));
    let users = summaries(&listed(&app, &["budget"]).await);
    assert_eq!(users["bob@example.com"]["budget"], summary(500, [0, 0, 500], false));
    // Ann's reservation of 25 (five minutes) expired hours ago: no longer held.
    let ann_consumed = if next.day() == 1 { 0 } else { 100 };
    let ann_budget = summary(2000, [ann_consumed, 0, 2000 - ann_consumed], false);
    assert_eq!(users["ann@example.com"]["budget"], ann_budget);
    let this_month = if next.day() == 1 { 0 } else { totals["consumed_this_month"].as_i64().unwrap() };
    let expected = json!({ "users": 2, "limit": 2500, "consumed_today": 0, "consumed_this_month": this_month });
    assert_eq!(budget_totals(&app).await, expected);
}

/// The audit events about `target`, newest first.
async fn trail(app: &TestApp, target: &str) -> Vec<Value> {
    let trail = app.get(&format!("/v1/audit?target={target}"), &app.admin_token).await;
    trail.expect(200)["items"].as_array().unwrap().clone()
}

async fn budget_and_credential_changes_appear_in_the_audit_trail(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let user = id_of(&app.create_user("audited@example.com", "user").await);
    app.set_budget(&user, json!({ "limit": 100, "period": "daily", "warn_at_percent": 90 })).await.expect(200);
    assert_eq!(app.delete(&format!("/v1/users/{user}/budget"), &app.admin_token).await.status, 204);
    let events = trail(&app, &user).await;
    let actions: Vec<&Value> = events.iter().map(|event| &event["action"]).collect();
    assert_eq!(actions, ["user.budget_changed", "user.budget_changed", "user.created"]);
    let given = json!({ "budget": { "limit": 100, "period": "daily", "warn_at": 90, "hard": true } });
    assert_eq!([&events[1]["before"], &events[1]["after"]], [&json!({ "budget": null }), &given]);
    assert_eq!([&events[0]["before"], &events[0]["after"]], [&given, &json!({ "budget": null })]);

    let body = json!({ "name": "AI gateway", "scopes": ["usage:write", "entitlements:read"] });
    let issued = app.post("/v1/service-credentials", &app.admin_token, body).await.expect(201).clone();
    let credential = &issued["credential"];
    let secret = issued["secret"].as_str().unwrap();
    assert_eq!(
        [&credential["name"], &credential["scopes"]],
        [&json!("AI gateway"), &json!(["usage:write", "entitlements:read"])]
    );
    let id = id_of(credential);
    assert_eq!(app.delete(&format!("/v1/service-credentials/{id}"), &app.admin_token).await.status, 204);
    let events = trail(&app, &id).await;
    let actions: Vec<&Value> = events.iter().map(|event| &event["action"]).collect();
    assert_eq!(actions, ["service_credential.revoked", "service_credential.created"]);
    for event in &events {
        assert_eq!(event["target"], json!({ "kind": "service", "id": id, "label": "AI gateway" }));
        assert_eq!(event["actor"]["id"], app.admin_id.as_str());
    }
    assert_eq!(events[1]["after"], json!({ "name": "AI gateway", "scopes": ["usage:write", "entitlements:read"] }));
    assert!(!Value::Array(events).to_string().contains(secret), "the secret is never recorded");
}

async fn the_tenant_default_budget_goes_to_imported_users_too(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let default = json!({ "limit": 300, "period": "weekly", "warn_at_percent": 90, "hard": false });
    app.patch("/v1/settings", &app.admin_token, json!({ "default_budget": default })).await.expect(200);
    let imported = app.import_file("", "ada@example.com\nbob@example.com,33,06 12 34 56 78\n").await;
    assert_eq!(imported["created"], 2, "{imported}");
    let users = app.all_users("").await;
    let budgets: Vec<(&Value, &Value)> = users.iter().map(|user| (&user["email"], &user["budget"])).collect();
    assert_eq!(budgets.len(), 3, "{users:?}");
    for (email, budget) in &budgets[1..] {
        let fields = ["limit", "period", "warn_at_percent", "hard"].map(|field| &budget[field]);
        assert_eq!(fields, [&json!(300), &json!("weekly"), &json!(90), &json!(false)], "{email}: {budget}");
    }
    assert_eq!(
        budget_totals(&app).await,
        json!({ "users": 2, "limit": 600, "consumed_today": 0, "consumed_this_month": 0 })
    );
}

on_both_databases!(
    collaborators_read_budgets_users_read_their_own_and_only_administrators_set_them,
    the_tenant_default_budget_goes_to_users_created_or_invited_after_it,
    the_tenant_default_budget_goes_to_imported_users_too,
    the_user_list_and_the_dashboard_show_budgets_and_usage_as_counted_by_hand,
    budget_and_credential_changes_appear_in_the_audit_trail,
);
