//! `GET /v1/users/export`: the file's form and columns, formula cells, the list's filters, who
//! may export; and the round trip: an export imported into a fresh database gives the same users.

use chrono::{DateTime, TimeDelta};
use roster_storage::on_both_databases;
use roster_storage::testing::{TestDatabase, on_postgres, on_sqlite};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, csv_records, event, export_table, id_of, layout, policy, problem, report, spawn_app, spawn_mailing_app,
};

async fn the_export_is_a_csv_attachment_with_every_column_of_each_user(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let pro = app.create_license("Pro", 5).await;
    let body = json!({ "email": "ana@example.com", "name": "Martinez, Ana", "phone": "+33 6 12 34 56 78", "role": "collaborator" });
    let ana = id_of(app.post("/v1/users", &app.admin_token, body).await.expect(201));
    app.assign(&ana, &pro).await.expect(200);
    app.set_budget(&ana, policy(1000, "monthly")).await.expect(200);
    let gateway = app.service_key(&["usage:write"]).await;
    app.record(&gateway, vec![event("e1", &ana, 250, json!({ "chats": 1 }))]).await.expect(200);
    let body = json!({ "email": "ben@example.com", "name": "=HYPERLINK(\"http://evil.example\")" });
    app.post("/v1/users", &app.admin_token, body).await.expect(201);
    app.invite(&app.admin_token, json!({ "email": "ivy@example.com", "name": "-Ivy" })).await.expect(201);

    let exported = app.export_as(&app.admin_token, "").await;
    assert_eq!(exported.status, 200, "{exported:?}");
    assert!(exported.content_type.starts_with("text/csv"), "{exported:?}");
    let disposition = exported.headers["content-disposition"].to_str().unwrap();
    let today = chrono::Utc::now().format("%Y-%m-%d");
    assert_eq!(disposition, format!("attachment; filename=\"users-{today}.csv\""));
    let text = exported.body.as_str().unwrap();
    assert!(text.contains(",\"Martinez, Ana\","), "a cell holding a comma is quoted: {text}");
    assert!(text.contains(",\"'=HYPERLINK(\"\"http://evil.example\"\")\","), "{text}");
    assert!(text.contains(",+33612345678,"), "an E.164 phone is no formula: {text}");

    let rows = export_table(text);
    let emails: Vec<&str> = rows.iter().map(|row| row["email"].as_str()).collect();
    assert_eq!(emails, ["admin@example.com", "ana@example.com", "ben@example.com", "ivy@example.com"], "oldest first");
    let cells = |index: usize, columns: &[&str]| columns.iter().map(|c| rows[index][*c].clone()).collect::<Vec<_>>();
    let columns = ["name", "phone", "role", "status", "license", "budget_limit", "consumed", "invitation"];
    assert_eq!(cells(0, &columns), ["", "", "administrator", "active", "", "", "", ""]);
    assert_eq!(
        cells(1, &columns),
        ["Martinez, Ana", "+33612345678", "collaborator", "active", "Pro", "1000", "250", ""]
    );
    assert_eq!(cells(2, &columns), ["'=HYPERLINK(\"http://evil.example\")", "", "user", "active", "", "", "", ""]);
    assert_eq!(cells(3, &columns), ["'-Ivy", "", "user", "invited", "", "", "", "pending"]);
    assert_eq!(rows[3]["activated_at"], "", "never activated");
    let users = app.all_users("").await;
    for (row, user) in rows.iter().zip(&users) {
        let created = DateTime::parse_from_rfc3339(&row["created_at"]).unwrap();
        let listed = DateTime::parse_from_rfc3339(user["created_at"].as_str().unwrap()).unwrap();
        assert!((created - listed).abs() < TimeDelta::milliseconds(1), "{row:?} {user}");
        if row["status"] == "active" {
            DateTime::parse_from_rfc3339(&row["activated_at"]).unwrap();
        }
    }
}

async fn only_administrators_and_collaborators_export(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (_, carla) = app.user_with_token("carla@example.com", "collaborator").await;
    let (_, ulysse) = app.user_with_token("ulysse@example.com", "user").await;
    let by_carla = app.export_as(&carla, "").await;
    assert_eq!(export_table(by_carla.expect(200).as_str().unwrap()).len(), 3);
    app.export_as(&ulysse, "").await.expect_problem(403, "forbidden");
    app.export_as("rst_not-a-token", "").await.expect_problem(401, "unauthenticated");
    for query in ["role=boss", "licensed=maybe", "license=Pro", "status=gone", "invitation=soon"] {
        app.export_as(&app.admin_token, query).await.expect_problem(400, "invalid_request");
    }
}

/// The emails of `GET /v1/users?{query}` (oldest first) and of the export for `query`.
async fn listed_and_exported(app: &TestApp, query: &str) -> (Vec<String>, Vec<String>) {
    let email = |user: &Value| user["email"].as_str().unwrap().to_owned();
    let listed = app.all_users(query).await.iter().map(email).collect();
    let exported = app.export_rows(query).await.into_iter().map(|mut row| row.remove("email").unwrap()).collect();
    (listed, exported)
}

async fn the_export_filters_users_as_the_user_list_does(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let pro = app.create_license("Pro", 5).await;
    let post = |body: Value| async { id_of(app.post("/v1/users", &app.admin_token, body).await.expect(201)) };
    post(json!({ "email": "martin.dupont@example.com", "role": "collaborator", "referral_code": "SPRING" })).await;
    let ana = post(json!({ "email": "ana@example.com", "name": "Ana Martinez" })).await;
    app.assign(&ana, &pro).await.expect(200);
    let gone = post(json!({ "email": "gone@example.com", "referral_code": "FALL" })).await;
    app.delete(&format!("/v1/users/{gone}"), &app.admin_token).await.expect(200);
    let cy = post(json!({ "email": "cy@example.com", "role": "collaborator" })).await;
    app.assign(&cy, &pro).await.expect(200);
    app.invite_and_read_link("old.invite@example.com", json!({})).await;
    app.clock.advance(TimeDelta::days(8));
    app.invite_and_read_link("new.invite@example.com", json!({ "license": pro })).await;

    let expected: [(&str, &[&str]); 6] = [
        ("role=collaborator", &["martin.dupont@example.com", "cy@example.com"]),
        ("q=MARTIN", &["martin.dupont@example.com", "ana@example.com"]),
        ("licensed=true", &["ana@example.com", "cy@example.com", "new.invite@example.com"]),
        ("invitation=pending", &["new.invite@example.com"]),
        ("invitation=expired", &["old.invite@example.com"]),
        ("status=deactivated", &["gone@example.com"]),
    ];
    for (query, emails) in expected {
        assert_eq!(listed_and_exported(&app, query).await.1, emails, "{query}");
    }
    let license = format!("license={pro}");
    for query in [
        "",
        "role=user",
        "role=administrator",
        "status=active",
        "status=invited",
        "status=deactivated",
        "licensed=true",
        "licensed=false",
        &license,
        "q=martin",
        "q=invite",
        "invitation=pending",
        "invitation=expired",
        "referral_code=SPRING",
        "role=collaborator&licensed=true",
        "status=active&q=example.com&licensed=false",
    ] {
        let (listed, exported) = listed_and_exported(&app, query).await;
        assert_eq!(exported, listed, "{query}");
    }
}

/// Runs `test` on a fresh database of the same kind as `db`.
async fn on_a_fresh_database_like<F, Fut>(db: &TestDatabase, test: F)
where
    F: FnOnce(TestDatabase) -> Fut,
    Fut: Future<Output = ()>,
{
    if db.url.starts_with("sqlite:") { on_sqlite(test).await } else { on_postgres(test).await }
}

/// Email, name, phone, role and license of each line of an export.
fn profiles(export: &str) -> Vec<[String; 5]> {
    export_table(export)
        .into_iter()
        .map(|row| ["email", "name", "phone", "role", "license"].map(|c| row[c].clone()))
        .collect()
}

async fn an_export_imported_into_a_fresh_database_gives_the_same_users(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let pro = app.create_license("Pro", 5).await;
    let people = [
        json!({ "email": "ana@example.com", "name": "Martinez, Ana", "phone": "+33 6 12 34 56 78", "role": "collaborator" }),
        json!({ "email": "ben@example.com", "name": "=1+2", "phone": "+1 202 555 0143" }),
        json!({ "email": "cy@example.com", "name": "-Cy @home", "role": "administrator" }),
        json!({ "email": "dee@example.com", "name": "Dee \"D\" O'Neil" }),
        json!({ "email": "eve@example.com" }),
        json!({ "email": "fay@example.com", "name": "@fay", "role": "collaborator" }),
        json!({ "email": "gil@example.com", "name": "+Gil", "phone": "+33 6 12 34 56 79" }),
    ];
    for person in people {
        let id = id_of(app.post("/v1/users", &app.admin_token, person.clone()).await.expect(201));
        if ["ana@example.com", "dee@example.com"].contains(&person["email"].as_str().unwrap()) {
            app.assign(&id, &pro).await.expect(200);
        }
    }
    let first = app.export_text("").await;
    for neutralised in [",'=1+2,", ",'-Cy @home,", ",'@fay,", ",'+Gil,", ",\"Dee \"\"D\"\" O'Neil\","] {
        assert!(first.contains(neutralised), "{neutralised} in {first}");
    }
    let before = app.roster().await;

    on_a_fresh_database_like(&db, |fresh| async move {
        let app = spawn_app(&fresh).await;
        app.create_license("Pro", 5).await;
        let imported = app.import_file("", first.clone()).await;
        let ignored =
            ["status", "budget_limit", "consumed", "created_at", "activated_at", "last_active_at", "invitation"];
        let format = layout("comma", true, &ignored, false);
        let problems = json!([problem(2, "admin@example.com", "already_exists")]);
        assert_eq!(imported, report(format, [8, 7, 0, 1, 0], problems));
        let second = app.export_text("").await;
        assert_eq!(profiles(&second), profiles(&first));
        assert_eq!(app.roster().await, before, "names lose the ' the export put before them");
    })
    .await;
}

async fn a_name_starting_with_an_apostrophe_and_a_formula_character_survives_the_round_trip(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let body = json!({ "email": "quote@example.com", "name": "'=not a formula" });
    app.post("/v1/users", &app.admin_token, body).await.expect(201);
    let export = app.export_text("q=quote").await;
    let purged = app.all_users("q=quote").await;
    let path = format!("/v1/users/{}/purge?confirm=quote@example.com", id_of(&purged[0]));
    assert_eq!(app.delete(&path, &app.admin_token).await.status, 204);
    app.import_file("", export).await;
    assert_eq!(app.roster().await["quote@example.com"]["name"], "'=not a formula");
}

async fn the_export_is_valid_rfc_4180_text_with_crlf_line_ends(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let body = json!({ "email": "multi@example.com", "name": "Ann \"Annie\" Smith, Jr." });
    app.post("/v1/users", &app.admin_token, body).await.expect(201);
    let text = app.export_text("").await;
    assert!(text.ends_with("\r\n") && !text.replace("\r\n", "").contains('\n'), "{text:?}");
    let records = csv_records(&text);
    assert_eq!(records.len(), 3);
    assert_eq!(records[2][1], "Ann \"Annie\" Smith, Jr.");
}

async fn an_export_for_excel_starts_with_a_byte_order_mark_and_imports_as_is(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let zoe = json!({ "email": "zoe@example.com", "name": "Zoë 李小龍" });
    app.post("/v1/users", &app.admin_token, zoe).await.expect(201);

    let plain = app.export_text("").await;
    let for_excel = app.export_text("bom=true").await;

    assert!(!plain.starts_with('\u{feff}'), "none by default");
    assert_eq!(for_excel.strip_prefix('\u{feff}'), Some(plain.as_str()));
    let beta = app.another_tenant("beta", "root@beta.example").await;
    let report = beta.import_as(&beta.admin_token, "", for_excel.into_bytes()).await.expect(200).clone();
    assert_eq!([&report["format"]["bom"], &report["created"]], [&json!(true), &json!(2)], "{report}");
    let names: Vec<String> = beta.export_rows("").await.into_iter().map(|row| row["name"].clone()).collect();
    assert!(names.contains(&"Zoë 李小龍".to_owned()), "{names:?}");
}

on_both_databases!(
    an_export_for_excel_starts_with_a_byte_order_mark_and_imports_as_is,
    the_export_is_a_csv_attachment_with_every_column_of_each_user,
    only_administrators_and_collaborators_export,
    the_export_filters_users_as_the_user_list_does,
    an_export_imported_into_a_fresh_database_gives_the_same_users,
    a_name_starting_with_an_apostrophe_and_a_formula_character_survives_the_round_trip,
    the_export_is_valid_rfc_4180_text_with_crlf_line_ends,
);
