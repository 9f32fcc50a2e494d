//! Errors that ports report. Each use case translates them into its own error enum.

use std::error::Error as StdError;
use std::fmt;

/// A failure no caller can act on (a lost connection, a corrupt row): logged, reported as
/// "unexpected", never shown in detail to API clients.
#[derive(Debug)]
pub struct UnexpectedError(Box<dyn StdError + Send + Sync>);

impl UnexpectedError {
    /// Wraps any error.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self(error.into())
    }

    /// The wrapped error, for an adapter that recognises its own (a deadlock to retry, say).
    #[must_use]
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        self.0.as_ref()
    }
}

impl fmt::Display for UnexpectedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Show the whole cause chain: logs are where this error is read.
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl StdError for UnexpectedError {}

/// What a storage port can report.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist in this tenant.
    #[error("not found")]
    NotFound,
    /// Another user of the tenant has this email (in any letter case).
    #[error("email already taken in this tenant")]
    EmailTaken,
    /// Another tenant has this name.
    #[error("tenant name already taken")]
    TenantNameTaken,
    /// The change would leave the tenant without an active administrator.
    #[error("the tenant's last active administrator cannot lose that status")]
    LastAdministrator,
    /// The record changed since the decision was taken; nothing was written. Deciding again on
    /// the current record may succeed.
    #[error("the record changed concurrently")]
    Stale,
    /// The acting user is no longer active with the role they acted with; nothing was written.
    #[error("the acting user changed concurrently")]
    ActorChanged,
    /// Every seat of the license kind is taken.
    #[error("no seat of license kind {kind} is available ({assigned} of {seats} assigned)")]
    NoSeats {
        /// The kind.
        kind: crate::LicenseKindId,
        /// Its seats.
        seats: u64,
        /// Seats assigned.
        assigned: u64,
    },
    /// A kind's seats cannot go below the seats assigned.
    #[error("{assigned} seats are assigned")]
    SeatsInUse {
        /// Seats assigned.
        assigned: u64,
    },
    /// A kind with seats assigned cannot be deleted.
    #[error("{assigned} seats are assigned")]
    LicenseInUse {
        /// Seats assigned.
        assigned: u64,
    },
    /// The license kind does not exist in the tenant.
    #[error("no such license kind in this tenant")]
    LicenseNotFound,
    /// Another license kind of the tenant has this name (in any letter case).
    #[error("license name already taken in this tenant")]
    LicenseNameTaken,
    /// Another tenant trusts this OpenID Connect issuer with this audience.
    #[error("another tenant trusts this issuer with this audience")]
    IssuerTaken,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl StoreError {
    /// This error as an unexpected one, for a caller to which no other variant can apply.
    #[must_use]
    pub fn into_unexpected(self) -> UnexpectedError {
        match self {
            Self::Unexpected(error) => error,
            other => UnexpectedError::new(other.to_string()),
        }
    }
}
