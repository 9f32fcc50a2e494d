//! A large import is read as a stream: rows come while the input is still being read, and the
//! reader never runs far ahead of them.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

use roster_csv::{DETECTION_PREFIX_BYTES, read_rows};

const ROWS: u64 = 100_000;

/// How far ahead of the rows the reader may be: the detection prefix and one read chunk.
const LOOKAHEAD_BYTES: u64 = (DETECTION_PREFIX_BYTES + 8 * 1024) as u64;

fn line(number: u64) -> String {
    format!("user{number}@example.com,+3361{number:07}\r\n")
}

/// Generates the file one line at a time; `served` counts the bytes handed out.
struct GeneratedFile {
    next: u64,
    line: Vec<u8>,
    position: usize,
    served: Rc<Cell<u64>>,
}

impl Read for GeneratedFile {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.position == self.line.len() {
            if self.next > ROWS {
                return Ok(0);
            }
            self.line = line(self.next).into_bytes();
            self.position = 0;
            self.next += 1;
        }
        let count = buffer.len().min(self.line.len() - self.position);
        buffer[..count].copy_from_slice(&self.line[self.position..self.position + count]);
        self.position += count;
        self.served.set(self.served.get() + count as u64);
        Ok(count)
    }
}

#[test]
fn a_hundred_thousand_rows_are_read_without_reading_far_ahead() {
    let served = Rc::new(Cell::new(0));
    let file = GeneratedFile { next: 1, line: vec![], position: 0, served: Rc::clone(&served) };
    let rows = read_rows(file).unwrap();
    assert!(served.get() <= LOOKAHEAD_BYTES, "detection read {} bytes", served.get());

    let (mut count, mut last_line, mut bytes_of_rows) = (0, 0, 0);
    for row in rows {
        let row = row.unwrap();
        count += 1;
        last_line = row.line;
        bytes_of_rows += line(row.line).len() as u64;
        assert_eq!(row.email, format!("user{}@example.com", row.line));
        assert!(served.get() <= bytes_of_rows + LOOKAHEAD_BYTES, "{} bytes read at line {}", served.get(), row.line);
    }
    assert_eq!(count, ROWS);
    assert_eq!(last_line, ROWS);
    assert_eq!(served.get(), bytes_of_rows);
}
