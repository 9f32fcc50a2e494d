//! The audit trail drops its foreign key to `tenants` on PostgreSQL.
//!
//! Every event is written in a transaction that has already read or locked its tenant's row, and
//! a tenant is never deleted (were it ever, its trail would be deleted with it explicitly), so the
//! key guarded nothing; yet PostgreSQL checks it with a trigger per row, which made writing the
//! trail of a bulk import cost half again as much (100,000 events: 2.8 s with the key, 1.7 s
//! without, loaded with `\copy`). The trail has no key to `users` either: it outlives a purged
//! user. SQLite checks a foreign key with one index probe and keeps it (dropping it would mean
//! rebuilding the table).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_tenant_id_fkey")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if db.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(
                "ALTER TABLE audit_events ADD CONSTRAINT audit_events_tenant_id_fkey \
                 FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE",
            )
            .await?;
        }
        Ok(())
    }
}
