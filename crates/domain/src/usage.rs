//! Usage metering for the AI gateway: reservations (hold credits before the work, then commit
//! the actual use or release), usage events (use recorded without a reservation), named usage
//! metrics (chats, AI responses, pages imported, ...) and idempotency keys, so that a retried
//! request is applied at most once and gets the original answer.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::TimeDelta;

use crate::budget::{Budget, Credits};
use crate::{ReservationId, TenantId, Timestamp, UserId};

/// A client-chosen key that makes a request idempotent: 1 to 200 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

/// The text is not an acceptable idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an idempotency key is 1 to 200 visible ASCII characters")]
pub struct IdempotencyKeyError;

impl IdempotencyKey {
    /// Parses a key.
    ///
    /// # Errors
    /// [`IdempotencyKeyError`] when empty, too long or not visible ASCII.
    pub fn parse(text: &str) -> Result<Self, IdempotencyKeyError> {
        let valid = !text.is_empty() && text.len() <= 200 && text.bytes().all(|b| b.is_ascii_graphic());
        if valid { Ok(Self(text.to_owned())) } else { Err(IdempotencyKeyError) }
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of a usage metric, e.g. `chats` or `pages_imported`: 1 to 64 of `a-z 0-9 _`,
/// starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricName(String);

/// The text is not an acceptable metric name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a metric name is 1 to 64 of a-z 0-9 _, starting with a letter: {0:?}")]
pub struct MetricNameError(pub String);

impl MetricName {
    /// The metric every commit and event counts: the credits consumed.
    pub const CREDITS: &'static str = "credits";

    /// Parses a name.
    ///
    /// # Errors
    /// [`MetricNameError`] when it breaks the rule above.
    pub fn parse(text: &str) -> Result<Self, MetricNameError> {
        let valid = (1..=64).contains(&text.len())
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid { Ok(Self(text.to_owned())) } else { Err(MetricNameError(text.to_owned())) }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The most metrics one commit or event may carry, and the largest value of one.
pub const MAX_METRICS: usize = 32;
/// See [`MAX_METRICS`].
pub const MAX_METRIC_VALUE: u64 = 1_000_000_000_000;

/// Counts of named metrics carried by a commit or an event (`credits` is reserved: it is the
/// credits consumed, counted by Roster itself).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metrics(BTreeMap<MetricName, u64>);

/// The metrics are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// A name breaks the naming rule.
    #[error(transparent)]
    Name(#[from] MetricNameError),
    /// `credits` is counted by Roster.
    #[error("the metric name `credits` is reserved: credits are counted from the `credits` field")]
    Reserved,
    /// Too many metrics, or a value too large.
    #[error("at most {MAX_METRICS} metrics, each at most {MAX_METRIC_VALUE}")]
    TooMuch,
}

impl Metrics {
    /// Metrics from name-value pairs.
    ///
    /// # Errors
    /// See [`MetricsError`].
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, u64)>) -> Result<Self, MetricsError> {
        let mut metrics = BTreeMap::new();
        for (name, value) in pairs {
            let name = MetricName::parse(name)?;
            if name.as_str() == MetricName::CREDITS {
                return Err(MetricsError::Reserved);
            }
            if value > MAX_METRIC_VALUE {
                return Err(MetricsError::TooMuch);
            }
            metrics.insert(name, value);
        }
        if metrics.len() > MAX_METRICS {
            return Err(MetricsError::TooMuch);
        }
        Ok(Self(metrics))
    }

    /// The name-value pairs, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&MetricName, u64)> {
        self.0.iter().map(|(name, value)| (name, *value))
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// How long a reservation holds its credits before it releases itself: 1 second to 1 hour,
/// 5 minutes by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservationTtl(u32);

/// The lifetime is outside 1 second to 1 hour.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a reservation lives 1 to 3600 seconds")]
pub struct ReservationTtlError;

impl ReservationTtl {
    /// Five minutes.
    pub const DEFAULT: Self = Self(300);

    /// A lifetime of `seconds`.
    ///
    /// # Errors
    /// [`ReservationTtlError`] outside 1 to 3600.
    pub fn from_seconds(seconds: u64) -> Result<Self, ReservationTtlError> {
        match u32::try_from(seconds) {
            Ok(s) if (1..=3600).contains(&s) => Ok(Self(s)),
            _ => Err(ReservationTtlError),
        }
    }

    /// As a duration.
    #[must_use]
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.0))
    }
}

/// Where a reservation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    /// Holding its credits.
    Active,
    /// Its actual use was recorded.
    Committed,
    /// Given back unused.
    Released,
    /// Given back because its time ran out.
    Expired,
}

impl ReservationStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [Self::Active, Self::Committed, Self::Released, Self::Expired];

    /// The stable name used in storage and the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Committed => "committed",
            Self::Released => "released",
            Self::Expired => "expired",
        }
    }
}

/// The text is not a reservation status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reservation status {0:?}")]
pub struct UnknownReservationStatus(pub String);

impl FromStr for ReservationStatus {
    type Err = UnknownReservationStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| UnknownReservationStatus(s.to_owned()))
    }
}

/// Credits held for one piece of AI work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// Id.
    pub id: ReservationId,
    /// The tenant.
    pub tenant: TenantId,
    /// Whose budget holds the credits.
    pub user: UserId,
    /// The key the gateway sent.
    pub key: IdempotencyKey,
    /// Credits held.
    pub credits: Credits,
    /// Where it is in its life.
    pub status: ReservationStatus,
    /// The credits actually used, once committed.
    pub committed: Option<Credits>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it releases itself if still active.
    pub expires_at: Timestamp,
}

impl Reservation {
    /// Whether it still holds its credits at `now`.
    #[must_use]
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.status == ReservationStatus::Active && now < self.expires_at
    }

    /// Whether it is active but past its time at `now`: expired, whether marked so yet or not
    /// (reservations are marked expired lazily, those of users without a budget only when
    /// released).
    #[must_use]
    pub fn expired_by(&self, now: Timestamp) -> bool {
        self.status == ReservationStatus::Active && self.expires_at <= now
    }

    /// As it is at `now` (see [`expired_by`](Self::expired_by)).
    #[must_use]
    pub fn at(mut self, now: Timestamp) -> Self {
        if self.expired_by(now) {
            self.status = ReservationStatus::Expired;
        }
        self
    }
}

/// A request to hold credits for `user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveRequest {
    /// The tenant.
    pub tenant: TenantId,
    /// Whose budget.
    pub user: UserId,
    /// Credits to hold.
    pub credits: Credits,
    /// Makes the request idempotent.
    pub key: IdempotencyKey,
    /// How long to hold them.
    pub ttl: ReservationTtl,
}

/// What a reservation request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// Granted (or granted earlier under the same key: the original answer); `budget` is the
    /// user's budget after it, `None` when the user has no budget (no limit).
    Reserved {
        /// The reservation.
        reservation: Reservation,
        /// The budget after it.
        budget: Option<Budget>,
    },
    /// Refused: the budget is hard and the credits do not fit; nothing was held.
    Exceeded {
        /// The budget as it stands.
        budget: Budget,
    },
    /// No such user in the tenant.
    UserNotFound,
    /// The user is not active.
    UserInactive,
    /// The user holds no license seat: no AI access.
    NoLicense,
    /// The key was used for another request (another user or amount).
    KeyReused,
}

/// What committing a reservation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The use is recorded (now, or by an earlier identical commit: the original answer).
    Committed {
        /// The reservation, committed.
        reservation: Reservation,
        /// The user's budget after it.
        budget: Option<Budget>,
    },
    /// No such reservation in the tenant.
    NotFound,
    /// The reservation was released (before its time) or committed with other credits. An
    /// expired reservation takes the commit of its use: the work was done.
    Closed(Reservation),
}

/// What releasing a reservation came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// Released now, or already released or expired.
    Released {
        /// The reservation, released or expired.
        reservation: Reservation,
        /// The user's budget after it, if they have one.
        budget: Option<Budget>,
    },
    /// No such reservation in the tenant.
    NotFound,
    /// Committed: its use stays recorded.
    Committed(Reservation),
}

/// Use recorded without a reservation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    /// Makes the event idempotent.
    pub key: IdempotencyKey,
    /// Whose use.
    pub user: UserId,
    /// Credits consumed (counted even beyond a hard limit: the work is done).
    pub credits: Credits,
    /// Other counts.
    pub metrics: Metrics,
    /// When the use happened (the gateway's clock; Roster's when absent).
    pub occurred_at: Option<Timestamp>,
}

/// How far ahead of Roster's clock an event may be dated (the gateway's clock may run ahead).
pub const MAX_EVENT_LEAD: TimeDelta = TimeDelta::minutes(5);

impl UsageEvent {
    /// Is this event a retry of `recorded`, the event recorded earlier under its key (dated
    /// when it was recorded, if it came without a date)? The same user, credits and metrics;
    /// and the same time, to the microsecond stored, when this one gives a time.
    #[must_use]
    pub fn retries(&self, recorded: &UsageEvent) -> bool {
        let micros = |at: Timestamp| at.timestamp_micros();
        self.user == recorded.user
            && self.credits == recorded.credits
            && self.metrics == recorded.metrics
            && self.occurred_at.is_none_or(|at| Some(micros(at)) == recorded.occurred_at.map(micros))
    }
}

/// What recording one event came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Recorded now.
    Recorded,
    /// Recorded earlier under the same key, with the same content (see
    /// [`UsageEvent::retries`]): a retry, not counted again.
    Duplicate,
    /// The key was recorded earlier with other content: this event is not recorded.
    KeyReused,
    /// No such user in the tenant: not recorded.
    UserNotFound,
}

/// A user's use over a span of UTC days: credits and every metric.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UsageReport {
    /// Credits consumed.
    pub credits: i64,
    /// Other metrics, by name.
    pub metrics: BTreeMap<String, i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(credits: i64, metrics: &[(&str, u64)], at: Option<&str>) -> UsageEvent {
        UsageEvent {
            key: IdempotencyKey::parse("k").unwrap(),
            user: UserId::from(uuid::Uuid::nil()),
            credits: Credits::new(credits).unwrap(),
            metrics: Metrics::new(metrics.iter().copied()).unwrap(),
            occurred_at: at.map(|at| at.parse().unwrap()),
        }
    }

    #[test]
    fn a_retry_has_the_same_user_credits_metrics_and_time_when_it_gives_one() {
        let recorded = event(10, &[("chats", 1)], Some("2026-12-01T10:00:00.123456Z"));
        assert!(event(10, &[("chats", 1)], None).retries(&recorded));
        assert!(event(10, &[("chats", 1)], Some("2026-12-01T10:00:00.123456Z")).retries(&recorded));
        assert!(event(10, &[("chats", 1)], Some("2026-12-01T10:00:00.1234569Z")).retries(&recorded), "stored in µs");
        assert!(!event(10, &[("chats", 1)], Some("2026-12-01T10:00:01.123456Z")).retries(&recorded));
        assert!(!event(11, &[("chats", 1)], None).retries(&recorded));
        assert!(!event(10, &[("chats", 2)], None).retries(&recorded));
        assert!(!event(10, &[], None).retries(&recorded));
        let someone_else = UsageEvent { user: UserId::new(), ..event(10, &[("chats", 1)], None) };
        assert!(!someone_else.retries(&recorded));
    }

    #[test]
    fn an_active_reservation_past_its_time_is_expired_whether_marked_or_not() {
        let made: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
        let reservation = Reservation {
            id: ReservationId::new(),
            tenant: TenantId::new(),
            user: UserId::new(),
            key: IdempotencyKey::parse("k").unwrap(),
            credits: Credits::new(10).unwrap(),
            status: ReservationStatus::Active,
            committed: None,
            created_at: made,
            expires_at: made + TimeDelta::seconds(60),
        };
        let status =
            |reservation: &Reservation, seconds: i64| reservation.clone().at(made + TimeDelta::seconds(seconds)).status;
        assert_eq!(status(&reservation, 59), ReservationStatus::Active);
        assert_eq!(status(&reservation, 60), ReservationStatus::Expired);
        let committed = Reservation { status: ReservationStatus::Committed, ..reservation };
        assert_eq!(status(&committed, 61), ReservationStatus::Committed, "closed ones stay as they are");
    }
}
