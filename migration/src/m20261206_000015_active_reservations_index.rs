//! The index by which a user's live reservations are found (to expire them, to sum what they
//! hold) covers active reservations only: closed ones, nearly all of a ledger, are never looked
//! up by user. It stays as small as the reservations in flight, and closing a reservation
//! removes its entry instead of moving it: fewer pages written by every commit and release.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX ix_reservations_user_status_expires").await?;
        db.execute_unprepared(
            "CREATE INDEX ix_reservations_active_user_expires ON reservations (user_id, expires_at) \
             WHERE status = 'active'",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX ix_reservations_active_user_expires").await?;
        db.execute_unprepared(
            "CREATE INDEX ix_reservations_user_status_expires ON reservations (user_id, status, expires_at)",
        )
        .await?;
        Ok(())
    }
}
