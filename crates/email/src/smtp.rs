//! Delivery through an SMTP relay, with bounded retries of transient failures.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::address::Envelope;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use roster_domain::mail::{EmailError, OutgoingEmail};
use roster_domain::ports::EmailSender;

use crate::message::{InvalidMailbox, Transfer, build_message, parse_mailbox};

/// The pause after the first failed attempt; it doubles after each further one.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(200);
/// The longest pause between two attempts.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// How the connection to the relay is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same host or a trusted network.
    None,
    /// Plain text upgraded with STARTTLS, which the relay MUST offer (usually port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
}

/// Where and how to reach the SMTP relay.
#[derive(Clone)]
pub struct SmtpSettings {
    /// The relay's host name (also the name its TLS certificate must carry).
    pub host: String,
    /// The relay's port: 25, 465 (implicit TLS) or 587 (STARTTLS) as a rule.
    pub port: u16,
    /// How the connection is secured.
    pub tls: SmtpTls,
    /// User name and password, when the relay wants them.
    pub credentials: Option<(String, String)>,
    /// The sender mailbox, like `Roster <roster@example.com>`.
    pub from: String,
    /// The longest one attempt may take: connecting and the whole conversation.
    pub timeout: Duration,
    /// How many times a message is tried in all before it is reported unavailable (0 counts as 1).
    pub attempts: u32,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("password", &self.credentials.as_ref().map(|_| "***"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .finish()
    }
}

/// Why the SMTP settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpConfigError {
    /// No host to connect to.
    #[error("the SMTP host is empty")]
    MissingHost,
    /// The sender is not a mailbox.
    #[error("invalid SMTP sender: {0}")]
    InvalidFrom(#[from] InvalidMailbox),
    /// TLS cannot be set up for the host.
    #[error("cannot set up TLS for SMTP host {host}: {reason}")]
    Tls {
        /// The host.
        host: String,
        /// What went wrong.
        reason: String,
    },
}

/// Sends emails through an SMTP relay. The transport is built once; each message opens its
/// own connection.
///
/// A permanent refusal (5xx) or an invalid recipient is [`EmailError::Rejected`] at once; a
/// transient failure (4xx, refused or dropped connection, timeout) is tried again, up to
/// [`SmtpSettings::attempts`] attempts in all with a growing pause, then reported as
/// [`EmailError::Unavailable`].
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    attempts: u32,
    settings: SmtpSettings,
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The settings' Debug hides the password.
        f.debug_struct("SmtpSender").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// Checks `settings` and builds the transport. Connects to nothing yet.
    ///
    /// # Errors
    /// [`SmtpConfigError`] when the host is empty, the sender is not a mailbox, or TLS cannot
    /// be set up for the host.
    pub fn new(settings: SmtpSettings) -> Result<Self, SmtpConfigError> {
        if settings.host.trim().is_empty() {
            return Err(SmtpConfigError::MissingHost);
        }
        let from = parse_mailbox(&settings.from)?;
        let tls = match settings.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(tls_parameters(&settings.host)?),
            SmtpTls::Implicit => Tls::Wrapper(tls_parameters(&settings.host)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some((user, password)) = &settings.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self { transport: builder.build(), from, attempts: settings.attempts.max(1), settings })
    }

    /// One SMTP conversation, bounded by the timeout as a whole: lettre bounds only the
    /// connection on tokio, not the answers.
    async fn attempt(&self, envelope: &Envelope, raw: &[u8]) -> Result<(), Failure> {
        let timeout = self.settings.timeout;
        match tokio::time::timeout(timeout, self.transport.send_raw(envelope, raw)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) if error.is_permanent() => Err(Failure::Permanent(error.to_string())),
            Ok(Err(error)) => Err(Failure::Transient(error.to_string())),
            Err(_) => Err(Failure::Transient(format!("no answer within {timeout:?}"))),
        }
    }
}

/// Why one attempt failed.
enum Failure {
    /// A 5xx answer: the same message will be refused again.
    Permanent(String),
    /// A 4xx answer, a refused or dropped connection, no answer in time: worth another try.
    Transient(String),
}

fn tls_parameters(host: &str) -> Result<TlsParameters, SmtpConfigError> {
    TlsParameters::new(host.to_owned())
        .map_err(|error| SmtpConfigError::Tls { host: host.to_owned(), reason: error.to_string() })
}

#[async_trait]
impl EmailSender for SmtpSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), EmailError> {
        let message = build_message(&self.from, email, Transfer::SevenBit)?;
        let raw = message.formatted();
        let mut delay = FIRST_RETRY_DELAY;
        let mut attempt = 1;
        loop {
            let (reason, permanent) = match self.attempt(message.envelope(), &raw).await {
                Ok(()) => return Ok(()),
                Err(Failure::Permanent(reason)) => (reason, true),
                Err(Failure::Transient(reason)) => (reason, false),
            };
            tracing::warn!(
                attempt,
                attempts = self.attempts,
                permanent,
                to = %email.to,
                host = %self.settings.host,
                error = %reason,
                "sending an email over SMTP failed"
            );
            if permanent {
                return Err(EmailError::Rejected(reason));
            }
            if attempt >= self.attempts {
                return Err(EmailError::Unavailable(format!("{reason} (after {attempt} attempts)")));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_RETRY_DELAY);
            attempt += 1;
        }
    }
}
