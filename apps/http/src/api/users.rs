//! `/v1/users`: list, create, read, edit, change role, deactivate, reactivate, purge.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, OpenApi};
use roster_domain::services::UserService;
use roster_domain::user::{InvitationFilter, SortDirection};
use roster_domain::{PageLimit, SearchText, Total, UserCursor, UserFilter, UserQuery, UserSort, UserSortField};
use uuid::Uuid;

use super::ApiTags;
use super::auth::BearerAuth;
use super::models::{
    ChangeRoleRequest, CreateUserRequest, InvitationStateDto, RoleDto, StatusDto, UpdateUserRequest, UserBody,
    UserPage, parse_referral_code,
};
use super::problem::{Problem, answer, from_request_error, problem_responses};
use super::views::UserViews;

/// The user endpoints.
#[derive(Debug, Clone)]
pub struct UsersApi {
    pub users: UserService,
    pub views: UserViews,
}

/// The column the list is ordered by.
#[derive(Enum, Debug, Clone, Copy, Default)]
#[oai(rename = "UserSortField", rename_all = "snake_case")]
pub enum SortFieldParam {
    /// Creation time (ties broken by id).
    #[default]
    CreatedAt,
    /// Email address.
    Email,
}

/// Ascending or descending.
#[derive(Enum, Debug, Clone, Copy, Default)]
#[oai(rename = "SortOrder", rename_all = "lowercase")]
pub enum OrderParam {
    /// Smallest first.
    Asc,
    /// Largest first (newest first for `created_at`).
    #[default]
    Desc,
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ListUsersResponse {
    /// One page of users.
    #[oai(status = 200)]
    Ok(Json<UserPage>),
    /// `invalid_request`: a parameter is malformed.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: users without the `view_users` capability cannot list users.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `invalid_search`, `invalid_cursor`, `invalid_time` or `invalid_referral_code`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(ListUsersResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 422 => Unprocessable });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum CreateUserResponse {
    /// The user was created, active.
    #[oai(status = 201)]
    Created(Json<UserBody>, #[oai(header = "Location")] String),
    /// `invalid_request`: malformed JSON, a wrong type or an unknown field.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden` (role lacks `manage_users`) or `forbidden_role_change` (only administrators create administrators).
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `email_taken`: the tenant has a user with this email, in any letter case.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_email`, `invalid_name`, `invalid_phone` or `invalid_referral_code`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(CreateUserResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum GetUserResponse {
    /// The user.
    #[oai(status = 200)]
    Ok(Json<UserBody>),
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: users see only themselves.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(GetUserResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum UpdateUserResponse {
    /// The user as changed.
    #[oai(status = 200)]
    Ok(Json<UserBody>),
    /// `invalid_request`: malformed JSON, a wrong type or an unknown field (the email cannot change).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden` (users edit only themselves) or `forbidden_administrator_target`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_name`, `invalid_phone` or `invalid_referral_code`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(UpdateUserResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ChangeRoleResponse {
    /// The user with the new role.
    #[oai(status = 200)]
    Ok(Json<UserBody>),
    /// `invalid_request`.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`, `forbidden_role_change` (only administrators grant or remove the administrator role) or `forbidden_self_role_change`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `last_administrator` or `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(ChangeRoleResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum StatusChangeResponse {
    /// The user in their new status (unchanged if already there).
    #[oai(status = 200)]
    Ok(Json<UserBody>),
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`, `forbidden_administrator_target` or `forbidden_self_deactivation`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `last_administrator` or `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(StatusChangeResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum PurgeUserResponse {
    /// The user and everything that belongs to them are gone; audit events about them are anonymised.
    #[oai(status = 204)]
    Purged,
    /// `invalid_request`: the id is not a UUID or `confirm` is missing.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden` (administrators only) or `forbidden_self_deletion`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `last_administrator` or `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `confirmation_mismatch`: `confirm` is not the user's email.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(PurgeUserResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict, 422 => Unprocessable,
});

/// The list filters, parsed (shared with the export).
#[allow(clippy::too_many_arguments)]
pub(super) fn user_filter(
    q: Option<String>,
    role: Option<RoleDto>,
    status: Option<StatusDto>,
    created_from: Option<DateTime<Utc>>,
    created_to: Option<DateTime<Utc>>,
    referral_code: Option<String>,
    license: Option<Uuid>,
    licensed: Option<bool>,
    invitation: Option<InvitationFilter>,
) -> Result<UserFilter, Problem> {
    Problem::check_times([&created_from, &created_to])?;
    let q = q.filter(|text| !text.trim().is_empty());
    let q = q.map(|text| SearchText::parse(&text)).transpose();
    let q = q.map_err(|e| Problem::unprocessable("invalid_search", e.to_string()))?;
    Ok(UserFilter {
        q,
        role: role.map(Into::into),
        status: status.map(Into::into),
        created_from,
        created_to,
        referral_code: referral_code.as_deref().map(parse_referral_code).transpose()?,
        license: license.map(Into::into),
        licensed,
        invitation,
    })
}

/// The order and page parameters, parsed.
fn user_query(
    filter: UserFilter,
    sort: SortFieldParam,
    order: OrderParam,
    cursor: Option<String>,
    limit: Option<u16>,
) -> Result<UserQuery, Problem> {
    let field = match sort {
        SortFieldParam::CreatedAt => UserSortField::CreatedAt,
        SortFieldParam::Email => UserSortField::Email,
    };
    let direction = match order {
        OrderParam::Asc => SortDirection::Asc,
        OrderParam::Desc => SortDirection::Desc,
    };
    let sort = UserSort { field, direction };
    let after = cursor.map(|text| UserCursor::decode(&text, sort)).transpose();
    let after = after.map_err(|e| Problem::unprocessable("invalid_cursor", e.to_string()))?;
    let limit = PageLimit::new(limit.map_or(u64::from(PageLimit::DEFAULT), u64::from))
        .map_err(|e| Problem::bad_request(e.to_string()))?;
    Ok(UserQuery { filter, sort, after, limit })
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Users")]
impl UsersApi {
    /// List users
    ///
    /// The users of the caller's tenant matching every given filter, one page at a time (keyset
    /// pagination: follow `next_cursor`). Administrators and collaborators only.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        /// Contains this text (at most 100 characters once trimmed, else 422 `invalid_search`;
        /// blank: no filter), in any letter case, in the email and name read as one text:
        /// `email name`.
        q: Query<Option<String>>,
        /// Has this role.
        role: Query<Option<RoleDto>>,
        /// Has this status.
        status: Query<Option<StatusDto>>,
        /// Created at or after this instant (RFC 3339).
        created_from: Query<Option<DateTime<Utc>>>,
        /// Created before this instant (RFC 3339, exclusive).
        created_to: Query<Option<DateTime<Utc>>>,
        /// Signed up with exactly this referral or promo code.
        referral_code: Query<Option<String>>,
        /// Holds a seat of this license kind (its id).
        license: Query<Option<Uuid>>,
        /// Holds a seat of any kind (`true`) or none (`false`; deactivated users hold none).
        licensed: Query<Option<bool>>,
        /// Is invited, with a link that still works (`pending`) or not (`expired`: reinvite).
        invitation: Query<Option<InvitationStateDto>>,
        /// Order by this column.
        #[oai(default)]
        sort: Query<SortFieldParam>,
        /// Order direction; newest first by default.
        #[oai(default)]
        order: Query<OrderParam>,
        /// `next_cursor` of the previous page, with the same `sort`.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
        /// Page size, 1 to 200; 50 by default.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u16>>,
    ) -> ListUsersResponse {
        answer(
            async {
                let filter = user_filter(
                    q.0,
                    role.0,
                    status.0,
                    created_from.0,
                    created_to.0,
                    referral_code.0,
                    license.0,
                    licensed.0,
                    invitation.0.map(|state| InvitationFilter { state: state.into(), at: self.views.clock.now() }),
                )?;
                let query = user_query(filter, sort.0, order.0, cursor.0, limit.0)?;
                let page = self.users.list(&auth.0, &query).await?;
                let total = page.total.unwrap_or(Total { count: page.items.len() as u64, exact: false });
                Ok(ListUsersResponse::Ok(Json(UserPage {
                    next_cursor: page.next.map(|cursor| cursor.encode(query.sort.direction)),
                    total: total.count,
                    total_exact: total.exact,
                    items: self.views.many(&auth.0, page.items).await?,
                })))
            }
            .await,
        )
    }

    /// Create a user
    ///
    /// Creates an active user in the caller's tenant. Only administrators create administrators.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create(&self, auth: BearerAuth, body: Json<CreateUserRequest>) -> CreateUserResponse {
        answer(
            async {
                let user = self.users.create(&auth.0, body.0.try_into_domain()?).await?;
                let location = format!("/v1/users/{}", user.id);
                Ok(CreateUserResponse::Created(Json(self.views.one(&auth.0, user).await?), location))
            }
            .await,
        )
    }

    /// Get a user
    ///
    /// Everyone may read themselves; reading others needs the `view_users` capability.
    #[oai(path = "/users/:id", method = "get", operation_id = "getUser")]
    async fn get(&self, auth: BearerAuth, id: Path<Uuid>) -> GetUserResponse {
        answer(
            async {
                let user = self.users.get(&auth.0, id.0.into()).await?;
                Ok(GetUserResponse::Ok(Json(self.views.one(&auth.0, user).await?)))
            }
            .await,
        )
    }

    /// Edit a user's profile
    ///
    /// JSON merge patch of the name, phone and referral code: omitted fields stay, `null`
    /// clears. The email never changes. Everyone edits themselves; collaborators edit
    /// non-administrators; administrators edit anyone.
    #[oai(path = "/users/:id", method = "patch", operation_id = "updateUser")]
    async fn update(&self, auth: BearerAuth, id: Path<Uuid>, body: Json<UpdateUserRequest>) -> UpdateUserResponse {
        answer(
            async {
                let user = self.users.update_profile(&auth.0, id.0.into(), body.0.try_into_domain()?).await?;
                Ok(UpdateUserResponse::Ok(Json(self.views.one(&auth.0, user).await?)))
            }
            .await,
        )
    }

    /// Change a user's role
    ///
    /// Only administrators grant or remove the administrator role; nobody changes their own
    /// role; the tenant's last active administrator cannot be demoted.
    #[oai(path = "/users/:id/role", method = "put", operation_id = "changeUserRole")]
    async fn change_role(&self, auth: BearerAuth, id: Path<Uuid>, body: Json<ChangeRoleRequest>) -> ChangeRoleResponse {
        answer(
            async {
                let user = self.users.change_role(&auth.0, id.0.into(), body.0.role.into()).await?;
                Ok(ChangeRoleResponse::Ok(Json(self.views.one(&auth.0, user).await?)))
            }
            .await,
        )
    }

    /// Deactivate a user
    ///
    /// Soft delete: the user can no longer sign in and their tokens stop working at once; their
    /// seat returns to the license pool; their history stays and they can be reactivated (without
    /// a seat). Nobody deactivates themselves; the last active administrator cannot be
    /// deactivated.
    #[oai(path = "/users/:id", method = "delete", operation_id = "deactivateUser")]
    async fn deactivate(&self, auth: BearerAuth, id: Path<Uuid>) -> StatusChangeResponse {
        answer(
            async {
                let user = self.users.deactivate(&auth.0, id.0.into()).await?;
                Ok(StatusChangeResponse::Ok(Json(self.views.one(&auth.0, user).await?)))
            }
            .await,
        )
    }

    /// Reactivate a user
    ///
    /// A deactivated user becomes active again (or invited, if they never accepted), holding no
    /// seat: assign one with `PUT /v1/users/{id}/license`.
    #[oai(path = "/users/:id/reactivate", method = "post", operation_id = "reactivateUser")]
    async fn reactivate(&self, auth: BearerAuth, id: Path<Uuid>) -> StatusChangeResponse {
        answer(
            async {
                let user = self.users.reactivate(&auth.0, id.0.into()).await?;
                Ok(StatusChangeResponse::Ok(Json(self.views.one(&auth.0, user).await?)))
            }
            .await,
        )
    }

    /// Delete a user for good
    ///
    /// Irreversible: the user and their tokens are deleted, their seat returns to the license
    /// pool, and the audit events about them lose their personal data. `confirm` must be the
    /// user's email. Administrators only; nobody deletes themselves; the last active
    /// administrator cannot be deleted.
    #[oai(path = "/users/:id/purge", method = "delete", operation_id = "purgeUser")]
    async fn purge(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        /// The user's email address, as confirmation.
        #[oai(validator(max_length = 254))]
        confirm: Query<String>,
    ) -> PurgeUserResponse {
        match self.users.purge(&auth.0, id.0.into(), &confirm.0).await {
            Ok(()) => PurgeUserResponse::Purged,
            Err(error) => Problem::from(error).into(),
        }
    }
}
