//! The outbox: every message becomes one `.eml` file in a directory, and one log line.

use std::io;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::message::Mailbox;
use roster_domain::mail::{EmailError, OutgoingEmail};
use roster_domain::ports::EmailSender;

use crate::message::{InvalidMailbox, Transfer, build_message, parse_mailbox};

/// The sender of outbox messages unless [`OutboxSender::with_from`] says otherwise.
pub const DEFAULT_OUTBOX_FROM: &str = "Roster <roster@localhost>";

/// Writes each email as a file `<UTC time>-<uuid>.eml` (RFC 5322, readable with `cat`) into a
/// directory, and logs recipient, subject, file and text body at info level. For local runs
/// and demos: nothing leaves the machine.
#[derive(Debug, Clone)]
pub struct OutboxSender {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxSender {
    /// An outbox in `dir`, created (with its parents) when missing.
    ///
    /// # Errors
    /// The I/O error when the directory cannot be created.
    pub fn new(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let from = parse_mailbox(DEFAULT_OUTBOX_FROM).map_err(io::Error::other)?;
        Ok(Self { dir, from })
    }

    /// The same outbox with another sender, such as `Roster <roster@example.com>`.
    ///
    /// # Errors
    /// [`InvalidMailbox`] when `from` is not a mailbox.
    pub fn with_from(self, from: &str) -> Result<Self, InvalidMailbox> {
        Ok(Self { from: parse_mailbox(from)?, ..self })
    }

    /// The directory the messages are written to.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new file name; the timestamp sorts the files by time, the UUID keeps them apart.
    fn file_name() -> String {
        let now = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        format!("{now}-{}.eml", uuid::Uuid::now_v7())
    }
}

#[async_trait]
impl EmailSender for OutboxSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), EmailError> {
        let message = build_message(&self.from, email, Transfer::EightBit)?;
        let name = Self::file_name();
        let path = self.dir.join(&name);
        // Written under a hidden name, then renamed: whoever watches the directory never
        // sees half a message.
        let partial = self.dir.join(format!(".{name}.part"));
        let written = async {
            tokio::fs::write(&partial, message.formatted()).await?;
            tokio::fs::rename(&partial, &path).await
        };
        if let Err(error) = written.await {
            tracing::warn!(%error, path = %path.display(), "cannot write the email to the outbox");
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(EmailError::Unavailable(format!("cannot write {}: {error}", path.display())));
        }
        tracing::info!(
            to = %email.to,
            subject = %email.subject,
            path = %path.display(),
            text = ?email.text,
            "email written to the outbox"
        );
        Ok(())
    }
}
