//! `POST /v1/users/import` with awkward files: byte order mark, CRLF, `;` and tab delimiters,
//! quoted cells, blank lines, duplicates, invalid emails and phones, header rows, rows that are
//! not UTF-8 or too large, empty files. Each report is compared whole, then the users.

use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::json;

use crate::helpers::{layout, member, plain, problem, report, spawn_app};

async fn a_byte_order_mark_crlf_line_ends_and_semicolons_are_detected(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let file = "\u{feff}ada@example.com;33;06 12 34 56 78\r\nbob@example.com;+1 202 555 0143\r\ncyd@example.com;FR;0612345680\r\n";
    let imported = app.import_file("", file).await;
    assert_eq!(imported, report(layout("semicolon", false, &[], true), [3, 3, 0, 0, 0], json!([])));
    let roster = json!({
        "ada@example.com": member("user", None, Some("+33612345678")),
        "bob@example.com": member("user", None, Some("+12025550143")),
        "cyd@example.com": member("user", None, Some("+33612345680")),
    });
    assert_eq!(app.roster().await, roster);
    let users = app.all_users("").await;
    assert!(users[1..].iter().all(|user| user["source"] == "imported"), "{users:?}");
}

async fn a_tab_delimited_file_with_lf_line_ends_is_read(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let file = "ada@example.com\t33\t06 12 34 56 78\nbob@example.com\t+33 6 12 34 56 79\ncyd@example.com\n";
    let imported = app.import_file("", file).await;
    assert_eq!(imported, report(layout("tab", false, &[], false), [3, 3, 0, 0, 0], json!([])));
    let roster = json!({
        "ada@example.com": member("user", None, Some("+33612345678")),
        "bob@example.com": member("user", None, Some("+33612345679")),
        "cyd@example.com": member("user", None, None),
    });
    assert_eq!(app.roster().await, roster);
}

async fn a_header_names_columns_in_any_order_with_quoted_cells_and_unknown_columns_ignored(db: TestDatabase) {
    let app = spawn_app(&db).await;
    // The quoted note of line 2 holds a line break: the next row starts on line 4.
    let file = concat!(
        "Phone Number,Department,E-Mail,Full Name,Country Code,Role,Notes\r\n",
        "06 12 34 56 78,Sales,ada@example.com,\"Lovelace, Ada\",33,collaborator,\"first\r\nsecond\"\r\n",
        "+1 202 555 0143,\"R&D, Labs\",GRACE@example.com,\"Hopper, Grace \"\"Amazing\"\"\",,user,\r\n",
        ",Ops,not-an-email,\"Nobody, Really\",33,user,\r\n",
        "040 123 4567,,linus@example.com,Linus,FI,,\r\n",
    );
    let imported = app.import_file("", file).await;
    let format = layout("comma", true, &["Department", "Notes"], false);
    assert_eq!(imported, report(format, [4, 3, 0, 0, 1], json!([problem(5, "not-an-email", "invalid_email")])));
    let roster = json!({
        "ada@example.com": member("collaborator", Some("Lovelace, Ada"), Some("+33612345678")),
        "grace@example.com": member("user", Some("Hopper, Grace \"Amazing\""), Some("+12025550143")),
        "linus@example.com": member("user", Some("Linus"), Some("+358401234567")),
    });
    assert_eq!(app.roster().await, roster);
}

async fn blank_lines_and_lines_of_only_delimiters_are_skipped_and_still_counted_as_lines(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let file = concat!(
        "ada@example.com,33,06 12 34 56 78\n", // 1
        "\n",                                  // 2
        ",,\r\n",                              // 3
        "not-an-email,33,06 12 34 56 78\n",    // 4
        "   \n",                               // 5
        " , , \n",                             // 6
        "bob@example.com\r\n",                 // 7
        "\r\n",                                // 8
        "\n",                                  // 9
        "carl@example\n",                      // 10
        ",,,,\n",                              // 11
    );
    let imported = app.import_file("", file).await;
    let problems = json!([problem(4, "not-an-email", "invalid_email"), problem(10, "carl@example", "invalid_email")]);
    assert_eq!(imported, report(plain(), [4, 2, 0, 0, 2], problems));
    let roster = json!({
        "ada@example.com": member("user", None, Some("+33612345678")),
        "bob@example.com": member("user", None, None),
    });
    assert_eq!(app.roster().await, roster);
}

async fn a_repeated_email_in_any_letter_case_is_imported_once(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let file =
        "ada@example.com,33,06 12 34 56 78\nADA@Example.COM\nbob@example.com\nBob@EXAMPLE.com,33,06 12 34 56 79\n";
    let imported = app.import_file("", file).await;
    let problems =
        json!(
            [problem(2, "ADA@Example.COM", "duplicate_in_file"), problem(4, "Bob@EXAMPLE.com", "duplicate_in_file"),]
        );
    assert_eq!(imported, report(plain(), [4, 2, 0, 2, 0], problems));
    let roster = json!({
        "ada@example.com": member("user", None, Some("+33612345678")),
        "bob@example.com": member("user", None, None),
    });
    assert_eq!(app.roster().await, roster, "the first row of an email wins");

    // The repeat comes 600 rows later, in another batch of 500.
    let mut file = String::from("first@example.com\n");
    for i in 0..599 {
        file.push_str(&format!("u{i}@example.com\n"));
    }
    file.push_str("FIRST@example.com,33,06 12 34 56 78\n");
    let imported = app.import_file("", file).await;
    let problems = json!([problem(601, "FIRST@example.com", "duplicate_in_file")]);
    assert_eq!(imported, report(plain(), [601, 600, 0, 1, 0], problems));
    assert_eq!(app.roster().await["first@example.com"], member("user", None, None));
}

async fn invalid_emails_fail_with_their_line_and_the_cell_as_written(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let file = concat!(
        "not-an-email\n",
        "a@b\n",
        "two@@example.com\n",
        "spa ce@example.com\n",
        ",33,06 12 34 56 78\n",
        "@example.com\n",
        "ada@\n",
        "  Ok@Example.com  \n",
    );
    let imported = app.import_file("", file).await;
    let problems = json!([
        problem(1, "not-an-email", "invalid_email"),
        problem(2, "a@b", "invalid_email"),
        problem(3, "two@@example.com", "invalid_email"),
        problem(4, "spa ce@example.com", "invalid_email"),
        problem(5, "", "invalid_email"),
        problem(6, "@example.com", "invalid_email"),
        problem(7, "ada@", "invalid_email"),
    ]);
    assert_eq!(imported, report(plain(), [8, 1, 0, 0, 7], problems));
    assert_eq!(app.roster().await, json!({ "ok@example.com": member("user", None, None) }));
}

async fn phones_take_a_country_code_column_or_the_international_form(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let file = concat!(
        "ada@example.com,33,06 12 34 56 78\n",   // country code column
        "bob@example.com,+33 6 12 34 56 79\n",   // two cells, international
        "cyd@example.com,06 12 34 56 80\n",      // two cells, national: no country
        "dan@example.com,FR,06 12 34 56 81\n",   // ISO country
        "eve@example.com,+33,06 12 34 56 82\n",  // calling code with +
        "fay@example.com,33,12\n",               // too short
        "gus@example.com,FR\n",                  // two cells, a country and no phone
        "hal@example.com,1,+33 6 12 34 56 83\n", // international wins over the column
        "ivy@example.com,999,06 12 34 56 84\n",  // no such calling code
        "jon@example.com,1,202 555 0143\n",      // North America
        "kim@example.com,,06 12 34 56 85\n",     // empty country column
        "lou@example.com,12345\n",               // two cells, a cut number: no country
        "max@example.com,+44 20\n",              // two cells, a cut number: no country
        "ned@example.com,7,727 250 1234\n",      // 7 is Russia's and Kazakhstan's
        "oli@example.com,+1 202 555 0143 x12\n", // an extension, which E.164 cannot keep
    );
    let imported = app.import_file("", file).await;
    let problems = json!([
        problem(3, "cyd@example.com", "invalid_phone"),
        problem(6, "fay@example.com", "invalid_phone"),
        problem(9, "ivy@example.com", "invalid_phone"),
        problem(11, "kim@example.com", "invalid_phone"),
        problem(12, "lou@example.com", "invalid_phone"),
        problem(13, "max@example.com", "invalid_phone"),
        problem(15, "oli@example.com", "invalid_phone"),
    ]);
    assert_eq!(imported, report(plain(), [15, 8, 0, 0, 7], problems));
    let roster = json!({
        "ada@example.com": member("user", None, Some("+33612345678")),
        "bob@example.com": member("user", None, Some("+33612345679")),
        "dan@example.com": member("user", None, Some("+33612345681")),
        "eve@example.com": member("user", None, Some("+33612345682")),
        "gus@example.com": member("user", None, None),
        "hal@example.com": member("user", None, Some("+33612345683")),
        "jon@example.com": member("user", None, Some("+12025550143")),
        "ned@example.com": member("user", None, Some("+77272501234")),
    });
    assert_eq!(app.roster().await, roster);
}

async fn a_header_without_an_email_column_refuses_the_whole_file(db: TestDatabase) {
    let app = spawn_app(&db).await;
    for file in ["Full Name,Phone\nAda,+33 6 12 34 56 78\n", "name;mobile;notes\r\nAda;+33612345678;x\r\n"] {
        let refused = app.import_as(&app.admin_token, "", file).await;
        refused.expect_problem(422, "invalid_csv");
        assert_eq!(refused.body["detail"], "the header row has no email column", "{refused:?}");
    }
    assert_eq!(app.roster().await, json!({}));
}

async fn a_file_that_is_not_utf8_text_is_refused_whole_saying_what_it_looks_like(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let utf16: Vec<u8> = "\u{FEFF}ada@example.com\r\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let files: [(Vec<u8>, &str); 4] = [
        (utf16, "the file is UTF-16 text (Excel's \"Unicode Text\")"),
        (b"\x1F\x8B\x08\x00rest".to_vec(), "the file is gzip-compressed"),
        (b"PK\x03\x04[Content_Types].xml".to_vec(), "the file is a ZIP archive"),
        (b"ada@example.com,Ada\r\nzoe@example.com,Zo\xEB\r\n".to_vec(), "the file is text in another encoding"),
    ];
    for (file, start) in files {
        let refused = app.import_as(&app.admin_token, "", file).await;
        refused.expect_problem(422, "invalid_csv");
        let detail = refused.body["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with(start) && detail.ends_with("save it as CSV UTF-8"), "{refused:?}");
    }
    assert_eq!(app.roster().await, json!({}));
}

async fn a_row_that_is_not_utf8_or_too_large_fails_alone_with_a_detail(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let mut file: Vec<u8> = b"email,name\r\nada@example.com,Ada\r\n".to_vec();
    // 17 lines of only spaces (skipped) carry the rows that are not UTF-8 past the first 64 KiB,
    // which, holding such a row, would refuse the file whole.
    file.extend_from_slice(format!("{}\r\n", " ".repeat(4000)).repeat(17).as_bytes());
    file.extend_from_slice(b"zoe@example.com,Zo\xEB\r\n"); // Latin-1
    file.extend_from_slice(b"b\xE9a@example.com,B\xE9a\r\n");
    file.extend_from_slice(b"cyd@example.com,Cyd\r\n");
    file.extend_from_slice(format!("wide@example.com,Wide{}\r\n", ",x".repeat(63)).as_bytes()); // 65 cells
    file.extend_from_slice(format!("edge@example.com,Edge{}\r\n", ",x".repeat(62)).as_bytes()); // 64 cells
    file.extend_from_slice(format!("long@example.com,Long,{}\r\n", "x".repeat(4097)).as_bytes());
    file.extend_from_slice(format!("full@example.com,Full,{}\r\n", "x".repeat(4096)).as_bytes());
    let imported = app.import_file("", file).await;
    let unreadable =
        |line: u64, detail: &str| json!({ "line": line, "email": "", "reason": "unreadable_row", "detail": detail });
    let problems = json!([
        unreadable(20, "column 2 is not UTF-8 text; save the file as UTF-8"),
        unreadable(21, "column 1 is not UTF-8 text; save the file as UTF-8"),
        unreadable(23, "the row has more than 64 columns"),
        unreadable(25, "column 3 is longer than 4096 bytes"),
    ]);
    assert_eq!(imported, report(layout("comma", true, &[], false), [8, 4, 0, 0, 4], problems));
    let roster = json!({
        "ada@example.com": member("user", Some("Ada"), None),
        "cyd@example.com": member("user", Some("Cyd"), None),
        "edge@example.com": member("user", Some("Edge"), None),
        "full@example.com": member("user", Some("Full"), None),
    });
    assert_eq!(app.roster().await, roster);
}

async fn an_empty_file_or_one_of_only_a_header_or_blank_lines_imports_nothing(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let nothing = [0; 5];
    assert_eq!(app.import_file("", "").await, report(plain(), nothing, json!([])));
    let blank = app.import_file("", "\u{feff}\r\n\r\n \n").await;
    assert_eq!(blank, report(layout("comma", false, &[], true), nothing, json!([])));
    let header = app.import_file("", "Email;Name\r\n").await;
    assert_eq!(header, report(layout("semicolon", true, &[], false), nothing, json!([])));
    assert_eq!(app.roster().await, json!({}));
}

on_both_databases!(
    a_byte_order_mark_crlf_line_ends_and_semicolons_are_detected,
    a_tab_delimited_file_with_lf_line_ends_is_read,
    a_header_names_columns_in_any_order_with_quoted_cells_and_unknown_columns_ignored,
    blank_lines_and_lines_of_only_delimiters_are_skipped_and_still_counted_as_lines,
    a_repeated_email_in_any_letter_case_is_imported_once,
    invalid_emails_fail_with_their_line_and_the_cell_as_written,
    phones_take_a_country_code_column_or_the_international_form,
    a_header_without_an_email_column_refuses_the_whole_file,
    a_file_that_is_not_utf8_text_is_refused_whole_saying_what_it_looks_like,
    a_row_that_is_not_utf8_or_too_large_fails_alone_with_a_detail,
    an_empty_file_or_one_of_only_a_header_or_blank_lines_imports_nothing,
);
