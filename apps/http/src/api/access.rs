//! The access gate (`/v1/users/{id}/entitlements`, `/v1/me/entitlements`), which the platform
//! asks before every AI request, and the dashboard (`/v1/metrics`).

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use roster_domain::services::{AccessService, Dashboard, Entitlements, EntitlementsError};
use uuid::Uuid;

use super::ApiTags;
use super::auth::BearerAuth;
use super::budgets::models::BudgetBody;
use super::licenses::LicenseBody;
use super::models::{LicenseRef, RoleDto};
use super::problem::{Problem, from_request_error, problem_responses};

/// The access gate and the dashboard.
#[derive(Debug, Clone)]
pub struct AccessApi {
    pub access: AccessService,
}

/// What a user may do right now.
#[derive(Object, Debug)]
#[oai(rename = "Entitlements", skip_serializing_if_is_none)]
pub struct EntitlementsBody {
    /// The user.
    pub user: Uuid,
    /// The user's status is active: they may sign in.
    pub active: bool,
    /// The user holds a license seat.
    pub licensed: bool,
    /// The user may use AI features: `active` and `licensed`. Administration needs no license.
    pub ai_access: bool,
    /// The license held; absent when unlicensed.
    pub license: Option<LicenseRef>,
    /// The user's role.
    pub role: RoleDto,
    /// The user's budget as of now; absent when they have none (no limit).
    pub budget: Option<BudgetBody>,
    /// What the role lets the user do (`view_users`, `manage_users`, `manage_administrators`,
    /// `purge_users`, `view_audit`, `manage_licenses`, `manage_budgets`, `manage_billing`,
    /// `view_dashboard`, `manage_settings`, `manage_agents`, `manage_workspaces`,
    /// `manage_groups`, `manage_connectors`).
    pub capabilities: Vec<String>,
}

impl From<Entitlements> for EntitlementsBody {
    fn from(entitlements: Entitlements) -> Self {
        Self {
            user: entitlements.user.into(),
            active: entitlements.active,
            licensed: entitlements.licensed(),
            ai_access: entitlements.ai_access(),
            capabilities: entitlements.capabilities().iter().map(|c| c.as_str().to_owned()).collect(),
            role: entitlements.role.into(),
            license: entitlements.license.map(|held| LicenseRef { id: held.kind.into(), name: held.name.to_string() }),
            budget: entitlements.budget.map(Into::into),
        }
    }
}

/// The tenant's numbers, from counters kept with every change (constant cost, whatever the
/// tenant's size).
#[derive(Object, Debug)]
#[oai(rename = "Metrics")]
pub struct MetricsBody {
    /// Every user, deactivated ones included.
    pub total_users: u64,
    /// Users holding a seat (invited or active).
    pub licensed: u64,
    /// Invited or active users holding no seat (no AI access).
    pub unlicensed: u64,
    /// Administrators who are invited or active.
    pub administrators: u64,
    /// Users whose status is active: they accepted their invitation or were created active.
    pub active: u64,
    /// Invited users whose link still works.
    pub pending_invitations: u64,
    /// Invited users whose link expired (or who have none): reinvite them.
    pub expired_invitations: u64,
    /// Deactivated users.
    pub deactivated: u64,
    /// Every license kind with its seats, assigned and available: the distribution of licenses.
    pub licenses: Vec<LicenseBody>,
    /// Budgets as a whole.
    pub budgets: BudgetTotalsBody,
}

/// A tenant's budgets as a whole.
#[derive(Object, Debug)]
#[oai(rename = "BudgetTotals")]
pub struct BudgetTotalsBody {
    /// Users with a budget.
    pub users: u64,
    /// The sum of their limits, in credits.
    pub limit: i64,
    /// Credits consumed by the tenant's users today (UTC).
    pub consumed_today: i64,
    /// Credits consumed by the tenant's users this calendar month (UTC).
    pub consumed_this_month: i64,
}

impl From<Dashboard> for MetricsBody {
    fn from(dashboard: Dashboard) -> Self {
        Self {
            total_users: dashboard.total,
            licensed: dashboard.licensed,
            unlicensed: dashboard.unlicensed,
            administrators: dashboard.administrators,
            active: dashboard.active,
            pending_invitations: dashboard.pending_invitations,
            expired_invitations: dashboard.expired_invitations,
            deactivated: dashboard.deactivated,
            licenses: dashboard.licenses.into_iter().map(Into::into).collect(),
            budgets: BudgetTotalsBody {
                users: dashboard.budgets.users,
                limit: dashboard.budgets.limit,
                consumed_today: dashboard.budgets.consumed_today,
                consumed_this_month: dashboard.budgets.consumed_this_month,
            },
        }
    }
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum EntitlementsResponse {
    /// What the user may do right now.
    #[oai(status = 200)]
    Ok(Json<EntitlementsBody>),
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: reading another user's entitlements needs `view_users`; `missing_scope`: a
    /// service credential needs `entitlements:read`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(EntitlementsResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum MyEntitlementsResponse {
    /// What the caller may do right now.
    #[oai(status = 200)]
    Ok(Json<EntitlementsBody>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `not_provisioned` or `user_inactive`: a token of the tenant's identity provider for
    /// someone who is not an active user of the tenant.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(MyEntitlementsResponse { 401 => Unauthorized, 403 => Forbidden });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum MetricsResponse {
    /// The tenant's numbers.
    #[oai(status = 200)]
    Ok(Json<MetricsBody>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(MetricsResponse { 401 => Unauthorized, 403 => Forbidden });

#[OpenApi(prefix_path = "/v1")]
impl AccessApi {
    /// A user's entitlements
    ///
    /// Whether the user may use AI features right now (active and licensed), with their
    /// license, role, capabilities and budget, in one read: the platform's hot path. Everyone
    /// reads their own; reading others needs `view_users`, or a service credential with
    /// `entitlements:read`.
    #[oai(
        path = "/users/:id/entitlements",
        method = "get",
        operation_id = "getUserEntitlements",
        tag = "ApiTags::Users"
    )]
    async fn user_entitlements(&self, auth: BearerAuth, id: Path<Uuid>) -> EntitlementsResponse {
        match self.access.entitlements(&auth.0, id.0.into()).await {
            Ok(entitlements) => EntitlementsResponse::Ok(Json(entitlements.into())),
            Err(error) => Problem::from(error).into(),
        }
    }

    /// My entitlements
    ///
    /// The caller's own entitlements (see `getUserEntitlements`).
    #[oai(path = "/me/entitlements", method = "get", operation_id = "getMyEntitlements", tag = "ApiTags::Me")]
    async fn my_entitlements(&self, auth: BearerAuth) -> MyEntitlementsResponse {
        let Some(id) = auth.0.user_id() else { return Problem::unauthenticated().into() };
        match self.access.entitlements(&auth.0, id).await {
            Ok(entitlements) => MyEntitlementsResponse::Ok(Json(entitlements.into())),
            // Purged between authentication and this read: the token no longer stands for anyone.
            Err(EntitlementsError::NotFound) => Problem::unauthenticated().into(),
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Dashboard metrics
    ///
    /// Total, licensed, unlicensed, administrators, active users, pending and expired
    /// invitations, deactivated users, and every license kind's seats, assigned and available. Read from
    /// counters kept with every change: constant cost at any tenant size. Administrators only.
    #[oai(path = "/metrics", method = "get", operation_id = "getMetrics", tag = "ApiTags::Dashboard")]
    async fn metrics(&self, auth: BearerAuth) -> MetricsResponse {
        match self.access.dashboard(&auth.0).await {
            Ok(dashboard) => MetricsResponse::Ok(Json(dashboard.into())),
            Err(error) => Problem::from(error).into(),
        }
    }
}
