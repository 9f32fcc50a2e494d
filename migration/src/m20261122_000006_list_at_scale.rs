//! What keeps the user list fast with a million users in a tenant:
//! - `user_counts`: the number of users per tenant, role and status, kept by the storage adapter
//!   in the same transaction as every insert, role or status change and purge, so unfiltered
//!   and role/status-filtered totals cost one indexed read;
//! - `ix_users_tenant_role_created`: pages filtered by role alone come in creation order
//!   straight from an index;
//! - a trigram index over `users.search_text` for the `q` (contains) filter: `pg_trgm` on
//!   PostgreSQL (skipped with a notice where the extension may not be created: `q` then scans),
//!   and on SQLite a contentless FTS5 trigram table kept by triggers. FTS5 needs an integer key
//!   that VACUUM never renumbers: `user_search_keys.seq` (an INTEGER PRIMARY KEY).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string_len, uuid};
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum UserCounts {
    Table,
    TenantId,
    Role,
    Status,
    Users,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    TenantId,
    Role,
    CreatedAt,
    Id,
}

const POSTGRES_TRIGRAMS: &[&str] = &[
    r"DO $$ BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'pg_trgm cannot be created by this user: the q filter will scan';
    END $$",
    r"DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
            CREATE INDEX IF NOT EXISTS ix_users_search_trgm ON users USING gin (search_text gin_trgm_ops);
        END IF;
    END $$",
];

const SQLITE_TRIGRAMS: &[&str] = &[
    "CREATE TABLE user_search_keys (seq INTEGER PRIMARY KEY, user_id BLOB NOT NULL UNIQUE, tenant_id BLOB NOT NULL)",
    "CREATE VIRTUAL TABLE user_search USING fts5(search_text, content='', contentless_delete=1, tokenize='trigram')",
    "CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
        INSERT INTO user_search_keys (user_id, tenant_id) VALUES (new.id, new.tenant_id);
        INSERT INTO user_search (rowid, search_text)
            SELECT seq, new.search_text FROM user_search_keys WHERE user_id = new.id;
    END",
    "CREATE TRIGGER users_search_update AFTER UPDATE OF search_text ON users
    WHEN old.search_text IS NOT new.search_text BEGIN
        DELETE FROM user_search WHERE rowid = (SELECT seq FROM user_search_keys WHERE user_id = old.id);
        INSERT INTO user_search (rowid, search_text)
            SELECT seq, new.search_text FROM user_search_keys WHERE user_id = new.id;
    END",
    "CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
        DELETE FROM user_search WHERE rowid = (SELECT seq FROM user_search_keys WHERE user_id = old.id);
        DELETE FROM user_search_keys WHERE user_id = old.id;
    END",
    "INSERT INTO user_search_keys (user_id, tenant_id) SELECT id, tenant_id FROM users",
    "INSERT INTO user_search (rowid, search_text)
        SELECT k.seq, u.search_text FROM user_search_keys k JOIN users u ON u.id = k.user_id",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UserCounts::Table)
                    .col(uuid(UserCounts::TenantId))
                    .col(string_len(UserCounts::Role, 16))
                    .col(string_len(UserCounts::Status, 16))
                    .col(big_integer(UserCounts::Users).default(0))
                    .primary_key(
                        Index::create().col(UserCounts::TenantId).col(UserCounts::Role).col(UserCounts::Status),
                    )
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "INSERT INTO user_counts (tenant_id, role, status, users)
             SELECT tenant_id, role, status, COUNT(*) FROM users GROUP BY tenant_id, role, status",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_users_tenant_role_created")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::Role)
                    .col(Users::CreatedAt)
                    .col(Users::Id)
                    .to_owned(),
            )
            .await?;
        let statements = match db.get_database_backend() {
            DbBackend::Postgres => POSTGRES_TRIGRAMS,
            _ => SQLITE_TRIGRAMS,
        };
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match db.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared("DROP INDEX IF EXISTS ix_users_search_trgm").await?;
            }
            _ => {
                for statement in [
                    "DROP TRIGGER IF EXISTS users_search_insert",
                    "DROP TRIGGER IF EXISTS users_search_update",
                    "DROP TRIGGER IF EXISTS users_search_delete",
                    "DROP TABLE IF EXISTS user_search",
                    "DROP TABLE IF EXISTS user_search_keys",
                ] {
                    db.execute_unprepared(statement).await?;
                }
            }
        }
        manager.drop_index(Index::drop().name("ix_users_tenant_role_created").table(Users::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(UserCounts::Table).to_owned()).await
    }
}
