//! Users may come from an OpenID Connect sign-in (`source = 'oidc'`, just-in-time creation):
//! the `CHECK` on `users.source` accepts it.
//!
//! PostgreSQL replaces the constraint. SQLite cannot alter a constraint, so the table's stored
//! definition is edited in place, the procedure SQLite documents for loosening a `CHECK`
//! (<https://sqlite.org/lang_altertable.html#otheralter>): in the migration's transaction,
//! rewrite `sqlite_schema.sql`, bump `schema_version`, then check the database's integrity. Every
//! stored row already satisfies the wider constraint.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

const BEFORE: &str = "'scim', 'api')";
const AFTER: &str = "'scim', 'api', 'oidc')";

async fn set_sources(manager: &SchemaManager<'_>, from: &str, to: &str, sources: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared(
                "DO $$ DECLARE c text; BEGIN \
                   FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'users'::regclass AND contype = 'c' \
                            AND pg_get_constraintdef(oid) LIKE '%source%' LOOP \
                     EXECUTE format('ALTER TABLE users DROP CONSTRAINT %I', c); \
                   END LOOP; END $$",
            )
            .await?;
            let sql = format!("ALTER TABLE users ADD CONSTRAINT users_source_check CHECK (source IN ({sources}))");
            db.execute_unprepared(&sql).await?;
        }
        _ => {
            let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA schema_version")).await?;
            let version: i64 = row.ok_or_else(|| DbErr::Custom("no schema_version".into()))?.try_get_by_index(0)?;
            // One call, so that every statement runs on one connection of the pool (a pragma
            // holds for its connection only).
            let quoted = |text: &str| text.replace('\'', "''");
            db.execute_unprepared(&format!(
                "PRAGMA writable_schema = ON; \
                 UPDATE sqlite_schema SET sql = replace(sql, '{from}', '{to}') WHERE type = 'table' AND name = 'users'; \
                 PRAGMA schema_version = {version}; \
                 PRAGMA writable_schema = OFF;",
                from = quoted(from),
                to = quoted(to),
                version = version + 1,
            ))
            .await?;
            let check = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA integrity_check")).await?;
            let verdict: String =
                check.ok_or_else(|| DbErr::Custom("no integrity verdict".into()))?.try_get_by_index(0)?;
            if verdict != "ok" {
                return Err(DbErr::Custom(format!("integrity check after widening users.source: {verdict}")));
            }
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_sources(manager, BEFORE, AFTER, "'created', 'invited', 'imported', 'scim', 'api', 'oidc'").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_sources(manager, AFTER, BEFORE, "'created', 'invited', 'imported', 'scim', 'api'").await
    }
}
