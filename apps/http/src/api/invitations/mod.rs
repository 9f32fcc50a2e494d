//! Invitations: `POST /v1/invitations` (invite), `POST|DELETE /v1/users/{id}/invitation`
//! (reinvite, revoke), `POST /v1/users/{id}/invitation/link` (copy link) and the public
//! `POST /v1/invitations/accept`.

mod limiter;
mod models;

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use roster_domain::Actor;
use roster_domain::services::InvitationService;
use uuid::Uuid;

pub use self::limiter::AcceptLimiter;
use self::models::{AcceptInvitationRequest, AcceptedInvitationBody, CreateInvitationRequest, InvitationLinkBody};
use super::ApiTags;
use super::auth::BearerAuth;
use super::models::UserBody;
use super::problem::{Problem, answer, from_request_error, problem_responses};
use super::views::UserViews;
use crate::api::client::ClientAddress;

/// The invitation endpoints.
#[derive(Debug, Clone)]
pub struct InvitationsApi {
    pub invitations: InvitationService,
    pub views: UserViews,
    pub limiter: Arc<AcceptLimiter>,
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum InviteResponse {
    /// The user was created, invited; `invitation.delivery` tells whether the email went out
    /// (`failed`, with the reason: the invitation stays, reinvite to send a new link).
    #[oai(status = 201)]
    Created(Json<UserBody>, #[oai(header = "Location")] String),
    /// `invalid_request`: malformed JSON, a wrong type or an unknown field.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden` (role lacks `manage_users`, or `manage_licenses` to reserve a seat) or
    /// `forbidden_role_change` (only administrators invite administrators).
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `email_taken`, `no_seats_available` (with `kind`, `seats`, `assigned`) or `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_email`, `invalid_name`, `invalid_phone`, `invalid_referral_code` or `unknown_license`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(InviteResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ReinviteResponse {
    /// The user with their new invitation; `invitation.delivery` tells whether the email went out.
    #[oai(status = 200)]
    Ok(Json<UserBody>),
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden` or `forbidden_administrator_target`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `not_invited` (the user is active or deactivated) or `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(ReinviteResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum CopyLinkResponse {
    /// A fresh accept link; the previous one no longer works.
    #[oai(status = 200)]
    Ok(Json<InvitationLinkBody>),
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden` or `forbidden_administrator_target`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `not_invited` (the user is active or deactivated) or `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(CopyLinkResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum RevokeResponse {
    /// The invitation is withdrawn and the never-activated user removed; a seat reserved for
    /// them is back in its pool.
    #[oai(status = 204)]
    Revoked,
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden` or `forbidden_administrator_target`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `not_invited` (the user has been active: deactivate them instead) or `concurrent_modification`.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(RevokeResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum AcceptResponse {
    /// The user is active; here is their first API token.
    #[oai(status = 200)]
    Ok(Json<AcceptedInvitationBody>),
    /// `invalid_request`: malformed JSON, a wrong type or an unknown field.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `invitation_not_found`: unknown, already used, replaced or revoked (one answer for all).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `invitation_expired`.
    #[oai(status = 410, content_type = "application/problem+json")]
    Gone(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_name`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `too_many_requests`: this client made more than 10 attempts in a minute; retry after
    /// `Retry-After` seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(AcceptResponse {
    400 => BadRequest, 404 => NotFound, 410 => Gone, 413 => PayloadTooLarge, 415 => UnsupportedMediaType,
    422 => Unprocessable,
});

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Invitations")]
impl InvitationsApi {
    /// Invite a user
    ///
    /// Creates the user in status `invited` (holding a seat of `license` if given, reserved at
    /// once) and mails them a single-use link that expires after the tenant's invitation
    /// lifetime (7 days unless set otherwise in `/v1/settings`). Only administrators invite
    /// administrators or reserve seats.
    #[oai(path = "/invitations", method = "post", operation_id = "invite")]
    async fn invite(&self, auth: BearerAuth, body: Json<CreateInvitationRequest>) -> InviteResponse {
        answer(
            async {
                let issued = self.invitations.invite(&auth.0, body.0.try_into_domain()?).await?;
                let location = format!("/v1/users/{}", issued.user.id);
                Ok(InviteResponse::Created(Json(self.views.one(&auth.0, issued.user).await?), location))
            }
            .await,
        )
    }

    /// Reinvite a user
    ///
    /// Mails the invited user a new link valid for the tenant's invitation lifetime from now;
    /// their previous link stops working. For pending and expired invitations alike, and to
    /// resend after a failed delivery.
    #[oai(path = "/users/:id/invitation", method = "post", operation_id = "reinvite")]
    async fn reinvite(&self, auth: BearerAuth, id: Path<Uuid>) -> ReinviteResponse {
        answer(
            async {
                let issued = self.invitations.reinvite(&auth.0, id.0.into()).await?;
                Ok(ReinviteResponse::Ok(Json(self.views.one(&auth.0, issued.user).await?)))
            }
            .await,
        )
    }

    /// Copy an invitation link
    ///
    /// A fresh accept link for the invited user, returned instead of mailed, to hand over
    /// another way. Only hashes of links are stored, so the previous link stops working.
    #[oai(path = "/users/:id/invitation/link", method = "post", operation_id = "copyInvitationLink")]
    async fn copy_link(&self, auth: BearerAuth, id: Path<Uuid>) -> CopyLinkResponse {
        answer(
            async {
                let issued = self.invitations.copy_link(&auth.0, id.0.into()).await?;
                let expires_at = issued.invitation.expires_at;
                let user = self.views.one(&auth.0, issued.user).await?;
                Ok(CopyLinkResponse::Ok(Json(InvitationLinkBody { link: issued.link, expires_at, user })))
            }
            .await,
        )
    }

    /// Revoke an invitation
    ///
    /// Withdraws the invitation: the user, who never accepted, is removed (the audit trail
    /// records it without personal data) and a seat reserved for them returns to its pool.
    #[oai(path = "/users/:id/invitation", method = "delete", operation_id = "revokeInvitation")]
    async fn revoke(&self, auth: BearerAuth, id: Path<Uuid>) -> RevokeResponse {
        match self.invitations.revoke(&auth.0, id.0.into()).await {
            Ok(()) => RevokeResponse::Revoked,
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Accept an invitation
    ///
    /// Public: the link's `token` is the proof. The user becomes active (with `name`, if given)
    /// and receives their first API token. A link works once. An unknown, used, replaced or
    /// revoked link gets the same `invitation_not_found`; an expired one `invitation_expired`.
    /// Each client address may try 10 times a minute.
    #[oai(path = "/invitations/accept", method = "post", operation_id = "acceptInvitation")]
    async fn accept(&self, client: Data<&ClientAddress>, body: Json<AcceptInvitationRequest>) -> AcceptResponse {
        if let Some(client) = client.0.0
            && let Err(wait) = self.limiter.attempt(client)
        {
            return AcceptResponse::TooManyRequests(Json(Problem::too_many_requests(wait)), wait);
        }
        answer(
            async {
                let accepted = self.invitations.accept(body.0.token.as_str(), body.0.name()?).await?;
                let user = accepted.user;
                let actor = Actor::user(user.tenant, user.id, user.email.clone(), user.role);
                Ok(AcceptResponse::Ok(Json(AcceptedInvitationBody {
                    user: self.views.one(&actor, user).await?,
                    token: accepted.token.expose().to_owned(),
                    token_type: "Bearer".to_owned(),
                    expires_at: accepted.session.expires_at,
                })))
            }
            .await,
        )
    }
}
