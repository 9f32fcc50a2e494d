//! One error enum per user use case: business outcomes first, `Unexpected` last.

use crate::governance::Refusal;
use crate::{Email, StoreError, UnexpectedError, Violation};

/// Creating a user failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The actor may not create a user with that role.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// The tenant already has a user with this email.
    #[error("a user with email {0} already exists")]
    EmailTaken(Email),
    /// The acting user changed meanwhile; nothing was written.
    #[error("your own account changed while this request ran; retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Reading a user failed.
#[derive(Debug, thiserror::Error)]
pub enum GetUserError {
    /// The actor may not see that user.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the actor's tenant.
    #[error("user not found")]
    NotFound,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Listing users failed.
#[derive(Debug, thiserror::Error)]
pub enum ListUsersError {
    /// The actor may not list users.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Editing a profile failed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateProfileError {
    /// The actor may not edit that user.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the actor's tenant.
    #[error("user not found")]
    NotFound,
    /// The user or the actor changed meanwhile; nothing was written.
    #[error("the user changed concurrently; reload and retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Changing a role failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeRoleError {
    /// The actor may not make this change.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the actor's tenant.
    #[error("user not found")]
    NotFound,
    /// The user is the tenant's last active administrator.
    #[error("the last active administrator cannot be demoted")]
    LastAdministrator,
    /// The user or the actor changed meanwhile; nothing was written.
    #[error("the user changed concurrently; reload and retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Deactivating a user failed.
#[derive(Debug, thiserror::Error)]
pub enum DeactivateUserError {
    /// The actor may not deactivate that user.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the actor's tenant.
    #[error("user not found")]
    NotFound,
    /// The user is the tenant's last active administrator.
    #[error("the last active administrator cannot be deactivated")]
    LastAdministrator,
    /// The user or the actor changed meanwhile; nothing was written.
    #[error("the user changed concurrently; reload and retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Reactivating a user failed.
#[derive(Debug, thiserror::Error)]
pub enum ReactivateUserError {
    /// The actor may not reactivate that user.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the actor's tenant.
    #[error("user not found")]
    NotFound,
    /// The user or the actor changed meanwhile; nothing was written.
    #[error("the user changed concurrently; reload and retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Deleting a user for good failed.
#[derive(Debug, thiserror::Error)]
pub enum PurgeUserError {
    /// The actor may not delete that user.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the actor's tenant.
    #[error("user not found")]
    NotFound,
    /// The confirmation is not the user's email.
    #[error("the confirmation must be the user's email address")]
    ConfirmationMismatch,
    /// The user is the tenant's last active administrator.
    #[error("the last active administrator cannot be deleted")]
    LastAdministrator,
    /// The user or the actor changed meanwhile; nothing was written.
    #[error("the user changed concurrently; reload and retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Maps the store errors a governed change can meet onto a use case's variants.
macro_rules! from_store_and_refusal {
    ($error:ident, last_administrator: $last:expr) => {
        impl From<StoreError> for $error {
            fn from(error: StoreError) -> Self {
                match error {
                    StoreError::NotFound => Self::NotFound,
                    StoreError::Stale | StoreError::ActorChanged => Self::Conflict,
                    StoreError::LastAdministrator => $last,
                    other => Self::Unexpected(other.into_unexpected()),
                }
            }
        }
    };
}

macro_rules! from_refusal {
    ($error:ident) => {
        impl From<Refusal> for $error {
            fn from(refusal: Refusal) -> Self {
                match refusal {
                    Refusal::Forbidden(violation) => Self::Forbidden(violation),
                    Refusal::LastAdministrator => Self::LastAdministrator,
                }
            }
        }
    };
}

from_store_and_refusal!(ChangeRoleError, last_administrator: Self::LastAdministrator);
from_store_and_refusal!(DeactivateUserError, last_administrator: Self::LastAdministrator);
from_store_and_refusal!(PurgeUserError, last_administrator: Self::LastAdministrator);
// A profile edit or a reactivation never removes an administrator: the store cannot refuse one
// for that reason, and if it did, it would be a bug worth reporting as unexpected.
from_store_and_refusal!(UpdateProfileError, last_administrator: Self::Unexpected(StoreError::LastAdministrator.into_unexpected()));
from_store_and_refusal!(ReactivateUserError, last_administrator: Self::Unexpected(StoreError::LastAdministrator.into_unexpected()));
from_refusal!(ChangeRoleError);
from_refusal!(DeactivateUserError);
from_refusal!(PurgeUserError);

impl From<StoreError> for GetUserError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

impl From<StoreError> for ListUsersError {
    fn from(error: StoreError) -> Self {
        Self::Unexpected(error.into_unexpected())
    }
}
