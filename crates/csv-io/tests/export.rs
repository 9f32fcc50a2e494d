//! The export: lines as written, formula neutralisation, and reading an export back.

use roster_csv::{EXPORT_HEADER, ExportRow, ExportWriter, read_rows};
use roster_domain::import::ImportRow;

fn user(email: &str) -> ExportRow {
    ExportRow {
        email: email.to_owned(),
        role: "user".into(),
        status: "active".into(),
        created_at: "2025-01-02T03:04:05Z".into(),
        ..ExportRow::default()
    }
}

fn line(row: &ExportRow) -> String {
    String::from_utf8(ExportWriter::new().row(row)).unwrap()
}

#[test]
fn the_header_is_one_crlf_terminated_line() {
    let header = ExportWriter::new().header();
    assert_eq!(header, format!("{}\r\n", EXPORT_HEADER.join(",")).into_bytes());
}

#[test]
fn a_row_has_every_column_and_quotes_only_where_needed() {
    let row = ExportRow {
        name: Some("Lovelace, \"Ada\"".into()),
        phone: Some("+33612345678".into()),
        license: Some("Pro".into()),
        budget_limit: Some(1000),
        consumed: Some(-5),
        activated_at: Some("2025-01-03T00:00:00Z".into()),
        invitation: Some("accepted".into()),
        ..user("ada@example.com")
    };
    assert_eq!(
        line(&row),
        "ada@example.com,\"Lovelace, \"\"Ada\"\"\",+33612345678,user,active,Pro,1000,-5,\
         2025-01-02T03:04:05Z,2025-01-03T00:00:00Z,,accepted\r\n"
    );
}

#[test]
fn every_formula_trigger_gets_a_leading_quote() {
    for trigger in ['=', '+', '-', '@', '\t', '\r'] {
        let name = format!("{trigger}HYPERLINK(\"x\")");
        let written = line(&ExportRow { name: Some(name.clone()), ..user("ada@example.com") });
        let cell = written.split(",user,").next().unwrap();
        assert!(cell.starts_with(&format!("ada@example.com,\"'{trigger}HYPERLINK")), "{trigger:?}: {written:?}");
    }
    assert!(line(&user("-ada@example.com")).starts_with("'-ada@example.com,"));
    assert!(line(&user("ada@example.com")).starts_with("ada@example.com,,"));
    let named = |name: &str| line(&ExportRow { name: Some(name.into()), ..user("a@example.com") });
    assert!(named("'=1").starts_with("a@example.com,''=1,"), "a ' before a trigger is kept by one more");
    assert!(named("'plain").starts_with("a@example.com,'plain,"), "a ' before text is left alone");
}

#[test]
fn phones_in_e164_form_are_written_as_they_are_and_others_neutralised() {
    let phone = |phone: &str| line(&ExportRow { phone: Some(phone.into()), ..user("a@example.com") });
    assert!(phone("+33612345678").starts_with("a@example.com,,+33612345678,"));
    assert!(phone("+123456789012345").starts_with("a@example.com,,+123456789012345,"));
    assert!(phone("+12345").starts_with("a@example.com,,'+12345,"));
    assert!(phone("+1234567890123456").starts_with("a@example.com,,'+1234567890123456,"));
    assert!(phone("+33 6 12 34 56 78").starts_with("a@example.com,,'+33 6 12 34 56 78,"));
    assert!(phone("=1+2").starts_with("a@example.com,,'=1+2,"));
}

#[test]
fn an_export_read_back_gives_the_same_users() {
    let users = [
        ExportRow {
            name: Some("Lovelace, Ada".into()),
            phone: Some("+33612345678".into()),
            license: Some("Business".into()),
            budget_limit: Some(500),
            ..user("ada@example.com")
        },
        ExportRow {
            name: Some("=SUM(A1)".into()),
            phone: Some("+1 202-555-0143".into()),
            role: "administrator".into(),
            ..user("-bob@example.com")
        },
        ExportRow { name: Some("@cid \"the\" third".into()), role: "collaborator".into(), ..user("cid@example.com") },
        ExportRow { name: Some("'=not a formula".into()), ..user("dee@example.com") },
        ExportRow { name: Some("''+twice".into()), ..user("eve@example.com") },
        ExportRow { name: Some("'quoted".into()), ..user("fay@example.com") },
    ];
    let mut writer = ExportWriter::new();
    let mut file = writer.header();
    for user in &users {
        file.extend(writer.row(user));
    }
    let rows = read_rows(file.as_slice()).unwrap();
    assert!(rows.layout().header.is_some());
    let read: Vec<ImportRow> = rows.map(Result::unwrap).collect();
    let expected: Vec<ImportRow> = users
        .iter()
        .zip(2..)
        .map(|(user, line)| ImportRow {
            line,
            email: user.email.clone(),
            name: user.name.clone(),
            country_code: None,
            phone: user.phone.clone(),
            role: Some(user.role.clone()),
            license: user.license.clone(),
        })
        .collect();
    assert_eq!(read, expected);
}

#[test]
fn names_starting_with_each_trigger_survive_the_round_trip() {
    for trigger in ['=', '+', '-', '@', '\t', '\r'] {
        let name = format!("{trigger}x");
        let mut writer = ExportWriter::new();
        let mut file = writer.header();
        file.extend(writer.row(&ExportRow { name: Some(name.clone()), ..user("ada@example.com") }));
        let read: Vec<ImportRow> = read_rows(file.as_slice()).unwrap().map(Result::unwrap).collect();
        assert_eq!(read[0].name.as_deref(), Some(name.as_str()), "{trigger:?}");
    }
}
