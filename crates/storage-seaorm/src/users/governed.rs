//! Governed changes: serialise with every other governed change of the tenant, then re-check the
//! premises the domain decided on, inside the transaction that applies the change.

use roster_domain::{Premises, Role, StoreError, TenantId, UserStatus};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait as _, DatabaseTransaction, EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QuerySelect as _,
};

use crate::entities::{tenants, users};
use crate::transaction::unexpected;

/// Takes the tenant's governance lock for the rest of `txn`: an update of the tenant row, which
/// PostgreSQL locks until commit and SQLite serialises with its write lock.
async fn lock_tenant(txn: &DatabaseTransaction, tenant: TenantId) -> Result<(), StoreError> {
    let result = tenants::Entity::update_many()
        .col_expr(tenants::Column::Revision, Expr::col(tenants::Column::Revision).add(1))
        .filter(tenants::Column::Id.eq(tenant.as_uuid()))
        .exec(txn)
        .await
        .map_err(unexpected)?;
    if result.rows_affected == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// The stored role and status of a user of `tenant`.
async fn role_and_status(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: uuid::Uuid,
) -> Result<Option<(String, String)>, StoreError> {
    users::Entity::find()
        .select_only()
        .columns([users::Column::Role, users::Column::Status])
        .filter(users::Column::TenantId.eq(tenant.as_uuid()))
        .filter(users::Column::Id.eq(user))
        .into_tuple()
        .one(txn)
        .await
        .map_err(unexpected)
}

fn is(stored: &(String, String), role: Role, status: UserStatus) -> bool {
    stored.0 == role.as_str() && stored.1 == status.as_str()
}

/// Locks the tenant and checks `premises` (see [`Premises`]).
pub(crate) async fn lock_and_check(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    premises: &Premises,
) -> Result<(), StoreError> {
    lock_tenant(txn, tenant).await?;
    let target = role_and_status(txn, tenant, premises.target.as_uuid()).await?.ok_or(StoreError::NotFound)?;
    if !is(&target, premises.role, premises.status) {
        return Err(StoreError::Stale);
    }
    if let Some((actor, role)) = premises.actor {
        let acting = role_and_status(txn, tenant, actor.as_uuid()).await?;
        if !acting.is_some_and(|stored| is(&stored, role, UserStatus::Active)) {
            return Err(StoreError::Stale);
        }
    }
    if premises.keep_an_administrator {
        let others = users::Entity::find()
            .filter(users::Column::TenantId.eq(tenant.as_uuid()))
            .filter(users::Column::Role.eq(Role::Administrator.as_str()))
            .filter(users::Column::Status.eq(UserStatus::Active.as_str()))
            .filter(users::Column::Id.ne(premises.target.as_uuid()))
            .count(txn)
            .await
            .map_err(unexpected)?;
        if others == 0 {
            return Err(StoreError::LastAdministrator);
        }
    }
    Ok(())
}
