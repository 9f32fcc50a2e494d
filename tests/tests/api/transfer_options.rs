//! The import's options (`dry_run`, `role`, `license`, `invite`, `on_existing`), running a file
//! again, and governance: what a collaborator's file may do, and who may import at all.

use std::collections::BTreeSet;

use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use crate::helpers::{id_of, layout, member, plain, problem, report, spawn_app, spawn_mailing_app, with};

async fn a_dry_run_writes_nothing_and_reports_what_the_real_run_then_does(db: TestDatabase) {
    let app = spawn_app(&db).await;
    app.post("/v1/users", &app.admin_token, json!({ "email": "old@example.com", "name": "Old" })).await.expect(201);
    let pro = app.create_license("Pro", 2).await;
    let file = concat!(
        "email,name,role\n",
        "new1@example.com,New One,\n",
        "new2@example.com,New Two,collaborator\n",
        "new3@example.com,New Three,\n",
        "old@example.com,Old Renamed,\n",
        "NEW1@example.com,,\n",
        "bad,,\n",
        "new4@example.com,,boss\n",
    );
    let query = format!("license={pro}&on_existing=update");
    let (roster, audit, metrics) =
        (app.roster().await, app.audit_page().await, app.get("/v1/metrics", &app.admin_token).await);

    let dry = app.import_file(&format!("{query}&dry_run=true"), file).await;
    let problems = json!([
        problem(4, "new3@example.com", "no_seats_available"),
        problem(6, "NEW1@example.com", "duplicate_in_file"),
        problem(7, "bad", "invalid_email"),
        problem(8, "new4@example.com", "invalid_role"),
    ]);
    let mut expected = report(layout("comma", true, &[], false), [7, 2, 1, 1, 3], problems);
    expected["dry_run"] = json!(true);
    assert_eq!(dry, expected);
    assert_eq!(app.roster().await, roster, "no user created or changed");
    assert_eq!(app.audit_page().await, audit, "nothing audited");
    assert_eq!(app.get("/v1/metrics", &app.admin_token).await.body, metrics.body, "no seat taken");

    let real = app.import_file(&query, file).await;
    expected["dry_run"] = json!(false);
    assert_eq!(real, expected, "the real run does what the dry run said");
    let roster = json!({
        "old@example.com": member("user", Some("Old Renamed"), None),
        "new1@example.com": with(member("user", Some("New One"), None), "license", "Pro"),
        "new2@example.com": with(member("collaborator", Some("New Two"), None), "license", "Pro"),
    });
    assert_eq!(app.roster().await, roster);
    assert_eq!(app.license(&pro).await["assigned"], 2);
}

async fn rows_without_a_role_get_the_role_option_and_user_by_default(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let file = "email,role\na@example.com,\nb@example.com,administrator\nc@example.com,User\nd@example.com,boss\n";
    let imported = app.import_file("role=collaborator", file).await;
    let problems = json!([problem(5, "d@example.com", "invalid_role")]);
    assert_eq!(imported, report(layout("comma", true, &[], false), [4, 3, 0, 0, 1], problems));
    assert_eq!(app.import_file("", "e@example.com\n").await, report(plain(), [1, 1, 0, 0, 0], json!([])));
    let roster = json!({
        "a@example.com": member("collaborator", None, None),
        "b@example.com": member("administrator", None, None),
        "c@example.com": member("user", None, None),
        "e@example.com": member("user", None, None),
    });
    assert_eq!(app.roster().await, roster);
}

async fn a_license_option_gives_seats_until_the_pool_is_empty_then_rows_fail(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let pro = app.create_license("Pro", 3).await;
    let business = app.create_license("Business", 1).await;
    let file = concat!(
        "email,license\n",
        "a@example.com,\n",
        "b@example.com,\n",
        "c@example.com,business\n", // its own kind, in another letter case
        "d@example.com,\n",
        "e@example.com,\n",
        "f@example.com,Nope\n",
        "g@example.com,\n",
        "h@example.com,Business\n",
    );
    let imported = app.import_file(&format!("license={pro}"), file).await;
    let problems = json!([
        problem(6, "e@example.com", "no_seats_available"),
        problem(7, "f@example.com", "unknown_license"),
        problem(8, "g@example.com", "no_seats_available"),
        problem(9, "h@example.com", "no_seats_available"),
    ]);
    assert_eq!(imported, report(layout("comma", true, &[], false), [8, 4, 0, 0, 4], problems));
    let licensed = |name: &str| with(member("user", None, None), "license", name);
    let roster = json!({
        "a@example.com": licensed("Pro"), "b@example.com": licensed("Pro"),
        "c@example.com": licensed("Business"), "d@example.com": licensed("Pro"),
    });
    assert_eq!(app.roster().await, roster, "a row without a seat creates nobody");
    let (pro_kind, business_kind) = (app.license(&pro).await, app.license(&business).await);
    assert_eq!([&pro_kind["assigned"], &pro_kind["available"]], [3, 0]);
    assert_eq!([&business_kind["assigned"], &business_kind["available"]], [1, 0]);
    let holders = app.get(&format!("/v1/users?license={pro}"), &app.admin_token).await;
    assert_eq!(holders.expect(200)["total"], 3);
    let metrics = app.get("/v1/metrics", &app.admin_token).await;
    assert_eq!([&metrics.expect(200)["licensed"], &metrics.body["unlicensed"]], [4, 1]);
}

async fn invite_creates_invited_users_with_a_pending_invitation_and_mails_them(db: TestDatabase) {
    let app = spawn_mailing_app(&db).await;
    let file = "nina@example.com,33,06 12 34 56 78\r\nomar@example.com,+1 202 555 0143\r\n";
    let dry = app.import_file("invite=true&dry_run=true", file).await;
    assert_eq!([&dry["dry_run"], &dry["created"]], [&json!(true), &json!(2)], "{dry}");
    app.expect_no_mail().await;

    assert_eq!(app.import_file("invite=true", file).await, report(plain(), [2, 2, 0, 0, 0], json!([])));
    let users = app.all_users("invitation=pending").await;
    let invited: Vec<[&Value; 4]> = users
        .iter()
        .map(|user| [&user["email"], &user["status"], &user["source"], &user["invitation"]["state"]])
        .collect();
    assert_eq!(
        invited,
        [
            ["nina@example.com", "invited", "imported", "pending"],
            ["omar@example.com", "invited", "imported", "pending"]
        ]
    );
    let metrics = app.get("/v1/metrics", &app.admin_token).await;
    assert_eq!([&metrics.expect(200)["pending_invitations"], &metrics.body["active"]], [2, 1]);

    let mut recipients = BTreeSet::new();
    let mut links = Vec::new();
    for _ in 0..2 {
        let message = app.smtp.next_message(crate::helpers::MAIL_ARRIVES_WITHIN).await.expect("an invitation mail");
        recipients.extend(message.to.clone());
        links.push(crate::helpers::accept_link(&message));
    }
    assert_eq!(recipients, BTreeSet::from(["nina@example.com".to_owned(), "omar@example.com".to_owned()]));
    app.expect_no_mail().await;
    let accepted = app.accept(&links[0], None).await;
    assert_eq!(accepted.expect(200)["user"]["status"], "active");
}

async fn on_existing_update_changes_name_phone_and_role_and_reports_updated(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let body = json!({ "email": "ada@example.com", "name": "Ada", "phone": "+33612345678" });
    let ada = id_of(app.post("/v1/users", &app.admin_token, body).await.expect(201));
    app.post(
        "/v1/users",
        &app.admin_token,
        json!({ "email": "bob@example.com", "name": "Bob", "role": "collaborator" }),
    )
    .await
    .expect(201);
    let file = concat!(
        "email,name,country code,phone,role\n",
        "ada@example.com,Ada Lovelace,33,06 12 34 56 99,collaborator\n",
        "BOB@example.com,,,,user\n",
        "cyd@example.com,Cyd,,,\n",
    );
    let format = layout("comma", true, &[], false);
    let skipped = app.import_file("", file).await;
    let problems =
        json!([problem(2, "ada@example.com", "already_exists"), problem(3, "BOB@example.com", "already_exists")]);
    assert_eq!(skipped, report(format.clone(), [3, 1, 0, 2, 0], problems));
    assert_eq!(app.roster().await["ada@example.com"], member("user", Some("Ada"), Some("+33612345678")));

    let updated = app.import_file("on_existing=update", file).await;
    let problems = json!([problem(4, "cyd@example.com", "already_exists")]);
    assert_eq!(updated, report(format, [3, 0, 2, 1, 0], problems), "cyd's row changes nothing");
    let roster = json!({
        "ada@example.com": member("collaborator", Some("Ada Lovelace"), Some("+33612345699")),
        "bob@example.com": member("user", Some("Bob"), None),
        "cyd@example.com": member("user", Some("Cyd"), None),
    });
    assert_eq!(app.roster().await, roster, "cells a row leaves empty stay as they were");
    let trail = app.get(&format!("/v1/audit?target={ada}"), &app.admin_token).await;
    assert_eq!(trail.expect(200)["items"][0]["action"], "user.role_changed", "ada's row changed her role");
}

async fn running_the_same_file_again_creates_nobody_twice(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let file = "a@example.com,33,06 12 34 56 71\nb@example.com\nc@example.com\nd@example.com\ne@example.com\nbad\n";
    let first = app.import_file("", file).await;
    assert_eq!(first, report(plain(), [6, 5, 0, 0, 1], json!([problem(6, "bad", "invalid_email")])));
    let (roster, audit) = (app.roster().await, app.audit_page().await);

    let again = app.import_file("", file).await;
    let mut problems: Vec<Value> = ["a", "b", "c", "d", "e"]
        .iter()
        .zip(1..)
        .map(|(name, line)| problem(line, &format!("{name}@example.com"), "already_exists"))
        .collect();
    problems.push(problem(6, "bad", "invalid_email"));
    assert_eq!(again, report(plain(), [6, 0, 0, 5, 1], json!(problems)));
    assert_eq!(app.roster().await, roster);
    assert_eq!(app.audit_page().await, audit, "nothing happened");
    assert_eq!(app.get("/v1/metrics", &app.admin_token).await.expect(200)["total_users"], 6);
}

async fn a_collaborators_file_creates_no_administrator_and_gives_no_seat(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (_, carla) = app.user_with_token("carla@example.com", "collaborator").await;
    app.create_license("Pro", 5).await;
    let file = concat!(
        "email,role,license\n",
        "a@example.com,administrator,\n",
        "b@example.com,collaborator,\n",
        "c@example.com,,\n",
        "d@example.com,Administrator,\n",
        "e@example.com,,Pro\n",
    );
    let imported = app.import_as(&carla, "", file).await;
    let problems = json!([
        problem(2, "a@example.com", "forbidden_role"),
        problem(5, "d@example.com", "forbidden_role"),
        problem(6, "e@example.com", "forbidden_license"),
    ]);
    assert_eq!(imported.expect(200), &report(layout("comma", true, &[], false), [5, 2, 0, 0, 3], problems));
    let defaulted = app.import_as(&carla, "role=administrator", "f@example.com\n").await;
    let problems = json!([problem(1, "f@example.com", "forbidden_role")]);
    assert_eq!(defaulted.expect(200), &report(plain(), [1, 0, 0, 0, 1], problems));
    let roster = json!({
        "carla@example.com": member("collaborator", None, None),
        "b@example.com": member("collaborator", None, None),
        "c@example.com": member("user", None, None),
    });
    assert_eq!(app.roster().await, roster);
}

async fn only_administrators_import_with_a_license_and_users_not_at_all(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (_, carla) = app.user_with_token("carla@example.com", "collaborator").await;
    let (_, ulysse) = app.user_with_token("ulysse@example.com", "user").await;
    let pro = app.create_license("Pro", 5).await;
    let file = "a@example.com\n";
    app.import_as(&carla, &format!("license={pro}"), file).await.expect_problem(403, "forbidden");
    app.import_as(&carla, &format!("license={pro}&dry_run=true"), file).await.expect_problem(403, "forbidden");
    app.import_as(&ulysse, "", file).await.expect_problem(403, "forbidden");
    app.import_as(&ulysse, "dry_run=true", file).await.expect_problem(403, "forbidden");
    app.import_as("rst_not-a-token", "", file).await.expect_problem(401, "unauthenticated");
    let roster = app.roster().await;
    assert_eq!(roster.as_object().unwrap().len(), 2, "only carla and ulysse: {roster}");
    assert_eq!(app.license(&pro).await["assigned"], 0);
}

async fn a_collaborator_updating_existing_users_leaves_administrators_alone(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let (_, carla) = app.user_with_token("carla@example.com", "collaborator").await;
    let admin2 = json!({ "email": "admin2@example.com", "name": "Ad", "role": "administrator" });
    app.post("/v1/users", &app.admin_token, admin2).await.expect(201);
    app.post("/v1/users", &app.admin_token, json!({ "email": "u@example.com", "name": "U" })).await.expect(201);
    let file = "email,name\nadmin2@example.com,Renamed\nu@example.com,Renamed U\nadmin@example.com,Boss\n";
    let imported = app.import_as(&carla, "on_existing=update", file).await;
    let problems =
        json!([problem(2, "admin2@example.com", "not_updated"), problem(4, "admin@example.com", "not_updated"),]);
    assert_eq!(imported.expect(200), &report(layout("comma", true, &[], false), [3, 0, 1, 0, 2], problems));
    let roster = app.roster().await;
    assert_eq!(roster["admin2@example.com"], member("administrator", Some("Ad"), None));
    assert_eq!(roster["u@example.com"], member("user", Some("Renamed U"), None));
    assert_eq!(app.user(&app.admin_id).await["name"], Value::Null);
}

on_both_databases!(
    a_dry_run_writes_nothing_and_reports_what_the_real_run_then_does,
    rows_without_a_role_get_the_role_option_and_user_by_default,
    a_license_option_gives_seats_until_the_pool_is_empty_then_rows_fail,
    invite_creates_invited_users_with_a_pending_invitation_and_mails_them,
    on_existing_update_changes_name_phone_and_role_and_reports_updated,
    running_the_same_file_again_creates_nobody_twice,
    a_collaborators_file_creates_no_administrator_and_gives_no_seat,
    only_administrators_import_with_a_license_and_users_not_at_all,
    a_collaborator_updating_existing_users_leaves_administrators_alone,
);
