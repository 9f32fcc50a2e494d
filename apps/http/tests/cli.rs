//! The `roster` binary as an operator uses it: first start, the CLI commands, and the README's
//! walk-through run exactly as written (with the real address substituted).

use std::path::Path;
use std::process::{Command, Output};

use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::Value;

mod common;

use common::{ROSTER, roster, run, serve, serve_with};

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

async fn me(base: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new().get(format!("{base}/v1/me")).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_first_start_prints_the_address_and_a_working_administrator_token() {
    let dir = tempfile::tempdir().unwrap();
    let first = serve(dir.path(), None);
    assert!(first.banner[0].starts_with("Roster is listening on http://127.0.0.1:"), "{:?}", first.banner);
    let token = first.token().expect("the first start prints the token");
    let (status, body) = me(&first.base, &token).await;
    assert_eq!((status, body["email"].as_str()), (200, Some("admin@example.com")));
    assert!(dir.path().join("roster.db").exists(), "the embedded database file is created");
    drop(first);

    let again = serve(dir.path(), None);
    assert_eq!(again.token(), None, "a restart creates nothing and prints no token: {:?}", again.banner);
    assert_eq!(me(&again.base, &token).await.0, 200, "the token survives restarts");
}

#[tokio::test]
async fn a_stopping_server_writes_the_last_activity_it_noted() {
    let dir = tempfile::tempdir().unwrap();
    // Flushes an hour apart: only the stop can write the administrator's use.
    let mut server = serve_with(dir.path(), None, &[("ROSTER_ACTIVITY_FLUSH_SECONDS", "3600")]);
    let token = server.token().unwrap();
    assert_eq!(me(&server.base, &token).await.0, 200);
    let last_active_at = |dir: &Path| {
        let export = run(roster(dir, None).args(["users", "export", "--tenant", "default"]));
        let admin = stdout(&export).lines().nth(1).unwrap_or_default().to_owned();
        admin.split(',').nth(10).unwrap_or_default().to_owned()
    };
    assert_eq!(last_active_at(dir.path()), "", "noted in memory only");

    let terminated = run(Command::new("kill").args(["-TERM", &server.child.id().to_string()]));
    assert!(terminated.status.success());
    let started = std::time::Instant::now();
    while server.child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "roster did not stop");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let written = last_active_at(dir.path());
    assert!(chrono::DateTime::parse_from_rfc3339(&written).is_ok(), "written at the stop: {written:?}");
}

#[tokio::test]
async fn the_readme_walkthrough_works_as_written() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let start = readme.find("<!-- walkthrough:start -->").expect("walk-through start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("walk-through end marker");
    let block = &readme[start..end];
    let script = block.split("```sh").nth(1).and_then(|rest| rest.split("```").next()).expect("a sh block");

    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), None);
    let script = script
        .replace("http://127.0.0.1:8080", &server.base)
        .replace("cargo run --release -q -p roster-http --", ROSTER);
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("TOKEN", server.token().unwrap())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}\n{}", String::from_utf8_lossy(&output.stderr));
    for expected in [
        r#""email":"admin@example.com""#,
        r#""email":"ulysse@example.com""#,
        r#""role":"collaborator""#,
        r#""code":"forbidden_role_change""#,
        r#""code":"last_administrator""#,
        r#""code":"no_seats_available""#,
        r#""ai_access":true"#,
        r#""licensed":1,"#,
        r#""status":"deactivated""#,
        r#""code":"unauthenticated""#,
        r#""action":"user.deactivated""#,
        r#""created":2,"#,
        r#""reason":"invalid_email""#,
        "nina@example.com,,+33612345678,user,active,",
        "carla@example.com,Carla,,collaborator,active,",
    ] {
        assert!(printed.contains(expected), "missing {expected} in:\n{printed}");
    }
}

#[tokio::test]
async fn a_start_on_a_busy_port_creates_nothing_so_the_token_is_printed_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = run(roster(dir.path(), None).args(["--listen", &address]));
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen"), "{output:?}");
    assert!(!dir.path().join("roster.db").exists(), "nothing was created");
    drop(taken);
    assert!(serve(dir.path(), None).token().is_some(), "the first real start prints the token");
}

#[tokio::test]
async fn migrate_creates_and_migrates_the_embedded_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(roster(dir.path(), None).arg("migrate"));
    assert!(output.status.success(), "{output:?}");
    assert!(dir.path().join("roster.db").exists());
    assert!(run(roster(dir.path(), None).arg("migrate")).status.success(), "migrating twice is harmless");
}

#[tokio::test]
async fn openapi_prints_the_document_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(roster(dir.path(), Some("postgres://nobody@127.0.0.1:1/none")).arg("openapi"));
    assert!(output.status.success(), "{output:?}");
    let spec: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(spec["paths"]["/v1/users"]["post"].is_object());
    assert!(!dir.path().join("roster.db").exists());
}

#[tokio::test]
async fn bad_arguments_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        run(roster(dir.path(), None).args(["tenant", "create", "--name", "Not A Name", "--admin-email", "a@b.test"]));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("tenant name"), "{output:?}");
    let output = run(roster(dir.path(), None).args(["token", "create", "--tenant", "acme", "--email", "nope"]));
    assert_eq!(output.status.code(), Some(2));
    let long = "x".repeat(101);
    let output =
        run(roster(dir.path(), None)
            .args(["token", "create", "--tenant", "acme", "--email", "a@b.test", "--label", &long]));
    assert_eq!(output.status.code(), Some(2));
    let output = run(roster(dir.path(), Some("postgres://user:hunter2@127.0.0.1:1/none")).arg("migrate"));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot open the database") && !stderr.contains("hunter2"), "{stderr}");
}

async fn tenant_and_token_commands_print_working_tokens(db: TestDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let url = Some(db.url.as_str());
    let created =
        run(roster(dir.path(), url).args(["tenant", "create", "--name", "acme", "--admin-email", "Boss@Acme.test"]));
    assert!(created.status.success(), "{created:?}");
    let admin_token = stdout(&created);
    assert!(admin_token.starts_with("rst_"), "only the token goes to stdout: {admin_token}");

    let twice =
        run(roster(dir.path(), url).args(["tenant", "create", "--name", "acme", "--admin-email", "x@acme.test"]));
    assert_eq!(twice.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already exists"));

    let issued =
        run(roster(dir.path(), url).args(["token", "create", "--tenant", "acme", "--email", "boss@acme.test"]));
    assert!(issued.status.success(), "{issued:?}");
    let unknown =
        run(roster(dir.path(), url).args(["token", "create", "--tenant", "acme", "--email", "ghost@acme.test"]));
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user"));

    let server = serve(dir.path(), url);
    assert_eq!(server.token(), None, "the database already has a tenant: no first-start tenant");
    for token in [admin_token, stdout(&issued)] {
        let (status, body) = me(&server.base, &token).await;
        assert_eq!(
            (status, body["email"].as_str(), body["role"].as_str()),
            (200, Some("boss@acme.test"), Some("administrator"))
        );
    }
}

#[tokio::test]
async fn invite_prints_the_link_writes_it_to_one_message_in_the_outbox_and_gives_the_default_budget() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    // `invite` acts for an existing tenant: only `serve` creates one at first start.
    let created =
        run(roster(dir.path(), None).args(["tenant", "create", "--name", "default", "--admin-email", "a@example.com"]));
    assert!(created.status.success(), "{created:?}");
    // A tenant default budget, set through the served API, goes to the users the CLI invites.
    let server = serve(dir.path(), None);
    let default = serde_json::json!({ "default_budget": { "limit": 700, "period": "monthly" } });
    let set = reqwest::Client::new()
        .patch(format!("{}/v1/settings", server.base))
        .bearer_auth(stdout(&created))
        .json(&default)
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);

    let invited = run(roster(dir.path(), None)
        .args(["invite", "--tenant", "default", "--email", "x@example.com", "--public-url", "https://ai.example.com"])
        .arg("--outbox-dir")
        .arg(&outbox));

    assert!(invited.status.success(), "{invited:?}");
    let link = stdout(&invited);
    assert!(link.starts_with("https://ai.example.com/invitations/accept?token=inv_"), "only the link: {link}");
    assert!(!link.contains(char::is_whitespace), "one line: {link}");
    let stderr = String::from_utf8_lossy(&invited.stderr);
    assert!(stderr.contains("invited x@example.com") && stderr.contains("email: sent"), "{stderr}");
    let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().map(|entry| entry.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"), "{files:?}");
    let message = std::fs::read_to_string(&files[0]).unwrap();
    assert!(message.contains("To: x@example.com"), "{message}");
    assert!(message.contains(&format!("\r\n{link}\r\n")), "the link as printed: {message}");

    // The printed link is live: the served API accepts its token.
    let token = link.split_once("?token=").unwrap().1;
    let accepted = reqwest::Client::new()
        .post(format!("{}/v1/invitations/accept", server.base))
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(
        (body["user"]["email"].as_str(), body["user"]["status"].as_str()),
        (Some("x@example.com"), Some("active"))
    );
    assert_eq!(body["user"]["budget"]["limit"], 700, "{body}");
}

on_both_databases!(tenant_and_token_commands_print_working_tokens);
