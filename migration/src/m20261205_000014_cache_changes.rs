//! The change counter of SQLite databases: every write transaction that changes something an
//! instance may keep in memory adds one to it, so that a process learns of another's writes by
//! reading one row (PostgreSQL instances tell each other with notifications instead; the table
//! exists there too, unused, so that both schemas stay alike).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CacheChanges {
    Table,
    Id,
    N,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CacheChanges::Table)
                    .col(ColumnDef::new(CacheChanges::Id).small_integer().not_null().primary_key())
                    .col(ColumnDef::new(CacheChanges::N).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager.get_connection().execute_unprepared("INSERT INTO cache_changes (id, n) VALUES (1, 0)").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CacheChanges::Table).to_owned()).await
    }
}
