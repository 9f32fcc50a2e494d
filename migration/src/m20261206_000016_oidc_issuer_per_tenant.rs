//! An issuer and audience are trusted by one tenant at most: a token carries no tenant of its
//! own, so two tenants trusting the same pair would both accept it, and one could sign in (or
//! create just in time) the other's users. The unique index replaces the plain one on `issuer`,
//! which it serves as well.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::Statement;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let shared = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT issuer, audience, COUNT(*) AS tenants FROM tenant_oidc GROUP BY issuer, audience \
                 HAVING COUNT(*) > 1",
            ))
            .await?;
        if let Some(row) = shared.first() {
            let issuer: String = row.try_get("", "issuer")?;
            let audience: String = row.try_get("", "audience")?;
            return Err(DbErr::Migration(format!(
                "pairs of OpenID Connect issuer and audience trusted by more than one tenant: {}, such as \
                 {issuer} with audience {audience}; their tokens could sign in to any of those tenants. Keep each \
                 pair in one tenant (for each other: DELETE FROM external_identities WHERE tenant_id = ...; \
                 DELETE FROM tenant_oidc WHERE tenant_id = ...) and migrate again",
                shared.len()
            )));
        }
        db.execute_unprepared("CREATE UNIQUE INDEX ux_tenant_oidc_issuer_audience ON tenant_oidc (issuer, audience)")
            .await?;
        db.execute_unprepared("DROP INDEX ix_tenant_oidc_issuer").await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE INDEX ix_tenant_oidc_issuer ON tenant_oidc (issuer)").await?;
        db.execute_unprepared("DROP INDEX ux_tenant_oidc_issuer_audience").await?;
        Ok(())
    }
}
