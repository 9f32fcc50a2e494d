//! One error enum per invitation use case.

use crate::{Email, LicenseKindId, StoreError, UnexpectedError, UserStatus, Violation};

/// Inviting a user failed.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// The actor may not invite with this role or give a seat.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// The tenant has a user with this email.
    #[error("a user with email {0} already exists in this tenant")]
    EmailTaken(Email),
    /// No such license kind in the tenant.
    #[error("license kind not found")]
    LicenseNotFound,
    /// Every seat of the kind is taken.
    #[error("no seat of license kind {kind} is available ({assigned} of {seats} assigned)")]
    NoSeats {
        /// The kind.
        kind: LicenseKindId,
        /// Its seats.
        seats: u64,
        /// Seats assigned.
        assigned: u64,
    },
    /// The acting user changed meanwhile; nothing was written.
    #[error("your own account changed while this request ran; retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Reinviting a user or copying their link failed.
#[derive(Debug, thiserror::Error)]
pub enum ReissueInvitationError {
    /// The actor may not act on this user.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the tenant.
    #[error("user not found")]
    NotFound,
    /// The user is not invited (active or deactivated): there is nothing to reinvite.
    #[error("the user is {0}, not invited")]
    NotInvited(UserStatus),
    /// The user or the actor changed meanwhile; nothing was written.
    #[error("the user changed concurrently; reload and retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Revoking an invitation failed.
#[derive(Debug, thiserror::Error)]
pub enum RevokeInvitationError {
    /// The actor may not act on this user.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the tenant.
    #[error("user not found")]
    NotFound,
    /// The user has been active: deactivate them instead.
    #[error("the user is {0} and has been active; deactivate them instead")]
    NotInvited(UserStatus),
    /// The user or the actor changed meanwhile; nothing was written.
    #[error("the user changed concurrently; reload and retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Accepting an invitation failed.
#[derive(Debug, thiserror::Error)]
pub enum AcceptInvitationError {
    /// No invitation has this link: unknown, used, replaced or revoked (indistinguishably).
    #[error("no invitation has this link")]
    NotFound,
    /// The link expired: ask for a new invitation.
    #[error("the invitation expired")]
    Expired,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<StoreError> for InviteError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::LicenseNotFound => Self::LicenseNotFound,
            StoreError::NoSeats { kind, seats, assigned } => Self::NoSeats { kind, seats, assigned },
            StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

impl From<StoreError> for ReissueInvitationError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Stale | StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

impl From<StoreError> for RevokeInvitationError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Stale | StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

impl From<StoreError> for AcceptInvitationError {
    fn from(error: StoreError) -> Self {
        Self::Unexpected(error.into_unexpected())
    }
}
