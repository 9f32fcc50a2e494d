//! [`TenantRepository`] on SeaORM.

use async_trait::async_trait;
use roster_domain::governance::Acting;
use roster_domain::invitation::{InvitationTtl, TenantSettings};
use roster_domain::ports::TenantRepository;
use roster_domain::{ApiToken, AuditEvent, StoreError, Tenant, TenantId, TenantName, User};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, QuerySelect as _};

use crate::Store;
use crate::audit::insert_event;
use crate::entities::tenants;
use crate::tokens::insert_token;
use crate::transaction::{corrupt, is_unique_violation, unexpected};
use crate::users::{check_actor, insert_user, lock_tenant};

fn from_row(row: tenants::Model) -> Result<Tenant, StoreError> {
    let invitation_ttl = u64::try_from(row.invitation_ttl_seconds)
        .ok()
        .and_then(|seconds| InvitationTtl::from_seconds(seconds).ok())
        .ok_or_else(|| corrupt("invitation lifetime", row.invitation_ttl_seconds))?;
    let default_budget = crate::budgets::policy_of(
        row.default_budget_limit,
        row.default_budget_period,
        row.default_budget_warn,
        row.default_budget_hard,
    )?;
    Ok(Tenant {
        id: row.id.into(),
        name: TenantName::parse(&row.name).map_err(|e| corrupt("tenant name", e))?,
        created_at: row.created_at,
        settings: TenantSettings { invitation_ttl, default_budget },
    })
}

/// The stored invitation lifetime (at most 30 days in seconds: fits an `i32`).
fn ttl_column(settings: &TenantSettings) -> i32 {
    i32::try_from(settings.invitation_ttl.seconds()).unwrap_or(i32::MAX)
}

#[async_trait]
impl TenantRepository for Store {
    async fn create(
        &self,
        tenant: &Tenant,
        admin: &User,
        token: &ApiToken,
        audit: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let row = tenants::ActiveModel {
            id: Set(tenant.id.as_uuid()),
            name: Set(tenant.name.to_string()),
            revision: Set(0),
            created_at: Set(tenant.created_at),
            invitation_ttl_seconds: Set(ttl_column(&tenant.settings)),
            default_budget_limit: Set(None),
            default_budget_period: Set(None),
            default_budget_warn: Set(None),
            default_budget_hard: Set(None),
        };
        tenants::Entity::insert(row).exec_without_returning(&*txn).await.map_err(|error| {
            if is_unique_violation(&error) { StoreError::TenantNameTaken } else { unexpected(error) }
        })?;
        insert_user(&txn, admin).await?;
        insert_token(&txn, token).await?;
        for event in audit {
            insert_event(&txn, event).await?;
        }
        txn.commit().await.map_err(unexpected)
    }

    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        let row = tenants::Entity::find_by_id(id.as_uuid()).one(&self.db).await.map_err(unexpected)?;
        row.map(from_row).transpose()
    }

    async fn find_by_name(&self, name: &TenantName) -> Result<Option<Tenant>, StoreError> {
        let row = tenants::Entity::find()
            .filter(tenants::Column::Name.eq(name.as_str()))
            .one(&self.db)
            .await
            .map_err(unexpected)?;
        row.map(from_row).transpose()
    }

    async fn update_settings(
        &self,
        tenant: TenantId,
        before: &TenantSettings,
        settings: &TenantSettings,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        lock_tenant(&txn, tenant).await?;
        check_actor(&txn, tenant, acting).await?;
        let stored = tenants::Entity::find_by_id(tenant.as_uuid()).one(&*txn).await.map_err(unexpected)?;
        if stored.map(from_row).transpose()?.ok_or(StoreError::NotFound)?.settings != *before {
            return Err(StoreError::Stale);
        }
        let budget = settings.default_budget;
        tenants::Entity::update_many()
            .col_expr(tenants::Column::InvitationTtlSeconds, Expr::val(ttl_column(settings)))
            .col_expr(tenants::Column::DefaultBudgetLimit, Expr::val(budget.map(|b| b.limit.get())))
            .col_expr(tenants::Column::DefaultBudgetPeriod, Expr::val(budget.map(|b| b.period.as_str())))
            .col_expr(
                tenants::Column::DefaultBudgetWarn,
                Expr::val(budget.and_then(|b| b.warn_at).map(|t| i16::from(t.percent()))),
            )
            .col_expr(tenants::Column::DefaultBudgetHard, Expr::val(budget.map(|b| b.hard)))
            .filter(tenants::Column::Id.eq(tenant.as_uuid()))
            .exec(&*txn)
            .await
            .map_err(unexpected)?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn any_exists(&self) -> Result<bool, StoreError> {
        let first = tenants::Entity::find()
            .select_only()
            .column(tenants::Column::Id)
            .into_tuple::<uuid::Uuid>()
            .one(&self.db)
            .await
            .map_err(unexpected)?;
        Ok(first.is_some())
    }
}
