//! [`LicenseRepository`] on SeaORM: license kinds, the access gate's read and the dashboard's
//! counters. Seats move with users' licenses in `users::seats`.

use async_trait::async_trait;
use roster_domain::governance::Acting;
use roster_domain::ports::{AccessFacts, LicenseRepository};
use roster_domain::{
    AuditEvent, HeldLicense, LicenseChanges, LicenseKind, LicenseKindId, LicenseName, Role, Seats, StoreError,
    TenantId, UserId, UserStatus,
};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ColumnTrait as _, ConnectionTrait as _, EntityTrait as _, QueryFilter as _, QueryOrder as _};

use crate::Store;
use crate::audit::insert_event;
use crate::cache::Lookup;
use crate::entities::license_kinds::{self, Column, Entity};
use crate::transaction::{WriteTxn, corrupt, is_unique_violation, raw, unexpected};
use crate::users::{check_actor, lock_tenant};

fn from_row(row: license_kinds::Model) -> Result<LicenseKind, StoreError> {
    let count = |value: i64, what: &str| u64::try_from(value).map_err(|e| corrupt(what, e));
    Ok(LicenseKind {
        id: row.id.into(),
        tenant: row.tenant_id.into(),
        name: LicenseName::parse(&row.name).map_err(|e| corrupt("license name", e))?,
        seats: Seats::new(count(row.seats, "seats")?).map_err(|e| corrupt("seats", e))?,
        assigned: count(row.assigned, "assigned seats")?,
        created_at: row.created_at,
    })
}

fn name_taken(error: sea_orm::DbErr) -> StoreError {
    if is_unique_violation(&error) { StoreError::LicenseNameTaken } else { unexpected(error) }
}

/// Opens a write transaction with the tenant locked and `acting` re-checked.
async fn governed(store: &Store, tenant: TenantId, acting: Acting) -> Result<WriteTxn, StoreError> {
    let txn = store.begin_write().await.map_err(unexpected)?;
    lock_tenant(&txn, tenant).await?;
    check_actor(&txn, tenant, acting).await?;
    Ok(txn)
}

async fn find(
    txn: &impl sea_orm::ConnectionTrait,
    tenant: TenantId,
    id: LicenseKindId,
) -> Result<Option<LicenseKind>, StoreError> {
    Entity::find_by_id(id.as_uuid())
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .one(txn)
        .await
        .map_err(unexpected)?
        .map(from_row)
        .transpose()
}

#[async_trait]
impl LicenseRepository for Store {
    async fn create(&self, kind: &LicenseKind, acting: Acting, audit: &AuditEvent) -> Result<(), StoreError> {
        let txn = governed(self, kind.tenant, acting).await?;
        let row = license_kinds::ActiveModel {
            id: Set(kind.id.as_uuid()),
            tenant_id: Set(kind.tenant.as_uuid()),
            name: Set(kind.name.to_string()),
            name_key: Set(kind.name.key()),
            seats: Set(i64::try_from(kind.seats.get()).unwrap_or(i64::MAX)),
            assigned: Set(0),
            created_at: Set(kind.created_at),
            updated_at: Set(kind.created_at),
        };
        Entity::insert(row).exec_without_returning(&*txn).await.map_err(name_taken)?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn get(&self, tenant: TenantId, id: LicenseKindId) -> Result<Option<LicenseKind>, StoreError> {
        find(&self.db, tenant, id).await
    }

    async fn list(&self, tenant: TenantId) -> Result<Vec<LicenseKind>, StoreError> {
        let rows = Entity::find()
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .order_by_asc(Column::NameKey)
            .all(&self.db)
            .await
            .map_err(unexpected)?;
        rows.into_iter().map(from_row).collect()
    }

    async fn update(
        &self,
        tenant: TenantId,
        id: LicenseKindId,
        changes: &LicenseChanges,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<LicenseKind, StoreError> {
        let txn = governed(self, tenant, acting).await?;
        let mut update = Entity::update_many()
            .col_expr(Column::UpdatedAt, Expr::val(audit.occurred_at))
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::TenantId.eq(tenant.as_uuid()));
        if let Some(name) = &changes.name {
            update = update
                .col_expr(Column::Name, Expr::val(name.as_str()))
                .col_expr(Column::NameKey, Expr::val(name.key()));
        }
        if let Some(seats) = changes.seats {
            let seats = i64::try_from(seats.get()).unwrap_or(i64::MAX);
            update = update.col_expr(Column::Seats, Expr::val(seats)).filter(Expr::col(Column::Assigned).lte(seats));
        }
        let result = update.exec(&*txn).await.map_err(name_taken)?;
        if result.rows_affected == 0 {
            return Err(match find(&*txn, tenant, id).await? {
                Some(kind) => StoreError::SeatsInUse { assigned: kind.assigned },
                None => StoreError::NotFound,
            });
        }
        let kind = find(&*txn, tenant, id).await?.ok_or(StoreError::NotFound)?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)?;
        Ok(kind)
    }

    async fn delete(
        &self,
        tenant: TenantId,
        id: LicenseKindId,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let txn = governed(self, tenant, acting).await?;
        let result = Entity::delete_many()
            .filter(Column::Id.eq(id.as_uuid()))
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .filter(Column::Assigned.eq(0))
            .exec(&*txn)
            .await
            .map_err(unexpected)?;
        if result.rows_affected == 0 {
            return Err(match find(&*txn, tenant, id).await? {
                Some(kind) => StoreError::LicenseInUse { assigned: kind.assigned },
                None => StoreError::NotFound,
            });
        }
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn access_facts(
        &self,
        tenant: TenantId,
        user: UserId,
        now: roster_domain::Timestamp,
    ) -> Result<Option<AccessFacts>, StoreError> {
        let ticket = match self.cache.facts(tenant, user, now) {
            Lookup::Hit(facts) => return Ok(Some(facts)),
            Lookup::Miss(ticket) => ticket,
        };
        // With the first expiry of the user's live reservations: the facts hold until then.
        let sql = format!(
            "SELECT u.role, u.status, u.license_id, k.name AS license_name, {},
             (SELECT MIN(r.expires_at) FROM reservations r
              WHERE r.user_id = u.id AND r.status = 'active' AND r.expires_at > ?) AS next_expiry
             FROM users u LEFT JOIN license_kinds k ON k.id = u.license_id LEFT JOIN budgets b ON b.user_id = u.id
             WHERE u.tenant_id = ? AND u.id = ?",
            crate::budgets::live_budget_columns(self.db.get_database_backend(), "b_")
        );
        let values = [now.into(), now.into(), tenant.as_uuid().into(), user.as_uuid().into()];
        let statement = raw(self.db.get_database_backend(), &sql, values);
        let Some(row) = self.db.query_one_raw(statement).await.map_err(unexpected)? else { return Ok(None) };
        let role: String = row.try_get("", "role").map_err(unexpected)?;
        let status: String = row.try_get("", "status").map_err(unexpected)?;
        let license: Option<uuid::Uuid> = row.try_get("", "license_id").map_err(unexpected)?;
        let name: Option<String> = row.try_get("", "license_name").map_err(unexpected)?;
        let license = match (license, name) {
            (Some(kind), Some(name)) => Some(HeldLicense {
                kind: kind.into(),
                name: LicenseName::parse(&name).map_err(|e| corrupt("license name", e))?,
            }),
            _ => None,
        };
        let has_budget: Option<String> = row.try_get("", "b_period").map_err(unexpected)?;
        let budget = if has_budget.is_some() { Some(crate::budgets::from_row(&row, "b_")?) } else { None };
        let next_expiry: Option<roster_domain::Timestamp> = row.try_get("", "next_expiry").map_err(unexpected)?;
        let facts = AccessFacts {
            role: role.parse::<Role>().map_err(|e| corrupt("user role", e))?,
            status: status.parse::<UserStatus>().map_err(|e| corrupt("user status", e))?,
            license,
            budget,
        };
        if let Some(ticket) = ticket {
            self.cache.keep_facts(ticket, tenant, user, facts.clone(), next_expiry);
        }
        Ok(Some(facts))
    }

    async fn user_counts(&self, tenant: TenantId) -> Result<Vec<(Role, UserStatus, u64)>, StoreError> {
        let statement = raw(
            self.db.get_database_backend(),
            "SELECT role, status, users FROM user_counts WHERE tenant_id = ?",
            [tenant.as_uuid().into()],
        );
        let rows = self.db.query_all_raw(statement).await.map_err(unexpected)?;
        rows.iter()
            .map(|row| {
                let role: String = row.try_get("", "role").map_err(unexpected)?;
                let status: String = row.try_get("", "status").map_err(unexpected)?;
                let users: i64 = row.try_get("", "users").map_err(unexpected)?;
                Ok((
                    role.parse().map_err(|e| corrupt("user role", e))?,
                    status.parse().map_err(|e| corrupt("user status", e))?,
                    u64::try_from(users).map_err(|e| corrupt("user count", e))?,
                ))
            })
            .collect()
    }
}
