//! Budgets and the usage ledger, and service credentials.
//!
//! - `budgets`: one row per user with a budget: the policy, the credits consumed in the period
//!   starting at `period_start`, the credits held by live reservations. `CHECK` keeps both
//!   non-negative.
//! - `reservations`, `usage_events`: the ledger (a committed reservation records its own use;
//!   events record use without a reservation). An idempotency key is unique per tenant in each.
//! - `usage_totals` (per user and metric, all time), `usage_daily` (per user, UTC day and
//!   metric) and `usage_tenant_daily` (per tenant, UTC day and shard: credits only; eight shards
//!   so that concurrent commits of one tenant do not queue on one row): counters kept in the
//!   transaction of every commit and event.
//! - `budget_totals`: per tenant, how many users have a budget and the sum of their limits.
//! - `service_credentials`: the SHA-256 of each secret (never the secret), with its scopes.
//! - `tenants`: the default budget of new users.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, binary_len, boolean, boolean_null, date, pk_uuid, small_integer, small_integer_null,
    string_len, string_len_null, text, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

use super::m20261122_000001_create_tenants::Tenants;
use super::m20261122_000002_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Budgets {
    Table,
    UserId,
    TenantId,
    LimitCredits,
    Period,
    WarnPercent,
    Hard,
    Consumed,
    Reserved,
    PeriodStart,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Reservations {
    Table,
    Id,
    TenantId,
    UserId,
    IdempotencyKey,
    Credits,
    Status,
    CommittedCredits,
    CreatedAt,
    ExpiresAt,
    ClosedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsageEvents {
    Table,
    Id,
    TenantId,
    UserId,
    IdempotencyKey,
    Credits,
    Metrics,
    OccurredAt,
    RecordedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsageTotals {
    Table,
    UserId,
    Metric,
    TenantId,
    Value,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsageDaily {
    Table,
    UserId,
    Day,
    Metric,
    TenantId,
    Value,
}

#[derive(DeriveIden, Clone, Copy)]
enum UsageTenantDaily {
    Table,
    TenantId,
    Day,
    Shard,
    Credits,
}

#[derive(DeriveIden, Clone, Copy)]
enum BudgetTotals {
    Table,
    TenantId,
    Users,
    LimitTotal,
}

#[derive(DeriveIden, Clone, Copy)]
enum ServiceCredentials {
    Table,
    Id,
    TenantId,
    Name,
    Scopes,
    Hash,
    CreatedAt,
}

/// The default budget's columns on `tenants`.
#[derive(DeriveIden, Clone, Copy)]
enum TenantDefaults {
    #[sea_orm(iden = "default_budget_limit")]
    Limit,
    #[sea_orm(iden = "default_budget_period")]
    Period,
    #[sea_orm(iden = "default_budget_warn")]
    Warn,
    #[sea_orm(iden = "default_budget_hard")]
    Hard,
}

fn on_user(table: impl IntoIden + Clone, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(table, column).to(Users::Table, Users::Id).on_delete(ForeignKeyAction::Cascade).to_owned()
}

fn on_tenant(table: impl IntoIden + Clone, column: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Budgets::Table)
                    .col(uuid(Budgets::UserId).primary_key())
                    .col(uuid(Budgets::TenantId))
                    .col(big_integer(Budgets::LimitCredits))
                    .col(string_len(Budgets::Period, 8))
                    .col(small_integer_null(Budgets::WarnPercent))
                    .col(boolean(Budgets::Hard))
                    .col(big_integer(Budgets::Consumed).default(0))
                    .col(big_integer(Budgets::Reserved).default(0))
                    .col(timestamp_with_time_zone(Budgets::PeriodStart))
                    .col(timestamp_with_time_zone(Budgets::UpdatedAt))
                    .check(Expr::cust("consumed >= 0 AND reserved >= 0 AND limit_credits >= 0"))
                    .foreign_key(&mut on_user(Budgets::Table, Budgets::UserId))
                    .foreign_key(&mut on_tenant(Budgets::Table, Budgets::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Reservations::Table)
                    .col(pk_uuid(Reservations::Id))
                    .col(uuid(Reservations::TenantId))
                    .col(uuid(Reservations::UserId))
                    .col(string_len(Reservations::IdempotencyKey, 200))
                    .col(big_integer(Reservations::Credits))
                    .col(string_len(Reservations::Status, 10))
                    .col(big_integer_null(Reservations::CommittedCredits))
                    .col(timestamp_with_time_zone(Reservations::CreatedAt))
                    .col(timestamp_with_time_zone(Reservations::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Reservations::ClosedAt))
                    .foreign_key(&mut on_user(Reservations::Table, Reservations::UserId))
                    .foreign_key(&mut on_tenant(Reservations::Table, Reservations::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_reservations_tenant_key")
                    .table(Reservations::Table)
                    .col(Reservations::TenantId)
                    .col(Reservations::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Releasing a user's expired reservations reads this index (active ones only since
        // migration 15).
        manager
            .create_index(
                Index::create()
                    .name("ix_reservations_user_status_expires")
                    .table(Reservations::Table)
                    .col(Reservations::UserId)
                    .col(Reservations::Status)
                    .col(Reservations::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageEvents::Table)
                    .col(pk_uuid(UsageEvents::Id))
                    .col(uuid(UsageEvents::TenantId))
                    .col(uuid(UsageEvents::UserId))
                    .col(string_len(UsageEvents::IdempotencyKey, 220))
                    .col(big_integer(UsageEvents::Credits))
                    .col(text(UsageEvents::Metrics))
                    .col(timestamp_with_time_zone(UsageEvents::OccurredAt))
                    .col(timestamp_with_time_zone(UsageEvents::RecordedAt))
                    .foreign_key(&mut on_user(UsageEvents::Table, UsageEvents::UserId))
                    .foreign_key(&mut on_tenant(UsageEvents::Table, UsageEvents::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_usage_events_tenant_key")
                    .table(UsageEvents::Table)
                    .col(UsageEvents::TenantId)
                    .col(UsageEvents::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageTotals::Table)
                    .col(uuid(UsageTotals::UserId))
                    .col(string_len(UsageTotals::Metric, 64))
                    .col(uuid(UsageTotals::TenantId))
                    .col(big_integer(UsageTotals::Value))
                    .primary_key(Index::create().col(UsageTotals::UserId).col(UsageTotals::Metric))
                    .foreign_key(&mut on_user(UsageTotals::Table, UsageTotals::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageDaily::Table)
                    .col(uuid(UsageDaily::UserId))
                    .col(date(UsageDaily::Day))
                    .col(string_len(UsageDaily::Metric, 64))
                    .col(uuid(UsageDaily::TenantId))
                    .col(big_integer(UsageDaily::Value))
                    .primary_key(Index::create().col(UsageDaily::UserId).col(UsageDaily::Day).col(UsageDaily::Metric))
                    .foreign_key(&mut on_user(UsageDaily::Table, UsageDaily::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageTenantDaily::Table)
                    .col(uuid(UsageTenantDaily::TenantId))
                    .col(date(UsageTenantDaily::Day))
                    .col(small_integer(UsageTenantDaily::Shard))
                    .col(big_integer(UsageTenantDaily::Credits))
                    .primary_key(
                        Index::create()
                            .col(UsageTenantDaily::TenantId)
                            .col(UsageTenantDaily::Day)
                            .col(UsageTenantDaily::Shard),
                    )
                    .foreign_key(&mut on_tenant(UsageTenantDaily::Table, UsageTenantDaily::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BudgetTotals::Table)
                    .col(uuid(BudgetTotals::TenantId).primary_key())
                    .col(big_integer(BudgetTotals::Users))
                    .col(big_integer(BudgetTotals::LimitTotal))
                    .foreign_key(&mut on_tenant(BudgetTotals::Table, BudgetTotals::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ServiceCredentials::Table)
                    .col(pk_uuid(ServiceCredentials::Id))
                    .col(uuid(ServiceCredentials::TenantId))
                    .col(string_len(ServiceCredentials::Name, 100))
                    .col(string_len(ServiceCredentials::Scopes, 200))
                    .col(binary_len(ServiceCredentials::Hash, 32).unique_key())
                    .col(timestamp_with_time_zone(ServiceCredentials::CreatedAt))
                    .foreign_key(&mut on_tenant(ServiceCredentials::Table, ServiceCredentials::TenantId))
                    .to_owned(),
            )
            .await?;
        for column in [
            big_integer_null(TenantDefaults::Limit),
            string_len_null(TenantDefaults::Period, 8),
            small_integer_null(TenantDefaults::Warn),
            boolean_null(TenantDefaults::Hard),
        ] {
            let mut column = column;
            manager.alter_table(Table::alter().table(Tenants::Table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [TenantDefaults::Limit, TenantDefaults::Period, TenantDefaults::Warn, TenantDefaults::Hard] {
            manager.alter_table(Table::alter().table(Tenants::Table).drop_column(column).to_owned()).await?;
        }
        for table in [
            ServiceCredentials::Table.into_iden(),
            BudgetTotals::Table.into_iden(),
            UsageTenantDaily::Table.into_iden(),
            UsageDaily::Table.into_iden(),
            UsageTotals::Table.into_iden(),
            UsageEvents::Table.into_iden(),
            Reservations::Table.into_iden(),
            Budgets::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
