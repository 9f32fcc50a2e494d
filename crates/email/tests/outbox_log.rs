//! The outbox's log line. A test binary of its own: tracing caches per call site whether
//! anyone listens, so a subscriber set for one test races with other tests logging from the
//! same call site on other threads.

use std::io;
use std::sync::{Arc, Mutex};

use roster_domain::ports::EmailSender;
use roster_email::OutboxSender;
use tracing_subscriber::util::SubscriberInitExt as _;

#[path = "email/fixtures.rs"]
mod fixtures;

use fixtures::{LINK, invitation};

#[tokio::test]
async fn the_log_line_names_recipient_subject_and_file_and_carries_the_link() {
    let root = tempfile::tempdir().unwrap();
    let outbox = OutboxSender::new(root.path().to_owned()).unwrap();
    let log = LogBuffer::default();
    let _capture = tracing_subscriber::fmt().with_writer(log.clone()).with_ansi(false).finish().set_default();

    outbox.send(&invitation()).await.unwrap();

    let log = log.text();
    let file = std::fs::read_dir(outbox.dir()).unwrap().next().unwrap().unwrap().path();
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.contains("INFO"), "{log}");
    assert!(log.contains("to=new.user@example.com"), "{log}");
    assert!(log.contains("subject=You are invited to join acme"), "{log}");
    assert!(log.contains(&file.display().to_string()), "{log}");
    assert!(log.contains(LINK), "{log}");
}

/// Collects what a tracing subscriber writes.
#[derive(Debug, Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
