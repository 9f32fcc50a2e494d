//! The audit trail on SeaORM: writing events inside other transactions, and [`AuditLog`].

use async_trait::async_trait;
use roster_domain::audit::AuditCursor;
use roster_domain::ports::AuditLog;
use roster_domain::{AuditActor, AuditEvent, AuditQuery, AuditTarget, Page, StoreError, TenantId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait as _, DatabaseTransaction, EntityTrait as _, QueryFilter as _, QueryOrder as _, QuerySelect as _,
};

use crate::Store;
use crate::entities::audit_events::{self, Column, Entity};
use crate::transaction::{corrupt, unexpected};

/// Writes `event` as part of `txn`.
pub(crate) async fn insert_event(txn: &DatabaseTransaction, event: &AuditEvent) -> Result<(), StoreError> {
    Entity::insert(to_row(event)).exec_without_returning(txn).await.map_err(unexpected)?;
    Ok(())
}

/// Writes `events` as part of `txn`, many to a statement.
pub(crate) async fn insert_events(txn: &DatabaseTransaction, events: &[AuditEvent]) -> Result<(), StoreError> {
    // 11 columns a row: 500 rows stay far below either database's limit of bound values.
    for chunk in events.chunks(500) {
        Entity::insert_many(chunk.iter().map(to_row)).exec_without_returning(txn).await.map_err(unexpected)?;
    }
    Ok(())
}

fn to_row(event: &AuditEvent) -> audit_events::ActiveModel {
    let (actor_id, actor_label) = match &event.actor {
        AuditActor::User { id, label } => (Some(id.as_uuid()), label.clone()),
        AuditActor::System => (None, None),
    };
    audit_events::ActiveModel {
        id: Set(event.id.as_uuid()),
        tenant_id: Set(event.tenant.as_uuid()),
        actor_id: Set(actor_id),
        actor_label: Set(actor_label),
        action: Set(event.action.as_str().to_owned()),
        target_kind: Set(event.target.kind.as_str().to_owned()),
        target_id: Set(event.target.id),
        target_label: Set(event.target.label.clone()),
        before: Set(event.before.clone()),
        after: Set(event.after.clone()),
        occurred_at: Set(event.occurred_at),
    }
}

fn from_row(row: audit_events::Model) -> Result<AuditEvent, StoreError> {
    let actor = match row.actor_id {
        Some(id) => AuditActor::User { id: id.into(), label: row.actor_label },
        None => AuditActor::System,
    };
    Ok(AuditEvent {
        id: row.id.into(),
        tenant: row.tenant_id.into(),
        actor,
        action: row.action.parse().map_err(|e| corrupt("audit action", e))?,
        target: AuditTarget {
            kind: row.target_kind.parse().map_err(|e| corrupt("audit target kind", e))?,
            id: row.target_id,
            label: row.target_label,
        },
        before: row.before,
        after: row.after,
        occurred_at: row.occurred_at,
    })
}

#[async_trait]
impl AuditLog for Store {
    async fn list_events(
        &self,
        tenant: TenantId,
        query: &AuditQuery,
    ) -> Result<Page<AuditEvent, AuditCursor>, StoreError> {
        let mut select = Entity::find().filter(Column::TenantId.eq(tenant.as_uuid()));
        if let Some(actor) = query.actor {
            select = select.filter(Column::ActorId.eq(actor.as_uuid()));
        }
        if let Some(target) = query.target {
            select = select.filter(Column::TargetId.eq(target));
        }
        if let Some(action) = query.action {
            select = select.filter(Column::Action.eq(action.as_str()));
        }
        if let Some(from) = query.from {
            select = select.filter(Column::OccurredAt.gte(from));
        }
        if let Some(to) = query.to {
            select = select.filter(Column::OccurredAt.lt(to));
        }
        if let Some(AuditCursor(at, id)) = query.after {
            select = select.filter(
                Expr::tuple([Expr::col(Column::OccurredAt), Expr::col(Column::Id)])
                    .lt(Expr::tuple([Expr::val(at), Expr::val(id.as_uuid())])),
            );
        }
        let limit = u64::from(query.limit.get());
        let rows = select
            .order_by_desc(Column::OccurredAt)
            .order_by_desc(Column::Id)
            .limit(limit + 1)
            .all(&self.db)
            .await
            .map_err(unexpected)?;
        let has_more = rows.len() as u64 > limit;
        let items = rows.into_iter().take(limit as usize).map(from_row).collect::<Result<Vec<_>, _>>()?;
        let next = if has_more { items.last().map(|e| AuditCursor(e.occurred_at, e.id)) } else { None };
        Ok(Page { items, next, total: None })
    }
}
