//! Reading an import file into [`ImportRow`]s, one record at a time.

use std::fmt;
use std::io::{self, Chain, Cursor, Read};

use roster_domain::Phone;
use roster_domain::import::ImportRow;
use roster_domain::services::import::RowRead;

use crate::layout::{self, Header, Layout};
use crate::records::{Oversize, RawRecord, RecordReader};
use crate::{CsvError, FORMULA_TRIGGERS};

/// How much of the start of the input detection looks at.
pub const DETECTION_PREFIX_BYTES: usize = 64 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Starts reading an import file: detects its layout from the first
/// [`DETECTION_PREFIX_BYTES`] and returns its rows, read as they are iterated.
///
/// # Errors
///
/// [`CsvError::Read`] when the start of the input cannot be read; [`CsvError::NotText`] when
/// it is not UTF-8 text; [`CsvError::NoEmailColumn`] when the file has a header row without an
/// email column.
pub fn read_rows<R: Read>(mut input: R) -> Result<ImportRows<R>, CsvError> {
    let (mut prefix, truncated) = read_prefix(&mut input).map_err(CsvError::Read)?;
    if let Some(kind) = not_text(&prefix, truncated) {
        return Err(CsvError::NotText(kind));
    }
    let bom = prefix.starts_with(BOM);
    if bom {
        prefix.drain(..BOM.len());
    }
    let delimiter = layout::detect_delimiter(&prefix, truncated);
    let mut rows = ImportRows {
        records: RecordReader::new(Cursor::new(prefix).chain(input), delimiter.as_byte()),
        layout: Layout { bom, delimiter, header: None },
        unread: None,
        finished: false,
    };
    rows.read_header()?;
    Ok(rows)
}

/// The rows of an import file: each an [`ImportRow`], or a [`CsvError`] for that row.
pub struct ImportRows<R> {
    records: RecordReader<Chain<Cursor<Vec<u8>>, R>>,
    layout: Layout,
    /// A record read by header detection that is a row, still in `records`.
    unread: Option<RawRecord>,
    finished: bool,
}

impl<R> fmt::Debug for ImportRows<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportRows").field("layout", &self.layout).finish_non_exhaustive()
    }
}

impl<R: Read> ImportRows<R> {
    /// What was detected: byte order mark, delimiter, header.
    #[must_use]
    pub const fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Reads the first non-blank record: the header when it is one, else kept as the first row.
    fn read_header(&mut self) -> Result<(), CsvError> {
        while let Some(record) = self.records.read().map_err(CsvError::Read)? {
            if record.oversize.is_some() {
                self.unread = Some(record);
                return Ok(());
            }
            let cells: Vec<String> =
                self.records.cells().map(|cell| restore(String::from_utf8_lossy(cell).trim()).to_owned()).collect();
            if cells.iter().all(String::is_empty) {
                continue;
            }
            if layout::is_header(&cells) {
                self.layout.header = Some(layout::map_header(record.line, &cells).ok_or(CsvError::NoEmailColumn)?);
            } else {
                self.unread = Some(record);
            }
            return Ok(());
        }
        Ok(())
    }

    /// The trimmed cells of the record just read, or `None` when they are all empty.
    fn cells(&self, record: RawRecord) -> Result<Option<Vec<String>>, CsvError> {
        let line = record.line;
        match record.oversize {
            Some(Oversize::TooManyFields) => return Err(CsvError::TooManyFields { line }),
            Some(Oversize::CellTooLong { column }) => return Err(CsvError::CellTooLong { line, column }),
            None => {}
        }
        let mut cells = Vec::new();
        for (index, cell) in self.records.cells().enumerate() {
            let text = std::str::from_utf8(cell).map_err(|_| CsvError::InvalidUtf8 { line, column: index + 1 })?;
            cells.push(restore(text.trim()).to_owned());
        }
        Ok(cells.iter().any(|cell| !cell.is_empty()).then_some(cells))
    }
}

impl<R: Read> Iterator for ImportRows<R> {
    type Item = Result<ImportRow, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.finished {
            let record = match self.unread.take().map_or_else(|| self.records.read(), |record| Ok(Some(record))) {
                Ok(Some(record)) => record,
                Ok(None) => {
                    self.finished = true;
                    return None;
                }
                Err(error) => {
                    self.finished = true;
                    return Some(Err(CsvError::Read(error)));
                }
            };
            match self.cells(record) {
                Ok(Some(cells)) => {
                    return Some(Ok(match &self.layout.header {
                        Some(header) => named_row(record.line, header, cells),
                        None => positional_row(record.line, cells),
                    }));
                }
                Ok(None) => {}
                Err(error) => return Some(Err(error)),
            }
        }
        None
    }
}

/// After the last row or a read failure, only `None`.
impl<R: Read> std::iter::FusedIterator for ImportRows<R> {}

impl<R: Read> ImportRows<R> {
    /// The rows as the domain's import takes them: an error of one row becomes that row's
    /// `(line, message)`; an error that ends the file ends the rows and is kept for
    /// [`ForImport::error`].
    #[must_use]
    pub const fn for_import(self) -> ForImport<R> {
        ForImport { rows: self, error: None }
    }
}

/// The rows of an import file for [`ImportService::import`](roster_domain::services::ImportService::import):
/// pass `&mut` to it, then ask [`error`](Self::error) whether the file was read to its end.
#[derive(Debug)]
pub struct ForImport<R> {
    rows: ImportRows<R>,
    error: Option<CsvError>,
}

impl<R> ForImport<R> {
    /// The error that ended the rows before the end of the file, if any.
    pub const fn error(&self) -> Option<&CsvError> {
        self.error.as_ref()
    }
}

impl<R: Read> Iterator for ForImport<R> {
    type Item = RowRead;

    fn next(&mut self) -> Option<RowRead> {
        match self.rows.next()? {
            Ok(row) => Some(Ok(row)),
            Err(error) => match error.line() {
                Some(line) => Some(Err((line, error.to_string()))),
                None => {
                    self.error = Some(error);
                    None
                }
            },
        }
    }
}

/// A row of a file with a header: cells taken by the header's columns.
fn named_row(line: u64, header: &Header, mut cells: Vec<String>) -> ImportRow {
    let mut take =
        |column: Option<usize>| column.and_then(|index| cells.get_mut(index)).map(std::mem::take).and_then(present);
    ImportRow {
        line,
        email: take(Some(header.email)).unwrap_or_default(),
        name: take(header.name),
        country_code: take(header.country_code),
        phone: take(header.phone),
        role: take(header.role),
        license: take(header.license),
    }
}

/// A row of the header-less format: email; then country code and phone, or one of them. A
/// second cell alone is the phone unless it is a country code (`33`, `+33`, `FR`): a number
/// cut short (`12345`) must fail as a phone, not vanish as a country.
fn positional_row(line: u64, cells: Vec<String>) -> ImportRow {
    let mut cells = cells.into_iter().map(present);
    let email = cells.next().flatten().unwrap_or_default();
    let second = cells.next().flatten();
    let (country_code, phone) = match cells.next() {
        Some(third) => (second, third),
        None if second.as_deref().is_some_and(|cell| looks_like_phone(cell) || Phone::check_country(cell).is_err()) => {
            (None, second)
        }
        None => (second, None),
    };
    ImportRow { line, email, country_code, phone, ..ImportRow::default() }
}

/// A phone has at least 6 digits; a country code (`33`, `+33`, `FR`) fewer.
fn looks_like_phone(cell: &str) -> bool {
    cell.chars().filter(char::is_ascii_digit).count() >= 6
}

fn present(cell: String) -> Option<String> {
    (!cell.is_empty()).then_some(cell)
}

/// Removes the `'` the export puts before a cell that would start a spreadsheet formula (or
/// before `'`s that stand before a formula character).
fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.trim_start_matches('\'').starts_with(FORMULA_TRIGGERS) => rest,
        _ => cell,
    }
}

/// What the start of a file shows it to be when it is not UTF-8 text (which never holds a NUL
/// byte): otherwise each of its rows would fail alone, or worse, read as garbage. A prefix cut
/// inside a character (`truncated`, the input going on) is still UTF-8.
fn not_text(prefix: &[u8], truncated: bool) -> Option<&'static str> {
    if prefix.starts_with(b"\xFF\xFE") || prefix.starts_with(b"\xFE\xFF") {
        Some("UTF-16 text (Excel's \"Unicode Text\")")
    } else if prefix.starts_with(b"\x1F\x8B") {
        Some("gzip-compressed")
    } else if prefix.starts_with(b"PK\x03\x04") {
        Some("a ZIP archive (an .xlsx or .ods spreadsheet?)")
    } else if prefix.contains(&0) {
        Some("binary or UTF-16 (it holds NUL bytes)")
    } else if std::str::from_utf8(prefix).is_err_and(|error| error.error_len().is_some() || !truncated) {
        Some("text in another encoding (Windows-1252 or Latin-1, as Excel's \"CSV (Comma delimited)\" writes?)")
    } else {
        None
    }
}

/// Reads up to [`DETECTION_PREFIX_BYTES`]; `true` when the input may go on.
fn read_prefix(input: &mut impl Read) -> io::Result<(Vec<u8>, bool)> {
    let mut prefix = Vec::with_capacity(DETECTION_PREFIX_BYTES);
    input.take(DETECTION_PREFIX_BYTES as u64).read_to_end(&mut prefix)?;
    let truncated = prefix.len() == DETECTION_PREFIX_BYTES;
    Ok((prefix, truncated))
}
