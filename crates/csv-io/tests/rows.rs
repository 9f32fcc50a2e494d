//! Rows: header-less columns, quoting, blank lines and line numbers, per-row errors.

use std::io::Read;

use roster_csv::{CsvError, MAX_CELL_BYTES, MAX_FIELDS, read_rows};
use roster_domain::import::ImportRow;

fn read(input: &[u8]) -> Vec<Result<ImportRow, CsvError>> {
    read_rows(input).expect("a readable file").collect()
}

fn rows(input: &str) -> Vec<ImportRow> {
    read(input.as_bytes()).into_iter().map(|row| row.expect("a readable row")).collect()
}

fn row(line: u64, email: &str) -> ImportRow {
    ImportRow { line, email: email.to_owned(), ..ImportRow::default() }
}

#[test]
fn one_column_is_the_email() {
    assert_eq!(rows(" ada@example.com \n"), [row(1, "ada@example.com")]);
}

#[test]
fn a_second_cell_alone_is_a_phone_with_six_digits_or_more_else_a_country_code() {
    let rows = rows("a@example.com,+33 6 12 34 56 78\nb@example.com,0612345678\nc@example.com,33\nd@example.com,FR\n");
    assert_eq!(rows[0], ImportRow { phone: Some("+33 6 12 34 56 78".into()), ..row(1, "a@example.com") });
    assert_eq!(rows[1], ImportRow { phone: Some("0612345678".into()), ..row(2, "b@example.com") });
    assert_eq!(rows[2], ImportRow { country_code: Some("33".into()), ..row(3, "c@example.com") });
    assert_eq!(rows[3], ImportRow { country_code: Some("FR".into()), ..row(4, "d@example.com") });
}

#[test]
fn a_short_second_cell_alone_that_is_no_country_code_is_a_phone_cut_short() {
    let rows = rows("a@example.com,12345\nb@example.com,+44 20\nc@example.com,ZZ\n");
    for (index, cell) in ["12345", "+44 20", "ZZ"].into_iter().enumerate() {
        let line = u64::try_from(index).unwrap() + 1;
        assert_eq!(rows[index], ImportRow { phone: Some(cell.into()), ..row(line, &rows[index].email) });
    }
}

#[test]
fn a_header_country_column_without_a_phone_is_kept_as_written() {
    let rows = rows("email,country\na@example.com,France\n");
    assert_eq!(rows[0], ImportRow { country_code: Some("France".into()), ..row(2, "a@example.com") });
}

#[test]
fn three_cells_are_email_country_code_and_phone_and_more_are_ignored() {
    let rows = rows("a@example.com,+33,612345678\nb@example.com,,0612345678,extra,cells\nc@example.com,FR,\n");
    assert_eq!(
        rows[0],
        ImportRow { country_code: Some("+33".into()), phone: Some("612345678".into()), ..row(1, "a@example.com") }
    );
    assert_eq!(rows[1], ImportRow { phone: Some("0612345678".into()), ..row(2, "b@example.com") });
    assert_eq!(rows[2], ImportRow { country_code: Some("FR".into()), ..row(3, "c@example.com") });
}

#[test]
fn a_missing_email_is_an_empty_email_for_the_domain_to_refuse() {
    assert_eq!(
        rows(",FR,0612345678\n")[0],
        ImportRow { country_code: Some("FR".into()), phone: Some("0612345678".into()), ..row(1, "") }
    );
}

#[test]
fn quoted_cells_keep_delimiters_quotes_and_line_ends() {
    let input = "email,name\r\n\"ada@example.com\",\"Lovelace, \"\"Ada\"\" \"\r\n\"bob@example.com\",\"two\r\nlines\"\r\ncid@example.com,Cid\r\n";
    let rows = rows(input);
    assert_eq!(rows[0], ImportRow { name: Some("Lovelace, \"Ada\"".into()), ..row(2, "ada@example.com") });
    assert_eq!(rows[1], ImportRow { name: Some("two\r\nlines".into()), ..row(3, "bob@example.com") });
    assert_eq!(rows[2], ImportRow { name: Some("Cid".into()), ..row(5, "cid@example.com") });
}

#[test]
fn blank_lines_are_skipped_and_rows_keep_the_lines_an_editor_shows() {
    let input = "\n\nemail,name\n\na@example.com,A\n   \n,,\n , \t\nb@example.com,B\n\r\n\r\nc@example.com,C";
    let rows = rows(input);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows.iter().map(|row| (row.line, row.email.as_str())).collect::<Vec<_>>(),
        [(5, "a@example.com"), (9, "b@example.com"), (12, "c@example.com")]
    );
}

#[test]
fn lines_ended_by_a_carriage_return_alone_are_counted_too() {
    // Old Mac files end lines with `\r`; a mix, and a quoted `\r` inside a cell, count alike.
    let rows = rows("a@example.com\rb@example.com\r\rc@example.com,\"two\rlines\"\r\nd@example.com\ne@example.com\r");
    assert_eq!(
        rows.iter().map(|row| (row.line, row.email.as_str())).collect::<Vec<_>>(),
        [(1, "a@example.com"), (2, "b@example.com"), (4, "c@example.com"), (6, "d@example.com"), (7, "e@example.com")]
    );
}

#[test]
fn invalid_utf8_after_the_first_64_kib_fails_its_row_only() {
    // 17 lines of only spaces (skipped) carry the bad row past what detection looks at.
    let mut file = format!("{}\n", " ".repeat(4000)).repeat(17).into_bytes();
    assert!(file.len() > roster_csv::DETECTION_PREFIX_BYTES);
    file.extend_from_slice(b"a@example.com\nb\xFF@example.com\nc@example.com\n");
    let rows = read(&file);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].as_ref().unwrap(), &row(18, "a@example.com"));
    assert!(matches!(rows[1], Err(CsvError::InvalidUtf8 { line: 19, column: 1 })), "{:?}", rows[1]);
    assert_eq!(rows[1].as_ref().unwrap_err().line(), Some(19));
    assert_eq!(rows[2].as_ref().unwrap(), &row(20, "c@example.com"));
}

#[test]
fn a_row_over_the_cell_count_limit_fails_alone() {
    let within = format!("a@example.com{}\n", ",x".repeat(MAX_FIELDS - 1));
    let over = format!("b@example.com{}\n", ",x".repeat(MAX_FIELDS));
    let rows = read(format!("{within}{over}c@example.com\n").as_bytes());
    assert_eq!(rows[0].as_ref().unwrap().email, "a@example.com");
    assert!(matches!(rows[1], Err(CsvError::TooManyFields { line: 2 })), "{:?}", rows[1]);
    assert_eq!(rows[2].as_ref().unwrap(), &row(3, "c@example.com"));
}

#[test]
fn a_cell_over_the_size_limit_fails_its_row_only() {
    let within = format!("email,name\na@example.com,{}\n", "n".repeat(MAX_CELL_BYTES));
    let over = format!("b@example.com,{}\n", "n".repeat(MAX_CELL_BYTES + 1));
    let huge = format!("c@example.com,\"{}\"\n", "n\n".repeat(1024 * 1024));
    let rows = read(format!("{within}{over}{huge}d@example.com,D\n").as_bytes());
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].as_ref().unwrap().name.as_ref().map(String::len), Some(MAX_CELL_BYTES));
    assert!(matches!(rows[1], Err(CsvError::CellTooLong { line: 3, column: 2 })), "{:?}", rows[1]);
    assert!(matches!(rows[2], Err(CsvError::CellTooLong { line: 4, column: 2 })), "{:?}", rows[2]);
    assert_eq!(rows[3].as_ref().unwrap().line, 4 + 1024 * 1024 + 1);
}

/// Gives its bytes, then fails.
struct FailingAfter(std::io::Cursor<Vec<u8>>);

impl Read for FailingAfter {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buffer)? {
            0 => Err(std::io::Error::other("disk gone")),
            count => Ok(count),
        }
    }
}

#[test]
fn a_read_failure_ends_the_rows_with_an_error_without_a_line() {
    assert!(matches!(read_rows(FailingAfter(std::io::Cursor::new(vec![]))), Err(CsvError::Read(_))));

    let file = "a@example.com\n".repeat(5000); // past the detection prefix
    let rows: Vec<_> = read_rows(FailingAfter(std::io::Cursor::new(file.into_bytes()))).unwrap().collect();
    assert_eq!(rows.len(), 5001);
    assert_eq!(rows[4999].as_ref().unwrap().line, 5000);
    assert!(matches!(&rows[5000], Err(error @ CsvError::Read(_)) if error.line().is_none()), "{:?}", rows[5000]);
}
