//! `/v1/audit`: the tenant's audit trail.

use chrono::{DateTime, Utc};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use roster_domain::audit::AuditCursor;
use roster_domain::services::AuditService;
use roster_domain::{AuditAction, AuditActor, AuditEvent, AuditQuery, PageLimit};
use uuid::Uuid;

use super::ApiTags;
use super::auth::BearerAuth;
use super::problem::{Problem, from_request_error, problem_responses};

/// The audit endpoints.
#[derive(Debug, Clone)]
pub struct AuditApi {
    pub audit: AuditService,
}

/// What happened.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "AuditAction")]
pub enum ActionDto {
    #[oai(rename = "tenant.created")]
    TenantCreated,
    #[oai(rename = "user.created")]
    UserCreated,
    #[oai(rename = "user.updated")]
    UserUpdated,
    #[oai(rename = "user.role_changed")]
    UserRoleChanged,
    #[oai(rename = "user.deactivated")]
    UserDeactivated,
    #[oai(rename = "user.reactivated")]
    UserReactivated,
    #[oai(rename = "user.purged")]
    UserPurged,
    #[oai(rename = "token.created")]
    TokenCreated,
    #[oai(rename = "user.license_changed")]
    UserLicenseChanged,
    #[oai(rename = "license.created")]
    LicenseCreated,
    #[oai(rename = "license.updated")]
    LicenseUpdated,
    #[oai(rename = "license.deleted")]
    LicenseDeleted,
    #[oai(rename = "user.invited")]
    UserInvited,
    #[oai(rename = "invitation.reissued")]
    InvitationReissued,
    #[oai(rename = "invitation.revoked")]
    InvitationRevoked,
    #[oai(rename = "invitation.accepted")]
    InvitationAccepted,
    #[oai(rename = "tenant.settings_changed")]
    TenantSettingsChanged,
    #[oai(rename = "user.budget_changed")]
    UserBudgetChanged,
    #[oai(rename = "service_credential.created")]
    ServiceCredentialCreated,
    #[oai(rename = "service_credential.revoked")]
    ServiceCredentialRevoked,
    #[oai(rename = "user.signed_in")]
    UserSignedIn,
    #[oai(rename = "user.mfa_enrolled")]
    MfaEnrolled,
    #[oai(rename = "user.mfa_reset")]
    MfaReset,
    #[oai(rename = "user.sessions_revoked")]
    SessionsRevoked,
    #[oai(rename = "tenant.oidc_changed")]
    TenantOidcChanged,
    #[oai(rename = "user.signed_out")]
    UserSignedOut,
    #[oai(rename = "user.identity_linked")]
    IdentityLinked,
}

/// Both directions, so that a new domain action fails to compile until it is listed here.
macro_rules! actions {
    ($($variant:ident),+ $(,)?) => {
        impl From<ActionDto> for AuditAction {
            fn from(action: ActionDto) -> Self {
                match action { $(ActionDto::$variant => AuditAction::$variant,)+ }
            }
        }

        impl From<AuditAction> for ActionDto {
            fn from(action: AuditAction) -> Self {
                match action { $(AuditAction::$variant => ActionDto::$variant,)+ }
            }
        }
    };
}

actions!(
    TenantCreated,
    UserCreated,
    UserUpdated,
    UserRoleChanged,
    UserDeactivated,
    UserReactivated,
    UserPurged,
    TokenCreated,
    UserLicenseChanged,
    LicenseCreated,
    LicenseUpdated,
    LicenseDeleted,
    UserInvited,
    InvitationReissued,
    InvitationRevoked,
    InvitationAccepted,
    TenantSettingsChanged,
    UserBudgetChanged,
    ServiceCredentialCreated,
    ServiceCredentialRevoked,
    UserSignedIn,
    MfaEnrolled,
    MfaReset,
    SessionsRevoked,
    TenantOidcChanged,
    UserSignedOut,
    IdentityLinked,
);

/// Who acted.
#[derive(Object, Debug)]
#[oai(rename = "AuditActor", skip_serializing_if_is_none)]
pub struct ActorBody {
    /// `user`, or `system` for the operator (CLI, first start).
    #[oai(rename = "type")]
    pub kind: String,
    /// The acting user's id.
    pub id: Option<Uuid>,
    /// The acting user's email at the time; removed if the user was purged.
    pub label: Option<String>,
}

/// What was acted on.
#[derive(Object, Debug)]
#[oai(rename = "AuditTarget", skip_serializing_if_is_none)]
pub struct TargetBody {
    /// `tenant`, `user`, `token`, `license` or `service` (a service credential).
    pub kind: String,
    /// Its id.
    pub id: Uuid,
    /// Its name at the time (e.g. the email); removed if the user was purged.
    pub label: Option<String>,
}

/// One recorded change.
#[derive(Object, Debug)]
#[oai(rename = "AuditEvent", skip_serializing_if_is_none)]
pub struct AuditEventBody {
    /// Id.
    pub id: Uuid,
    /// What happened, e.g. `user.role_changed`.
    pub action: String,
    /// Who acted.
    pub actor: ActorBody,
    /// What it happened to.
    pub target: TargetBody,
    /// The changed fields before.
    pub before: Option<serde_json::Value>,
    /// The changed fields after.
    pub after: Option<serde_json::Value>,
    /// When.
    pub occurred_at: DateTime<Utc>,
}

impl From<AuditEvent> for AuditEventBody {
    fn from(event: AuditEvent) -> Self {
        let actor = match event.actor {
            AuditActor::User { id, label } => ActorBody { kind: "user".into(), id: Some(id.into()), label },
            AuditActor::System => ActorBody { kind: "system".into(), id: None, label: None },
        };
        Self {
            id: event.id.into(),
            action: event.action.as_str().to_owned(),
            actor,
            target: TargetBody {
                kind: event.target.kind.as_str().to_owned(),
                id: event.target.id,
                label: event.target.label,
            },
            before: event.before,
            after: event.after,
            occurred_at: event.occurred_at,
        }
    }
}

/// One page of audit events, newest first.
#[derive(Object, Debug)]
#[oai(rename = "AuditPage", skip_serializing_if_is_none)]
pub struct AuditPage {
    /// The events.
    pub items: Vec<AuditEventBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ListAuditResponse {
    /// One page of events.
    #[oai(status = 200)]
    Ok(Json<AuditPage>),
    /// `invalid_request`: a parameter is malformed.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `invalid_cursor` or `invalid_time`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(ListAuditResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 422 => Unprocessable });

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Audit")]
impl AuditApi {
    /// List audit events
    ///
    /// Every change in the caller's tenant, newest first, matching every given filter.
    /// Administrators only.
    #[oai(path = "/audit", method = "get", operation_id = "listAuditEvents")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Done by this user.
        actor: Query<Option<Uuid>>,
        /// Done to this record (the id of a user, tenant, token, license kind or service
        /// credential).
        target: Query<Option<Uuid>>,
        /// This action.
        action: Query<Option<ActionDto>>,
        /// At or after this instant (RFC 3339).
        from: Query<Option<DateTime<Utc>>>,
        /// Before this instant (RFC 3339, exclusive).
        to: Query<Option<DateTime<Utc>>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
        /// Page size, 1 to 200; 50 by default.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u16>>,
    ) -> ListAuditResponse {
        if let Err(problem) = Problem::check_times([&from.0, &to.0]) {
            return problem.into();
        }
        let after = match cursor.0.as_deref().map(AuditCursor::decode).transpose() {
            Ok(after) => after,
            Err(error) => return Problem::unprocessable("invalid_cursor", error.to_string()).into(),
        };
        let limit = match PageLimit::new(limit.0.map_or(u64::from(PageLimit::DEFAULT), u64::from)) {
            Ok(limit) => limit,
            Err(error) => return Problem::bad_request(error.to_string()).into(),
        };
        let query = AuditQuery {
            actor: actor.0.map(Into::into),
            target: target.0,
            action: action.0.map(Into::into),
            from: from.0,
            to: to.0,
            after,
            limit,
        };
        match self.audit.list(&auth.0, &query).await {
            Ok(page) => ListAuditResponse::Ok(Json(AuditPage {
                items: page.items.into_iter().map(Into::into).collect(),
                next_cursor: page.next.map(|cursor| cursor.encode()),
            })),
            Err(error) => Problem::from(error).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ToJSON as _;

    use super::*;

    #[test]
    fn every_domain_action_is_filterable_under_its_stable_name() {
        for &action in AuditAction::ALL {
            let dto = ActionDto::from(action);
            assert_eq!(dto.to_json(), Some(serde_json::Value::String(action.as_str().to_owned())), "{action:?}");
            assert_eq!(AuditAction::from(dto), action);
        }
    }
}
