//! Roster's CSV formats: reading user import files ([`read_rows`]) and writing the user export
//! ([`ExportWriter`]).
//!
//! The crate has no I/O policy of its own: it reads any [`std::io::Read`] one record at a time
//! (the start of the input, up to [`DETECTION_PREFIX_BYTES`], is looked at first, then read again;
//! the input is never read whole into memory) and writes each export line into a buffer the
//! caller sends on. Validating the rows (emails, phones, roles, licenses) is the domain's job
//! (`roster_domain::services::import`).
//!
//! # The import format
//!
//! An import file is CSV text in UTF-8, one user per line:
//!
//! ```text
//! ada@example.com
//! grace@example.com,+1 202 555 0143
//! linus@example.com,FI
//! margaret@example.com,33,06 12 34 56 78
//! ```
//!
//! - **Columns, without a header** (the usual format): the email; then, optionally, the country
//!   code and the phone. With three cells or more, the second is the country code and the third
//!   the phone; with two, the second is the phone when it has at least 6 digits, else the country
//!   code (`33`, `+33`, `FR`) when it is one (a cut number such as `12345` is a phone, and fails
//!   the row as `invalid_phone`). Further cells are ignored. (A header's country column is
//!   free: a country there without a phone stores nothing.)
//! - **Header row** (optional): when the first row has no `@` in any cell and one of its cells
//!   is a column title below, it is a header, and columns are taken by title, in any order. Titles
//!   are compared in any letter case, with `_` or `-` as a space:
//!   `email` (or `e-mail`, `mail`, `email address`) — required,
//!   `name` (`full name`), `country code` (`country`, `dial code`),
//!   `phone` (`phone number`, `mobile`, `telephone`), `role`, `license` (`licence`,
//!   `license kind`). Other columns are ignored. A header without an email column is refused as a
//!   whole. The export file (below) is such a file: importing it reads its email, name, phone,
//!   role and license (not its status: imported users are new users).
//! - **Delimiter**: `,`, `;` or a tab, detected from the first lines (up to 50): the one whose
//!   most common cell count (of more than one cell) covers the most lines, then the one giving the
//!   most cells; on a tie a tab, then `;`, then `,`. When none splits any line: `,`.
//! - **Text**: UTF-8; a UTF-8 byte order mark is skipped. A file that is not UTF-8 text (UTF-16,
//!   which Excel's "Unicode Text" writes, a spreadsheet, a compressed file, text in another
//!   encoding such as the Windows-1252 of Excel's "CSV (Comma delimited)": a UTF-16 byte order
//!   mark, a gzip or ZIP signature, any NUL byte, or bytes that are not UTF-8 in its first 64 KiB)
//!   is refused as a whole, saying what it looks like; beyond the first 64 KiB, a row that is not
//!   UTF-8 fails alone. Lines end with CRLF or LF. Cells holding the
//!   delimiter, a quote or a line end are quoted with `"`, a quote inside doubled (`""`). Every
//!   cell is trimmed of white space; an empty cell is absent. A cell starting with `'` followed by
//!   `=`, `+`, `-`, `@`, a tab or a carriage return loses the `'` (see the export).
//! - **Blank lines**, and lines of only delimiters and spaces, are skipped.
//! - **Line numbers**: each row carries the line it starts on in the file, counted from 1 as an
//!   editor shows it, header and blank lines included.
//! - **Errors of one row** leave the others going: a cell that is not UTF-8, a row of more than
//!   [`MAX_FIELDS`] cells, a cell over [`MAX_CELL_BYTES`] bytes. See [`CsvError`].
//!
//! # The export format
//!
//! A header line, [`EXPORT_HEADER`], then one line per user; CRLF line ends (RFC 4180), cells
//! quoted when needed, timestamps in RFC 3339. A text cell that a spreadsheet would run as a
//! formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return, maybe after `'`s)
//! gets a `'` before it, which the import removes, except phones in E.164 form
//! (`+33612345678`) and numbers, which cannot be formulas.

mod error;
mod export;
mod import;
mod layout;
mod records;

pub use error::CsvError;
pub use export::{EXPORT_HEADER, ExportRow, ExportWriter, PROBLEMS_HEADER};
pub use import::{DETECTION_PREFIX_BYTES, ForImport, ImportRows, read_rows};
pub use layout::{Delimiter, Header, Layout};

/// The most cells a row may have.
pub const MAX_FIELDS: usize = 64;

/// The longest a cell may be, in bytes (4 KiB).
pub const MAX_CELL_BYTES: usize = 4 * 1024;

/// What starts a cell a spreadsheet would run as a formula.
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];
