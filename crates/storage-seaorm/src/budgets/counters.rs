//! Usage counters, added to in the transaction of every commit and event: per user and metric
//! (all time), per user, UTC day and metric, and per tenant and UTC day (credits only, spread
//! over [`SHARDS`] rows so that concurrent commits of one tenant do not queue on one row).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use roster_domain::usage::{MetricName, Metrics};
use roster_domain::{StoreError, TenantId, UserId};
use sea_orm::{ConnectionTrait as _, DatabaseTransaction, Value};

use crate::transaction::{raw, unexpected};

/// How many rows a tenant's daily credits are spread over.
pub(crate) const SHARDS: i16 = 8;

/// Credits consumed by a tenant's users, by UTC day and shard.
pub(crate) type TenantCredits = BTreeMap<(NaiveDate, i16), i64>;

/// The shard of the tenant's daily credits that `user`'s use is added to.
pub(crate) fn shard(user: UserId) -> i16 {
    i16::from(user.as_uuid().as_bytes()[15]) % SHARDS
}

/// Adds `credits` and `metrics`, used by `user` of `tenant` on `day`, to the user's counters,
/// and the credits to `tenant_credits` (written by [`add_tenant_usage`] once per transaction,
/// after every user's: the order in which every transaction locks counter rows).
pub(crate) async fn add_usage(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: UserId,
    day: NaiveDate,
    credits: i64,
    metrics: &Metrics,
    tenant_credits: &mut TenantCredits,
) -> Result<(), StoreError> {
    let backend = txn.get_database_backend();
    let pairs: Vec<(&str, i64)> = std::iter::once((MetricName::CREDITS, credits))
        .chain(metrics.iter().map(|(name, value)| (name.as_str(), i64::try_from(value).unwrap_or(i64::MAX))))
        .collect();

    let rows = vec!["(?, ?, ?, ?)"; pairs.len()].join(", ");
    let sql = format!(
        "INSERT INTO usage_totals (user_id, metric, tenant_id, value) VALUES {rows} \
         ON CONFLICT (user_id, metric) DO UPDATE SET value = usage_totals.value + excluded.value"
    );
    let values = pairs.iter().flat_map(|(metric, value)| -> [Value; 4] {
        [user.as_uuid().into(), (*metric).into(), tenant.as_uuid().into(), (*value).into()]
    });
    txn.execute_raw(raw(backend, &sql, values)).await.map_err(unexpected)?;

    let rows = vec!["(?, ?, ?, ?, ?)"; pairs.len()].join(", ");
    let sql = format!(
        "INSERT INTO usage_daily (user_id, day, metric, tenant_id, value) VALUES {rows} \
         ON CONFLICT (user_id, day, metric) DO UPDATE SET value = usage_daily.value + excluded.value"
    );
    let values = pairs.iter().flat_map(|(metric, value)| -> [Value; 5] {
        [user.as_uuid().into(), day.into(), (*metric).into(), tenant.as_uuid().into(), (*value).into()]
    });
    txn.execute_raw(raw(backend, &sql, values)).await.map_err(unexpected)?;

    if credits > 0 {
        *tenant_credits.entry((day, shard(user))).or_default() += credits;
    }
    Ok(())
}

/// Adds `tenant_credits` to the tenant's daily credits, in (day, shard) order.
pub(crate) async fn add_tenant_usage(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    tenant_credits: &TenantCredits,
) -> Result<(), StoreError> {
    if tenant_credits.is_empty() {
        return Ok(());
    }
    let rows = vec!["(?, ?, ?, ?)"; tenant_credits.len()].join(", ");
    let sql = format!(
        "INSERT INTO usage_tenant_daily (tenant_id, day, shard, credits) VALUES {rows} \
         ON CONFLICT (tenant_id, day, shard) DO UPDATE SET credits = usage_tenant_daily.credits + excluded.credits"
    );
    let values = tenant_credits.iter().flat_map(|((day, shard), credits)| -> [Value; 4] {
        [tenant.as_uuid().into(), (*day).into(), (*shard).into(), (*credits).into()]
    });
    txn.execute_raw(raw(txn.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    Ok(())
}
