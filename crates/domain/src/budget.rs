//! Budgets: how many credits a user may spend per period, and how many they have spent.
//!
//! A **credit** is Roster's unit of AI spend, an integer (never a float). The platform decides
//! what one credit is worth; a common choice is one credit per 1/10,000 of a US dollar of model
//! cost, so a limit of 100,000 credits is $10. Roster only adds, compares and resets integers.
//!
//! A budget has a limit, a period (`none`, `daily`, `weekly`, `monthly`, on UTC boundaries:
//! midnight, Monday midnight, the first of the month), an optional soft threshold (a percentage
//! of the limit that raises a `warning`) and hard enforcement on or off. With hard enforcement,
//! a reservation is granted only if `consumed + reserved + credits <= limit`; without, every
//! reservation is granted and the budget only informs. Consumption resets lazily: the first
//! operation in a new period starts it from zero, however long nothing happened.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, TimeZone as _, Utc};

use crate::Timestamp;

/// The most credits any amount may hold: 10^15. A budget's `reserved` and `consumed` stay
/// within it too (see [`Budget::admits`]); counters that add amounts up (usage, the sum of a
/// tenant's limits) stop at `i64::MAX` instead of overflowing.
pub const MAX_CREDITS: i64 = 1_000_000_000_000_000;

/// A non-negative number of credits, at most [`MAX_CREDITS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Credits(i64);

/// The number is negative or above [`MAX_CREDITS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("credits are whole numbers from 0 to {MAX_CREDITS}")]
pub struct CreditsError;

impl Credits {
    /// No credits.
    pub const ZERO: Self = Self(0);

    /// `value` credits.
    ///
    /// # Errors
    /// [`CreditsError`] when negative or above [`MAX_CREDITS`].
    pub fn new(value: i64) -> Result<Self, CreditsError> {
        if (0..=MAX_CREDITS).contains(&value) { Ok(Self(value)) } else { Err(CreditsError) }
    }

    /// The number.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How often consumption starts again from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetPeriod {
    /// Never: the limit is for the budget's whole life.
    None,
    /// Every day at 00:00 UTC.
    Daily,
    /// Every Monday at 00:00 UTC.
    Weekly,
    /// On the first of every month at 00:00 UTC.
    Monthly,
}

impl BudgetPeriod {
    /// Every period.
    pub const ALL: [Self; 4] = [Self::None, Self::Daily, Self::Weekly, Self::Monthly];

    /// The stable name used in storage and the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    /// When the period containing `now` began (for `none`: the Unix epoch, which never moves).
    #[must_use]
    pub fn start(self, now: Timestamp) -> Timestamp {
        let day = now.date_naive();
        let first = match self {
            Self::None => return DateTime::UNIX_EPOCH,
            Self::Daily => day,
            Self::Weekly => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Self::Monthly => day.with_day(1).expect("every month has a first day"),
        };
        midnight(first)
    }

    /// When the period containing `now` ends and consumption resets; `None` for `none`.
    #[must_use]
    pub fn resets_at(self, now: Timestamp) -> Option<Timestamp> {
        let start = self.start(now).date_naive();
        let next = match self {
            Self::None => return None,
            Self::Daily => start + Duration::days(1),
            Self::Weekly => start + Duration::days(7),
            Self::Monthly => {
                let (year, month) =
                    if start.month() == 12 { (start.year() + 1, 1) } else { (start.year(), start.month() + 1) };
                NaiveDate::from_ymd_opt(year, month, 1).expect("the first of a month exists")
            }
        };
        Some(midnight(next))
    }
}

fn midnight(day: NaiveDate) -> Timestamp {
    Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// The text is not a budget period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown budget period {0:?}: expected none, daily, weekly or monthly")]
pub struct UnknownPeriod(pub String);

impl FromStr for BudgetPeriod {
    type Err = UnknownPeriod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownPeriod(s.to_owned()))
    }
}

/// A percentage of the limit, 1 to 100, at which a budget raises its `warning`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Threshold(u8);

/// The percentage is not 1 to 100.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a warning threshold is a percentage from 1 to 100")]
pub struct ThresholdError;

impl Threshold {
    /// `percent` of the limit.
    ///
    /// # Errors
    /// [`ThresholdError`] outside 1 to 100.
    pub fn new(percent: u8) -> Result<Self, ThresholdError> {
        if (1..=100).contains(&percent) { Ok(Self(percent)) } else { Err(ThresholdError) }
    }

    /// The percentage.
    #[must_use]
    pub const fn percent(self) -> u8 {
        self.0
    }
}

/// What a budget allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetPolicy {
    /// Credits per period.
    pub limit: Credits,
    /// When consumption resets.
    pub period: BudgetPeriod,
    /// Where the warning starts, if anywhere.
    pub warn_at: Option<Threshold>,
    /// Whether reservations beyond the limit are refused (else the budget only informs).
    pub hard: bool,
}

/// A user's budget: its policy and what was spent in the current period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// What it allows.
    pub policy: BudgetPolicy,
    /// Credits consumed (committed usage) since `period_start`.
    pub consumed: Credits,
    /// Credits held by live reservations.
    pub reserved: Credits,
    /// When the period `consumed` counts from began.
    pub period_start: Timestamp,
}

impl Budget {
    /// A budget with nothing spent, its period starting at `now`'s.
    #[must_use]
    pub fn new(policy: BudgetPolicy, now: Timestamp) -> Self {
        Self { policy, consumed: Credits::ZERO, reserved: Credits::ZERO, period_start: policy.period.start(now) }
    }

    /// This budget as of `now`: consumption starts from zero when a new period began since
    /// `period_start` (reservations stay: they are released or committed on their own).
    #[must_use]
    pub fn at(&self, now: Timestamp) -> Self {
        let current = self.policy.period.start(now);
        if current > self.period_start {
            Self { consumed: Credits::ZERO, period_start: current, ..*self }
        } else {
            *self
        }
    }

    /// Whether use that occurred `at` is spent from this budget, judged at `now` (after
    /// [`at`](Self::at)): use dated before the budget's period is not (it counts in usage
    /// reports only), unless it is so only because this clock is behind the one that started the
    /// period (clocks of instances differ a little at a period's boundary): use of the last
    /// [`MAX_EVENT_LEAD`](crate::usage::MAX_EVENT_LEAD) before the period, recorded by a clock
    /// that has not reached it yet, is spent from it rather than from no period at all.
    #[must_use]
    pub fn spends(&self, at: Timestamp, now: Timestamp) -> bool {
        at >= self.period_start || (now < self.period_start && at >= self.period_start - crate::usage::MAX_EVENT_LEAD)
    }

    /// Credits committed or held.
    #[must_use]
    pub fn used(&self) -> i64 {
        self.consumed.get() + self.reserved.get()
    }

    /// Credits left before the limit (0 when at or past it).
    #[must_use]
    pub fn remaining(&self) -> i64 {
        (self.policy.limit.get() - self.used()).max(0)
    }

    /// Whether a reservation of `credits` is granted: with hard enforcement, only if it keeps
    /// `consumed + reserved` within the limit; without, as long as the credits held stay within
    /// [`MAX_CREDITS`], the most `reserved` counts.
    #[must_use]
    pub fn admits(&self, credits: Credits) -> bool {
        if self.policy.hard {
            self.used() + credits.get() <= self.policy.limit.get()
        } else {
            self.reserved.get() + credits.get() <= MAX_CREDITS
        }
    }

    /// Whether use has reached the soft threshold.
    #[must_use]
    pub fn warning(&self) -> bool {
        self.policy.warn_at.is_some_and(|threshold| {
            // used / limit >= percent / 100, in integers.
            i128::from(self.used()) * 100 >= i128::from(self.policy.limit.get()) * i128::from(threshold.percent())
        })
    }

    /// When consumption next resets; `None` for a budget without period.
    #[must_use]
    pub fn resets_at(&self) -> Option<Timestamp> {
        self.policy.period.resets_at(self.period_start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn policy(limit: i64, period: BudgetPeriod, hard: bool) -> BudgetPolicy {
        BudgetPolicy { limit: Credits::new(limit).unwrap(), period, warn_at: Threshold::new(80).ok(), hard }
    }

    #[test]
    fn periods_begin_and_end_on_utc_boundaries() {
        let now = at("2026-12-31T23:59:59.999999Z"); // a Thursday
        assert_eq!(BudgetPeriod::Daily.start(now), at("2026-12-31T00:00:00Z"));
        assert_eq!(BudgetPeriod::Daily.resets_at(now), Some(at("2027-01-01T00:00:00Z")));
        assert_eq!(BudgetPeriod::Weekly.start(now), at("2026-12-28T00:00:00Z"));
        assert_eq!(BudgetPeriod::Weekly.resets_at(now), Some(at("2027-01-04T00:00:00Z")));
        assert_eq!(BudgetPeriod::Monthly.start(now), at("2026-12-01T00:00:00Z"));
        assert_eq!(BudgetPeriod::Monthly.resets_at(now), Some(at("2027-01-01T00:00:00Z")));
        assert_eq!(BudgetPeriod::Monthly.resets_at(at("2027-02-14T12:00:00Z")), Some(at("2027-03-01T00:00:00Z")));
        assert_eq!(BudgetPeriod::None.start(now), DateTime::UNIX_EPOCH);
        assert_eq!(BudgetPeriod::None.resets_at(now), None);
        let monday = at("2026-11-23T00:00:00Z");
        assert_eq!(BudgetPeriod::Weekly.start(monday), monday, "a period begins at its own start");
    }

    #[test]
    fn use_dated_before_the_period_is_not_spent_unless_this_clock_is_behind() {
        let budget = Budget::new(policy(100, BudgetPeriod::Daily, true), at("2026-11-23T00:00:01Z"));
        let now = at("2026-11-23T10:00:00Z");
        assert!(budget.spends(at("2026-11-23T00:00:00Z"), now));
        assert!(!budget.spends(at("2026-11-22T23:59:59Z"), now), "yesterday's use, recorded late");
        // Another instance, a second ahead, started the day; this one still sees yesterday.
        let behind = at("2026-11-22T23:59:59.5Z");
        assert!(budget.spends(behind, behind), "counted in the new day rather than in none");
        assert!(!budget.spends(at("2026-11-22T12:00:00Z"), behind), "earlier that day stays out");
        assert!(!budget.spends(at("2026-11-21T12:00:00Z"), behind), "the day before stays out");
        let never = Budget::new(policy(100, BudgetPeriod::None, true), now);
        assert!(never.spends(at("2001-01-01T00:00:00Z"), now), "a budget without periods spends all use");
    }

    #[test]
    fn consumption_resets_lazily_in_a_later_period_however_late() {
        let mut budget = Budget::new(policy(100, BudgetPeriod::Daily, true), at("2026-11-23T10:00:00Z"));
        budget.consumed = Credits::new(90).unwrap();
        budget.reserved = Credits::new(5).unwrap();
        assert_eq!(budget.at(at("2026-11-23T23:59:59Z")), budget, "same day: nothing resets");
        let months_later = budget.at(at("2027-03-02T08:00:00Z"));
        assert_eq!(months_later.consumed, Credits::ZERO);
        assert_eq!(months_later.reserved.get(), 5, "reservations are released or committed on their own");
        assert_eq!(months_later.period_start, at("2027-03-02T00:00:00Z"));
        let never = Budget {
            consumed: Credits::new(90).unwrap(),
            ..Budget::new(policy(100, BudgetPeriod::None, true), at("2026-01-01T00:00:00Z"))
        };
        assert_eq!(never.at(at("2030-01-01T00:00:00Z")).consumed.get(), 90);
    }

    #[test]
    fn a_hard_budget_admits_up_to_its_limit_and_a_soft_one_up_to_what_reserved_counts() {
        let mut hard = Budget::new(policy(1000, BudgetPeriod::Monthly, true), at("2026-11-23T00:00:00Z"));
        hard.consumed = Credits::new(600).unwrap();
        hard.reserved = Credits::new(390).unwrap();
        assert!(hard.admits(Credits::new(10).unwrap()));
        assert!(!hard.admits(Credits::new(11).unwrap()));
        assert_eq!(hard.remaining(), 10);
        let soft = Budget { policy: BudgetPolicy { hard: false, ..hard.policy }, ..hard };
        assert!(soft.admits(Credits::new(1_000_000).unwrap()));
        // Never more held than `reserved` counts.
        let holding = Budget { reserved: Credits::new(MAX_CREDITS - 5).unwrap(), ..soft };
        assert!(holding.admits(Credits::new(5).unwrap()));
        assert!(!holding.admits(Credits::new(6).unwrap()));
        let over = Budget { consumed: Credits::new(2000).unwrap(), ..soft };
        assert_eq!(over.remaining(), 0);
    }

    #[test]
    fn the_warning_starts_at_the_threshold() {
        let mut budget = Budget::new(policy(1000, BudgetPeriod::Monthly, true), at("2026-11-23T00:00:00Z"));
        budget.consumed = Credits::new(799).unwrap();
        assert!(!budget.warning());
        budget.reserved = Credits::new(1).unwrap();
        assert!(budget.warning());
        let silent = Budget { policy: BudgetPolicy { warn_at: None, ..budget.policy }, ..budget };
        assert!(!silent.warning());
    }

    #[test]
    fn credits_and_thresholds_are_bounded() {
        assert!(Credits::new(-1).is_err());
        assert!(Credits::new(MAX_CREDITS).is_ok());
        assert!(Credits::new(MAX_CREDITS + 1).is_err());
        assert!(Threshold::new(0).is_err());
        assert!(Threshold::new(100).is_ok());
        assert!(Threshold::new(101).is_err());
    }
}
