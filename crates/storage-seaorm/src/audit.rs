//! The audit trail on SeaORM: writing events inside other transactions, and [`AuditLog`].

use async_trait::async_trait;
use roster_domain::audit::AuditCursor;
use roster_domain::ports::AuditLog;
use roster_domain::{AuditActor, AuditEvent, AuditQuery, AuditTarget, Page, StoreError, TenantId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbBackend, EntityTrait as _, QueryFilter as _,
    QueryOrder as _, QuerySelect as _, Value,
};

use crate::Store;
use crate::entities::audit_events::{self, Column, Entity};
use crate::transaction::{corrupt, insert_sql, raw, unexpected};

/// Writes `event` as part of `txn`.
pub(crate) async fn insert_event(txn: &DatabaseTransaction, event: &AuditEvent) -> Result<(), StoreError> {
    Entity::insert(to_row(event)).exec_without_returning(txn).await.map_err(unexpected)?;
    Ok(())
}

/// The columns [`insert_events`] writes, in order.
const EVENT_COLUMNS: [&str; 11] = [
    "id",
    "tenant_id",
    "actor_id",
    "actor_label",
    "action",
    "target_kind",
    "target_id",
    "target_label",
    "before",
    "after",
    "occurred_at",
];

/// Events a statement of [`insert_events`] carries: 5,500 bound values, far below either
/// database's limit.
const EVENTS_PER_STATEMENT: usize = 500;

/// Writes `events` as part of `txn`, many to a statement, binding each value directly (a bulk
/// import writes one event per user; a query tree per event cost more than the database's work).
pub(crate) async fn insert_events<'a>(
    txn: &DatabaseTransaction,
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> Result<(), StoreError> {
    let backend = txn.get_database_backend();
    // The snapshots are bound as JSON text: PostgreSQL casts it to `jsonb`, SQLite stores it.
    let row = match backend {
        DbBackend::Postgres => "(?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS jsonb), CAST(? AS jsonb), ?)",
        _ => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    };
    let events: Vec<&AuditEvent> = events.into_iter().collect();
    for chunk in events.chunks(EVENTS_PER_STATEMENT) {
        let values = chunk.iter().flat_map(|event| event_values(event));
        let sql = insert_sql("audit_events", &EVENT_COLUMNS, row, chunk.len(), "");
        txn.execute_raw(raw(backend, &sql, values)).await.map_err(unexpected)?;
    }
    Ok(())
}

/// The values of [`EVENT_COLUMNS`] for `event`.
fn event_values(event: &AuditEvent) -> [Value; 11] {
    let (actor_id, actor_label) = match &event.actor {
        AuditActor::User { id, label } => (Some(id.as_uuid()), label.clone()),
        AuditActor::System => (None, None),
    };
    let json = |snapshot: &Option<serde_json::Value>| snapshot.as_ref().map(ToString::to_string);
    [
        event.id.as_uuid().into(),
        event.tenant.as_uuid().into(),
        actor_id.into(),
        actor_label.into(),
        event.action.as_str().into(),
        event.target.kind.as_str().into(),
        event.target.id.into(),
        event.target.label.clone().into(),
        json(&event.before).into(),
        json(&event.after).into(),
        event.occurred_at.into(),
    ]
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
