//! Writing the user export: one CSV record at a time, so the caller can stream it.

use std::borrow::Cow;

use crate::FORMULA_TRIGGERS;

/// The export's columns, in order.
pub const EXPORT_HEADER: [&str; 12] = [
    "email",
    "name",
    "phone",
    "role",
    "status",
    "license",
    "budget_limit",
    "consumed",
    "created_at",
    "activated_at",
    "last_active_at",
    "invitation",
];

/// The csv writer's buffer: a line of the export usually fits.
const RECORD_BUFFER_BYTES: usize = 512;

/// One user in the export. Timestamps are RFC 3339 text, formatted by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportRow {
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub role: String,
    pub status: String,
    pub license: Option<String>,
    pub budget_limit: Option<i64>,
    pub consumed: Option<i64>,
    pub created_at: String,
    pub activated_at: Option<String>,
    pub last_active_at: Option<String>,
    pub invitation: Option<String>,
}

/// The columns of the skipped and failed rows of an import, as `roster users import` prints them.
pub const PROBLEMS_HEADER: [&str; 4] = ["line", "email", "reason", "detail"];

/// Writes the export's header and rows as CSV records (RFC 4180: CRLF line ends, cells quoted
/// when they hold a comma, a quote or a line end).
///
/// A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a `'`
/// before it, so that a spreadsheet does not run it as a formula; the import removes that `'`.
/// So does a cell whose leading `'`s stand before such a character, so that it comes back whole.
/// Phones in E.164 form (`+` and 6 to 15 digits) are written as they are, and so are the numbers
/// (budget, consumption): neither can be a formula.
#[derive(Debug)]
pub struct ExportWriter {
    builder: csv::WriterBuilder,
}

impl ExportWriter {
    /// A writer; call [`header`](Self::header) once, then [`row`](Self::row) for each user.
    #[must_use]
    pub fn new() -> Self {
        let mut builder = csv::WriterBuilder::new();
        builder
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .buffer_capacity(RECORD_BUFFER_BYTES);
        Self { builder }
    }

    /// The header line.
    pub fn header(&mut self) -> Vec<u8> {
        self.record(EXPORT_HEADER.map(Cow::Borrowed))
    }

    /// One user's line.
    pub fn row(&mut self, row: &ExportRow) -> Vec<u8> {
        let number = |cell: Option<i64>| cell.map_or(Cow::Borrowed(""), |value| Cow::Owned(value.to_string()));
        let phone = row
            .phone
            .as_deref()
            .map_or(Cow::Borrowed(""), |phone| if is_e164(phone) { Cow::Borrowed(phone) } else { neutralise(phone) });
        self.record([
            neutralise(&row.email),
            text(row.name.as_deref()),
            phone,
            neutralise(&row.role),
            neutralise(&row.status),
            text(row.license.as_deref()),
            number(row.budget_limit),
            number(row.consumed),
            neutralise(&row.created_at),
            text(row.activated_at.as_deref()),
            text(row.last_active_at.as_deref()),
            text(row.invitation.as_deref()),
        ])
    }

    /// The header line of an import's problems: [`PROBLEMS_HEADER`].
    pub fn problems_header(&mut self) -> Vec<u8> {
        self.record(PROBLEMS_HEADER.map(Cow::Borrowed))
    }

    /// One skipped or failed row of an import: its line, its email cell as written, the reason's
    /// code, and more about the reason when there is more.
    pub fn problem(&mut self, line: u64, email: &str, reason: &str, detail: Option<&str>) -> Vec<u8> {
        self.record([Cow::Owned(line.to_string()), neutralise(email), neutralise(reason), text(detail)])
    }

    fn record<const N: usize>(&mut self, cells: [Cow<'_, str>; N]) -> Vec<u8> {
        let mut writer = self.builder.from_writer(Vec::new());
        // Writing into a Vec cannot fail.
        writer.write_record(cells.iter().map(|cell| cell.as_bytes())).expect("CSV into memory");
        writer.into_inner().expect("CSV into memory")
    }
}

impl Default for ExportWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// An optional text cell.
fn text(cell: Option<&str>) -> Cow<'_, str> {
    cell.map_or(Cow::Borrowed(""), neutralise)
}

/// The cell with a `'` before it when it would start a formula, or when its leading `'`s stand
/// before a formula character (the import removes one `'` from both).
fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.trim_start_matches('\'').starts_with(FORMULA_TRIGGERS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// `+` followed by 6 to 15 digits.
fn is_e164(phone: &str) -> bool {
    phone
        .strip_prefix('+')
        .is_some_and(|digits| (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()))
}
