//! Adapters of `roster-domain`'s [`EmailSender`](roster_domain::ports::EmailSender) port.
//!
//! - [`SmtpSender`] delivers through an SMTP relay (lettre on tokio, rustls for TLS): permanent
//!   refusals (5xx) are reported at once, transient failures (4xx, connection, timeout) are
//!   retried a bounded number of times.
//! - [`OutboxSender`] is the zero-setup default for local runs: it writes each message as a
//!   readable `.eml` file into a directory and logs the text body, so the links in it can be
//!   followed without any mail server.
//!
//! Both write the same message: `multipart/alternative` with the text part first, the HTML
//! part second, and bodies kept in plain 7-bit text whenever they fit, so that links stay
//! intact in the raw message.

mod message;
mod outbox;
mod smtp;
#[cfg(feature = "testing")]
pub mod testing;

pub use message::InvalidMailbox;
pub use outbox::{DEFAULT_OUTBOX_FROM, OutboxSender};
pub use smtp::{SmtpConfigError, SmtpSender, SmtpSettings, SmtpTls};
