//! `/v1/me`: the caller.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use roster_domain::services::UserService;
use roster_domain::services::users::GetUserError;

use super::ApiTags;
use super::auth::BearerAuth;
use super::models::UserBody;
use super::problem::{Problem, from_request_error, problem_responses};
use super::views::UserViews;

/// The caller's own endpoints.
#[derive(Debug, Clone)]
pub struct MeApi {
    pub users: UserService,
    pub views: UserViews,
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum MeResponse {
    /// The calling user.
    #[oai(status = 200)]
    Ok(Json<UserBody>),
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
problem_responses!(MeResponse { 401 => Unauthorized, 403 => Forbidden });

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Me")]
impl MeApi {
    /// Who am I
    ///
    /// The user the bearer token belongs to.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(&self, auth: BearerAuth) -> MeResponse {
        let Some(id) = auth.0.user_id() else { return Problem::unauthenticated().into() };
        match self.users.get(&auth.0, id).await {
            Ok(user) => match self.views.one(&auth.0, user).await {
                Ok(body) => MeResponse::Ok(Json(body)),
                Err(problem) => problem.into(),
            },
            // Purged between authentication and this read: the token no longer stands for anyone.
            Err(GetUserError::NotFound) => Problem::unauthenticated().into(),
            Err(error) => Problem::from(error).into(),
        }
    }
}
