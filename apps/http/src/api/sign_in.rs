//! Built-in sign-in and credentials: `POST /v1/auth/magic-link` (mail a link),
//! `POST /v1/auth/magic-link/verify` (link, and TOTP code when the user has MFA, for a
//! session), `GET|DELETE /v1/me/sessions...`, `POST /v1/me/mfa/totp[/confirm]` (enroll), and the
//! administrator's `DELETE /v1/users/{id}/mfa` and `DELETE /v1/users/{id}/sessions`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use roster_domain::services::SignInService;
use roster_domain::session::{Session, SessionState, SignInMethod};
use roster_domain::{SessionId, TenantName};
use uuid::Uuid;

use super::ApiTags;
use super::auth::{BearerAuth, SessionAuth};
use super::invitations::AcceptLimiter;
use super::models::parse_email;
use super::problem::{Problem, answer, from_request_error, problem_responses};
use super::text::Text;
use crate::api::client::ClientAddress;

/// The sign-in endpoints.
#[derive(Debug, Clone)]
pub struct SignInApi {
    pub sign_in: SignInService,
    /// Limits link requests per client address.
    pub requests: Arc<AcceptLimiter>,
    /// Limits link verifications per client address.
    pub verifications: Arc<AcceptLimiter>,
}

/// Asks for a sign-in link.
#[derive(Object, Debug)]
#[oai(rename = "MagicLinkRequest", deny_unknown_fields)]
pub struct MagicLinkRequest {
    /// The tenant's name, e.g. `acme`.
    #[oai(validator(min_length = 1, max_length = 63))]
    pub tenant: Text,
    /// The user's email.
    pub email: Text,
}

/// The request was taken.
#[derive(Object, Debug)]
#[oai(rename = "MagicLinkRequested")]
pub struct MagicLinkRequestedBody {
    /// Always the same text: whether the email belongs to an active user is not told.
    pub message: String,
}

/// A sign-in link (and TOTP code) to exchange for a session.
#[derive(Object, Debug)]
#[oai(rename = "VerifyMagicLink", deny_unknown_fields)]
pub struct VerifyMagicLinkRequest {
    /// The `token` of the sign-in link (`rml_...`).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub token: Text,
    /// The 6-digit code of the user's authenticator app, when they have MFA.
    #[oai(validator(min_length = 1, max_length = 16))]
    pub code: Option<Text>,
}

/// What a session may do.
#[derive(Enum, Debug, Clone, Copy)]
#[oai(rename = "SessionState", rename_all = "snake_case")]
pub enum SessionStateDto {
    /// Everything the user's role allows.
    Active,
    /// Only enroll an authenticator (`POST /v1/me/mfa/totp`, then `/confirm`).
    Enrolling,
}

/// How a session began.
#[derive(Enum, Debug, Clone, Copy)]
#[oai(rename = "SignInMethod", rename_all = "snake_case")]
pub enum SignInMethodDto {
    /// A magic link.
    MagicLink,
    /// Accepting an invitation.
    Invitation,
}

/// A session (never its secret).
#[derive(Object, Debug)]
#[oai(rename = "Session")]
pub struct SessionBody {
    /// Its id.
    pub id: Uuid,
    /// What it may do.
    pub state: SessionStateDto,
    /// How it began.
    pub method: SignInMethodDto,
    /// Whether a TOTP code was given in it.
    pub mfa: bool,
    /// When it began.
    pub created_at: DateTime<Utc>,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// Whether it is the session of this request.
    pub current: bool,
}

impl SessionBody {
    fn of(session: Session, current: Option<SessionId>) -> Self {
        Self {
            current: current == Some(session.id),
            id: session.id.into(),
            state: match session.state {
                SessionState::Active => SessionStateDto::Active,
                SessionState::Enrolling => SessionStateDto::Enrolling,
            },
            method: match session.method {
                SignInMethod::MagicLink => SignInMethodDto::MagicLink,
                SignInMethod::Invitation => SignInMethodDto::Invitation,
            },
            mfa: session.mfa,
            created_at: session.created_at,
            expires_at: session.expires_at,
        }
    }
}

/// A session just started.
#[derive(Object, Debug)]
#[oai(rename = "SignedIn")]
pub struct SignedInBody {
    /// The session's bearer token (shown once): `Authorization: Bearer <token>`.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// When the token stops working.
    pub expires_at: DateTime<Utc>,
    /// True when the user's MFA was reset: the token may only enroll an authenticator
    /// (`POST /v1/me/mfa/totp`, then `/v1/me/mfa/totp/confirm`), which makes it a full session.
    pub mfa_enrollment_required: bool,
    /// The session.
    pub session: SessionBody,
}

/// The caller's sessions.
#[derive(Object, Debug)]
#[oai(rename = "SessionList")]
pub struct SessionListBody {
    /// Unexpired sessions, newest first (at most 100).
    pub items: Vec<SessionBody>,
}

/// A TOTP enrollment to confirm.
#[derive(Object, Debug)]
#[oai(rename = "TotpEnrollment")]
pub struct TotpEnrollmentBody {
    /// The shared secret in base32, to type into an authenticator app.
    pub secret: String,
    /// The `otpauth://totp/...` URI, to show as a QR code.
    pub otpauth_uri: String,
}

/// A code of the authenticator being enrolled.
#[derive(Object, Debug)]
#[oai(rename = "ConfirmTotp", deny_unknown_fields)]
pub struct ConfirmTotpRequest {
    /// The 6-digit code the app shows now.
    #[oai(validator(min_length = 1, max_length = 16))]
    pub code: Text,
}

/// Sessions ended.
#[derive(Object, Debug)]
#[oai(rename = "SessionsRevoked")]
pub struct SessionsRevokedBody {
    /// How many sessions ended. Tokens of the tenant's identity provider issued until now are
    /// refused too.
    pub ended: u64,
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum MagicLinkResponse {
    /// Taken: if the email is an active user's of the tenant, a link is on its way (it works
    /// once, for 15 minutes). The same answer, in the same time, either way.
    #[oai(status = 202)]
    Accepted(Json<MagicLinkRequestedBody>),
    /// `invalid_request`: malformed JSON, a wrong type or an unknown field.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_email`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `too_many_requests`: wait the `Retry-After` seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(MagicLinkResponse { 400 => BadRequest, 413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum VerifyResponse {
    /// Signed in: a session token.
    #[oai(status = 201)]
    Created(Json<SignedInBody>),
    /// `invalid_request`: malformed JSON, a wrong type or an unknown field.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `invalid_link` (unknown, used, expired, or burnt by wrong codes), `mfa_code_required`
    /// (send `code` too; the link still works) or `invalid_mfa_code`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `too_many_requests`: wait the `Retry-After` seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(VerifyResponse { 400 => BadRequest, 401 => Unauthorized, 413 => PayloadTooLarge, 415 => UnsupportedMediaType });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ListSessionsResponse {
    /// The caller's sessions.
    #[oai(status = 200)]
    Ok(Json<SessionListBody>),
    /// `unauthenticated` or `mfa_enrollment_required`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: a service credential has no sessions.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(ListSessionsResponse { 401 => Unauthorized, 403 => Forbidden });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum EndSessionResponse {
    /// Ended: its token stops working at once.
    #[oai(status = 204)]
    Ended,
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated` or `mfa_enrollment_required`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: a service credential has no sessions.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `session_not_found`: the caller has no such session.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(EndSessionResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum EnrollResponse {
    /// A new secret, pending until confirmed with a code.
    #[oai(status = 201)]
    Created(Json<TotpEnrollmentBody>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: only a person enrolls (not a service credential).
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `mfa_already_enrolled`: an administrator resets MFA to replace the authenticator.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(EnrollResponse { 401 => Unauthorized, 403 => Forbidden, 409 => Conflict });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ConfirmResponse {
    /// Confirmed: every sign-in now needs a code; an enrolling session is now a full one.
    #[oai(status = 204)]
    Confirmed,
    /// `invalid_request`: malformed JSON, a wrong type or an unknown field.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: only a person enrolls.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `mfa_already_enrolled` or `mfa_not_pending` (start with `POST /v1/me/mfa/totp`).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`: the body exceeds 64 KiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_mfa_code`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(ConfirmResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ResetMfaResponse {
    /// Reset: the user's authenticator is forgotten; their next sign-in must enroll one.
    #[oai(status = 204)]
    Reset,
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden` (needs `manage_users`, also for oneself) or `forbidden_administrator_target`.
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
problem_responses!(ResetMfaResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum RevokeSessionsResponse {
    /// Every session of the user ended.
    #[oai(status = 200)]
    Ok(Json<SessionsRevokedBody>),
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden` or `forbidden_administrator_target` (everyone may end their own).
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
problem_responses!(RevokeSessionsResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
});

fn enrollment_required() -> Problem {
    roster_domain::services::AuthenticateError::EnrollmentRequired.into()
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::SignIn")]
impl SignInApi {
    /// Request a sign-in link
    ///
    /// Public. Mails a single-use link (15 minutes) to `email` if it is an active user of
    /// `tenant`. The answer is the same, and as fast, whether or not it is: it tells nobody
    /// who has an account. The link opens `{public_url}/sign-in?token=...`, whose page posts the
    /// token to `POST /v1/auth/magic-link/verify`. Invited users accept their invitation instead.
    #[oai(path = "/auth/magic-link", method = "post", operation_id = "requestMagicLink")]
    async fn request(&self, client: Data<&ClientAddress>, body: Json<MagicLinkRequest>) -> MagicLinkResponse {
        if let Some(client) = client.0.0
            && let Err(wait) = self.requests.attempt(client)
        {
            return MagicLinkResponse::TooManyRequests(Json(Problem::too_many_requests(wait)), wait);
        }
        answer((|| {
            let email = parse_email(&body.0.email.0)?;
            if let Ok(tenant) = TenantName::parse(body.0.tenant.as_str()) {
                let sign_in = self.sign_in.clone();
                tokio::spawn(async move {
                    if let Err(error) = sign_in.request_magic_link(&tenant, &email).await {
                        tracing::warn!(%error, "a sign-in link could not be sent");
                    }
                });
            }
            let message = "if this is an active user's email, a sign-in link is on its way".to_owned();
            Ok(MagicLinkResponse::Accepted(Json(MagicLinkRequestedBody { message })))
        })())
    }

    /// Sign in with a link
    ///
    /// Public: the link is the proof. A user with MFA adds the 6-digit `code` of their
    /// authenticator; without it the answer is 401 `mfa_code_required` and the link still
    /// works. A few wrong codes burn the link. A user whose MFA was reset gets a session that may
    /// only enroll an authenticator (`mfa_enrollment_required: true`).
    #[oai(path = "/auth/magic-link/verify", method = "post", operation_id = "verifyMagicLink")]
    async fn verify(&self, client: Data<&ClientAddress>, body: Json<VerifyMagicLinkRequest>) -> VerifyResponse {
        if let Some(client) = client.0.0
            && let Err(wait) = self.verifications.attempt(client)
        {
            return VerifyResponse::TooManyRequests(Json(Problem::too_many_requests(wait)), wait);
        }
        let code = body.0.code.as_ref().map(Text::as_str);
        match self.sign_in.verify_magic_link(body.0.token.as_str(), code).await {
            Ok(signed_in) => VerifyResponse::Created(Json(SignedInBody {
                token: signed_in.secret.expose().to_owned(),
                token_type: "Bearer".to_owned(),
                expires_at: signed_in.session.expires_at,
                mfa_enrollment_required: signed_in.session.state == SessionState::Enrolling,
                session: SessionBody::of(signed_in.session, None),
            })),
            Err(error) => Problem::from(error).into(),
        }
    }

    /// List my sessions
    #[oai(path = "/me/sessions", method = "get", operation_id = "listMySessions")]
    async fn list_sessions(&self, auth: SessionAuth) -> ListSessionsResponse {
        if auth.0.enrolling {
            return enrollment_required().into();
        }
        match self.sign_in.my_sessions(&auth.0.actor).await {
            Ok(sessions) => {
                let items = sessions.into_iter().map(|session| SessionBody::of(session, auth.0.session)).collect();
                ListSessionsResponse::Ok(Json(SessionListBody { items }))
            }
            Err(error) => Problem::from(error).into(),
        }
    }

    /// End one of my sessions
    ///
    /// Signs out there (or here, with the current session's id; a session that may only enroll
    /// an authenticator may do this much). To end them all, use
    /// `DELETE /v1/users/{your id}/sessions`.
    #[oai(path = "/me/sessions/:id", method = "delete", operation_id = "endMySession")]
    async fn end_session(&self, auth: SessionAuth, id: Path<Uuid>) -> EndSessionResponse {
        if auth.0.enrolling && auth.0.session.map(Uuid::from) != Some(id.0) {
            return enrollment_required().into();
        }
        match self.sign_in.end_my_session(&auth.0.actor, id.0.into()).await {
            Ok(()) => EndSessionResponse::Ended,
            Err(roster_domain::services::CredentialsError::NotFound) => {
                Problem::not_found("session_not_found", "you have no session with this id").into()
            }
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Start enrolling an authenticator (TOTP)
    ///
    /// A new secret to scan (`otpauth_uri`) or type (`secret`) into an authenticator app, pending
    /// until confirmed with a code. Also allowed to a session that may only enroll.
    #[oai(path = "/me/mfa/totp", method = "post", operation_id = "enrollTotp")]
    async fn enroll(&self, auth: SessionAuth) -> EnrollResponse {
        match self.sign_in.begin_enrollment(&auth.0.actor).await {
            Ok(enrollment) => EnrollResponse::Created(Json(TotpEnrollmentBody {
                secret: enrollment.secret,
                otpauth_uri: enrollment.otpauth_uri,
            })),
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Confirm the authenticator
    ///
    /// With a code the app shows now. From then on every sign-in needs a code.
    #[oai(path = "/me/mfa/totp/confirm", method = "post", operation_id = "confirmTotp")]
    async fn confirm(&self, auth: SessionAuth, body: Json<ConfirmTotpRequest>) -> ConfirmResponse {
        match self.sign_in.confirm_enrollment(&auth.0.actor, auth.0.session, body.0.code.as_str()).await {
            Ok(()) => ConfirmResponse::Confirmed,
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Reset a user's MFA
    ///
    /// Forgets their authenticator: their next sign-in must enroll one again. Their open
    /// sessions stay (end them with `DELETE /v1/users/{id}/sessions` if the device was lost).
    /// Needs `manage_users`; only administrators act on administrators.
    #[oai(path = "/users/:id/mfa", method = "delete", operation_id = "resetMfa")]
    async fn reset_mfa(&self, auth: BearerAuth, id: Path<Uuid>) -> ResetMfaResponse {
        match self.sign_in.reset_mfa(&auth.0, id.0.into()).await {
            Ok(()) => ResetMfaResponse::Reset,
            Err(error) => Problem::from(error).into(),
        }
    }

    /// End every session of a user
    ///
    /// Their session tokens stop working at once, and so do their identity provider's tokens
    /// issued until now. API tokens are not sessions: deactivate the user to revoke those too.
    /// Everyone may do it to themselves (sign out everywhere); for others it needs
    /// `manage_users`, and only administrators act on administrators.
    #[oai(path = "/users/:id/sessions", method = "delete", operation_id = "revokeSessions")]
    async fn revoke_sessions(&self, auth: BearerAuth, id: Path<Uuid>) -> RevokeSessionsResponse {
        match self.sign_in.revoke_sessions(&auth.0, id.0.into()).await {
            Ok(ended) => RevokeSessionsResponse::Ok(Json(SessionsRevokedBody { ended })),
            Err(error) => Problem::from(error).into(),
        }
    }
}
