//! Raw records with bounded memory: csv-core's parser over a small buffered reader, with our own
//! line numbers (the physical line a record starts on) and the size limits.
//!
//! `csv::Reader` is not used for reading because it grows its record buffer without limit and its
//! `Position::line` counts from the end of the previous record (wrong after blank lines and CRLF).

use std::io::{self, BufRead, BufReader, Read};

use csv_core::{ReadRecordResult, Reader as Parser, ReaderBuilder as ParserBuilder};

use crate::{MAX_CELL_BYTES, MAX_FIELDS};

/// How much of the input is read at a time.
const CHUNK_BYTES: usize = 8 * 1024;

/// The record buffer's size at first; it doubles up to what the limits allow.
const INITIAL_OUTPUT_BYTES: usize = 8 * 1024;

/// Room for the largest record within the limits, plus the one byte that tells it is too large.
const MAX_OUTPUT_BYTES: usize = MAX_FIELDS * MAX_CELL_BYTES + 1;

/// Why a record was read to its end but its cells were not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oversize {
    TooManyFields,
    /// The cell's column is 1-based.
    CellTooLong {
        column: usize,
    },
}

/// A record just read; its cells stay in the reader until the next read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawRecord {
    /// The 1-based physical line of the record's first byte.
    pub line: u64,
    pub oversize: Option<Oversize>,
}

/// Reads records one at a time, holding at most one record and one chunk of input.
#[derive(Debug)]
pub(crate) struct RecordReader<R> {
    input: BufReader<R>,
    parser: Parser,
    output: Vec<u8>,
    ends: Vec<usize>,
    /// Cells of the last record (when it had no oversize).
    cells: usize,
    /// Line ends consumed so far: `\n`, `\r\n`, or a `\r` alone (old Mac files).
    newlines: u64,
    /// Whether the last byte consumed was a `\r` (whose `\n`, if any, ends the same line).
    after_cr: bool,
}

impl<R: Read> RecordReader<R> {
    pub(crate) fn new(input: R, delimiter: u8) -> Self {
        Self {
            input: BufReader::with_capacity(CHUNK_BYTES, input),
            // Defaults: `"` quotes, `""` escapes a quote, `\r`, `\n` or `\r\n` end a record.
            parser: ParserBuilder::new().delimiter(delimiter).build(),
            output: vec![0; INITIAL_OUTPUT_BYTES],
            ends: vec![0; MAX_FIELDS],
            cells: 0,
            newlines: 0,
            after_cr: false,
        }
    }

    /// The cells of the last record read (none after an oversize record).
    pub(crate) fn cells(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.cells).map(|index| {
            let start = if index == 0 { 0 } else { self.ends[index - 1] };
            &self.output[start..self.ends[index]]
        })
    }

    /// Reads the next record; `None` at the end of the input. Empty lines are skipped.
    pub(crate) fn read(&mut self) -> io::Result<Option<RawRecord>> {
        self.cells = 0;
        if !self.skip_line_ends()? {
            return Ok(None);
        }
        let line = self.newlines + 1;
        let (mut written, mut ended, mut oversize) = (0, 0, None);
        loop {
            let input = fill(&mut self.input)?;
            let (result, nin, nout, nend) =
                self.parser.read_record(input, &mut self.output[written..], &mut self.ends[ended..]);
            self.newlines += count_line_ends(&input[..nin], &mut self.after_cr);
            self.input.consume(nin);
            if oversize.is_none() {
                oversize = self.check_cells(ended, ended + nend, written + nout);
            }
            written += nout;
            ended += nend;
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull if oversize.is_none() && self.output.len() < MAX_OUTPUT_BYTES => {
                    let grown = (self.output.len() * 2).min(MAX_OUTPUT_BYTES);
                    self.output.resize(grown, 0);
                }
                ReadRecordResult::OutputFull => {
                    // Only an oversize cell fills the largest buffer: drop what was read.
                    oversize.get_or_insert(Oversize::CellTooLong { column: ended + 1 });
                    written = 0;
                }
                ReadRecordResult::OutputEndsFull => {
                    oversize = Some(oversize.unwrap_or(Oversize::TooManyFields));
                    ended = 0;
                }
                ReadRecordResult::Record | ReadRecordResult::End => {
                    if oversize.is_none() {
                        self.cells = ended;
                    }
                    return Ok(Some(RawRecord { line, oversize }));
                }
            }
        }
    }

    /// Finds a cell over the limit among the cells `from..to` just ended, or the one in progress.
    fn check_cells(&self, from: usize, to: usize, written: usize) -> Option<Oversize> {
        let mut start = if from == 0 { 0 } else { self.ends[from - 1] };
        for index in from..to {
            if self.ends[index] - start > MAX_CELL_BYTES {
                return Some(Oversize::CellTooLong { column: index + 1 });
            }
            start = self.ends[index];
        }
        (written - start > MAX_CELL_BYTES).then_some(Oversize::CellTooLong { column: to + 1 })
    }

    /// Consumes the line ends before a record (empty lines); `false` at the end of the input.
    fn skip_line_ends(&mut self) -> io::Result<bool> {
        loop {
            let input = fill(&mut self.input)?;
            if input.is_empty() {
                return Ok(false);
            }
            let skipped = input.iter().take_while(|byte| matches!(byte, b'\r' | b'\n')).count();
            let more = skipped < input.len();
            self.newlines += count_line_ends(&input[..skipped], &mut self.after_cr);
            self.input.consume(skipped);
            if more {
                return Ok(true);
            }
        }
    }
}

/// The buffered input, reading more when it is empty (empty only at the end of the input).
fn fill<R: Read>(input: &mut BufReader<R>) -> io::Result<&[u8]> {
    loop {
        match input.fill_buf() {
            Ok(_) => break,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    input.fill_buf()
}

/// The line ends in `bytes`, which follow a `\r` when `after_cr` (updated for the next bytes).
fn count_line_ends(bytes: &[u8], after_cr: &mut bool) -> u64 {
    let mut ends = 0;
    for &byte in bytes {
        ends += u64::from(byte == b'\r' || (byte == b'\n' && !*after_cr));
        *after_cr = byte == b'\r';
    }
    ends
}
