//! `roster users import` and `roster users export` as an operator runs them: the real binary in a
//! temporary directory, its default SQLite database (and PostgreSQL for the killed import), the
//! problems report on stdout, the summary on stderr, the exit status, and what the database holds
//! afterwards (read back with `users export` and the dashboard).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{Server, roster, run, serve};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::Value;

/// The header of the skipped and failed rows `users import` prints.
const PROBLEMS_HEADER: &str = "line,email,reason,detail\r\n";

impl Server {
    async fn get(&self, path: &str, token: &str) -> Value {
        let response =
            reqwest::Client::new().get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "POST {path}: {}", response.status());
        response.json().await.unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Creates the tenant `default` with the administrator `admin@example.com`; their token.
fn create_tenant(dir: &Path, url: Option<&str>) -> String {
    let created =
        run(roster(dir, url).args(["tenant", "create", "--name", "default", "--admin-email", "admin@example.com"]));
    assert!(created.status.success(), "{created:?}");
    text(&created.stdout).trim().to_owned()
}

/// Writes `content` to `name` in `dir`; its path.
fn write_file(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// `roster users import FILE --tenant default ARGS`.
fn import(dir: &Path, url: Option<&str>, file: &Path, args: &[&str]) -> Output {
    run(roster(dir, url).args(["users", "import"]).arg(file).args(["--tenant", "default"]).args(args))
}

/// `roster users export --tenant default ARGS`, which must succeed: its whole output.
fn export_bytes(dir: &Path, url: Option<&str>, args: &[&str]) -> Vec<u8> {
    let output = run(roster(dir, url).args(["users", "export", "--tenant", "default"]).args(args));
    assert!(output.status.success(), "{output:?}");
    output.stdout
}

/// The users lines of `users export --tenant default ARGS` (the header checked and left out).
fn export(dir: &Path, url: Option<&str>, args: &[&str]) -> Vec<String> {
    let exported = text(&export_bytes(dir, url, args));
    let mut lines = exported.split_terminator("\r\n");
    assert_eq!(
        lines.next(),
        Some(
            "email,name,phone,role,status,license,budget_limit,consumed,created_at,activated_at,last_active_at,invitation"
        ),
        "{exported}"
    );
    lines.map(str::to_owned).collect()
}

/// The emails of `users export --tenant default ARGS`, sorted.
fn exported_emails(dir: &Path, url: Option<&str>, args: &[&str]) -> Vec<String> {
    let mut emails: Vec<String> = export(dir, url, args).iter().map(|line| cell(line, 0).to_owned()).collect();
    emails.sort();
    emails
}

/// The `index`th cell of an export line (the tests' data has no quoted cells).
fn cell(line: &str, index: usize) -> &str {
    line.split(',').nth(index).unwrap_or_else(|| panic!("no cell {index} in {line}"))
}

/// The exported line of `email`.
fn exported_user(lines: &[String], email: &str) -> String {
    lines.iter().find(|line| cell(line, 0) == email).unwrap_or_else(|| panic!("{email} not in {lines:#?}")).clone()
}

/// The skipped and failed rows as `users import` prints them, header included.
fn problems(rows: &[&str]) -> String {
    let mut expected = PROBLEMS_HEADER.to_owned();
    for row in rows {
        expected.push_str(row);
        expected.push_str("\r\n");
    }
    expected
}

/// A byte order mark, `;` delimiters, a header, a quoted cell holding the delimiter, a blank line,
/// an invalid email and a duplicate (in another letter case).
const AWKWARD: &str = "\u{feff}email;name;phone\r\n\
    ada@example.com;Ada Lovelace;+33 6 12 34 56 78\r\n\
    \r\n\
    grace@example.com;Grace Hopper;\r\n\
    not-an-email;Nobody;\r\n\
    ADA@example.com;Ada again;\r\n\
    \"linus@example.com\";\"Torvalds; Linus\";\r\n";

fn awkward_report() -> String {
    problems(&["5,not-an-email,invalid_email,", "6,ADA@example.com,duplicate_in_file,"])
}

#[test]
fn an_awkward_file_imports_its_good_rows_and_reports_the_others_with_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path(), None);
    let file = write_file(dir.path(), "team.csv", AWKWARD);

    let output = import(dir.path(), None, &file, &[]);

    assert_eq!(output.status.code(), Some(1), "a row failed: {output:?}");
    assert_eq!(text(&output.stdout), awkward_report());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("5 rows (';'-delimited, a header row): 3 created, 0 updated, 1 skipped, 1 failed"),
        "{stderr}"
    );
    assert!(stderr.contains("1 row(s) failed"), "{stderr}");
    let users = export(dir.path(), None, &[]);
    assert_eq!(users.len(), 4, "{users:#?}");
    assert!(
        exported_user(&users, "ada@example.com").starts_with("ada@example.com,Ada Lovelace,+33612345678,user,active,")
    );
    assert!(exported_user(&users, "grace@example.com").starts_with("grace@example.com,Grace Hopper,,user,active,"));
    assert!(exported_user(&users, "linus@example.com").starts_with("linus@example.com,Torvalds; Linus,,user,active,"));
    assert!(exported_user(&users, "admin@example.com").contains(",administrator,active,"));
}

#[test]
fn a_dry_run_reports_the_same_rows_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path(), None);
    let before = export_bytes(dir.path(), None, &[]);
    let file = write_file(dir.path(), "team.csv", AWKWARD);

    let dry = import(dir.path(), None, &file, &["--dry-run"]);

    assert_eq!(dry.status.code(), Some(1), "a row would fail: {dry:?}");
    assert_eq!(text(&dry.stdout), awkward_report());
    let stderr = text(&dry.stderr);
    assert!(stderr.contains("dry run, nothing written: 5 rows"), "{stderr}");
    assert!(stderr.contains("3 created, 0 updated, 1 skipped, 1 failed"), "{stderr}");
    assert_eq!(text(&export_bytes(dir.path(), None, &[])), text(&before), "nothing was written");

    let good = write_file(dir.path(), "good.csv", "ada@example.com\nbob@example.com,+1 202 555 0143\n");
    let dry = import(dir.path(), None, &good, &["--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "no row would fail: {dry:?}");
    assert_eq!(text(&dry.stdout), "");
    assert!(text(&dry.stderr).contains("2 created, 0 updated, 0 skipped, 0 failed"), "{dry:?}");
    assert_eq!(text(&export_bytes(dir.path(), None, &[])), text(&before), "nothing was written");

    // What the dry run announced is what the real run does.
    let real = import(dir.path(), None, &file, &[]);
    assert_eq!((real.status.code(), text(&real.stdout)), (Some(1), awkward_report()));
}

#[test]
fn a_good_file_exits_0_and_running_it_again_creates_nobody_twice() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path(), None);
    let file = write_file(
        dir.path(),
        "team.csv",
        "nina@example.com,33,06 12 34 56 78\r\nomar@example.com,+1 202 555 0143\r\npia@example.com\r\n",
    );

    let first = import(dir.path(), None, &file, &[]);

    assert_eq!(first.status.code(), Some(0), "{first:?}");
    assert_eq!(text(&first.stdout), "", "no problem to report");
    assert!(text(&first.stderr).contains("3 rows (','-delimited, no header): 3 created"), "{first:?}");
    let after_first = export(dir.path(), None, &[]);
    assert_eq!(after_first.len(), 4, "{after_first:#?}");

    let again = import(dir.path(), None, &file, &[]);

    assert_eq!(again.status.code(), Some(0), "skipped rows are no failures: {again:?}");
    assert_eq!(
        text(&again.stdout),
        problems(&[
            "1,nina@example.com,already_exists,",
            "2,omar@example.com,already_exists,",
            "3,pia@example.com,already_exists,",
        ])
    );
    assert!(text(&again.stderr).contains("0 created, 0 updated, 3 skipped, 0 failed"), "{again:?}");
    assert_eq!(export(dir.path(), None, &[]), after_first, "nobody created twice, nobody changed");
}

#[test]
fn a_file_on_standard_input_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path(), None);
    let mut child = roster(dir.path(), None)
        .args(["users", "import", "-", "--tenant", "default", "--role", "collaborator"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"email\tname\nzoe@example.com\tZoe\nbad@\tBad\n").unwrap();

    let output = child.wait_with_output().unwrap();

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(text(&output.stdout), problems(&["3,bad@,invalid_email,"]));
    assert!(
        text(&output.stderr)
            .contains("2 rows (tab-delimited, a header row): 1 created, 0 updated, 0 skipped, 1 failed"),
        "{output:?}"
    );
    let users = export(dir.path(), None, &[]);
    assert!(exported_user(&users, "zoe@example.com").starts_with("zoe@example.com,Zoe,,collaborator,active,"));
}

#[tokio::test]
async fn a_license_gives_its_seats_until_none_is_left_and_an_unknown_one_imports_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_tenant(dir.path(), None);
    let server = serve(dir.path(), None);
    server.post("/v1/licenses", &token, &serde_json::json!({ "name": "Pro", "seats": 2 })).await;
    let file = write_file(dir.path(), "team.csv", "a@example.com\nb@example.com\nc@example.com\n");

    let output = import(dir.path(), None, &file, &["--license", "pro"]);

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(text(&output.stdout), problems(&["3,c@example.com,no_seats_available,"]));
    assert!(text(&output.stderr).contains("2 created, 0 updated, 0 skipped, 1 failed"), "{output:?}");
    assert_eq!(exported_emails(dir.path(), None, &["--license", "Pro"]), ["a@example.com", "b@example.com"]);
    assert_eq!(exported_emails(dir.path(), None, &[]), ["a@example.com", "admin@example.com", "b@example.com"]);
    let metrics = server.get("/v1/metrics", &token).await;
    assert_eq!((metrics["total_users"].as_u64(), metrics["licensed"].as_u64()), (Some(3), Some(2)), "{metrics}");

    let other = write_file(dir.path(), "other.csv", "d@example.com\n");
    let unknown = import(dir.path(), None, &other, &["--license", "Nope"]);

    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    assert_eq!(text(&unknown.stdout), "");
    let stderr = text(&unknown.stderr);
    assert!(stderr.contains(r#"error: tenant default has no license kind "Nope""#), "{stderr}");
    assert_eq!(stderr.matches("has no license kind").count(), 1, "said once: {stderr}");
    assert_eq!(exported_emails(dir.path(), None, &[]), ["a@example.com", "admin@example.com", "b@example.com"]);
}

#[test]
fn on_existing_update_sets_the_names_the_file_gives() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path(), None);
    let first = write_file(dir.path(), "first.csv", "email,name\nada@example.com,Ada\nbob@example.com,Bob\n");
    assert_eq!(import(dir.path(), None, &first, &[]).status.code(), Some(0));
    let names = write_file(
        dir.path(),
        "names.csv",
        "Email,Name\nADA@example.com,Ada Lovelace\nbob@example.com,Bob\ncleo@example.com,Cleo\n",
    );

    let output = import(dir.path(), None, &names, &["--on-existing", "update"]);

    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(text(&output.stdout), problems(&["3,bob@example.com,already_exists,"]), "Bob is unchanged");
    assert!(
        text(&output.stderr)
            .contains("3 rows (','-delimited, a header row): 1 created, 1 updated, 1 skipped, 0 failed"),
        "{output:?}"
    );
    let users = export(dir.path(), None, &[]);
    assert_eq!(users.len(), 4, "{users:#?}");
    assert_eq!(cell(&exported_user(&users, "ada@example.com"), 1), "Ada Lovelace");
    assert_eq!(cell(&exported_user(&users, "bob@example.com"), 1), "Bob");
    assert_eq!(cell(&exported_user(&users, "cleo@example.com"), 1), "Cleo");
}

#[test]
fn export_writes_the_same_file_to_stdout_or_a_file_and_filters_by_role_and_status() {
    let dir = tempfile::tempdir().unwrap();
    create_tenant(dir.path(), None);
    let active =
        write_file(dir.path(), "active.csv", "email,role\ncarla@example.com,collaborator\nulysse@example.com,user\n");
    assert_eq!(import(dir.path(), None, &active, &[]).status.code(), Some(0));
    let invited = write_file(dir.path(), "invited.csv", "nina@example.com\nomar@example.com\n");
    let output = import(dir.path(), None, &invited, &["--invite"]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    let to_file = run(roster(dir.path(), None).args(["users", "export", "--tenant", "default", "-o", "users.csv"]));
    assert!(to_file.status.success(), "{to_file:?}");
    assert_eq!(text(&to_file.stdout), "", "the file, not stdout, gets the export");
    let written = std::fs::read(dir.path().join("users.csv")).unwrap();
    assert_eq!(text(&written), text(&export_bytes(dir.path(), None, &[])));
    assert_eq!(text(&written).matches("\r\n").count(), 6, "the header and 5 users");
    let for_excel = export_bytes(dir.path(), None, &["--bom"]);
    assert_eq!(
        for_excel.strip_prefix(b"\xEF\xBB\xBF".as_slice()),
        Some(written.as_slice()),
        "--bom: the mark, then the file"
    );

    assert_eq!(exported_emails(dir.path(), None, &["--role", "collaborator"]), ["carla@example.com"]);
    assert_eq!(exported_emails(dir.path(), None, &["--role", "administrator"]), ["admin@example.com"]);
    assert_eq!(exported_emails(dir.path(), None, &["--status", "invited"]), ["nina@example.com", "omar@example.com"]);
    assert_eq!(
        exported_emails(dir.path(), None, &["--status", "active"]),
        ["admin@example.com", "carla@example.com", "ulysse@example.com"]
    );
    assert_eq!(exported_emails(dir.path(), None, &["--role", "user", "--status", "active"]), ["ulysse@example.com"]);
    assert_eq!(exported_emails(dir.path(), None, &["--status", "deactivated"]), Vec::<String>::new());

    let unknown = run(roster(dir.path(), None).args(["users", "export", "--tenant", "nope"]));
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    assert_eq!(text(&unknown.stdout), "");
    assert!(text(&unknown.stderr).contains("no tenant named nope"), "{unknown:?}");
}

/// How many rows the killed import's file has: enough to kill it midway, few enough for the
/// debug binary to import them all (about 0.25 ms a row) in the test's time.
const KILLED_ROWS: usize = 30_000;

/// An import killed (SIGKILL) midway leaves whole users only: each with its seat, its counters
/// and its audit, or nothing; the dashboard agrees with the users; running the file again
/// completes it without creating anyone twice.
async fn a_killed_import_leaves_whole_rows_and_a_rerun_completes_it(db: TestDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let url = Some(db.url.as_str());
    let token = create_tenant(dir.path(), url);
    let server = serve(dir.path(), url);
    let seats = KILLED_ROWS + 10;
    server.post("/v1/licenses", &token, &serde_json::json!({ "name": "Pro", "seats": seats })).await;
    let content: String = (0..KILLED_ROWS).map(|i| format!("user{i:06}@example.com\n")).collect();
    let file = write_file(dir.path(), "big.csv", content);

    let mut child = roster(dir.path(), url)
        .args(["users", "import"])
        .arg(&file)
        .args(["--tenant", "default", "--license", "Pro"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Kill it once some batches are committed (when it finished first, the checks still hold).
    while child.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(60) {
        if export(dir.path(), url, &["--role", "user"]).len() >= 3_000 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let users = export(dir.path(), url, &[]);
    let imported = users.len() - 1;
    eprintln!("{imported} of {KILLED_ROWS} rows imported when killed");
    for line in &users {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 12, "{line}");
        assert!(cells[0].ends_with("@example.com"), "{line}");
        assert_eq!(cells[4], "active", "{line}");
        assert!(!cells[8].is_empty(), "created_at: {line}");
        if cells[0] != "admin@example.com" {
            assert_eq!((cells[3], cells[5]), ("user", "Pro"), "the seat came with the row: {line}");
        }
    }
    let metrics = server.get("/v1/metrics", &token).await;
    let counters = |metrics: &Value| {
        let pro = &metrics["licenses"][0];
        [&metrics["total_users"], &metrics["active"], &metrics["licensed"], &pro["assigned"], &pro["available"]]
            .map(Value::as_u64)
    };
    let expected = [imported + 1, imported + 1, imported, imported, seats - imported].map(|n| Some(n as u64));
    assert_eq!(counters(&metrics), expected, "total, active, licensed, assigned, available: {metrics}");

    let rerun = import(dir.path(), url, &file, &["--license", "Pro"]);

    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun.stderr));
    let already = text(&rerun.stdout).lines().filter(|line| line.contains(",already_exists,")).count();
    assert_eq!(already, imported, "every user of the killed run is skipped, none created twice");
    let summary = format!("{} created, 0 updated, {imported} skipped, 0 failed", KILLED_ROWS - imported);
    assert!(text(&rerun.stderr).contains(&summary), "{}", text(&rerun.stderr));
    let metrics = server.get("/v1/metrics", &token).await;
    let expected = [KILLED_ROWS + 1, KILLED_ROWS + 1, KILLED_ROWS, KILLED_ROWS, 10].map(|n| Some(n as u64));
    assert_eq!(counters(&metrics), expected, "total, active, licensed, assigned, available: {metrics}");
    let emails: BTreeSet<String> = export(dir.path(), url, &[]).iter().map(|line| cell(line, 0).to_owned()).collect();
    assert_eq!(emails.len(), KILLED_ROWS + 1);
}

on_both_databases!(a_killed_import_leaves_whole_rows_and_a_rerun_completes_it);
