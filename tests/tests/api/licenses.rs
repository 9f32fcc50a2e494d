//! License kinds and seats over HTTP: managing the pools, assigning, moving and returning
//! seats, and who may do it.

use reqwest::Method;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{TestApp, id_of, spawn_app};

/// The seats assigned of each kind, in order.
async fn taken(app: &TestApp, kinds: &[&str]) -> Vec<u64> {
    let mut assigned = Vec::new();
    for kind in kinds {
        assigned.push(app.license(kind).await["assigned"].as_u64().unwrap());
    }
    assigned
}

/// The names of the listed kinds, in the order listed.
async fn listed_names(app: &TestApp) -> Vec<String> {
    let list = app.get("/v1/licenses", &app.admin_token).await.expect(200).clone();
    list["items"].as_array().unwrap().iter().map(|kind| kind["name"].as_str().unwrap().to_owned()).collect()
}

async fn a_license_kind_is_created_read_listed_renamed_resized_and_deleted(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let created = app.post("/v1/licenses", &app.admin_token, json!({ "name": "Pro", "seats": 3 })).await;
    let pro = created.expect(201).clone();
    let id = id_of(&pro);
    assert_eq!(created.headers["location"], format!("/v1/licenses/{id}"));
    let expected = json!({
        "id": id, "name": "Pro", "seats": 3, "assigned": 0, "available": 3, "created_at": pro["created_at"],
    });
    assert_eq!(pro, expected);
    assert!(pro["created_at"].is_string());
    assert_eq!(app.license(&id).await, pro);

    app.create_license("Business", 5).await;
    assert_eq!(listed_names(&app).await, ["Business", "Pro"], "listed by name");
    let list = app.get("/v1/licenses", &app.admin_token).await;
    assert_eq!(list.expect(200)["items"][1], pro);

    let path = format!("/v1/licenses/{id}");
    let renamed = app.patch(&path, &app.admin_token, json!({ "name": "Pro Plus" })).await;
    assert_eq!(renamed.expect(200)["name"], "Pro Plus");
    assert_eq!(renamed.body["seats"], 3, "omitted seats stay");
    let raised = app.patch(&path, &app.admin_token, json!({ "seats": 10 })).await;
    assert_eq!(raised.expect(200)["seats"], 10);
    assert_eq!((&raised.body["name"], &raised.body["available"]), (&json!("Pro Plus"), &json!(10)));
    assert_eq!(app.license(&id).await, raised.body);
    let unchanged = app.patch(&path, &app.admin_token, json!({ "name": null, "seats": null })).await;
    assert_eq!(unchanged.expect(200), &raised.body, "null leaves a field as it is");
    assert_eq!(listed_names(&app).await, ["Business", "Pro Plus"]);

    let deleted = app.delete(&path, &app.admin_token).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    app.get(&path, &app.admin_token).await.expect_problem(404, "license_not_found");
    app.delete(&path, &app.admin_token).await.expect_problem(404, "license_not_found");
    app.patch(&path, &app.admin_token, json!({ "seats": 1 })).await.expect_problem(404, "license_not_found");
    assert_eq!(listed_names(&app).await, ["Business"]);
}

async fn a_license_name_in_another_letter_case_is_taken_in_the_same_tenant_only(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let pro = app.create_license("Pro", 1).await;
    let business = app.create_license("Business", 1).await;
    for name in ["PRO", "pro", "  pRo  "] {
        app.post("/v1/licenses", &app.admin_token, json!({ "name": name, "seats": 2 }))
            .await
            .expect_problem(409, "license_name_taken");
    }
    app.patch(&format!("/v1/licenses/{business}"), &app.admin_token, json!({ "name": "pRO" }))
        .await
        .expect_problem(409, "license_name_taken");
    assert_eq!(listed_names(&app).await, ["Business", "Pro"]);

    let recased = app.patch(&format!("/v1/licenses/{pro}"), &app.admin_token, json!({ "name": "PRO" })).await;
    assert_eq!(recased.expect(200)["name"], "PRO", "a kind may change the case of its own name");

    let other = app.app_state.tenants.create("globex".parse().unwrap(), "boss@globex.test".parse().unwrap()).await;
    let theirs = other.unwrap().token.expose().to_owned();
    let created = app.post("/v1/licenses", &theirs, json!({ "name": "Pro", "seats": 7 })).await;
    assert_eq!(created.expect(201)["name"], "Pro", "names are unique per tenant");
    app.get(&format!("/v1/licenses/{pro}"), &theirs).await.expect_problem(404, "license_not_found");
    app.delete(&format!("/v1/licenses/{pro}"), &theirs).await.expect_problem(404, "license_not_found");
    let their_list = app.get("/v1/licenses", &theirs).await;
    assert_eq!(their_list.expect(200)["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed_names(&app).await, ["Business", "PRO"]);
}

async fn invalid_license_names_and_seat_counts_are_refused(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let create = |body: Value| app.post("/v1/licenses", &app.admin_token, body);
    for name in ["   ", "Pro\u{7}", "Pro\nPlus", "\u{1b}[31mRed"] {
        create(json!({ "name": name, "seats": 1 })).await.expect_problem(422, "invalid_license_name");
    }
    for body in [
        json!({ "name": "", "seats": 1 }),
        json!({ "name": "x".repeat(65), "seats": 1 }),
        json!({ "name": 7, "seats": 1 }),
        json!({ "name": "Pro", "seats": 1_000_000_001_u64 }),
        json!({ "name": "Pro", "seats": -1 }),
        json!({ "name": "Pro", "seats": 1.5 }),
        json!({ "name": "Pro", "seats": "3" }),
        json!({ "name": "Pro" }),
        json!({ "seats": 3 }),
        json!({ "name": "Pro", "seats": 3, "price": 20 }),
    ] {
        create(body.clone()).await.expect_problem(400, "invalid_request");
    }
    assert_eq!(listed_names(&app).await, Vec::<String>::new(), "nothing was created");

    let most = create(json!({ "name": "Most", "seats": 1_000_000_000_u64 })).await;
    assert_eq!(most.expect(201)["available"], 1_000_000_000_u64);
    assert_eq!(create(json!({ "name": "None", "seats": 0 })).await.expect(201)["available"], 0);
    let longest = "x".repeat(64);
    assert_eq!(create(json!({ "name": longest, "seats": 1 })).await.expect(201)["name"], longest);
    let trimmed = create(json!({ "name": "  Trimmed ", "seats": 1 })).await;
    assert_eq!(trimmed.expect(201)["name"], "Trimmed");

    let path = format!("/v1/licenses/{}", id_of(&most.body));
    for body in [
        json!({ "seats": 1_000_000_001_u64 }),
        json!({ "seats": -1 }),
        json!({ "name": "" }),
        json!({ "color": "red" }),
    ] {
        app.patch(&path, &app.admin_token, body).await.expect_problem(400, "invalid_request");
    }
    app.patch(&path, &app.admin_token, json!({ "name": "\t" })).await.expect_problem(422, "invalid_license_name");
    app.get("/v1/licenses/not-a-uuid", &app.admin_token).await.expect_problem(400, "invalid_request");
    assert_eq!(app.license(&id_of(&most.body)).await, most.body, "unchanged");
}

async fn collaborators_and_users_cannot_manage_licenses_or_read_the_metrics(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let kind = app.create_license("Pro", 2).await;
    let holder = id_of(&app.create_user("holder@example.com", "user").await);
    app.assign(&holder, &kind).await.expect(200);
    let (kind_before, holder_before) = (app.license(&kind).await, app.user(&holder).await);
    let (_, collaborator) = app.user_with_token("c@example.com", "collaborator").await;
    let (user_id, user) = app.user_with_token("u@example.com", "user").await;
    let kind_path = format!("/v1/licenses/{kind}");

    for token in [&collaborator, &user] {
        let replies = [
            app.get("/v1/licenses", token).await,
            app.post("/v1/licenses", token, json!({ "name": "Stolen", "seats": 100 })).await,
            app.get(&kind_path, token).await,
            app.patch(&kind_path, token, json!({ "seats": 100 })).await,
            app.delete(&kind_path, token).await,
            app.put(&format!("/v1/users/{user_id}/license"), token, json!({ "kind": kind })).await,
            app.delete(&format!("/v1/users/{holder}/license"), token).await,
            app.get("/v1/metrics", token).await,
        ];
        for reply in replies {
            reply.expect_problem(403, "forbidden");
        }
    }
    for path in ["/v1/licenses", "/v1/metrics"] {
        app.call(Method::GET, path, None, None).await.expect_problem(401, "unauthenticated");
    }
    assert_eq!(app.license(&kind).await, kind_before);
    assert_eq!(app.user(&holder).await, holder_before);
    assert!(app.user(&user_id).await["license"].is_null());
    assert_eq!(listed_names(&app).await, ["Pro"]);
}

async fn a_seat_is_assigned_moved_to_another_kind_and_returned(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let business = app.create_license("Business", 2).await;
    let pro = app.create_license("Pro", 2).await;
    let user = id_of(&app.create_user("u@example.com", "user").await);

    let given = app.assign(&user, &business).await;
    assert_eq!(given.expect(200)["license"], json!({ "id": business, "name": "Business" }));
    assert_eq!(app.user(&user).await, given.body);
    assert_eq!(taken(&app, &[&business, &pro]).await, [1, 0]);
    assert_eq!(app.license(&business).await["available"], 1);

    let again = app.assign(&user, &business).await;
    assert_eq!(again.expect(200), &given.body, "assigning the kind held changes nothing");
    assert_eq!(taken(&app, &[&business, &pro]).await, [1, 0]);

    let moved = app.assign(&user, &pro).await;
    assert_eq!(moved.expect(200)["license"], json!({ "id": pro, "name": "Pro" }));
    assert_eq!(taken(&app, &[&business, &pro]).await, [0, 1], "one seat moved, none held twice");

    app.patch(&format!("/v1/licenses/{pro}"), &app.admin_token, json!({ "name": "Pro Max" })).await.expect(200);
    assert_eq!(app.user(&user).await["license"], json!({ "id": pro, "name": "Pro Max" }));

    let returned = app.delete(&format!("/v1/users/{user}/license"), &app.admin_token).await;
    assert!(returned.expect(200)["license"].is_null(), "{returned:?}");
    assert_eq!(returned.body["id"], user);
    assert_eq!(taken(&app, &[&business, &pro]).await, [0, 0]);
    assert_eq!(app.license(&pro).await["available"], 2);

    let unlicensed = app.user(&user).await;
    assert!(unlicensed["license"].is_null());
    let noop = app.delete(&format!("/v1/users/{user}/license"), &app.admin_token).await;
    assert_eq!(noop.expect(200), &unlicensed, "a user without a seat is left as is");
    assert_eq!(taken(&app, &[&business, &pro]).await, [0, 0]);
}

async fn a_full_pool_refuses_a_seat_and_keeps_its_holders(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let business = app.create_license("Business", 1).await;
    let pro = app.create_license("Pro", 1).await;
    let first = id_of(&app.create_user("first@example.com", "user").await);
    let second = id_of(&app.create_user("second@example.com", "user").await);
    let third = id_of(&app.create_user("third@example.com", "collaborator").await);

    app.assign(&first, &business).await.expect(200);
    let refused = app.assign(&second, &business).await;
    refused.expect_problem(409, "no_seats_available");
    assert_eq!(
        [&refused.body["kind"], &refused.body["seats"], &refused.body["assigned"]],
        [&json!(business), &json!(1), &json!(1)]
    );
    assert!(app.user(&second).await["license"].is_null());

    app.assign(&second, &pro).await.expect(200);
    let full = app.assign(&first, &pro).await;
    full.expect_problem(409, "no_seats_available");
    assert_eq!([&full.body["kind"], &full.body["seats"], &full.body["assigned"]], [&json!(pro), &json!(1), &json!(1)]);
    assert_eq!(app.user(&first).await["license"]["id"], business, "still holds their seat");
    assert_eq!(taken(&app, &[&business, &pro]).await, [1, 1]);

    let path = format!("/v1/licenses/{business}");
    app.patch(&path, &app.admin_token, json!({ "seats": 3 })).await.expect(200);
    app.assign(&third, &business).await.expect(200);
    for seats in [1, 0] {
        let shrunk = app.patch(&path, &app.admin_token, json!({ "name": "Renamed", "seats": seats })).await;
        shrunk.expect_problem(409, "seats_in_use");
        assert_eq!(shrunk.body["assigned"], 2);
    }
    let kept = app.license(&business).await;
    assert_eq!([&kept["name"], &kept["seats"], &kept["assigned"]], [&json!("Business"), &json!(3), &json!(2)]);
    let exact = app.patch(&path, &app.admin_token, json!({ "seats": 2 })).await;
    assert_eq!(
        [&exact.expect(200)["seats"], &exact.body["assigned"], &exact.body["available"]],
        [&json!(2), &json!(2), &json!(0)]
    );

    let in_use = app.delete(&path, &app.admin_token).await;
    in_use.expect_problem(409, "license_in_use");
    assert_eq!(in_use.body["assigned"], 2);
    assert_eq!(app.license(&business).await, exact.body, "still there");
}

async fn unknown_kinds_and_users_are_reported_as_such(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let pro = app.create_license("Pro", 5).await;
    let user = id_of(&app.create_user("u@example.com", "user").await);
    app.assign(&user, &pro).await.expect(200);
    let nowhere = uuid::Uuid::now_v7().to_string();
    app.assign(&user, &nowhere).await.expect_problem(422, "unknown_license");

    let other = app.app_state.tenants.create("globex".parse().unwrap(), "boss@globex.test".parse().unwrap()).await;
    let other = other.unwrap();
    let theirs = other.token.expose();
    let their_kind = id_of(app.post("/v1/licenses", theirs, json!({ "name": "Pro", "seats": 5 })).await.expect(201));
    app.assign(&user, &their_kind).await.expect_problem(422, "unknown_license");
    assert_eq!(app.user(&user).await["license"]["id"], pro, "kept their seat");
    assert_eq!(app.get(&format!("/v1/licenses/{their_kind}"), theirs).await.expect(200)["assigned"], 0);

    app.assign(&nowhere, &pro).await.expect_problem(404, "user_not_found");
    app.delete(&format!("/v1/users/{nowhere}/license"), &app.admin_token).await.expect_problem(404, "user_not_found");
    app.assign(&other.admin.id.to_string(), &pro).await.expect_problem(404, "user_not_found");
    app.delete(&format!("/v1/users/{}/license", other.admin.id), &app.admin_token)
        .await
        .expect_problem(404, "user_not_found");

    let path = format!("/v1/users/{user}/license");
    app.put("/v1/users/not-a-uuid/license", &app.admin_token, json!({ "kind": pro }))
        .await
        .expect_problem(400, "invalid_request");
    for body in [json!({ "kind": "Pro" }), json!({}), json!({ "kind": pro, "seats": 1 })] {
        app.put(&path, &app.admin_token, body).await.expect_problem(400, "invalid_request");
    }
    assert_eq!(app.license(&pro).await["assigned"], 1);
}

async fn deactivating_or_purging_a_licensed_user_returns_their_seat(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let pro = app.create_license("Pro", 1).await;
    let leaver = id_of(&app.create_user("leaver@example.com", "user").await);
    let next = id_of(&app.create_user("next@example.com", "user").await);
    app.assign(&leaver, &pro).await.expect(200);

    let gone = app.delete(&format!("/v1/users/{leaver}"), &app.admin_token).await;
    assert_eq!(gone.expect(200)["status"], "deactivated");
    assert!(gone.body["license"].is_null(), "{gone:?}");
    assert!(app.user(&leaver).await["license"].is_null());
    assert_eq!(taken(&app, &[&pro]).await, [0]);
    app.assign(&next, &pro).await.expect(200);
    app.delete(&format!("/v1/users/{next}/license"), &app.admin_token).await.expect(200);

    let back = app.post(&format!("/v1/users/{leaver}/reactivate"), &app.admin_token, json!({})).await;
    assert_eq!(back.expect(200)["status"], "active");
    assert!(back.body["license"].is_null(), "{back:?}");
    assert_eq!(taken(&app, &[&pro]).await, [0], "reactivation gives no seat back");

    app.delete(&format!("/v1/users/{leaver}"), &app.admin_token).await.expect(200);
    app.assign(&leaver, &pro).await.expect_problem(409, "user_deactivated");
    assert_eq!(taken(&app, &[&pro]).await, [0]);
    assert!(app.user(&leaver).await["license"].is_null());

    let purged = id_of(&app.create_user("purged@example.com", "user").await);
    app.assign(&purged, &pro).await.expect(200);
    app.assign(&next, &pro).await.expect_problem(409, "no_seats_available");
    let purge = app.delete(&format!("/v1/users/{purged}/purge?confirm=purged@example.com"), &app.admin_token).await;
    assert_eq!(purge.status, 204, "{purge:?}");
    assert_eq!(taken(&app, &[&pro]).await, [0]);
    assert_eq!(app.assign(&next, &pro).await.expect(200)["license"]["id"], pro, "the seat is free again");
}

on_both_databases!(
    a_license_kind_is_created_read_listed_renamed_resized_and_deleted,
    a_license_name_in_another_letter_case_is_taken_in_the_same_tenant_only,
    invalid_license_names_and_seat_counts_are_refused,
    collaborators_and_users_cannot_manage_licenses_or_read_the_metrics,
    a_seat_is_assigned_moved_to_another_kind_and_returned,
    a_full_pool_refuses_a_seat_and_keeps_its_holders,
    unknown_kinds_and_users_are_reported_as_such,
    deactivating_or_purging_a_licensed_user_returns_their_seat,
);
