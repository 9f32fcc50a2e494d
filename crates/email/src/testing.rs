//! A real SMTP server for tests, on 127.0.0.1 and a free port: mailin's protocol state machine
//! behind a plain TCP loop (no TLS, one client at a time), answering the way a test asks and
//! recording what it received. Feature `testing`.
//!
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//! use roster_email::testing::TestSmtpServer;
//!
//! let server = TestSmtpServer::start();
//! // ... point an `SmtpSender` (or the whole application) at 127.0.0.1 and `server.port()` ...
//! let message = server.next_message(Duration::from_secs(5)).await.expect("a message");
//! assert!(message.data.contains("Subject: "));
//! # }
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mailin::{Action, Handler, Response, SessionBuilder, response};
use tokio::sync::Notify;

/// How a [`TestSmtpServer`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Takes every message.
    Accept,
    /// "451 try later" to the first DATA command (a transient failure), then takes every message.
    TryLaterOnce,
    /// "550 mailbox unavailable" to every recipient (a permanent refusal).
    RefuseRecipients,
}

/// One message the server took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The raw message: headers and body, with CRLF line ends.
    pub data: String,
}

impl ReceivedMessage {
    /// The value of the first header `name` (any letter case), folded lines joined; `None`
    /// when the message has no such header.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut lines = head.split("\r\n").peekable();
        while let Some(line) = lines.next() {
            let Some((key, value)) = line.split_once(':') else { continue };
            if !key.eq_ignore_ascii_case(name) {
                continue;
            }
            let mut value = value.trim().to_owned();
            while let Some(folded) = lines.next_if(|next| next.starts_with([' ', '\t'])) {
                value.push(' ');
                value.push_str(folded.trim());
            }
            return Some(value);
        }
        None
    }
}

#[derive(Debug, Default)]
struct Log {
    /// `MAIL FROM` commands seen: one per attempt.
    attempts: u32,
    received: Vec<ReceivedMessage>,
    /// How many of `received` [`TestSmtpServer::next_message`] has handed out.
    taken: usize,
}

/// What the connections share with the test.
#[derive(Debug, Default)]
struct Shared {
    log: Mutex<Log>,
    arrived: Notify,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        // A panicking test thread leaves the log as consistent as it was: keep reading it.
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One handler per connection; the log is shared.
#[derive(Debug, Clone)]
struct Recorder {
    answer: Answer,
    shared: Arc<Shared>,
    current: ReceivedMessage,
    data: Vec<u8>,
}

impl Handler for Recorder {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.shared.log().attempts += 1;
        self.current = ReceivedMessage { from: from.to_owned(), ..ReceivedMessage::default() };
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        if self.answer == Answer::RefuseRecipients {
            return response::NO_MAILBOX;
        }
        self.current.to.push(to.to_owned());
        response::OK
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, _to: &[String]) -> Response {
        if self.answer == Answer::TryLaterOnce && self.shared.log().attempts == 1 {
            return response::INTERNAL_ERROR;
        }
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mut received = std::mem::take(&mut self.current);
        received.data = String::from_utf8_lossy(&self.data).into_owned();
        self.shared.log().received.push(received);
        self.shared.arrived.notify_waiters();
        response::OK
    }
}

/// A running SMTP server; its thread ends with the test process.
#[derive(Debug)]
pub struct TestSmtpServer {
    port: u16,
    shared: Arc<Shared>,
}

impl TestSmtpServer {
    /// A server that takes every message.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn start() -> Self {
        Self::answering(Answer::Accept)
    }

    /// A server that answers as `answer` says.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn answering(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let shared = Arc::new(Shared::default());
        let recorder =
            Recorder { answer, shared: Arc::clone(&shared), current: ReceivedMessage::default(), data: Vec::new() };
        std::thread::spawn(move || {
            let sessions = SessionBuilder::new("mail.test");
            for stream in listener.incoming().flatten() {
                // One client at a time is all a test needs; a broken connection ends only itself.
                let _ = converse(&sessions, stream, recorder.clone());
            }
        });
        Self { port, shared }
    }

    /// The port it listens on, at 127.0.0.1.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many transactions (`MAIL FROM`) were started, delivered or not.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.shared.log().attempts
    }

    /// Every message taken so far, in order.
    #[must_use]
    pub fn received(&self) -> Vec<ReceivedMessage> {
        self.shared.log().received.clone()
    }

    /// The next message not handed out by this method yet, waiting at most `timeout` for it to
    /// arrive; `None` when none did.
    pub async fn next_message(&self, timeout: Duration) -> Option<ReceivedMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so that a message arriving in between wakes it.
            let arrived = self.shared.arrived.notified();
            if let Some(message) = self.take_next() {
                return Some(message);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.take_next();
            }
        }
    }

    fn take_next(&self) -> Option<ReceivedMessage> {
        let mut log = self.shared.log();
        let message = log.received.get(log.taken).cloned()?;
        log.taken += 1;
        Some(message)
    }
}

/// Runs one SMTP session: greeting, then one answer per line until QUIT or hang-up.
fn converse(sessions: &SessionBuilder, stream: TcpStream, recorder: Recorder) -> io::Result<()> {
    let mut session = sessions.build(stream.peer_addr()?.ip(), recorder);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    session.greeting().write_to(&mut writer)?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let answer = session.process(&line);
        if answer.action != Action::NoReply {
            answer.write_to(&mut writer)?;
            writer.flush()?;
        }
        if answer.action == Action::Close {
            return Ok(());
        }
    }
}

/// A loopback port nothing listens on: bound once to find it, then released.
///
/// # Panics
/// When no loopback port can be bound.
#[must_use]
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a free loopback port").local_addr().expect("a bound address").port()
}

/// A listener that accepts connections and either hangs up at once or holds them open without
/// a word (a dead relay); counts the connections.
#[derive(Debug)]
pub struct SilentListener {
    port: u16,
    connections: Arc<Mutex<u32>>,
}

impl SilentListener {
    /// Starts listening; `hang_up` closes each connection at once, else it is held open.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    #[must_use]
    pub fn start(hang_up: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let connections = Arc::new(Mutex::new(0));
        let counter = Arc::clone(&connections);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                *counter.lock().unwrap_or_else(PoisonError::into_inner) += 1;
                if !hang_up {
                    held.push(stream);
                }
            }
        });
        Self { port, connections }
    }

    /// The port it listens on, at 127.0.0.1.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections it accepted.
    #[must_use]
    pub fn connections(&self) -> u32 {
        *self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
