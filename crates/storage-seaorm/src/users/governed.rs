//! Governed changes: serialise with every other governed change of the tenant, then re-check the
//! premises the domain decided on, inside the transaction that applies the change.

use roster_domain::governance::Acting;
use roster_domain::{Premises, Role, StoreError, TenantId, UserStatus};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait as _, DatabaseTransaction, EntityTrait as _, PaginatorTrait as _, QueryFilter as _, QuerySelect as _,
};

use crate::entities::{tenants, users};
use crate::transaction::unexpected;

/// Takes the tenant's governance lock for the rest of `txn`: an update of the tenant row, which
/// PostgreSQL locks until commit and SQLite serialises with its write lock.
pub(crate) async fn lock_tenant(txn: &DatabaseTransaction, tenant: TenantId) -> Result<(), StoreError> {
    let result = tenants::Entity::update_many()
        .col_expr(tenants::Column::Revision, Expr::col(tenants::Column::Revision).add(1))
        .filter(tenants::Column::Id.eq(tenant.as_uuid()))
        .exec(txn)
        .await
        .map_err(unexpected)?;
    if result.rows_affected == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// What a governed change re-reads of a user, under the tenant lock.
#[derive(Debug)]
pub(crate) struct Stored {
    pub role: String,
    pub status: String,
    pub version: i64,
    pub license: Option<uuid::Uuid>,
}

/// The stored role, status, version and license of a user of `tenant`.
async fn current(txn: &DatabaseTransaction, tenant: TenantId, user: uuid::Uuid) -> Result<Option<Stored>, StoreError> {
    let row: Option<(String, String, i64, Option<uuid::Uuid>)> = users::Entity::find()
        .select_only()
        .columns([users::Column::Role, users::Column::Status, users::Column::Version, users::Column::LicenseId])
        .filter(users::Column::TenantId.eq(tenant.as_uuid()))
        .filter(users::Column::Id.eq(user))
        .into_tuple()
        .one(txn)
        .await
        .map_err(unexpected)?;
    Ok(row.map(|(role, status, version, license)| Stored { role, status, version, license }))
}

/// Checks, with the tenant locked, that the acting user is still active with their role.
pub(crate) async fn check_actor(txn: &DatabaseTransaction, tenant: TenantId, acting: Acting) -> Result<(), StoreError> {
    let Some((actor, role)) = acting else { return Ok(()) };
    let stored = current(txn, tenant, actor.as_uuid()).await?;
    let unchanged = stored.is_some_and(|s| s.role == role.as_str() && s.status == UserStatus::Active.as_str());
    if unchanged { Ok(()) } else { Err(StoreError::ActorChanged) }
}

/// Whether `user` of `tenant` is active (read inside `txn`, with the tenant locked).
pub(crate) async fn is_active(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    user: uuid::Uuid,
) -> Result<bool, StoreError> {
    Ok(current(txn, tenant, user).await?.is_some_and(|s| s.status == UserStatus::Active.as_str()))
}

/// Locks the tenant and checks `premises` (see [`Premises`]); returns what is stored of the target.
pub(crate) async fn lock_and_check(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    premises: &Premises,
) -> Result<Stored, StoreError> {
    lock_tenant(txn, tenant).await?;
    let stored = current(txn, tenant, premises.target.as_uuid()).await?.ok_or(StoreError::NotFound)?;
    if u64::try_from(stored.version).ok() != Some(premises.version) {
        return Err(StoreError::Stale);
    }
    check_actor(txn, tenant, premises.actor).await?;
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
    Ok(stored)
}
