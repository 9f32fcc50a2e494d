//! Budget bodies, shared by the budget, usage, entitlements, settings and user endpoints.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use roster_domain::budget::{Budget, BudgetPeriod, BudgetPolicy, Credits, Threshold};
use roster_domain::usage::UsageReport;

use crate::api::problem::Problem;

/// When consumption starts again from zero: `none` never, `daily` at 00:00 UTC, `weekly` on
/// Mondays at 00:00 UTC, `monthly` on the 1st at 00:00 UTC.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "BudgetPeriod", rename_all = "lowercase")]
pub enum PeriodDto {
    /// Never: the limit is for the budget's whole life.
    None,
    /// Every day at 00:00 UTC.
    Daily,
    /// Every Monday at 00:00 UTC.
    Weekly,
    /// The first of every month at 00:00 UTC.
    Monthly,
}

impl From<PeriodDto> for BudgetPeriod {
    fn from(period: PeriodDto) -> Self {
        match period {
            PeriodDto::None => Self::None,
            PeriodDto::Daily => Self::Daily,
            PeriodDto::Weekly => Self::Weekly,
            PeriodDto::Monthly => Self::Monthly,
        }
    }
}

impl From<BudgetPeriod> for PeriodDto {
    fn from(period: BudgetPeriod) -> Self {
        match period {
            BudgetPeriod::None => Self::None,
            BudgetPeriod::Daily => Self::Daily,
            BudgetPeriod::Weekly => Self::Weekly,
            BudgetPeriod::Monthly => Self::Monthly,
        }
    }
}

/// A budget to give: credits per period. A credit is an integer unit of AI spend that the
/// platform defines (e.g. 1/10,000 of a US dollar).
#[derive(Object, Debug, Clone)]
#[oai(rename = "BudgetPolicy", deny_unknown_fields)]
pub struct BudgetPolicyRequest {
    /// Credits per period: 0 to 10^15.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000000000")))]
    pub limit: i64,
    /// When consumption resets.
    pub period: PeriodDto,
    /// Percentage of the limit (1 to 100) at which `warning` is raised; no warning when omitted.
    #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
    pub warn_at_percent: Option<u8>,
    /// Whether reservations beyond the limit are refused (`true`, the default) or only reported.
    pub hard: Option<bool>,
}

impl BudgetPolicyRequest {
    /// The domain policy, or the first invalid value.
    pub fn try_into_domain(self) -> Result<BudgetPolicy, Problem> {
        Ok(BudgetPolicy {
            limit: Credits::new(self.limit).map_err(|e| Problem::bad_request(e.to_string()))?,
            period: self.period.into(),
            warn_at: self
                .warn_at_percent
                .map(Threshold::new)
                .transpose()
                .map_err(|e| Problem::bad_request(e.to_string()))?,
            hard: self.hard.unwrap_or(true),
        })
    }
}

/// A budget's policy, as configured.
#[derive(Object, Debug, Clone)]
#[oai(rename = "BudgetPolicyView", skip_serializing_if_is_none)]
pub struct BudgetPolicyBody {
    /// Credits per period.
    pub limit: i64,
    /// When consumption resets.
    pub period: PeriodDto,
    /// Percentage of the limit at which `warning` is raised.
    pub warn_at_percent: Option<u8>,
    /// Whether reservations beyond the limit are refused.
    pub hard: bool,
}

impl From<BudgetPolicy> for BudgetPolicyBody {
    fn from(policy: BudgetPolicy) -> Self {
        Self {
            limit: policy.limit.get(),
            period: policy.period.into(),
            warn_at_percent: policy.warn_at.map(Threshold::percent),
            hard: policy.hard,
        }
    }
}

/// A user's budget as of now.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Budget", skip_serializing_if_is_none)]
pub struct BudgetBody {
    /// Credits per period.
    pub limit: i64,
    /// When consumption resets.
    pub period: PeriodDto,
    /// Percentage of the limit at which `warning` is raised.
    pub warn_at_percent: Option<u8>,
    /// Whether reservations beyond the limit are refused.
    pub hard: bool,
    /// Credits consumed in the current period.
    pub consumed: i64,
    /// Credits held by live reservations.
    pub reserved: i64,
    /// Credits left: `limit - consumed - reserved`, never below 0.
    pub remaining: i64,
    /// When the current period began; absent for a budget without period.
    pub period_start: Option<DateTime<Utc>>,
    /// When consumption next resets; absent for a budget without period.
    pub resets_at: Option<DateTime<Utc>>,
    /// Whether use has reached `warn_at_percent` of the limit.
    pub warning: bool,
}

impl From<Budget> for BudgetBody {
    fn from(budget: Budget) -> Self {
        let periodic = budget.policy.period != BudgetPeriod::None;
        Self {
            limit: budget.policy.limit.get(),
            period: budget.policy.period.into(),
            warn_at_percent: budget.policy.warn_at.map(Threshold::percent),
            hard: budget.policy.hard,
            consumed: budget.consumed.get(),
            reserved: budget.reserved.get(),
            remaining: budget.remaining(),
            period_start: periodic.then_some(budget.period_start),
            resets_at: budget.resets_at(),
            warning: budget.warning(),
        }
    }
}

/// Use over a span: credits and every other metric.
#[derive(Object, Debug, Clone, Default)]
#[oai(rename = "Usage")]
pub struct UsageBody {
    /// Credits consumed.
    pub credits: i64,
    /// Other counts by metric name (e.g. `chats`, `ai_responses`, `pages_imported`).
    pub metrics: BTreeMap<String, i64>,
}

impl From<UsageReport> for UsageBody {
    fn from(report: UsageReport) -> Self {
        Self { credits: report.credits, metrics: report.metrics }
    }
}
