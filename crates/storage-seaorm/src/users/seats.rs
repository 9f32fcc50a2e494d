//! Seats: a user's license change takes and returns seats in the same transaction, with a
//! conditional update that never lets `assigned` pass `seats` (and a CHECK constraint behind it).

use roster_domain::{LicenseKindId, StoreError, TenantId};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ColumnTrait as _, DatabaseTransaction, EntityTrait as _, QueryFilter as _};

use crate::entities::license_kinds::{self, Column, Entity};
use crate::transaction::unexpected;

/// Takes one seat of `kind`, if one is free at this instant.
///
/// # Errors
/// [`StoreError::NoSeats`] when all are taken, [`StoreError::LicenseNotFound`] when `tenant`
/// has no such kind.
async fn take(txn: &DatabaseTransaction, tenant: TenantId, kind: LicenseKindId) -> Result<(), StoreError> {
    let taken = Entity::update_many()
        .col_expr(Column::Assigned, Expr::col(Column::Assigned).add(1))
        .filter(Column::Id.eq(kind.as_uuid()))
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Expr::col(Column::Assigned).lt(Expr::col(Column::Seats)))
        .exec(txn)
        .await
        .map_err(unexpected)?;
    if taken.rows_affected == 1 {
        return Ok(());
    }
    let row: Option<license_kinds::Model> = Entity::find_by_id(kind.as_uuid())
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
        .map_err(unexpected)?;
    match row {
        Some(row) => Err(StoreError::NoSeats {
            kind,
            seats: u64::try_from(row.seats).unwrap_or(0),
            assigned: u64::try_from(row.assigned).unwrap_or(0),
        }),
        None => Err(StoreError::LicenseNotFound),
    }
}

/// Returns one seat of `kind` to its pool.
async fn give_back(txn: &DatabaseTransaction, kind: uuid::Uuid) -> Result<(), StoreError> {
    Entity::update_many()
        .col_expr(Column::Assigned, Expr::col(Column::Assigned).sub(1))
        .filter(Column::Id.eq(kind))
        .exec(txn)
        .await
        .map_err(unexpected)?;
    Ok(())
}

/// Moves a user of `tenant` from the seat `from` (as stored) to the seat `to`: nothing when they
/// are the same, else both in this transaction, so a user never holds two seats nor loses one.
pub(crate) async fn moved(
    txn: &DatabaseTransaction,
    tenant: TenantId,
    from: Option<uuid::Uuid>,
    to: Option<LicenseKindId>,
) -> Result<(), StoreError> {
    if from == to.map(Into::into) {
        return Ok(());
    }
    if let Some(kind) = to {
        take(txn, tenant, kind).await?;
    }
    if let Some(kind) = from {
        give_back(txn, kind).await?;
    }
    Ok(())
}
