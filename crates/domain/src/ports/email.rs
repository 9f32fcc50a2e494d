//! Delivering email.

use async_trait::async_trait;

use crate::mail::{EmailError, OutgoingEmail};

/// Hands rendered emails to a mail system: an SMTP relay, or a local outbox (`roster-email`).
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EmailSender: Send + Sync {
    /// Delivers `email` to the mail system. Adapters retry transient failures (a connection
    /// refused, a 4xx answer) a bounded number of times before reporting them.
    ///
    /// # Errors
    /// MUST return [`EmailError::Rejected`] when the mail system refuses the message for good,
    /// [`EmailError::Unavailable`] when it stays unreachable or keeps answering "try later".
    async fn send(&self, email: &OutgoingEmail) -> Result<(), EmailError>;
}
