//! Layout detection: byte order mark, line ends, delimiter, header.

use roster_csv::{CsvError, Delimiter, Header, Layout, read_rows};
use roster_domain::import::ImportRow;

fn read(input: &str) -> (Layout, Vec<ImportRow>) {
    let rows = read_rows(input.as_bytes()).expect("a readable file");
    let layout = rows.layout().clone();
    (layout, rows.map(|row| row.expect("a readable row")).collect())
}

fn row(line: u64, email: &str) -> ImportRow {
    ImportRow { line, email: email.to_owned(), ..ImportRow::default() }
}

#[test]
fn a_byte_order_mark_is_skipped_and_the_header_after_it_is_recognised() {
    let (layout, rows) = read("\u{FEFF}email,name\r\nada@example.com,Ada\r\n");
    assert!(layout.bom);
    assert_eq!(layout.header.map(|header| header.email), Some(0));
    assert_eq!(rows, [ImportRow { name: Some("Ada".into()), ..row(2, "ada@example.com") }]);
}

#[test]
fn crlf_line_ends_leave_no_carriage_return_in_cells() {
    let (layout, rows) = read("ada@example.com,FR,0612345678\r\nbob@example.com,33,0712345678\r\n");
    assert!(!layout.bom);
    assert_eq!(
        rows[0],
        ImportRow { country_code: Some("FR".into()), phone: Some("0612345678".into()), ..row(1, "ada@example.com") }
    );
    assert_eq!(
        rows[1],
        ImportRow { country_code: Some("33".into()), phone: Some("0712345678".into()), ..row(2, "bob@example.com") }
    );
}

#[test]
fn semicolons_are_detected_even_with_commas_inside_cells() {
    let (layout, rows) =
        read("email;name;role\nada@example.com;Lovelace, Ada;user\nbob@example.com;Bob;administrator\n");
    assert_eq!(layout.delimiter, Delimiter::Semicolon);
    assert_eq!(rows[0].name.as_deref(), Some("Lovelace, Ada"));
    assert_eq!(rows[1].role.as_deref(), Some("administrator"));
}

#[test]
fn semicolons_are_detected_when_only_some_rows_have_a_second_cell() {
    let (layout, rows) = read("ada@example.com\nbob@example.com;+33612345678\ncid@example.com\n");
    assert_eq!(layout.delimiter, Delimiter::Semicolon);
    assert_eq!(rows[1].phone.as_deref(), Some("+33612345678"));
}

#[test]
fn tabs_are_detected() {
    let (layout, rows) = read("ada@example.com\tFR\t06 12 34 56 78\nbob@example.com\t44\t07700 900123\n");
    assert_eq!(layout.delimiter, Delimiter::Tab);
    assert_eq!(rows[0].phone.as_deref(), Some("06 12 34 56 78"));
    assert_eq!(rows[1].country_code.as_deref(), Some("44"));
}

#[test]
fn the_delimiter_is_a_comma_when_nothing_splits() {
    let (layout, rows) = read("ada@example.com\nbob@example.com\n");
    assert_eq!(layout.delimiter, Delimiter::Comma);
    assert_eq!(rows, [row(1, "ada@example.com"), row(2, "bob@example.com")]);
}

#[test]
fn header_columns_are_taken_by_name_in_any_order_and_unknown_ones_ignored() {
    let input = "Role;License kind;E-Mail;Full_Name;Status\nuser;Pro;ada@example.com;Ada Lovelace;active\n";
    let (layout, rows) = read(input);
    let header = Header {
        line: 1,
        email: 2,
        name: Some(3),
        country_code: None,
        phone: None,
        role: Some(0),
        license: Some(1),
        ignored: vec!["Status".into()],
    };
    assert_eq!(layout, Layout { bom: false, delimiter: Delimiter::Semicolon, header: Some(header) });
    let expected = ImportRow {
        name: Some("Ada Lovelace".into()),
        role: Some("user".into()),
        license: Some("Pro".into()),
        ..row(2, "ada@example.com")
    };
    assert_eq!(rows, [expected]);
}

#[test]
fn header_synonyms_for_phone_and_country_are_recognised() {
    let (_, rows) = read(" MOBILE , mail , Country_Code \n0612345678,ada@example.com,FR\n");
    assert_eq!(
        rows,
        [ImportRow { phone: Some("0612345678".into()), country_code: Some("FR".into()), ..row(2, "ada@example.com") }]
    );
}

#[test]
fn a_first_row_with_an_email_is_data_even_when_a_cell_is_a_column_name() {
    let (layout, rows) = read("ada@example.com,phone\n");
    assert_eq!(layout.header, None);
    assert_eq!(rows, [ImportRow { phone: Some("phone".into()), ..row(1, "ada@example.com") }]);
}

#[test]
fn a_header_without_an_email_column_is_refused() {
    let error = read_rows("name,role\nAda,user\n".as_bytes()).unwrap_err();
    assert!(matches!(error, CsvError::NoEmailColumn), "{error:?}");
    assert_eq!(error.line(), None);
}

#[test]
fn a_file_that_is_not_utf8_text_is_refused_whole_saying_what_it_is() {
    let utf16: Vec<u8> = "\u{FEFF}ada@example.com\r\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let utf16_without_bom: Vec<u8> = "ada@example.com\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    for (file, kind) in [
        (utf16, "UTF-16"),
        (utf16_without_bom, "NUL bytes"),
        (b"\x1F\x8B\x08\x00rest".to_vec(), "gzip"),
        (b"PK\x03\x04[Content_Types].xml".to_vec(), ".xlsx"),
        (b"email,name\r\nzoe@example.com,Zo\xEB\r\n".to_vec(), "Windows-1252"),
    ] {
        let error = read_rows(file.as_slice()).unwrap_err();
        assert!(matches!(error, CsvError::NotText(_)), "{error:?}");
        assert!(error.to_string().contains(kind) && error.to_string().contains("save it as CSV UTF-8"), "{error}");
    }
}

#[test]
fn a_first_64_kib_cut_inside_a_character_is_still_utf8() {
    // The detection prefix ends in the middle of "é" (two bytes): the input goes on with its second.
    let file = format!("{}é\nada@example.com\n", "\n".repeat(roster_csv::DETECTION_PREFIX_BYTES - 1));
    assert_eq!(file.as_bytes()[roster_csv::DETECTION_PREFIX_BYTES - 1], 0xC3, "the cut falls inside é");
    let rows = read_rows(file.as_bytes()).expect("a UTF-8 file").collect::<Vec<_>>();
    assert_eq!(rows.last().unwrap().as_ref().unwrap().email, "ada@example.com");
}

#[test]
fn an_empty_input_has_no_rows() {
    assert_eq!(read(""), (Layout { bom: false, delimiter: Delimiter::Comma, header: None }, vec![]));
    assert_eq!(read("\u{FEFF}\r\n \r\n,,\r\n").1, vec![]);
}

#[test]
fn on_a_tie_a_tab_wins_over_commas_inside_cells() {
    let input = "email\tname (last, first)\nada@example.com\tLovelace, Ada\nbob@example.com\tHopper, Grace\n";
    let (layout, rows) = read(input);
    assert_eq!(layout.delimiter, Delimiter::Tab);
    assert_eq!(rows[1].email, "bob@example.com");
}

#[test]
fn a_delimiter_splitting_every_line_alike_beats_a_more_frequent_one() {
    let (layout, rows) = read("email;name\nada@example.com;A,B,C,D,E,F,G,H\nbob@example.com;Bob\n");
    assert_eq!(layout.delimiter, Delimiter::Semicolon);
    assert_eq!(rows[0].name.as_deref(), Some("A,B,C,D,E,F,G,H"));
}
