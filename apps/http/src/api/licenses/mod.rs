//! `/v1/licenses`: license kinds (pools of purchased seats), and `/v1/users/{id}/license`: the
//! seat a user holds. Administrators only.

mod models;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use roster_domain::services::LicenseService;
use uuid::Uuid;

pub use self::models::LicenseBody;
use self::models::{AssignLicenseRequest, CreateLicenseRequest, LicenseList, UpdateLicenseRequest};
use super::ApiTags;
use super::auth::BearerAuth;
use super::models::UserBody;
use super::problem::{Problem, answer, from_request_error, problem_responses};
use super::views::UserViews;

/// The license endpoints.
#[derive(Debug, Clone)]
pub struct LicensesApi {
    pub licenses: LicenseService,
    pub views: UserViews,
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ListLicensesResponse {
    /// Every kind of the tenant, by name.
    #[oai(status = 200)]
    Ok(Json<LicenseList>),
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
problem_responses!(ListLicensesResponse { 401 => Unauthorized, 403 => Forbidden });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum CreateLicenseResponse {
    /// The kind was created, with no seat assigned.
    #[oai(status = 201)]
    Created(Json<LicenseBody>, #[oai(header = "Location")] String),
    /// `invalid_request`: malformed JSON, a wrong type, an unknown field, or seats out of range.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `license_name_taken` or `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_license_name`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(CreateLicenseResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum GetLicenseResponse {
    /// The kind.
    #[oai(status = 200)]
    Ok(Json<LicenseBody>),
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `license_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(GetLicenseResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum UpdateLicenseResponse {
    /// The kind as changed.
    #[oai(status = 200)]
    Ok(Json<LicenseBody>),
    /// `invalid_request`: malformed JSON, a wrong type, an unknown field, or seats out of range.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `license_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `seats_in_use` (with `assigned`), `license_name_taken` or `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_license_name`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(UpdateLicenseResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum DeleteLicenseResponse {
    /// The kind is gone.
    #[oai(status = 204)]
    Deleted,
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `license_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `license_in_use` (with `assigned`) or `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(DeleteLicenseResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum AssignLicenseResponse {
    /// The user, holding a seat of the kind.
    #[oai(status = 200)]
    Ok(Json<UserBody>),
    /// `invalid_request`: malformed JSON, a wrong type or an unknown field.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `no_seats_available` (with `kind`, `seats`, `assigned`), `user_deactivated` or `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `unknown_license`: the tenant has no license kind with this id.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(AssignLicenseResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum UnassignLicenseResponse {
    /// The user, holding no seat (unchanged if they held none).
    #[oai(status = 200)]
    Ok(Json<UserBody>),
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: administrators only.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(UnassignLicenseResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
});

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Licenses")]
impl LicensesApi {
    /// List license kinds
    ///
    /// Every license kind of the tenant with its seats, assigned and available.
    #[oai(path = "/licenses", method = "get", operation_id = "listLicenses")]
    async fn list(&self, auth: BearerAuth) -> ListLicensesResponse {
        match self.licenses.list(&auth.0).await {
            Ok(kinds) => {
                ListLicensesResponse::Ok(Json(LicenseList { items: kinds.into_iter().map(Into::into).collect() }))
            }
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Create a license kind
    ///
    /// A new pool of `seats` purchased seats, none assigned.
    #[oai(path = "/licenses", method = "post", operation_id = "createLicense")]
    async fn create(&self, auth: BearerAuth, body: Json<CreateLicenseRequest>) -> CreateLicenseResponse {
        answer(
            async {
                let (name, seats) = body.0.try_into_domain()?;
                let kind = self.licenses.create(&auth.0, name, seats).await?;
                let location = format!("/v1/licenses/{}", kind.id);
                Ok(CreateLicenseResponse::Created(Json(kind.into()), location))
            }
            .await,
        )
    }

    /// Get a license kind
    #[oai(path = "/licenses/:id", method = "get", operation_id = "getLicense")]
    async fn get(&self, auth: BearerAuth, id: Path<Uuid>) -> GetLicenseResponse {
        match self.licenses.get(&auth.0, id.0.into()).await {
            Ok(kind) => GetLicenseResponse::Ok(Json(kind.into())),
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Rename a license kind or set its seats
    ///
    /// Seats can be bought (raised) at any time, and lowered down to the seats assigned, never
    /// below: `seats_in_use` says how many are assigned.
    #[oai(path = "/licenses/:id", method = "patch", operation_id = "updateLicense")]
    async fn update(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<UpdateLicenseRequest>,
    ) -> UpdateLicenseResponse {
        answer(
            async {
                let kind = self.licenses.update(&auth.0, id.0.into(), body.0.try_into_domain()?).await?;
                Ok(UpdateLicenseResponse::Ok(Json(kind.into())))
            }
            .await,
        )
    }

    /// Delete a license kind
    ///
    /// Only a kind none of whose seats is assigned.
    #[oai(path = "/licenses/:id", method = "delete", operation_id = "deleteLicense")]
    async fn delete(&self, auth: BearerAuth, id: Path<Uuid>) -> DeleteLicenseResponse {
        match self.licenses.delete(&auth.0, id.0.into()).await {
            Ok(()) => DeleteLicenseResponse::Deleted,
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Assign or change a user's license
    ///
    /// Takes a seat of `kind` for the user (invited or active, never deactivated). A user
    /// holding another kind moves in one step: they never hold two seats and never lose theirs
    /// when the new kind is full. Assigning the kind the user holds changes nothing.
    #[oai(path = "/users/:id/license", method = "put", operation_id = "assignUserLicense")]
    async fn assign(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<AssignLicenseRequest>,
    ) -> AssignLicenseResponse {
        answer(
            async {
                let user = self.licenses.assign(&auth.0, id.0.into(), body.0.kind.into()).await?;
                Ok(AssignLicenseResponse::Ok(Json(self.views.one(&auth.0, user).await?)))
            }
            .await,
        )
    }

    /// Unassign a user's license
    ///
    /// The user's seat returns to its pool, free to assign to someone else at no cost.
    #[oai(path = "/users/:id/license", method = "delete", operation_id = "unassignUserLicense")]
    async fn unassign(&self, auth: BearerAuth, id: Path<Uuid>) -> UnassignLicenseResponse {
        answer(
            async {
                let user = self.licenses.unassign(&auth.0, id.0.into()).await?;
                Ok(UnassignLicenseResponse::Ok(Json(self.views.one(&auth.0, user).await?)))
            }
            .await,
        )
    }
}
