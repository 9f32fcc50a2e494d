//! Users. Emails are stored lowercased by the domain, so the unique index on
//! `(tenant_id, email)` makes them unique per tenant case-insensitively. `search_text` holds the
//! lowercased email and name for the list's `q` filter.
//!
//! Indexes serve the list: `(tenant_id, created_at, id)` for the default order and keyset paging,
//! `(tenant_id, email)` for the email order, `(tenant_id, role, status, created_at, id)` and
//! `(tenant_id, status, created_at, id)` for role and status filters (and the count of active
//! administrators), `(tenant_id, referral_code, created_at, id)` for the promo code filter.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    pk_uuid, string_len, string_len_null, text, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

use super::m20261122_000001_create_tenants::Tenants;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
pub enum Users {
    Table,
    Id,
    TenantId,
    Email,
    Name,
    Phone,
    Role,
    Status,
    Source,
    ReferralCode,
    SearchText,
    CreatedAt,
    UpdatedAt,
    ActivatedAt,
    LastActiveAt,
    DeactivatedAt,
}

fn one_of(column: Users, values: &[&str]) -> SimpleExpr {
    Expr::col(column).is_in(values.iter().copied())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(uuid(Users::TenantId))
                    .col(string_len(Users::Email, 254))
                    .col(string_len_null(Users::Name, 800))
                    .col(string_len_null(Users::Phone, 20))
                    .col(
                        string_len(Users::Role, 16)
                            .check(one_of(Users::Role, &["administrator", "collaborator", "user"])),
                    )
                    .col(
                        string_len(Users::Status, 16)
                            .check(one_of(Users::Status, &["invited", "active", "deactivated"])),
                    )
                    .col(
                        string_len(Users::Source, 16)
                            .check(one_of(Users::Source, &["created", "invited", "imported", "scim", "api"])),
                    )
                    .col(string_len_null(Users::ReferralCode, 64))
                    .col(text(Users::SearchText))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Users::ActivatedAt))
                    .col(timestamp_with_time_zone_null(Users::LastActiveAt))
                    .col(timestamp_with_time_zone_null(Users::DeactivatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Users::Table, Users::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let indexes: [(&str, &[Users], bool); 5] = [
            ("ux_users_tenant_email", &[Users::TenantId, Users::Email], true),
            ("ix_users_tenant_created", &[Users::TenantId, Users::CreatedAt, Users::Id], false),
            (
                "ix_users_tenant_role_status",
                &[Users::TenantId, Users::Role, Users::Status, Users::CreatedAt, Users::Id],
                false,
            ),
            ("ix_users_tenant_status", &[Users::TenantId, Users::Status, Users::CreatedAt, Users::Id], false),
            ("ix_users_tenant_referral", &[Users::TenantId, Users::ReferralCode, Users::CreatedAt, Users::Id], false),
        ];
        for (name, columns, unique) in indexes {
            let mut index = Index::create();
            index.name(name).table(Users::Table);
            for column in columns {
                index.col(*column);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}
