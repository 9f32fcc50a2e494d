//! One error enum per license use case.

use crate::{LicenseKindId, StoreError, UnexpectedError, Violation};

/// Listing license kinds failed.
#[derive(Debug, thiserror::Error)]
pub enum ListLicensesError {
    /// Administrators only.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Reading a license kind failed.
#[derive(Debug, thiserror::Error)]
pub enum GetLicenseError {
    /// Administrators only.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such kind in the tenant.
    #[error("license kind not found")]
    NotFound,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Creating a license kind failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateLicenseError {
    /// Administrators only.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// Another kind has this name.
    #[error("a license kind of this name exists")]
    NameTaken,
    /// The acting user changed meanwhile; nothing was written.
    #[error("your own account changed while this request ran; retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Changing a license kind failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateLicenseError {
    /// Administrators only.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such kind in the tenant.
    #[error("license kind not found")]
    NotFound,
    /// Another kind has this name.
    #[error("a license kind of this name exists")]
    NameTaken,
    /// Fewer seats than are assigned.
    #[error("{assigned} seats are assigned")]
    SeatsInUse {
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

/// Deleting a license kind failed.
#[derive(Debug, thiserror::Error)]
pub enum DeleteLicenseError {
    /// Administrators only.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such kind in the tenant.
    #[error("license kind not found")]
    NotFound,
    /// Seats are assigned.
    #[error("{assigned} seats are assigned")]
    InUse {
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

/// Assigning (or changing) a user's license failed.
#[derive(Debug, thiserror::Error)]
pub enum AssignLicenseError {
    /// Administrators only.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the tenant.
    #[error("user not found")]
    UserNotFound,
    /// No such license kind in the tenant.
    #[error("license kind not found")]
    LicenseNotFound,
    /// Deactivated users hold no seat.
    #[error("the user is deactivated; reactivate them first")]
    UserDeactivated,
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
    /// The user or the actor changed meanwhile; nothing was written.
    #[error("the user changed concurrently; reload and retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Unassigning a user's license failed.
#[derive(Debug, thiserror::Error)]
pub enum UnassignLicenseError {
    /// Administrators only.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the tenant.
    #[error("user not found")]
    UserNotFound,
    /// The user or the actor changed meanwhile; nothing was written.
    #[error("the user changed concurrently; reload and retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<StoreError> for AssignLicenseError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::UserNotFound,
            StoreError::LicenseNotFound => Self::LicenseNotFound,
            StoreError::NoSeats { kind, seats, assigned } => Self::NoSeats { kind, seats, assigned },
            StoreError::Stale | StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

impl From<StoreError> for UnassignLicenseError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::UserNotFound,
            StoreError::Stale | StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

impl From<StoreError> for ListLicensesError {
    fn from(error: StoreError) -> Self {
        Self::Unexpected(error.into_unexpected())
    }
}

impl From<StoreError> for GetLicenseError {
    fn from(error: StoreError) -> Self {
        Self::Unexpected(error.into_unexpected())
    }
}

impl From<StoreError> for CreateLicenseError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::LicenseNameTaken => Self::NameTaken,
            StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

impl From<StoreError> for UpdateLicenseError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound | StoreError::LicenseNotFound => Self::NotFound,
            StoreError::LicenseNameTaken => Self::NameTaken,
            StoreError::SeatsInUse { assigned } => Self::SeatsInUse { assigned },
            StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

impl From<StoreError> for DeleteLicenseError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound | StoreError::LicenseNotFound => Self::NotFound,
            StoreError::LicenseInUse { assigned } => Self::InUse { assigned },
            StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}
