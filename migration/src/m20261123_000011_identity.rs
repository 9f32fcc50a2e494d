//! Identity: built-in sign-in and OpenID Connect trust.
//!
//! - `sessions`: the SHA-256 of each session's secret (never the secret), its state (`active`,
//!   or `enrolling`: good only for enrolling in MFA) and expiry.
//! - `magic_links`: the SHA-256 of each mailed sign-in link, its expiry and the wrong codes
//!   given with it. Redeeming deletes the row, so a link works once.
//! - `user_security`: per user, the TOTP secret (confirmed or pending), whether MFA is
//!   required, the last TOTP step accepted (a code works once), and when the user's sessions
//!   were last revoked (identity-provider tokens issued earlier are refused).
//! - `tenant_oidc`: the OpenID Connect issuer a tenant trusts, looked up by issuer.
//! - `external_identities`: per tenant, the user an issuer's subject signs in as.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, binary_len, blob_null, boolean, integer, string_len, string_len_null, text,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

use super::m20261122_000001_create_tenants::Tenants;
use super::m20261122_000002_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    TenantId,
    UserId,
    Hash,
    State,
    Method,
    Mfa,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum MagicLinks {
    Table,
    Hash,
    TenantId,
    UserId,
    CreatedAt,
    ExpiresAt,
    FailedAttempts,
}

#[derive(DeriveIden, Clone, Copy)]
enum UserSecurity {
    Table,
    UserId,
    TenantId,
    TotpSecret,
    TotpConfirmedAt,
    MfaRequired,
    LastTotpStep,
    SessionsRevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TenantOidc {
    Table,
    TenantId,
    Issuer,
    Audience,
    EntraTenantId,
    JustInTime,
}

#[derive(DeriveIden, Clone, Copy)]
enum ExternalIdentities {
    Table,
    TenantId,
    Issuer,
    Subject,
    UserId,
    CreatedAt,
}

fn cascade_to_user<T: IntoIden + Copy>(table: T, column: T) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(table, column).to(Users::Table, Users::Id).on_delete(ForeignKeyAction::Cascade).to_owned()
}

fn cascade_to_tenant<T: IntoIden + Copy>(table: T, column: T) -> ForeignKeyCreateStatement {
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
                    .table(Sessions::Table)
                    .col(uuid(Sessions::Id).primary_key())
                    .col(uuid(Sessions::TenantId))
                    .col(uuid(Sessions::UserId))
                    .col(binary_len(Sessions::Hash, 32).unique_key())
                    .col(string_len(Sessions::State, 16))
                    .col(string_len(Sessions::Method, 16))
                    .col(boolean(Sessions::Mfa))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .foreign_key(&mut cascade_to_user(Sessions::Table, Sessions::UserId))
                    .foreign_key(&mut cascade_to_tenant(Sessions::Table, Sessions::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_user_expires")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .col(Sessions::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MagicLinks::Table)
                    .col(binary_len(MagicLinks::Hash, 32).primary_key())
                    .col(uuid(MagicLinks::TenantId))
                    .col(uuid(MagicLinks::UserId))
                    .col(timestamp_with_time_zone(MagicLinks::CreatedAt))
                    .col(timestamp_with_time_zone(MagicLinks::ExpiresAt))
                    .col(integer(MagicLinks::FailedAttempts).default(0))
                    .foreign_key(&mut cascade_to_user(MagicLinks::Table, MagicLinks::UserId))
                    .foreign_key(&mut cascade_to_tenant(MagicLinks::Table, MagicLinks::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_magic_links_user_expires")
                    .table(MagicLinks::Table)
                    .col(MagicLinks::UserId)
                    .col(MagicLinks::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserSecurity::Table)
                    .col(uuid(UserSecurity::UserId).primary_key())
                    .col(uuid(UserSecurity::TenantId))
                    .col(blob_null(UserSecurity::TotpSecret))
                    .col(timestamp_with_time_zone_null(UserSecurity::TotpConfirmedAt))
                    .col(boolean(UserSecurity::MfaRequired).default(false))
                    .col(big_integer_null(UserSecurity::LastTotpStep))
                    .col(timestamp_with_time_zone_null(UserSecurity::SessionsRevokedAt))
                    .foreign_key(&mut cascade_to_user(UserSecurity::Table, UserSecurity::UserId))
                    .foreign_key(&mut cascade_to_tenant(UserSecurity::Table, UserSecurity::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TenantOidc::Table)
                    .col(uuid(TenantOidc::TenantId).primary_key())
                    .col(text(TenantOidc::Issuer))
                    .col(text(TenantOidc::Audience))
                    .col(string_len_null(TenantOidc::EntraTenantId, 36))
                    .col(boolean(TenantOidc::JustInTime))
                    .foreign_key(&mut cascade_to_tenant(TenantOidc::Table, TenantOidc::TenantId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_tenant_oidc_issuer")
                    .table(TenantOidc::Table)
                    .col(TenantOidc::Issuer)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ExternalIdentities::Table)
                    .col(uuid(ExternalIdentities::TenantId))
                    .col(text(ExternalIdentities::Issuer))
                    .col(text(ExternalIdentities::Subject))
                    .col(uuid(ExternalIdentities::UserId))
                    .col(timestamp_with_time_zone(ExternalIdentities::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ExternalIdentities::TenantId)
                            .col(ExternalIdentities::Issuer)
                            .col(ExternalIdentities::Subject),
                    )
                    .foreign_key(&mut cascade_to_user(ExternalIdentities::Table, ExternalIdentities::UserId))
                    .foreign_key(&mut cascade_to_tenant(ExternalIdentities::Table, ExternalIdentities::TenantId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ExternalIdentities::Table.into_iden(),
            TenantOidc::Table.into_iden(),
            UserSecurity::Table.into_iden(),
            MagicLinks::Table.into_iden(),
            Sessions::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
