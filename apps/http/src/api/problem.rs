//! Errors as RFC 9457 problem details (`application/problem+json`) with a stable `code`, and
//! the glue that turns any failure (domain errors, poem's own parse errors, authentication)
//! into the problem variant an operation declares.

use poem::http::StatusCode;
use poem_openapi::Object;

/// The content type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error, as RFC 9457 problem details. `code` is stable and machine-readable; `title` and
/// `detail` are for people.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(rename = "Problem")]
pub struct Problem {
    /// A URI identifying the kind of problem: `urn:roster:problem:<code>`.
    #[oai(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Stable machine-readable code, e.g. `last_administrator`.
    pub code: String,
    /// What went wrong in this occurrence.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// `no_seats_available`: the license kind that has no free seat.
    #[oai(skip_serializing_if_is_none)]
    pub kind: Option<uuid::Uuid>,
    /// `no_seats_available`: the kind's purchased seats.
    #[oai(skip_serializing_if_is_none)]
    pub seats: Option<u64>,
    /// `no_seats_available`, `seats_in_use`, `license_in_use`: the seats assigned right now.
    #[oai(skip_serializing_if_is_none)]
    pub assigned: Option<u64>,
    /// `budget_exceeded`: the budget's limit, in credits.
    #[oai(skip_serializing_if_is_none)]
    pub limit: Option<i64>,
    /// `budget_exceeded`: credits consumed in the current period.
    #[oai(skip_serializing_if_is_none)]
    pub consumed: Option<i64>,
    /// `budget_exceeded`: credits held by live reservations.
    #[oai(skip_serializing_if_is_none)]
    pub reserved: Option<i64>,
}

impl Problem {
    /// A problem with `status`, `code` and a human `detail`.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            problem_type: format!("urn:roster:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: Some(detail.into()),
            kind: None,
            seats: None,
            assigned: None,
            limit: None,
            consumed: None,
            reserved: None,
        }
    }

    /// 400 `invalid_request`.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid bearer token is required: Authorization: Bearer <token>",
        )
    }

    /// 429 `too_many_requests`: the client retries in `wait` seconds.
    pub fn too_many_requests(wait: u64) -> Self {
        let detail = format!("too many attempts from your address; retry in {wait} s");
        Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", detail)
    }

    /// 404 with `code`.
    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 409 with `code`.
    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 422 with `code`: the request is well-formed but a value is not acceptable.
    pub fn unprocessable(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 422 `invalid_time` unless every instant is one Roster can store (years 1 to 9999).
    pub fn check_times<'a>(
        instants: impl IntoIterator<Item = &'a Option<chrono::DateTime<chrono::Utc>>>,
    ) -> Result<(), Self> {
        if instants.into_iter().flatten().all(roster_domain::paging::is_storable) {
            Ok(())
        } else {
            Err(Self::unprocessable("invalid_time", "instants must lie between the years 1 and 9999 (UTC)"))
        }
    }

    /// 500 `internal_error`, after logging the cause (never shown to the client).
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed unexpectedly");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed unexpectedly; the error is logged with this request's x-request-id",
        )
    }

    /// The problem as a poem response.
    pub fn into_poem_response(self) -> poem::Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = poem_openapi::types::ToJSON::to_json_string(&self);
        poem::Response::builder().status(status).content_type(PROBLEM_JSON).body(body)
    }
}

/// A [`Problem`] carried through poem's error type (e.g. out of the authentication checker).
#[derive(Debug)]
pub struct ProblemError(pub Problem);

impl std::fmt::Display for ProblemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.detail.as_deref().unwrap_or(""))
    }
}

impl std::error::Error for ProblemError {}

impl poem::error::ResponseError for ProblemError {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn as_response(&self) -> poem::Response {
        self.0.clone().into_poem_response()
    }
}

/// The problem describing a failure poem met before the operation ran.
pub fn from_poem_error(error: &poem::Error) -> Problem {
    if let Some(ProblemError(problem)) = error.downcast_ref::<ProblemError>() {
        return problem.clone();
    }
    match error.status() {
        StatusCode::UNAUTHORIZED => Problem::unauthenticated(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("{error}; send Content-Type: application/json"),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", error.to_string())
        }
        StatusCode::NOT_FOUND => Problem::not_found("route_not_found", "no such endpoint; see /openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED => Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not accept this method",
        ),
        status if status.is_server_error() => Problem::internal(error),
        _ => Problem::bad_request(error.to_string()),
    }
}

/// The response of an operation: its value, or the variant that declares its problem. Lets a
/// handler be a linear `?` chain over results whose errors convert into problems.
pub fn answer<R: From<Problem>>(result: Result<R, Problem>) -> R {
    result.unwrap_or_else(R::from)
}

/// Lets an operation's response enum hold any [`Problem`]: each maps statuses onto the variants
/// it declares (see [`problem_responses!`]).
pub trait FromProblem {
    /// The variant for `problem`.
    fn from_problem(problem: Problem) -> Self;
}

/// The `bad_request_handler` of every response enum: poem's parse, content-type and
/// authentication errors become declared problem variants.
pub fn from_request_error<R: FromProblem>(error: poem::Error) -> R {
    R::from_problem(from_poem_error(&error))
}

/// Implements [`FromProblem`] for a response enum: `status => Variant` for each declared
/// problem status. A status the enum does not declare is a bug: it is logged and answered as
/// the enum's 500 variant, so the response still matches the spec.
macro_rules! problem_responses {
    ($response:ty { $($status:literal => $variant:ident),+ $(,)? }) => {
        impl $crate::api::problem::FromProblem for $response {
            fn from_problem(problem: $crate::api::problem::Problem) -> Self {
                match problem.status {
                    $($status => Self::$variant(poem_openapi::payload::Json(problem)),)+
                    500 => Self::Internal(poem_openapi::payload::Json(problem)),
                    _ => {
                        tracing::error!(code = %problem.code, status = problem.status, "undeclared problem status");
                        Self::Internal(poem_openapi::payload::Json($crate::api::problem::Problem::internal(&problem.code)))
                    }
                }
            }
        }

        impl From<$crate::api::problem::Problem> for $response {
            fn from(problem: $crate::api::problem::Problem) -> Self {
                <Self as $crate::api::problem::FromProblem>::from_problem(problem)
            }
        }
    };
}

pub(crate) use problem_responses;
