//! What can go wrong while reading an import file.

use std::io;

use crate::{MAX_CELL_BYTES, MAX_FIELDS};

/// An error of [`read_rows`](crate::read_rows) or of one row of [`ImportRows`](crate::ImportRows).
///
/// Errors with a [`line`](Self::line) concern one row: report it and go on with the next rows.
/// Errors without one end the import ([`NoEmailColumn`](Self::NoEmailColumn) from `read_rows`;
/// [`Read`](Self::Read), after which the rows end). Messages leave the line out, for a report that
/// shows it in its own column.
#[derive(Debug, thiserror::Error)]
pub enum CsvError {
    /// The file has a header row, and none of its columns is an email column.
    #[error("the header row has no email column")]
    NoEmailColumn,
    /// The file is not UTF-8 text: UTF-16, a spreadsheet, a compressed file, text in another
    /// encoding (a byte order mark, a signature, NUL bytes or bytes that are not UTF-8 in its first
    /// 64 KiB say so).
    #[error("the file is {0}, not UTF-8 CSV text; save it as CSV UTF-8")]
    NotText(&'static str),
    /// A cell of the row is not UTF-8 text.
    #[error("column {column} is not UTF-8 text; save the file as UTF-8")]
    InvalidUtf8 {
        /// The row's line.
        line: u64,
        /// The cell's column, 1-based.
        column: usize,
    },
    /// The row has more cells than an import reads.
    #[error("the row has more than {MAX_FIELDS} columns")]
    TooManyFields {
        /// The row's line.
        line: u64,
    },
    /// A cell of the row is longer than an import reads.
    #[error("column {column} is longer than {MAX_CELL_BYTES} bytes")]
    CellTooLong {
        /// The row's line.
        line: u64,
        /// The cell's column, 1-based.
        column: usize,
    },
    /// The input could not be read.
    #[error("the file could not be read")]
    Read(#[source] io::Error),
}

impl CsvError {
    /// The line of the row the error concerns; `None` when the error ends the import.
    #[must_use]
    pub const fn line(&self) -> Option<u64> {
        match self {
            Self::InvalidUtf8 { line, .. } | Self::TooManyFields { line } | Self::CellTooLong { line, .. } => {
                Some(*line)
            }
            Self::NoEmailColumn | Self::NotText(_) | Self::Read(_) => None,
        }
    }
}
