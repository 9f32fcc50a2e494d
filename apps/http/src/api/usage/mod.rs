//! `/v1/usage`: the AI gateway's metering. Reserve credits before the work, then commit the
//! actual use or release; record use without a reservation as events. Service credentials with
//! the scope `usage:write` only (never a person's token).

mod models;

use poem::http::StatusCode;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use roster_domain::budget::Budget;
use roster_domain::services::UsageService;
use roster_domain::usage::{CommitOutcome, ReleaseOutcome, ReserveOutcome};
use uuid::Uuid;

use self::models::{
    CommitRequestBody, EventResultBody, EventResultsBody, ReservationBody, ReserveRequestBody, UsageEventsRequest,
    credits, metrics,
};
use super::ApiTags;
use super::auth::BearerAuth;
use super::problem::{Problem, answer, from_request_error, problem_responses};

/// The metering endpoints.
#[derive(Debug, Clone)]
pub struct UsageApi {
    pub usage: UsageService,
}

fn budget_exceeded(budget: &Budget) -> Problem {
    let detail = format!(
        "the user's budget cannot hold these credits: {} consumed and {} held of {}",
        budget.consumed, budget.reserved, budget.policy.limit
    );
    Problem {
        limit: Some(budget.policy.limit.get()),
        consumed: Some(budget.consumed.get()),
        reserved: Some(budget.reserved.get()),
        ..Problem::new(StatusCode::PAYMENT_REQUIRED, "budget_exceeded", detail)
    }
}

fn reservation_not_found() -> Problem {
    Problem::not_found("reservation_not_found", "no reservation with this id in your tenant")
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ReserveResponse {
    /// The credits are held (or were, under this key: the original answer).
    #[oai(status = 201)]
    Created(Json<ReservationBody>),
    /// `invalid_request`: malformed JSON, a wrong type, an unknown field, a value out of range or
    /// an idempotency key not 1 to 200 characters long.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `budget_exceeded` (with `limit`, `consumed`, `reserved`): nothing was held.
    #[oai(status = 402, content_type = "application/problem+json")]
    PaymentRequired(Json<Problem>),
    /// `missing_scope` (a service credential with `usage:write` is needed), `no_license` or `user_inactive`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `idempotency_key_reused`: the key was used for another user or amount.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_idempotency_key`: a character that is not visible ASCII.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(ReserveResponse {
    400 => BadRequest, 401 => Unauthorized, 402 => PaymentRequired, 403 => Forbidden, 404 => NotFound,
    409 => Conflict, 413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum CommitResponse {
    /// The use is recorded (now, or by an identical earlier commit).
    #[oai(status = 200)]
    Ok(Json<ReservationBody>),
    /// `invalid_request`: malformed JSON, a wrong type, an unknown field or a value out of range.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `missing_scope`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `reservation_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `reservation_closed`: released, or committed with other credits.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_metrics`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(CommitResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ReleaseResponse {
    /// The credits are given back (now, or already: released or expired).
    #[oai(status = 200)]
    Ok(Json<ReservationBody>),
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `missing_scope`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `reservation_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `reservation_committed`: its use stays recorded.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(ReleaseResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum EventsResponse {
    /// What became of each event; every recorded one is committed to the database.
    #[oai(status = 200)]
    Ok(Json<EventResultsBody>),
    /// `invalid_request`: malformed JSON, a wrong type, an unknown field, a value out of range or
    /// an idempotency key not 1 to 200 characters long.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `missing_scope`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `payload_too_large`: the body exceeds 1 MiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: application/json`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_batch` (a key twice), `event_in_future`, `invalid_idempotency_key`, `invalid_metrics` or
    /// `invalid_time`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(EventsResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 413 => PayloadTooLarge,
    415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[OpenApi(prefix_path = "/v1/usage", tag = "ApiTags::Usage")]
impl UsageApi {
    /// Reserve credits
    ///
    /// Holds `credits` of the user's budget before AI work, if the user is active, holds a
    /// license seat, and their budget admits them (with hard enforcement: consumed + reserved +
    /// credits <= limit, judged atomically whatever the concurrency). Commit the actual use or
    /// release; an untouched reservation releases itself after `ttl_seconds`. A retry with the
    /// same `idempotency_key` gets the original answer and holds nothing more.
    #[oai(path = "/reservations", method = "post", operation_id = "reserveCredits")]
    async fn reserve(&self, auth: BearerAuth, body: Json<ReserveRequestBody>) -> ReserveResponse {
        answer(
            async {
                let (credits, key, ttl) = body.0.parts()?;
                let outcome = self.usage.reserve(&auth.0, body.0.user.into(), credits, key, ttl).await?;
                Ok(match outcome {
                    ReserveOutcome::Reserved { reservation, budget } => {
                        ReserveResponse::Created(Json(ReservationBody::new(reservation, budget)))
                    }
                    ReserveOutcome::Exceeded { budget } => budget_exceeded(&budget).into(),
                    ReserveOutcome::UserNotFound => {
                        Problem::not_found("user_not_found", "no user with this id in your tenant").into()
                    }
                    ReserveOutcome::UserInactive => Problem::new(
                        StatusCode::FORBIDDEN,
                        "user_inactive",
                        "the user is invited or deactivated: no AI access",
                    )
                    .into(),
                    ReserveOutcome::NoLicense => Problem::new(
                        StatusCode::FORBIDDEN,
                        "no_license",
                        "the user holds no license seat: no AI access",
                    )
                    .into(),
                    ReserveOutcome::KeyReused => Problem::conflict(
                        "idempotency_key_reused",
                        "this idempotency key was used for another user or amount",
                    )
                    .into(),
                })
            }
            .await,
        )
    }

    /// Commit a reservation
    ///
    /// Records the actual use: the held credits are given back and `credits` are consumed (all
    /// of them, even beyond the reservation or the limit: the work is done and usage is never
    /// lost), with the other `metrics`. A commit after the reservation expired still records the
    /// use. A retry with the same credits gets the original answer.
    #[oai(path = "/reservations/:id/commit", method = "post", operation_id = "commitReservation")]
    async fn commit(&self, auth: BearerAuth, id: Path<Uuid>, body: Json<CommitRequestBody>) -> CommitResponse {
        answer(
            async {
                let (used, metrics) = (credits(body.0.credits)?, metrics(body.0.metrics)?);
                Ok(match self.usage.commit(&auth.0, id.0.into(), used, &metrics).await? {
                    CommitOutcome::Committed { reservation, budget } => {
                        CommitResponse::Ok(Json(ReservationBody::new(reservation, budget)))
                    }
                    CommitOutcome::NotFound => reservation_not_found().into(),
                    CommitOutcome::Closed(reservation) => Problem::conflict(
                        "reservation_closed",
                        format!("the reservation is {}", reservation.status.as_str()),
                    )
                    .into(),
                })
            }
            .await,
        )
    }

    /// Release a reservation
    ///
    /// Gives the held credits back unused. Releasing a released or expired reservation changes
    /// nothing.
    #[oai(path = "/reservations/:id", method = "delete", operation_id = "releaseReservation")]
    async fn release(&self, auth: BearerAuth, id: Path<Uuid>) -> ReleaseResponse {
        match self.usage.release(&auth.0, id.0.into()).await {
            Ok(ReleaseOutcome::Released { reservation, budget }) => {
                ReleaseResponse::Ok(Json(ReservationBody::new(reservation, budget)))
            }
            Ok(ReleaseOutcome::NotFound) => reservation_not_found().into(),
            Ok(ReleaseOutcome::Committed(_)) => {
                Problem::conflict("reservation_committed", "the reservation is committed: its use stays recorded")
                    .into()
            }
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Record usage events
    ///
    /// Use recorded without a reservation, in a batch of up to 1000 events with distinct keys,
    /// committed in one transaction before the answer. An event whose key was recorded before
    /// is not counted again: `duplicate` when it is a retry (the same user, credits, metrics, and
    /// time when it gives one), `idempotency_key_reused` otherwise. Credits count against
    /// budgets even beyond a hard limit: the work is done. Events may be dated up to 5 minutes
    /// ahead of the server's clock.
    #[oai(path = "/events", method = "post", operation_id = "recordUsageEvents")]
    async fn events(&self, auth: BearerAuth, body: Json<UsageEventsRequest>) -> EventsResponse {
        answer(
            async {
                let keys: Vec<String> = body.0.events.iter().map(|e| e.idempotency_key.as_str().to_owned()).collect();
                let events = body.0.events.into_iter().map(|e| e.try_into_domain()).collect::<Result<Vec<_>, _>>()?;
                let outcomes = self.usage.record(&auth.0, &events).await?;
                let results = keys
                    .into_iter()
                    .zip(outcomes)
                    .map(|(idempotency_key, outcome)| EventResultBody { idempotency_key, status: outcome.into() })
                    .collect();
                Ok(EventsResponse::Ok(Json(EventResultsBody { results })))
            }
            .await,
        )
    }
}
