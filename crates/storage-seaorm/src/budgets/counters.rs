//! Usage counters, added to in the transaction of every commit and event: per user and metric
//! (all time), per user, UTC day and metric, and per tenant and UTC day (credits only, spread
//! over [`SHARDS`] rows so that concurrent transactions of one tenant do not queue on one row:
//! each transaction adds to one shard, drawn at random).
//!
//! A transaction gathers its use in a [`Usage`] and writes it at the end, one statement per
//! table, each in key order: the order in which every transaction locks counter rows (after the
//! budgets and reservations it locks), so that concurrent transactions never deadlock.

use std::collections::BTreeMap;

use crate::listed::{Cell, Listed};
use crate::writes::Writes;
use chrono::NaiveDate;
use roster_domain::usage::{MetricName, Metrics};
use roster_domain::{TenantId, UserId};

/// How many rows a tenant's daily credits are spread over.
pub(crate) const SHARDS: i16 = 8;

/// Rows to one statement: far below either database's limit of bound values.
const ROWS_PER_STATEMENT: usize = 1000;

/// Use to be added to the counters, summed by counter row.
#[derive(Debug)]
pub(crate) struct Usage {
    totals: BTreeMap<(UserId, String), (TenantId, i64)>,
    daily: BTreeMap<(UserId, NaiveDate, String), (TenantId, i64)>,
    tenant: BTreeMap<(TenantId, NaiveDate, i16), i64>,
    /// The shard of the tenant's daily credits this transaction adds to.
    shard: i16,
}

impl Default for Usage {
    fn default() -> Self {
        // The random bits of a fresh v7 id: any shard will do, each as likely.
        let shard = i16::from(uuid::Uuid::now_v7().as_bytes()[15]) % SHARDS;
        Self { totals: BTreeMap::new(), daily: BTreeMap::new(), tenant: BTreeMap::new(), shard }
    }
}

impl Usage {
    /// Adds `credits` and `metrics`, used by `user` of `tenant` on `day`.
    pub(crate) fn add(&mut self, tenant: TenantId, user: UserId, day: NaiveDate, credits: i64, metrics: &Metrics) {
        let pairs = std::iter::once((MetricName::CREDITS, credits))
            .chain(metrics.iter().map(|(name, value)| (name.as_str(), i64::try_from(value).unwrap_or(i64::MAX))));
        for (metric, value) in pairs {
            let total = &mut self.totals.entry((user, metric.to_owned())).or_insert((tenant, 0)).1;
            *total = total.saturating_add(value);
            let daily = &mut self.daily.entry((user, day, metric.to_owned())).or_insert((tenant, 0)).1;
            *daily = daily.saturating_add(value);
        }
        if credits > 0 {
            let spent = self.tenant.entry((tenant, day, self.shard)).or_default();
            *spent = spent.saturating_add(credits);
        }
    }

    /// Adds the writes that add it all to the counters to `writes`.
    pub(crate) fn write(&self, writes: &mut Writes) {
        let totals = self.totals.iter().map(|((user, metric), (tenant, value))| {
            vec![
                Cell::Uuid(user.as_uuid()),
                Cell::Text(metric.clone()),
                Cell::Uuid(tenant.as_uuid()),
                Cell::Int(*value),
            ]
        });
        upsert(
            writes,
            "usage_totals",
            &[("user_id", "uuid"), ("metric", "text"), ("tenant_id", "uuid"), ("value", "bigint")],
            &format!(
                "ON CONFLICT (user_id, metric) DO UPDATE SET value = {}",
                saturating_sum("usage_totals.value", "excluded.value")
            ),
            totals,
        );
        let daily = self.daily.iter().map(|((user, day, metric), (tenant, value))| {
            let (user, tenant) = (Cell::Uuid(user.as_uuid()), Cell::Uuid(tenant.as_uuid()));
            vec![user, Cell::Day(*day), Cell::Text(metric.clone()), tenant, Cell::Int(*value)]
        });
        upsert(
            writes,
            "usage_daily",
            &[("user_id", "uuid"), ("day", "date"), ("metric", "text"), ("tenant_id", "uuid"), ("value", "bigint")],
            &format!(
                "ON CONFLICT (user_id, day, metric) DO UPDATE SET value = {}",
                saturating_sum("usage_daily.value", "excluded.value")
            ),
            daily,
        );
        let tenant = self.tenant.iter().map(|((tenant, day, shard), credits)| {
            vec![Cell::Uuid(tenant.as_uuid()), Cell::Day(*day), Cell::SmallInt(*shard), Cell::Int(*credits)]
        });
        upsert(
            writes,
            "usage_tenant_daily",
            &[("tenant_id", "uuid"), ("day", "date"), ("shard", "smallint"), ("credits", "bigint")],
            &format!(
                "ON CONFLICT (tenant_id, day, shard) DO UPDATE SET credits = {}",
                saturating_sum("usage_tenant_daily.credits", "excluded.credits")
            ),
            tenant,
        );
    }
}

/// `stored + added`, stopping at `i64::MAX` (`added` is never negative): a counter that would
/// overflow stays at the most it can count, where SQLite would turn the sum into a
/// floating-point number and PostgreSQL fail the statement.
pub(crate) fn saturating_sum(stored: &str, added: &str) -> String {
    format!("CASE WHEN {stored} > {max} - {added} THEN {max} ELSE {stored} + {added} END", max = i64::MAX)
}

/// Inserts `rows` into `table` (with `tail`, an `ON CONFLICT` clause), [`ROWS_PER_STATEMENT`]
/// rows at a time.
fn upsert(
    writes: &mut Writes,
    table: &str,
    columns: &[(&str, &str)],
    tail: &str,
    rows: impl Iterator<Item = Vec<Cell>>,
) {
    let mut listed = Listed::new(columns);
    for row in rows {
        listed.push(row);
        if listed.len() == ROWS_PER_STATEMENT {
            let (sql, values) = listed.insert(writes.backend(), table, tail);
            writes.push(sql, values);
            listed = Listed::new(columns);
        }
    }
    if !listed.is_empty() {
        let (sql, values) = listed.insert(writes.backend(), table, tail);
        writes.push(sql, values);
    }
}
