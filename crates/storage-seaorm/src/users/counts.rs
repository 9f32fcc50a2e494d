//! `user_counts`: how many users each tenant has per role and status, kept in the same
//! transaction as every change that moves a user between them, so totals never drift and cost
//! one indexed read.

use roster_domain::{Role, StoreError, TenantId, UserStatus};
use sea_orm::{ConnectionTrait, DatabaseTransaction, Value};

use crate::transaction::{raw, unexpected};

/// Adds `delta` users to the count of (`tenant`, `role`, `status`).
pub(crate) async fn adjust(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    role: &str,
    status: &str,
    delta: i64,
) -> Result<(), StoreError> {
    let statement = raw(
        txn.get_database_backend(),
        "INSERT INTO user_counts (tenant_id, role, status, users) VALUES (?, ?, ?, ?)
         ON CONFLICT (tenant_id, role, status) DO UPDATE SET users = user_counts.users + excluded.users",
        [tenant.as_uuid().into(), role.into(), status.into(), delta.into()],
    );
    txn.execute_raw(statement).await.map_err(unexpected)?;
    Ok(())
}

/// Moves one user of `tenant` from (`role`, `status`) to (`new_role`, `new_status`).
pub(crate) async fn moved(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    (role, status): (&str, &str),
    (new_role, new_status): (&str, &str),
) -> Result<(), StoreError> {
    if (role, status) != (new_role, new_status) {
        adjust(txn, tenant, role, status, -1).await?;
        adjust(txn, tenant, new_role, new_status, 1).await?;
    }
    Ok(())
}

/// The number of users of `tenant` with `role` (any when `None`) and `status` (any when `None`).
pub(crate) async fn count(
    db: &impl ConnectionTrait,
    tenant: TenantId,
    role: Option<Role>,
    status: Option<UserStatus>,
) -> Result<u64, StoreError> {
    let mut sql =
        String::from("SELECT CAST(COALESCE(SUM(users), 0) AS BIGINT) AS users FROM user_counts WHERE tenant_id = ?");
    let mut values: Vec<Value> = vec![tenant.as_uuid().into()];
    if let Some(role) = role {
        sql.push_str(" AND role = ?");
        values.push(role.as_str().into());
    }
    if let Some(status) = status {
        sql.push_str(" AND status = ?");
        values.push(status.as_str().into());
    }
    let row = db.query_one_raw(raw(db.get_database_backend(), &sql, values)).await.map_err(unexpected)?;
    let users: i64 = match row {
        Some(row) => row.try_get("", "users").map_err(unexpected)?,
        None => 0,
    };
    Ok(u64::try_from(users).unwrap_or(0))
}
