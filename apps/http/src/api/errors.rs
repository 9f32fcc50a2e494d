//! Domain errors as problems: the one place that chooses HTTP statuses and stable codes.
//!
//! | code | status | meaning |
//! |---|---|---|
//! | `invalid_request` | 400 | malformed JSON, wrong type, unknown field, bad parameter |
//! | `unauthenticated` | 401 | missing, unknown, expired or revoked bearer token, or inactive user; for an identity provider's token, `detail` says what failed (but why the provider cannot be reached is only logged) |
//! | `mfa_enrollment_required` | 401 | the session may only enroll an authenticator (`POST /v1/me/mfa/totp`) until confirmed |
//! | `invalid_link` | 401 | the sign-in link is unknown, used, expired or burnt by wrong codes (indistinguishably) |
//! | `mfa_code_required` | 401 | the user has MFA: send the link again with `code` (the link still works) |
//! | `invalid_mfa_code` | 401, 422 | the code is wrong or was used already (sign-in: 401, a few wrong codes burn the link; enrollment: 422) |
//! | `not_provisioned` | 403 | the identity provider vouches for someone who is not a user of the tenant |
//! | `mfa_already_enrolled`, `mfa_not_pending` | 409 | MFA is set up already (an administrator resets it) / no enrollment to confirm |
//! | `forbidden` | 403 | the role lacks the capability |
//! | `forbidden_role_change` | 403 | only administrators grant or remove the administrator role |
//! | `forbidden_administrator_target` | 403 | only administrators act on administrators |
//! | `forbidden_self_role_change` | 403 | nobody changes their own role |
//! | `forbidden_self_deactivation` | 403 | nobody deactivates themselves |
//! | `forbidden_self_deletion` | 403 | nobody deletes themselves |
//! | `missing_scope` | 403 | only a service credential with the named scope may do this |
//! | `no_license` | 403 | the user holds no license seat: no AI access |
//! | `user_inactive` | 403 | the user is invited or deactivated: no AI access |
//! | `budget_exceeded` | 402 | the user's hard budget cannot hold these credits (`limit`, `consumed`, `reserved`) |
//! | `reservation_not_found`, `service_credential_not_found` | 404 | no such record in the caller's tenant |
//! | `no_budget` | 404 | the user has no budget (no limit) |
//! | `idempotency_key_reused` | 409 | the key was used for another request |
//! | `reservation_closed` | 409 | the reservation was released, or committed with other credits |
//! | `reservation_committed` | 409 | a committed reservation cannot be released |
//! | `user_not_found` | 404 | no such user in the caller's tenant |
//! | `session_not_found` | 404 | the caller has no session with this id |
//! | `oidc_not_configured` | 404 | the tenant trusts no OpenID Connect issuer |
//! | `license_not_found` | 404 | no such license kind in the caller's tenant |
//! | `email_taken` | 409 | another user of the tenant has this email |
//! | `license_name_taken` | 409 | another license kind of the tenant has this name |
//! | `issuer_taken` | 409 | another tenant trusts this OpenID Connect issuer with this audience |
//! | `no_seats_available` | 409 | every seat of the kind is assigned (`kind`, `seats`, `assigned`) |
//! | `seats_in_use` | 409 | fewer seats than are assigned (`assigned`) |
//! | `license_in_use` | 409 | a kind with seats assigned cannot be deleted (`assigned`) |
//! | `user_deactivated` | 409 | deactivated users hold no seat; reactivate them first |
//! | `not_invited` | 409 | the user is not invited (active or deactivated): no invitation to resend, copy or revoke |
//! | `invitation_not_found` | 404 | the invitation link is unknown, used, replaced or revoked (indistinguishably) |
//! | `invitation_expired` | 410 | the invitation link expired; ask for a new one |
//! | `too_many_requests` | 429 | too many attempts from this client; `Retry-After` says when to try again |
//! | `last_administrator` | 409 | the tenant's last active administrator is protected |
//! | `concurrent_modification` | 409 | the user or the caller changed meanwhile; retry |
//! | `payload_too_large` | 413 | the body exceeds the documented limit |
//! | `unsupported_media_type` | 415 | the body is not of the operation's content type (`application/json`, `text/csv` for imports) |
//! | `invalid_email`, `invalid_phone`, `invalid_name`, `invalid_referral_code`, `invalid_search`, `invalid_cursor`, `invalid_time`, `confirmation_mismatch`, `invalid_license_name`, `unknown_license`, `invalid_date`, `invalid_span`, `invalid_metrics`, `invalid_batch`, `event_in_future`, `invalid_idempotency_key`, `no_scope`, `invalid_csv`, `invalid_issuer`, `invalid_audience`, `invalid_entra_tenant_id` | 422 | a value is not acceptable |
//! | `internal_error` | 500 | a bug or an outage; logged with the request id |

use poem::http::StatusCode;
use roster_domain::identity::CredentialRejected;
use roster_domain::services::invitations::{
    AcceptInvitationError, InviteError, ReissueInvitationError, RevokeInvitationError,
};
use roster_domain::services::licenses::{
    AssignLicenseError, CreateLicenseError, DeleteLicenseError, GetLicenseError, ListLicensesError,
    UnassignLicenseError, UpdateLicenseError,
};
use roster_domain::services::users::{
    ChangeRoleError, CreateUserError, DeactivateUserError, GetUserError, ListUsersError, PurgeUserError,
    ReactivateUserError, UpdateProfileError,
};
use roster_domain::services::{
    AuthenticateError, BudgetError, CredentialsError, DashboardError, EnrollError, EntitlementsError, ImportError,
    ListAuditError, MeteringError, OidcSettingsError, ServiceCredentialError, SettingsError, VerifyLinkError,
};
use roster_domain::{LicenseKindId, UnexpectedError, UserStatus, Violation};

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
            Violation::MissingScope(_) => "missing_scope",
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

impl From<ImportError> for Problem {
    fn from(error: ImportError) -> Self {
        match error {
            ImportError::Forbidden(v) => v.into(),
            ImportError::LicenseNotFound => license_not_found(),
            ImportError::Conflict => Problem::conflict("concurrent_modification", error.to_string()),
            ImportError::Unexpected(e) => e.into(),
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
        let unauthorized = |code: &str, detail: String| Problem::new(StatusCode::UNAUTHORIZED, code, detail);
        match error {
            AuthenticateError::Unauthenticated => Problem::unauthenticated(),
            // Why an issuer cannot be reached (an address refused, a connection error) is for
            // the server's log, not for whoever presents a token naming it.
            AuthenticateError::Rejected(CredentialRejected::Unavailable(_)) => unauthorized(
                "unauthenticated",
                "the identity provider cannot be reached; the server's log says why".to_owned(),
            ),
            AuthenticateError::Rejected(rejected) => unauthorized("unauthenticated", rejected.to_string()),
            AuthenticateError::EnrollmentRequired => {
                unauthorized("mfa_enrollment_required", AuthenticateError::EnrollmentRequired.to_string())
            }
            AuthenticateError::NotProvisioned => {
                Problem::new(StatusCode::FORBIDDEN, "not_provisioned", AuthenticateError::NotProvisioned.to_string())
            }
            AuthenticateError::UserInactive => {
                Problem::new(StatusCode::FORBIDDEN, "user_inactive", AuthenticateError::UserInactive.to_string())
            }
            AuthenticateError::Unexpected(e) => e.into(),
        }
    }
}

impl From<VerifyLinkError> for Problem {
    fn from(error: VerifyLinkError) -> Self {
        let detail = error.to_string();
        let code = match error {
            VerifyLinkError::InvalidLink => "invalid_link",
            VerifyLinkError::CodeRequired => "mfa_code_required",
            VerifyLinkError::InvalidCode => "invalid_mfa_code",
            VerifyLinkError::Unexpected(e) => return e.into(),
        };
        Problem::new(StatusCode::UNAUTHORIZED, code, detail)
    }
}

impl From<CredentialsError> for Problem {
    fn from(error: CredentialsError) -> Self {
        match error {
            CredentialsError::Forbidden(violation) => violation.into(),
            CredentialsError::NotFound => user_not_found(),
            CredentialsError::NotAPerson => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", CredentialsError::NotAPerson.to_string())
            }
            CredentialsError::Conflict => concurrent_modification(),
            CredentialsError::Unexpected(e) => e.into(),
        }
    }
}

impl From<EnrollError> for Problem {
    fn from(error: EnrollError) -> Self {
        let detail = error.to_string();
        match error {
            EnrollError::AlreadyEnrolled => Problem::conflict("mfa_already_enrolled", detail),
            EnrollError::NotPending => Problem::conflict("mfa_not_pending", detail),
            EnrollError::InvalidCode => Problem::unprocessable("invalid_mfa_code", detail),
            EnrollError::NotAPerson => Problem::new(StatusCode::FORBIDDEN, "forbidden", detail),
            EnrollError::Unexpected(e) => e.into(),
        }
    }
}

impl From<OidcSettingsError> for Problem {
    fn from(error: OidcSettingsError) -> Self {
        match error {
            OidcSettingsError::Forbidden(violation) => violation.into(),
            OidcSettingsError::UnknownTenant(name) => {
                Problem::not_found("tenant_not_found", format!("no tenant {name}"))
            }
            OidcSettingsError::Conflict => concurrent_modification(),
            OidcSettingsError::IssuerTaken => Problem::conflict("issuer_taken", error.to_string()),
            OidcSettingsError::Unexpected(e) => e.into(),
        }
    }
}

fn license_not_found() -> Problem {
    Problem::not_found("license_not_found", "no license kind with this id in your tenant")
}

fn license_name_taken() -> Problem {
    Problem::conflict("license_name_taken", "another license kind of your tenant has this name (in any letter case)")
}

/// 409 `no_seats_available`, with the kind, its seats and the seats assigned.
pub fn no_seats(kind: LicenseKindId, total: u64, assigned: u64) -> Problem {
    let detail =
        format!("every seat of this license kind is assigned ({assigned} of {total}); buy more seats or unassign one");
    Problem {
        kind: Some(kind.into()),
        seats: Some(total),
        assigned: Some(assigned),
        ..Problem::conflict("no_seats_available", detail)
    }
}

/// "1 seat", "2 seats".
fn seats(n: u64) -> String {
    if n == 1 { "1 seat".to_owned() } else { format!("{n} seats") }
}

fn assigned(code: &str, detail: String, assigned: u64) -> Problem {
    Problem { assigned: Some(assigned), ..Problem::conflict(code, detail) }
}

impl From<ListLicensesError> for Problem {
    fn from(error: ListLicensesError) -> Self {
        match error {
            ListLicensesError::Forbidden(v) => v.into(),
            ListLicensesError::Unexpected(e) => e.into(),
        }
    }
}

impl From<GetLicenseError> for Problem {
    fn from(error: GetLicenseError) -> Self {
        match error {
            GetLicenseError::Forbidden(v) => v.into(),
            GetLicenseError::NotFound => license_not_found(),
            GetLicenseError::Unexpected(e) => e.into(),
        }
    }
}

impl From<CreateLicenseError> for Problem {
    fn from(error: CreateLicenseError) -> Self {
        match error {
            CreateLicenseError::Forbidden(v) => v.into(),
            CreateLicenseError::NameTaken => license_name_taken(),
            CreateLicenseError::Conflict => concurrent_modification(),
            CreateLicenseError::Unexpected(e) => e.into(),
        }
    }
}

impl From<UpdateLicenseError> for Problem {
    fn from(error: UpdateLicenseError) -> Self {
        match error {
            UpdateLicenseError::Forbidden(v) => v.into(),
            UpdateLicenseError::NotFound => license_not_found(),
            UpdateLicenseError::NameTaken => license_name_taken(),
            UpdateLicenseError::SeatsInUse { assigned: n } => assigned(
                "seats_in_use",
                format!("this kind has {} assigned: unassign some before lowering its seats below {n}", seats(n)),
                n,
            ),
            UpdateLicenseError::Conflict => concurrent_modification(),
            UpdateLicenseError::Unexpected(e) => e.into(),
        }
    }
}

impl From<DeleteLicenseError> for Problem {
    fn from(error: DeleteLicenseError) -> Self {
        match error {
            DeleteLicenseError::Forbidden(v) => v.into(),
            DeleteLicenseError::NotFound => license_not_found(),
            DeleteLicenseError::InUse { assigned: n } => assigned(
                "license_in_use",
                format!("this kind has {} assigned: unassign them before deleting it", seats(n)),
                n,
            ),
            DeleteLicenseError::Conflict => concurrent_modification(),
            DeleteLicenseError::Unexpected(e) => e.into(),
        }
    }
}

impl From<AssignLicenseError> for Problem {
    fn from(error: AssignLicenseError) -> Self {
        match error {
            AssignLicenseError::Forbidden(v) => v.into(),
            AssignLicenseError::UserNotFound => user_not_found(),
            AssignLicenseError::LicenseNotFound => {
                Problem::unprocessable("unknown_license", "no license kind with this id in your tenant")
            }
            AssignLicenseError::UserDeactivated => {
                Problem::conflict("user_deactivated", "deactivated users hold no seat; reactivate the user first")
            }
            AssignLicenseError::NoSeats { kind, seats, assigned } => no_seats(kind, seats, assigned),
            AssignLicenseError::Conflict => concurrent_modification(),
            AssignLicenseError::Unexpected(e) => e.into(),
        }
    }
}

impl From<UnassignLicenseError> for Problem {
    fn from(error: UnassignLicenseError) -> Self {
        match error {
            UnassignLicenseError::Forbidden(v) => v.into(),
            UnassignLicenseError::UserNotFound => user_not_found(),
            UnassignLicenseError::Conflict => concurrent_modification(),
            UnassignLicenseError::Unexpected(e) => e.into(),
        }
    }
}

impl From<EntitlementsError> for Problem {
    fn from(error: EntitlementsError) -> Self {
        match error {
            EntitlementsError::Forbidden(v) => v.into(),
            EntitlementsError::NotFound => user_not_found(),
            EntitlementsError::Unexpected(e) => e.into(),
        }
    }
}

impl From<DashboardError> for Problem {
    fn from(error: DashboardError) -> Self {
        match error {
            DashboardError::Forbidden(v) => v.into(),
            DashboardError::Unexpected(e) => e.into(),
        }
    }
}

fn not_invited(status: UserStatus, instead: &str) -> Problem {
    Problem::conflict("not_invited", format!("the user is {status}, not invited: {instead}"))
}

impl From<InviteError> for Problem {
    fn from(error: InviteError) -> Self {
        match error {
            InviteError::Forbidden(v) => v.into(),
            InviteError::EmailTaken(email) => {
                Problem::conflict("email_taken", format!("a user with email {email} already exists in this tenant"))
            }
            InviteError::LicenseNotFound => {
                Problem::unprocessable("unknown_license", "no license kind with this id in your tenant")
            }
            InviteError::NoSeats { kind, seats, assigned } => no_seats(kind, seats, assigned),
            InviteError::Conflict => concurrent_modification(),
            InviteError::Unexpected(e) => e.into(),
        }
    }
}

impl From<ReissueInvitationError> for Problem {
    fn from(error: ReissueInvitationError) -> Self {
        match error {
            ReissueInvitationError::Forbidden(v) => v.into(),
            ReissueInvitationError::NotFound => user_not_found(),
            ReissueInvitationError::NotInvited(status) => not_invited(status, "there is no invitation to send"),
            ReissueInvitationError::Conflict => concurrent_modification(),
            ReissueInvitationError::Unexpected(e) => e.into(),
        }
    }
}

impl From<RevokeInvitationError> for Problem {
    fn from(error: RevokeInvitationError) -> Self {
        match error {
            RevokeInvitationError::Forbidden(v) => v.into(),
            RevokeInvitationError::NotFound => user_not_found(),
            RevokeInvitationError::NotInvited(status) => not_invited(
                status,
                match status {
                    UserStatus::Deactivated => "they cannot sign in already; delete them for good to remove them",
                    _ => "deactivate them instead",
                },
            ),
            RevokeInvitationError::Conflict => concurrent_modification(),
            RevokeInvitationError::Unexpected(e) => e.into(),
        }
    }
}

impl From<AcceptInvitationError> for Problem {
    fn from(error: AcceptInvitationError) -> Self {
        match error {
            AcceptInvitationError::NotFound => Problem::not_found(
                "invitation_not_found",
                "this invitation link is unknown, already used, replaced by a newer one, or revoked",
            ),
            AcceptInvitationError::Expired => Problem::new(
                poem::http::StatusCode::GONE,
                "invitation_expired",
                "this invitation link expired; ask an administrator to invite you again",
            ),
            AcceptInvitationError::Unexpected(e) => e.into(),
        }
    }
}

impl From<SettingsError> for Problem {
    fn from(error: SettingsError) -> Self {
        match error {
            SettingsError::Forbidden(v) => v.into(),
            SettingsError::Conflict => concurrent_modification(),
            SettingsError::Unexpected(e) => e.into(),
        }
    }
}

impl From<BudgetError> for Problem {
    fn from(error: BudgetError) -> Self {
        match error {
            BudgetError::Forbidden(v) => v.into(),
            BudgetError::NotFound => user_not_found(),
            BudgetError::InvalidSpan => Problem::unprocessable("invalid_span", error.to_string()),
            BudgetError::Conflict => concurrent_modification(),
            BudgetError::Unexpected(e) => e.into(),
        }
    }
}

impl From<MeteringError> for Problem {
    fn from(error: MeteringError) -> Self {
        match error {
            MeteringError::Forbidden(v) => v.into(),
            MeteringError::InvalidBatch => Problem::unprocessable("invalid_batch", error.to_string()),
            MeteringError::FutureEvent(_) => Problem::unprocessable("event_in_future", error.to_string()),
            MeteringError::Unexpected(e) => e.into(),
        }
    }
}

impl From<ServiceCredentialError> for Problem {
    fn from(error: ServiceCredentialError) -> Self {
        match error {
            ServiceCredentialError::Forbidden(v) => v.into(),
            ServiceCredentialError::NotFound => {
                Problem::not_found("service_credential_not_found", "no service credential with this id in your tenant")
            }
            ServiceCredentialError::NoScope => Problem::unprocessable("no_scope", error.to_string()),
            ServiceCredentialError::Conflict => concurrent_modification(),
            ServiceCredentialError::Unexpected(e) => e.into(),
        }
    }
}
