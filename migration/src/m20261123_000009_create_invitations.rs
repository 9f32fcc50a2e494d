//! Invitations: the live invitation of each invited user (at most one; the user's id is the
//! key), with the SHA-256 of its link's secret (never the secret), its expiry and how its
//! mailing went; and each tenant's invitation lifetime.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    binary_len, integer, string_len, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
    uuid_null,
};

use super::m20261122_000001_create_tenants::Tenants;
use super::m20261122_000002_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Invitations {
    Table,
    UserId,
    TenantId,
    TokenHash,
    IssuedAt,
    ExpiresAt,
    InvitedBy,
    DeliveryStatus,
    DeliveryError,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum TenantSettings {
    InvitationTtlSeconds,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    .col(uuid(Invitations::UserId).primary_key())
                    .col(uuid(Invitations::TenantId))
                    .col(binary_len(Invitations::TokenHash, 32).unique_key())
                    .col(timestamp_with_time_zone(Invitations::IssuedAt))
                    .col(timestamp_with_time_zone(Invitations::ExpiresAt))
                    .col(uuid_null(Invitations::InvitedBy))
                    .col(string_len(Invitations::DeliveryStatus, 16))
                    .col(text_null(Invitations::DeliveryError))
                    .col(timestamp_with_time_zone_null(Invitations::DeliveredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitations::Table, Invitations::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitations::Table, Invitations::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Counting a tenant's pending invitations reads this index from `now` on.
        manager
            .create_index(
                Index::create()
                    .name("ix_invitations_tenant_expires")
                    .table(Invitations::Table)
                    .col(Invitations::TenantId)
                    .col(Invitations::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(integer(TenantSettings::InvitationTtlSeconds).default(604_800))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Tenants::Table).drop_column(TenantSettings::InvitationTtlSeconds).to_owned(),
            )
            .await?;
        manager.drop_table(Table::drop().table(Invitations::Table).to_owned()).await
    }
}
