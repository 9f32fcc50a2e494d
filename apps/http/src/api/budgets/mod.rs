//! `/v1/users/{id}/budget` (read, set, remove) and `/v1/users/{id}/usage` (what a user used over
//! a span of days). Administrators set budgets; users read their own.

pub mod models;

use chrono::{Datelike as _, NaiveDate};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use roster_domain::ports::Clock;
use roster_domain::services::BudgetService;
use std::sync::Arc;
use uuid::Uuid;

use self::models::{BudgetBody, BudgetPolicyRequest, UsageBody};
use super::ApiTags;
use super::auth::BearerAuth;
use super::problem::{Problem, answer, from_request_error, problem_responses};

/// The budget endpoints.
#[derive(Clone)]
pub struct BudgetsApi {
    pub budgets: BudgetService,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for BudgetsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BudgetsApi")
    }
}

/// What a user used over a span of UTC days.
#[derive(Object, Debug)]
#[oai(rename = "UsageReport")]
pub struct UsageReportBody {
    /// The first day counted (UTC).
    pub from: NaiveDate,
    /// The last day counted (UTC), included.
    pub to: NaiveDate,
    /// The use.
    pub usage: UsageBody,
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum GetBudgetResponse {
    /// The user's budget as of now.
    #[oai(status = 200)]
    Ok(Json<BudgetBody>),
    /// `invalid_request`: the id is not a UUID.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: users read only their own budget.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`, or `no_budget`: the user has none (no limit).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(GetBudgetResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum SetBudgetResponse {
    /// The budget as set, as of now.
    #[oai(status = 200)]
    Ok(Json<BudgetBody>),
    /// `invalid_request`: malformed JSON, a wrong type, an unknown field or a value out of range.
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
problem_responses!(SetBudgetResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum RemoveBudgetResponse {
    /// The user has no budget (any more): no limit.
    #[oai(status = 204)]
    Removed,
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
problem_responses!(RemoveBudgetResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict });

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum UsageResponse {
    /// The use over the span.
    #[oai(status = 200)]
    Ok(Json<UsageReportBody>),
    /// `invalid_request`: a parameter is malformed.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: users read only their own use.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `user_not_found`.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `invalid_date` (not `YYYY-MM-DD`, or no such day) or `invalid_span` (`from` after `to`, or more than 366 days).
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(UsageResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 422 => Unprocessable,
});

/// A UTC day as `YYYY-MM-DD` (chrono alone also takes `2026-1-5`, `26-01-05` or a sign).
fn parse_day(text: &str) -> Result<NaiveDate, Problem> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    shaped.then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()).flatten().ok_or_else(|| {
        let shown: String = text.chars().take(40).collect();
        Problem::unprocessable("invalid_date", format!("{shown} is not a day of the calendar (YYYY-MM-DD)"))
    })
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Budgets")]
impl BudgetsApi {
    /// Get a user's budget
    ///
    /// The budget as of now: consumption in the current period (reset lazily at the period's
    /// UTC boundary), credits held by live reservations, what remains, and the warning flag.
    /// Administrators and collaborators read anyone's; users read their own.
    #[oai(path = "/users/:id/budget", method = "get", operation_id = "getUserBudget")]
    async fn get(&self, auth: BearerAuth, id: Path<Uuid>) -> GetBudgetResponse {
        match self.budgets.get(&auth.0, id.0.into()).await {
            Ok(Some(budget)) => GetBudgetResponse::Ok(Json(budget.into())),
            Ok(None) => Problem::not_found("no_budget", "the user has no budget: no limit").into(),
            Err(error) => Problem::from(error).into(),
        }
    }

    /// Set a user's budget
    ///
    /// Gives the user this budget (or changes it). What they consumed in the current period and
    /// what they hold stay counted; a new period starts under the new policy. Administrators only.
    #[oai(path = "/users/:id/budget", method = "put", operation_id = "setUserBudget")]
    async fn set(&self, auth: BearerAuth, id: Path<Uuid>, body: Json<BudgetPolicyRequest>) -> SetBudgetResponse {
        answer(
            async {
                let budget = self.budgets.set(&auth.0, id.0.into(), Some(body.0.try_into_domain()?)).await?;
                let budget = budget.ok_or_else(|| Problem::internal(&"a budget just set is missing"))?;
                Ok(SetBudgetResponse::Ok(Json(budget.into())))
            }
            .await,
        )
    }

    /// Remove a user's budget
    ///
    /// The user has no limit any more (removing a budget the user does not have changes
    /// nothing). Administrators only.
    #[oai(path = "/users/:id/budget", method = "delete", operation_id = "removeUserBudget")]
    async fn remove(&self, auth: BearerAuth, id: Path<Uuid>) -> RemoveBudgetResponse {
        match self.budgets.set(&auth.0, id.0.into(), None).await {
            Ok(_) => RemoveBudgetResponse::Removed,
            Err(error) => Problem::from(error).into(),
        }
    }

    /// A user's usage
    ///
    /// Credits and every usage metric (chats, AI responses, pages imported, ...) the user used
    /// from the UTC day `from` to the UTC day `to`, both included (at most 366 days); `to` is
    /// today by default, `from` the first of `to`'s month. Administrators and collaborators
    /// read anyone's; users read their own.
    #[oai(path = "/users/:id/usage", method = "get", operation_id = "getUserUsage")]
    async fn usage(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        /// First day (UTC, `YYYY-MM-DD`); the first of `to`'s month by default.
        from: Query<Option<String>>,
        /// Last day, included (UTC, `YYYY-MM-DD`); today by default.
        to: Query<Option<String>>,
    ) -> UsageResponse {
        answer(
            async {
                let today = self.clock.now().date_naive();
                let span = to.0.as_deref().map(parse_day).transpose().and_then(|to| {
                    let to = to.unwrap_or(today);
                    let first = to.with_day(1).expect("every month has a first day");
                    Ok((from.0.as_deref().map(parse_day).transpose()?.unwrap_or(first), to))
                });
                let (from, to) = match span {
                    Ok(span) => span,
                    Err(problem) => {
                        // Who may read this use is told before what is wrong with the days.
                        self.budgets.usage(&auth.0, id.0.into(), today, today).await?;
                        return Err(problem);
                    }
                };
                let report = self.budgets.usage(&auth.0, id.0.into(), from, to).await?;
                Ok(UsageResponse::Ok(Json(UsageReportBody { from, to, usage: report.into() })))
            }
            .await,
        )
    }
}
