//! Usage counters, added to in the transaction of every commit and event: per user and metric
//! (all time), per user, UTC day and metric, and per tenant and UTC day (credits only, spread
//! over [`SHARDS`] rows so that concurrent commits of one tenant do not queue on one row).
//!
//! A transaction gathers its use in a [`Usage`] and writes it at the end, one statement per
//! table, each in key order: the order in which every transaction locks counter rows (after the
//! budgets and reservations it locks), so that concurrent transactions never deadlock.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use roster_domain::usage::{MetricName, Metrics};
use roster_domain::{StoreError, TenantId, UserId};
use sea_orm::{ConnectionTrait as _, DatabaseTransaction, Value};

use crate::transaction::{insert_sql, raw, unexpected};

/// How many rows a tenant's daily credits are spread over.
pub(crate) const SHARDS: i16 = 8;

/// Rows to one statement: far below either database's limit of bound values.
const ROWS_PER_STATEMENT: usize = 1000;

/// The shard of the tenant's daily credits that `user`'s use is added to.
pub(crate) fn shard(user: UserId) -> i16 {
    i16::from(user.as_uuid().as_bytes()[15]) % SHARDS
}

/// Use to be added to the counters, summed by counter row.
#[derive(Debug, Default)]
pub(crate) struct Usage {
    totals: BTreeMap<(UserId, String), (TenantId, i64)>,
    daily: BTreeMap<(UserId, NaiveDate, String), (TenantId, i64)>,
    tenant: BTreeMap<(TenantId, NaiveDate, i16), i64>,
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
            let spent = self.tenant.entry((tenant, day, shard(user))).or_default();
            *spent = spent.saturating_add(credits);
        }
    }

    /// Adds it all to the counters in `txn`.
    pub(crate) async fn write(&self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        let totals: Vec<[Value; 4]> = self
            .totals
            .iter()
            .map(|((user, metric), (tenant, value))| {
                [user.as_uuid().into(), metric.as_str().into(), tenant.as_uuid().into(), (*value).into()]
            })
            .collect();
        upsert(
            txn,
            "usage_totals",
            &["user_id", "metric", "tenant_id", "value"],
            "ON CONFLICT (user_id, metric) DO UPDATE SET value = usage_totals.value + excluded.value",
            &totals,
        )
        .await?;
        let daily: Vec<[Value; 5]> = self
            .daily
            .iter()
            .map(|((user, day, metric), (tenant, value))| {
                [user.as_uuid().into(), (*day).into(), metric.as_str().into(), tenant.as_uuid().into(), (*value).into()]
            })
            .collect();
        upsert(
            txn,
            "usage_daily",
            &["user_id", "day", "metric", "tenant_id", "value"],
            "ON CONFLICT (user_id, day, metric) DO UPDATE SET value = usage_daily.value + excluded.value",
            &daily,
        )
        .await?;
        let tenant: Vec<[Value; 4]> = self
            .tenant
            .iter()
            .map(|((tenant, day, shard), credits)| {
                [tenant.as_uuid().into(), (*day).into(), (*shard).into(), (*credits).into()]
            })
            .collect();
        upsert(
            txn,
            "usage_tenant_daily",
            &["tenant_id", "day", "shard", "credits"],
            "ON CONFLICT (tenant_id, day, shard) DO UPDATE SET credits = usage_tenant_daily.credits + excluded.credits",
            &tenant,
        )
        .await
    }
}

/// `INSERT INTO table (columns) VALUES rows... tail`, [`ROWS_PER_STATEMENT`] rows at a time.
async fn upsert<const N: usize>(
    txn: &DatabaseTransaction,
    table: &str,
    columns: &[&str; N],
    tail: &str,
    rows: &[[Value; N]],
) -> Result<(), StoreError> {
    let row = format!("({})", vec!["?"; N].join(", "));
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = insert_sql(table, columns, &row, chunk.len(), tail);
        let values = chunk.iter().flat_map(|row| row.iter().cloned());
        txn.execute_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    }
    Ok(())
}
