//! License kinds (pools of seats) and the seat each user holds (`users.license_id`).
//!
//! `assigned` is kept by the storage adapter in the same transaction as every change of a
//! user's license, with a conditional update; `CHECK (assigned <= seats)` makes the database
//! itself refuse any over-assignment, whatever the code or the concurrency.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, pk_uuid, string_len, timestamp_with_time_zone, uuid};
use sea_orm_migration::sea_orm::DbBackend;

use super::m20261122_000001_create_tenants::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LicenseKinds {
    Table,
    Id,
    TenantId,
    Name,
    NameKey,
    Seats,
    Assigned,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    TenantId,
    LicenseId,
    CreatedAt,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LicenseKinds::Table)
                    .col(pk_uuid(LicenseKinds::Id))
                    .col(uuid(LicenseKinds::TenantId))
                    .col(string_len(LicenseKinds::Name, 64))
                    .col(string_len(LicenseKinds::NameKey, 256))
                    .col(big_integer(LicenseKinds::Seats))
                    .col(big_integer(LicenseKinds::Assigned).default(0))
                    .col(timestamp_with_time_zone(LicenseKinds::CreatedAt))
                    .col(timestamp_with_time_zone(LicenseKinds::UpdatedAt))
                    .check(Expr::cust("assigned >= 0 AND assigned <= seats"))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LicenseKinds::Table, LicenseKinds::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_license_kinds_tenant_name")
                    .table(LicenseKinds::Table)
                    .col(LicenseKinds::TenantId)
                    .col(LicenseKinds::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // SQLite adds a referencing column only with an inline REFERENCES clause.
        let uuid_type = match manager.get_database_backend() {
            DbBackend::Postgres => "uuid",
            _ => "uuid_text",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE users ADD COLUMN license_id {uuid_type} NULL REFERENCES license_kinds (id)"
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_users_tenant_license")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::LicenseId)
                    .col(Users::CreatedAt)
                    .col(Users::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("ix_users_tenant_license").table(Users::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::LicenseId).to_owned()).await?;
        manager.drop_table(Table::drop().table(LicenseKinds::Table).to_owned()).await
    }
}
