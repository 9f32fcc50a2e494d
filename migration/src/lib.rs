//! Roster's database schema as sea-orm-migration migrations, one file per migration, valid on
//! SQLite and PostgreSQL. `roster migrate` applies them; `roster serve` does so at start.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_tenants;
mod m20261122_000002_create_users;
mod m20261122_000003_create_api_tokens;
mod m20261122_000004_create_audit_events;
mod m20261122_000005_add_user_version;
mod m20261122_000006_list_at_scale;
mod m20261122_000007_short_search_index;
mod m20261122_000008_create_license_kinds;
mod m20261123_000009_create_invitations;
mod m20261123_000010_budgets_and_usage;
mod m20261123_000011_identity;
mod m20261123_000012_user_source_oidc;
mod m20261123_000013_audit_without_tenant_key;
mod m20261205_000014_cache_changes;
mod m20261206_000015_active_reservations_index;
mod m20261206_000016_oidc_issuer_per_tenant;

/// Every migration, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_tenants::Migration),
            Box::new(m20261122_000002_create_users::Migration),
            Box::new(m20261122_000003_create_api_tokens::Migration),
            Box::new(m20261122_000004_create_audit_events::Migration),
            Box::new(m20261122_000005_add_user_version::Migration),
            Box::new(m20261122_000006_list_at_scale::Migration),
            Box::new(m20261122_000007_short_search_index::Migration),
            Box::new(m20261122_000008_create_license_kinds::Migration),
            Box::new(m20261123_000009_create_invitations::Migration),
            Box::new(m20261123_000010_budgets_and_usage::Migration),
            Box::new(m20261123_000011_identity::Migration),
            Box::new(m20261123_000012_user_source_oidc::Migration),
            Box::new(m20261123_000013_audit_without_tenant_key::Migration),
            Box::new(m20261205_000014_cache_changes::Migration),
            Box::new(m20261206_000015_active_reservations_index::Migration),
            Box::new(m20261206_000016_oidc_issuer_per_tenant::Migration),
        ]
    }
}
