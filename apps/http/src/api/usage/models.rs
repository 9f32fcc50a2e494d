//! Request and response bodies of the metering API, and their translation to the domain.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use roster_domain::budget::{Budget, Credits};
use roster_domain::usage::{
    EventOutcome, IdempotencyKey, Metrics, Reservation, ReservationStatus, ReservationTtl, UsageEvent,
};
use uuid::Uuid;

use crate::api::budgets::models::BudgetBody;
use crate::api::problem::Problem;
use crate::api::text::Text;

pub(super) fn credits(value: i64) -> Result<Credits, Problem> {
    Credits::new(value).map_err(|e| Problem::bad_request(e.to_string()))
}

pub(super) fn key(text: &Text) -> Result<IdempotencyKey, Problem> {
    IdempotencyKey::parse(text.as_str()).map_err(|e| Problem::unprocessable("invalid_idempotency_key", e.to_string()))
}

pub(super) fn metrics(metrics: Option<BTreeMap<String, u64>>) -> Result<Metrics, Problem> {
    let metrics = metrics.unwrap_or_default();
    Metrics::new(metrics.iter().map(|(name, value)| (name.as_str(), *value)))
        .map_err(|e| Problem::unprocessable("invalid_metrics", e.to_string()))
}

/// Credits to hold for one piece of AI work.
#[derive(Object, Debug)]
#[oai(rename = "ReserveCredits", deny_unknown_fields)]
pub struct ReserveRequestBody {
    /// The user the work is for.
    pub user: Uuid,
    /// Credits to hold: the most the work may cost.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))]
    pub credits: i64,
    /// Makes the request idempotent: a retry with the same key gets the original answer.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub idempotency_key: Text,
    /// How long the credits are held before they release themselves: 1 to 3600 s, 300 by default.
    #[oai(validator(minimum(value = "1"), maximum(value = "3600")))]
    pub ttl_seconds: Option<u32>,
}

impl ReserveRequestBody {
    /// The credits, key and lifetime.
    pub fn parts(&self) -> Result<(Credits, IdempotencyKey, ReservationTtl), Problem> {
        let ttl = match self.ttl_seconds {
            None => ReservationTtl::DEFAULT,
            Some(seconds) => {
                ReservationTtl::from_seconds(seconds.into()).map_err(|e| Problem::bad_request(e.to_string()))?
            }
        };
        Ok((credits(self.credits)?, key(&self.idempotency_key)?, ttl))
    }
}

/// Where a reservation is in its life.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "ReservationStatus", rename_all = "lowercase")]
pub enum ReservationStatusDto {
    /// Holding its credits.
    Active,
    /// Its actual use is recorded.
    Committed,
    /// Given back unused.
    Released,
    /// Given back because its time ran out.
    Expired,
}

/// Credits held for one piece of AI work.
#[derive(Object, Debug)]
#[oai(rename = "Reservation", skip_serializing_if_is_none)]
pub struct ReservationBody {
    /// Id: commit or release it with this.
    pub id: Uuid,
    /// The user.
    pub user: Uuid,
    /// Credits held.
    pub credits: i64,
    /// Where it is in its life.
    pub status: ReservationStatusDto,
    /// Credits actually used, once committed.
    pub committed_credits: Option<i64>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it releases itself if neither committed nor released.
    pub expires_at: DateTime<Utc>,
    /// Credits left in the user's budget after this; absent when the user has no budget.
    pub remaining: Option<i64>,
    /// The user's budget after this; absent when the user has none.
    pub budget: Option<BudgetBody>,
}

impl ReservationBody {
    /// The body of `reservation`, with the user's budget after it.
    pub fn new(reservation: Reservation, budget: Option<Budget>) -> Self {
        let status = match reservation.status {
            ReservationStatus::Active => ReservationStatusDto::Active,
            ReservationStatus::Committed => ReservationStatusDto::Committed,
            ReservationStatus::Released => ReservationStatusDto::Released,
            ReservationStatus::Expired => ReservationStatusDto::Expired,
        };
        Self {
            id: reservation.id.into(),
            user: reservation.user.into(),
            credits: reservation.credits.get(),
            status,
            committed_credits: reservation.committed.map(Credits::get),
            created_at: reservation.created_at,
            expires_at: reservation.expires_at,
            remaining: budget.map(|b| b.remaining()),
            budget: budget.map(Into::into),
        }
    }
}

/// The actual use of a reservation.
#[derive(Object, Debug)]
#[oai(rename = "CommitUsage", deny_unknown_fields)]
pub struct CommitRequestBody {
    /// Credits actually used: may be less or more than held (all of it is recorded).
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))]
    pub credits: i64,
    /// Other counts, e.g. `{"chats": 1, "ai_responses": 1}`: up to 32 names of `a-z 0-9 _`.
    pub metrics: Option<BTreeMap<String, u64>>,
}

/// Use recorded without a reservation.
#[derive(Object, Debug)]
#[oai(rename = "UsageEvent", deny_unknown_fields)]
pub struct UsageEventBody {
    /// Makes the event idempotent: an event with a key already recorded is not counted again
    /// (see `UsageEventStatus`).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub idempotency_key: Text,
    /// Whose use.
    pub user: Uuid,
    /// Credits consumed (counted even beyond a hard limit: the work is done).
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))]
    pub credits: i64,
    /// Other counts, e.g. `{"pages_imported": 12}`.
    pub metrics: Option<BTreeMap<String, u64>>,
    /// When the use happened; now when omitted. It counts on that UTC day in usage reports, and
    /// against the budget's current period when within it. At most 5 minutes ahead of the
    /// server's clock (`event_in_future`).
    pub occurred_at: Option<DateTime<Utc>>,
}

impl UsageEventBody {
    /// The domain event, or the first invalid value.
    pub fn try_into_domain(self) -> Result<UsageEvent, Problem> {
        Problem::check_times([&self.occurred_at])?;
        Ok(UsageEvent {
            key: key(&self.idempotency_key)?,
            user: self.user.into(),
            credits: credits(self.credits)?,
            metrics: metrics(self.metrics)?,
            occurred_at: self.occurred_at,
        })
    }
}

/// A batch of usage events.
#[derive(Object, Debug)]
#[oai(rename = "UsageEvents", deny_unknown_fields)]
pub struct UsageEventsRequest {
    /// 1 to 1000 events with distinct keys, recorded in one transaction.
    #[oai(validator(min_items = 1, max_items = 1000))]
    pub events: Vec<UsageEventBody>,
}

/// What became of one event.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "UsageEventStatus", rename_all = "snake_case")]
pub enum EventStatusDto {
    /// Recorded now.
    Recorded,
    /// Recorded earlier under the same key, with the same user, credits, metrics (and time,
    /// when given): a retry, not counted again.
    Duplicate,
    /// Recorded earlier under the same key with another user, credits, metrics or time: this
    /// event is not recorded.
    IdempotencyKeyReused,
    /// No such user in the tenant: not recorded.
    UserNotFound,
}

impl From<EventOutcome> for EventStatusDto {
    fn from(outcome: EventOutcome) -> Self {
        match outcome {
            EventOutcome::Recorded => Self::Recorded,
            EventOutcome::Duplicate => Self::Duplicate,
            EventOutcome::KeyReused => Self::IdempotencyKeyReused,
            EventOutcome::UserNotFound => Self::UserNotFound,
        }
    }
}

/// What became of one event of a batch.
#[derive(Object, Debug)]
#[oai(rename = "UsageEventResult")]
pub struct EventResultBody {
    /// The event's key.
    pub idempotency_key: String,
    /// What became of it.
    pub status: EventStatusDto,
}

/// What became of each event of a batch, in order.
#[derive(Object, Debug)]
#[oai(rename = "UsageEventResults")]
pub struct EventResultsBody {
    /// One per event, in the order sent.
    pub results: Vec<EventResultBody>,
}
