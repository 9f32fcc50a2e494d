//! `/v1/settings`: the caller's tenant's settings. Administrators only.

use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use roster_domain::invitation::{InvitationTtl, TenantSettings};

use super::budgets::models::{BudgetPolicyBody, BudgetPolicyRequest};
use roster_domain::services::{SettingsChange, TenantService};

use super::ApiTags;
use super::auth::BearerAuth;
use super::problem::{Problem, answer, from_request_error, problem_responses};

/// The settings endpoints.
#[derive(Debug, Clone)]
pub struct SettingsApi {
    pub tenants: TenantService,
}

/// A tenant's settings.
#[derive(Object, Debug)]
#[oai(rename = "Settings")]
#[oai(skip_serializing_if_is_none)]
pub struct SettingsBody {
    /// How long invitation links work, in seconds: 3,600 (1 hour) to 2,592,000 (30 days).
    pub invitation_ttl_seconds: u32,
    /// The budget every new user gets; absent: new users have none (no limit).
    pub default_budget: Option<BudgetPolicyBody>,
}

impl From<TenantSettings> for SettingsBody {
    fn from(settings: TenantSettings) -> Self {
        Self {
            invitation_ttl_seconds: settings.invitation_ttl.seconds(),
            default_budget: settings.default_budget.map(Into::into),
        }
    }
}

/// Changes to the settings: an omitted field stays as it is; `default_budget: null` removes the
/// default budget.
#[derive(Object, Debug)]
#[oai(rename = "UpdateSettings", deny_unknown_fields)]
pub struct UpdateSettingsRequest {
    /// How long invitation links work, in seconds: 3,600 (1 hour) to 2,592,000 (30 days). Links
    /// already sent keep the expiry they were sent with.
    #[oai(validator(minimum(value = "3600"), maximum(value = "2592000")))]
    pub invitation_ttl_seconds: Option<u32>,
    /// The budget every new user gets (created, invited, imported); `null` removes it. Users
    /// that exist keep theirs.
    pub default_budget: MaybeUndefined<BudgetPolicyRequest>,
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum GetSettingsResponse {
    /// The settings.
    #[oai(status = 200)]
    Ok(Json<SettingsBody>),
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
problem_responses!(GetSettingsResponse { 401 => Unauthorized, 403 => Forbidden });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum UpdateSettingsResponse {
    /// The settings as changed.
    #[oai(status = 200)]
    Ok(Json<SettingsBody>),
    /// `invalid_request`: malformed JSON, a wrong type, an unknown field or a value out of range.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(UpdateSettingsResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType,
});

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Settings")]
impl SettingsApi {
    /// Get the tenant's settings
    #[oai(path = "/settings", method = "get", operation_id = "getSettings")]
    async fn get(&self, auth: BearerAuth) -> GetSettingsResponse {
        match self.tenants.settings(&auth.0).await {
            Ok(settings) => GetSettingsResponse::Ok(Json(settings.into())),
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Change the tenant's settings
    #[oai(path = "/settings", method = "patch", operation_id = "updateSettings")]
    async fn update(&self, auth: BearerAuth, body: Json<UpdateSettingsRequest>) -> UpdateSettingsResponse {
        answer(
            async {
                // Who may change settings is told before what is wrong with the change.
                self.tenants.settings(&auth.0).await?;
                let default_budget = match body.0.default_budget {
                    MaybeUndefined::Undefined => None,
                    MaybeUndefined::Null => Some(None),
                    MaybeUndefined::Value(policy) => Some(Some(policy.try_into_domain()?)),
                };
                let invitation_ttl = body
                    .0
                    .invitation_ttl_seconds
                    .map(|seconds| InvitationTtl::from_seconds(seconds.into()))
                    .transpose()
                    .map_err(|e| Problem::bad_request(e.to_string()))?;
                let change = SettingsChange { invitation_ttl, default_budget };
                Ok(UpdateSettingsResponse::Ok(Json(self.tenants.update_settings(&auth.0, change).await?.into())))
            }
            .await,
        )
    }
}
