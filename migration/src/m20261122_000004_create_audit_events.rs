//! Audit events. No foreign key to users: the trail outlives a purged user (anonymised).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    json_binary_null, pk_uuid, string_len, text_null, timestamp_with_time_zone, uuid, uuid_null,
};

use super::m20261122_000001_create_tenants::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    TenantId,
    ActorId,
    ActorLabel,
    Action,
    TargetKind,
    TargetId,
    TargetLabel,
    Before,
    After,
    OccurredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(pk_uuid(AuditEvents::Id))
                    .col(uuid(AuditEvents::TenantId))
                    .col(uuid_null(AuditEvents::ActorId))
                    .col(text_null(AuditEvents::ActorLabel))
                    .col(string_len(AuditEvents::Action, 64))
                    .col(string_len(AuditEvents::TargetKind, 16))
                    .col(uuid(AuditEvents::TargetId))
                    .col(text_null(AuditEvents::TargetLabel))
                    .col(json_binary_null(AuditEvents::Before))
                    .col(json_binary_null(AuditEvents::After))
                    .col(timestamp_with_time_zone(AuditEvents::OccurredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditEvents::Table, AuditEvents::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes: [(&str, AuditEvents); 4] = [
            ("ix_audit_tenant_time", AuditEvents::OccurredAt),
            ("ix_audit_tenant_actor", AuditEvents::ActorId),
            ("ix_audit_tenant_target", AuditEvents::TargetId),
            ("ix_audit_tenant_action", AuditEvents::Action),
        ];
        for (name, column) in indexes {
            let mut index = Index::create();
            index.name(name).table(AuditEvents::Table).col(AuditEvents::TenantId);
            if !matches!(column, AuditEvents::OccurredAt) {
                index.col(column);
            }
            index.col(AuditEvents::OccurredAt).col(AuditEvents::Id);
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AuditEvents::Table).to_owned()).await
    }
}
