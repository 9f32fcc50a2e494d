//! What was detected at the start of an import file: byte order mark, delimiter, header.

use crate::records::RecordReader;

/// How an import file is laid out, as detected from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Whether the file started with a UTF-8 byte order mark (skipped).
    pub bom: bool,
    /// The cell delimiter.
    pub delimiter: Delimiter,
    /// The header row, when the file has one; `None` for the header-less format.
    pub header: Option<Header>,
}

/// The cell delimiters an import file may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delimiter {
    /// `,`: the default.
    Comma,
    /// `;`: what spreadsheets write in locales with a decimal comma.
    Semicolon,
    /// A tab.
    Tab,
}

impl Delimiter {
    /// The delimiter's byte.
    #[must_use]
    pub const fn as_byte(self) -> u8 {
        match self {
            Self::Comma => b',',
            Self::Semicolon => b';',
            Self::Tab => b'\t',
        }
    }
}

/// The columns a header row names: 0-based cell positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The line the header is on.
    pub line: u64,
    /// The email column (required).
    pub email: usize,
    /// The name column.
    pub name: Option<usize>,
    /// The country code column.
    pub country_code: Option<usize>,
    /// The phone column.
    pub phone: Option<usize>,
    /// The role column.
    pub role: Option<usize>,
    /// The license column.
    pub license: Option<usize>,
    /// The titles of the columns that are not read (unknown, or a second column of one kind), as
    /// written.
    pub ignored: Vec<String>,
}

/// How many records of the start of the file decide the delimiter.
const SAMPLE_RECORDS: usize = 50;

/// Candidates, by preference when they split the sample equally well: commas are the likeliest
/// to appear inside unquoted text, tabs the least.
const CANDIDATES: [Delimiter; 3] = [Delimiter::Tab, Delimiter::Semicolon, Delimiter::Comma];

/// Chooses the delimiter that splits the sample's records most consistently.
///
/// For each candidate, the records (quotes respected, blank ones left out) split into more than
/// one cell are counted by cell count; the candidate whose most common count covers the most
/// records wins, then the one giving the most cells in all, then [`CANDIDATES`] order. A candidate
/// that splits nothing never wins; when none splits, the delimiter is a comma. `truncated` says
/// that the prefix stops inside the file, so its last record may be cut.
pub(crate) fn detect_delimiter(prefix: &[u8], truncated: bool) -> Delimiter {
    let mut best = (Delimiter::Comma, 0, 0);
    for candidate in CANDIDATES {
        let counts = cell_counts(prefix, truncated, candidate);
        let split: Vec<usize> = counts.into_iter().filter(|&count| count > 1).collect();
        let consistency = split.iter().map(|&count| split.iter().filter(|&&other| other == count).count()).max();
        let score = (consistency.unwrap_or(0), split.iter().sum::<usize>());
        if score > (best.1, best.2) {
            best = (candidate, score.0, score.1);
        }
    }
    best.0
}

/// The cell counts of the sample's non-blank records, read with `delimiter`.
fn cell_counts(prefix: &[u8], truncated: bool, delimiter: Delimiter) -> Vec<usize> {
    let mut records = RecordReader::new(prefix, delimiter.as_byte());
    let mut counts = Vec::new();
    let mut at_end = false;
    while counts.len() < SAMPLE_RECORDS {
        match records.read() {
            Ok(Some(record)) if record.oversize.is_none() => {
                // Blank under any candidate: only delimiters and white space.
                let blank =
                    records.cells().flatten().all(|&byte| byte.is_ascii_whitespace() || byte == b',' || byte == b';');
                if !blank {
                    counts.push(records.cells().count());
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                at_end = true;
                break;
            }
        }
    }
    if truncated && at_end {
        counts.pop();
    }
    counts
}

/// What a header cell names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Email,
    Name,
    CountryCode,
    Phone,
    Role,
    License,
}

impl Column {
    /// The column a title names: any letter case, `_` or `-` as a space, spaces collapsed.
    pub(crate) fn from_title(title: &str) -> Option<Self> {
        let title = title.to_lowercase().replace(['_', '-'], " ");
        let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
        Some(match title.as_str() {
            "email" | "e mail" | "mail" | "email address" => Self::Email,
            "name" | "full name" => Self::Name,
            "country code" | "country" | "dial code" => Self::CountryCode,
            "phone" | "phone number" | "mobile" | "telephone" => Self::Phone,
            "role" => Self::Role,
            "license" | "licence" | "license kind" | "licence kind" => Self::License,
            _ => return None,
        })
    }
}

/// Whether a first row is a header: no cell has an `@`, and a cell names a known column.
pub(crate) fn is_header(cells: &[String]) -> bool {
    !cells.iter().any(|cell| cell.contains('@')) && cells.iter().any(|cell| Column::from_title(cell).is_some())
}

/// The header's columns; `None` when it has no email column.
pub(crate) fn map_header(line: u64, cells: &[String]) -> Option<Header> {
    let mut email = None;
    let mut header = Header {
        line,
        email: 0,
        name: None,
        country_code: None,
        phone: None,
        role: None,
        license: None,
        ignored: vec![],
    };
    for (index, title) in cells.iter().enumerate() {
        let slot = match Column::from_title(title) {
            Some(Column::Email) => &mut email,
            Some(Column::Name) => &mut header.name,
            Some(Column::CountryCode) => &mut header.country_code,
            Some(Column::Phone) => &mut header.phone,
            Some(Column::Role) => &mut header.role,
            Some(Column::License) => &mut header.license,
            None if title.is_empty() => continue,
            None => {
                header.ignored.push(title.clone());
                continue;
            }
        };
        if slot.is_none() {
            *slot = Some(index);
        } else {
            header.ignored.push(title.clone());
        }
    }
    header.email = email?;
    Some(header)
}
