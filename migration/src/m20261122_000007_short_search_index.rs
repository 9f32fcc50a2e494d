//! `ix_users_tenant_search (tenant_id, search_text, id)`: searches of one or two characters,
//! which no trigram index serves, read this index alone instead of every user row.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    TenantId,
    SearchText,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_users_tenant_search")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::SearchText)
                    .col(Users::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("ix_users_tenant_search").table(Users::Table).to_owned()).await
    }
}
