//! Domain errors as problems: the one place that chooses HTTP statuses and stable codes.
//!
//! | code | status | meaning |
//! |---|---|---|
//! | `invalid_request` | 400 | malformed JSON, wrong type, unknown field, bad parameter |
//! | `unauthenticated` | 401 | missing, unknown or revoked bearer token, or inactive user |
//! | `forbidden` | 403 | the role lacks the capability |
//! | `forbidden_role_change` | 403 | only administrators grant or remove the administrator role |
//! | `forbidden_administrator_target` | 403 | only administrators act on administrators |
//! | `forbidden_self_role_change` | 403 | nobody changes their own role |
//! | `forbidden_self_deactivation` | 403 | nobody deactivates themselves |
//! | `forbidden_self_deletion` | 403 | nobody deletes themselves |
//! | `user_not_found` | 404 | no such user in the caller's tenant |
//! | `email_taken` | 409 | another user of the tenant has this email |
//! | `last_administrator` | 409 | the tenant's last active administrator is protected |
//! | `concurrent_modification` | 409 | the user or the caller changed meanwhile; retry |
//! | `payload_too_large` | 413 | the body exceeds the documented limit |
//! | `unsupported_media_type` | 415 | the body is not `application/json` |
//! | `invalid_email`, `invalid_phone`, `invalid_name`, `invalid_referral_code`, `invalid_search`, `invalid_cursor`, `invalid_time`, `confirmation_mismatch` | 422 | a value is not acceptable |
//! | `internal_error` | 500 | a bug or an outage; logged with the request id |

use poem::http::StatusCode;
use roster_domain::services::users::{
    ChangeRoleError, CreateUserError, DeactivateUserError, GetUserError, ListUsersError, PurgeUserError,
    ReactivateUserError, UpdateProfileError,
};
use roster_domain::services::{AuthenticateError, ListAuditError};
use roster_domain::{UnexpectedError, Violation};

use super::problem::Problem;

impl From<Violation> for Problem {
    fn from(violation: Violation) -> Self {
        let code = match violation {
            Violation::MissingCapability(_) => "forbidden",
            Violation::AdministratorRoleReserved => "forbidden_role_change",
            Violation::AdministratorTarget => "forbidden_administrator_target",
            Violation::SelfRoleChange => "forbidden_self_role_change",
            Violation::SelfDeactivation => "forbidden_self_deactivation",
            Violation::SelfDeletion => "forbidden_self_deletion",
        };
        Problem::new(StatusCode::FORBIDDEN, code, violation.to_string())
    }
}

impl From<UnexpectedError> for Problem {
    fn from(error: UnexpectedError) -> Self {
        Problem::internal(&error)
    }
}

fn user_not_found() -> Problem {
    Problem::not_found("user_not_found", "no user with this id in your tenant")
}

fn last_administrator(what: &str) -> Problem {
    Problem::conflict(
        "last_administrator",
        format!(
            "this is the tenant's last active administrator and cannot be {what}; make another user an administrator first"
        ),
    )
}

fn concurrent_modification() -> Problem {
    Problem::conflict(
        "concurrent_modification",
        "the user or your own account changed while this request ran; reload and retry",
    )
}

impl From<CreateUserError> for Problem {
    fn from(error: CreateUserError) -> Self {
        match error {
            CreateUserError::Forbidden(v) => v.into(),
            CreateUserError::EmailTaken(email) => {
                Problem::conflict("email_taken", format!("a user with email {email} already exists in this tenant"))
            }
            CreateUserError::Conflict => concurrent_modification(),
            CreateUserError::Unexpected(e) => e.into(),
        }
    }
}

impl From<GetUserError> for Problem {
    fn from(error: GetUserError) -> Self {
        match error {
            GetUserError::Forbidden(v) => v.into(),
            GetUserError::NotFound => user_not_found(),
            GetUserError::Unexpected(e) => e.into(),
        }
    }
}

impl From<ListUsersError> for Problem {
    fn from(error: ListUsersError) -> Self {
        match error {
            ListUsersError::Forbidden(v) => v.into(),
            ListUsersError::Unexpected(e) => e.into(),
        }
    }
}

impl From<UpdateProfileError> for Problem {
    fn from(error: UpdateProfileError) -> Self {
        match error {
            UpdateProfileError::Forbidden(v) => v.into(),
            UpdateProfileError::NotFound => user_not_found(),
            UpdateProfileError::Conflict => concurrent_modification(),
            UpdateProfileError::Unexpected(e) => e.into(),
        }
    }
}

impl From<ChangeRoleError> for Problem {
    fn from(error: ChangeRoleError) -> Self {
        match error {
            ChangeRoleError::Forbidden(v) => v.into(),
            ChangeRoleError::NotFound => user_not_found(),
            ChangeRoleError::LastAdministrator => last_administrator("demoted"),
            ChangeRoleError::Conflict => concurrent_modification(),
            ChangeRoleError::Unexpected(e) => e.into(),
        }
    }
}

impl From<DeactivateUserError> for Problem {
    fn from(error: DeactivateUserError) -> Self {
        match error {
            DeactivateUserError::Forbidden(v) => v.into(),
            DeactivateUserError::NotFound => user_not_found(),
            DeactivateUserError::LastAdministrator => last_administrator("deactivated"),
            DeactivateUserError::Conflict => concurrent_modification(),
            DeactivateUserError::Unexpected(e) => e.into(),
        }
    }
}

impl From<ReactivateUserError> for Problem {
    fn from(error: ReactivateUserError) -> Self {
        match error {
            ReactivateUserError::Forbidden(v) => v.into(),
            ReactivateUserError::NotFound => user_not_found(),
            ReactivateUserError::Conflict => concurrent_modification(),
            ReactivateUserError::Unexpected(e) => e.into(),
        }
    }
}

impl From<PurgeUserError> for Problem {
    fn from(error: PurgeUserError) -> Self {
        match error {
            PurgeUserError::Forbidden(v) => v.into(),
            PurgeUserError::NotFound => user_not_found(),
            PurgeUserError::ConfirmationMismatch => Problem::unprocessable(
                "confirmation_mismatch",
                "to delete a user for good, pass their email address as ?confirm=",
            ),
            PurgeUserError::LastAdministrator => last_administrator("deleted"),
            PurgeUserError::Conflict => concurrent_modification(),
            PurgeUserError::Unexpected(e) => e.into(),
        }
    }
}

impl From<ListAuditError> for Problem {
    fn from(error: ListAuditError) -> Self {
        match error {
            ListAuditError::Forbidden(v) => v.into(),
            ListAuditError::Unexpected(e) => e.into(),
        }
    }
}

impl From<AuthenticateError> for Problem {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::Unauthenticated => Problem::unauthenticated(),
            AuthenticateError::Unexpected(e) => e.into(),
        }
    }
}
