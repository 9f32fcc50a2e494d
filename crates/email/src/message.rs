//! Turns an [`OutgoingEmail`] into a MIME message: `multipart/alternative`, text then HTML.

use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use roster_domain::mail::{EmailError, OutgoingEmail};

/// A sender address that is not a valid mailbox.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a valid mailbox (write it like `Roster <roster@example.com>`): {reason}")]
pub struct InvalidMailbox {
    /// The text given.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a mailbox such as `Roster <roster@example.com>` or `roster@example.com`.
pub(crate) fn parse_mailbox(input: &str) -> Result<Mailbox, InvalidMailbox> {
    input.trim().parse().map_err(|error: lettre::address::AddressError| InvalidMailbox {
        input: input.to_owned(),
        reason: error.to_string(),
    })
}

/// Which transfer encodings a body may use, besides quoted-printable and base64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transfer {
    /// 7-bit only: safe over any SMTP server, whether it announces 8BITMIME or not.
    SevenBit,
    /// 8-bit too: for files read by people, where UTF-8 text should stay readable.
    EightBit,
}

/// Builds the message `from` sends for `email`.
///
/// # Errors
/// [`EmailError::Rejected`] when the recipient is not an address lettre accepts, or the
/// message cannot be built: sending it again would fail the same way.
pub(crate) fn build_message(from: &Mailbox, email: &OutgoingEmail, transfer: Transfer) -> Result<Message, EmailError> {
    let to: Mailbox = email
        .to
        .as_str()
        .parse()
        .map_err(|error| EmailError::Rejected(format!("invalid recipient {}: {error}", email.to)))?;
    let message_id = format!("<{}@{}>", uuid::Uuid::now_v7(), from.email.domain());
    let text = SinglePart::builder().header(ContentType::TEXT_PLAIN).body(readable_body(&email.text, transfer));
    let html = SinglePart::builder().header(ContentType::TEXT_HTML).body(readable_body(&email.html, transfer));
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .date_now()
        .message_id(Some(message_id))
        .multipart(MultiPart::alternative().singlepart(text).singlepart(html))
        .map_err(|error| EmailError::Rejected(format!("cannot build the message: {error}")))
}

/// The longest line RFC 5322 allows in a message, without its CRLF.
const MAX_LINE_LEN: usize = 998;

/// The body in the plainest encoding it fits: 7-bit when it is ASCII, 8-bit when it is UTF-8
/// and `transfer` allows, as long as no line exceeds 998 bytes and there is no NUL or bare CR;
/// else whatever lettre finds best (quoted-printable or base64).
///
/// lettre's own choice sends every line of 76 characters or more as quoted-printable, which
/// breaks a long accept link with soft line breaks and `=3D` in the raw message.
fn readable_body(content: &str, transfer: Transfer) -> Body {
    let unix = content.replace("\r\n", "\n");
    let plain = !unix.contains(['\r', '\0']) && unix.split('\n').all(|line| line.len() <= MAX_LINE_LEN);
    let encoding = match (plain, content.is_ascii(), transfer) {
        (true, true, _) => ContentTransferEncoding::SevenBit,
        (true, false, Transfer::EightBit) => ContentTransferEncoding::EightBit,
        _ => return Body::new(content.to_owned()),
    };
    Body::dangerous_pre_encoded(unix.replace('\n', "\r\n").into_bytes(), encoding)
}
