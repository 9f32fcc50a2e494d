//! Migrations apply once, also when several instances start together; one that cannot apply
//! to the data says why.

use roster_migration::MigratorTrait as _;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use roster_storage::{PoolSettings, connect, migrate};
use sea_orm::{ConnectionTrait as _, Statement, Value};

use crate::fixtures::tenant;

async fn migrating_again_and_concurrently_is_harmless(db: TestDatabase) {
    let first = connect(&db.url, PoolSettings::default()).await.unwrap();
    let second = connect(&db.url, PoolSettings::default()).await.unwrap();
    let (a, b) = futures::join!(migrate(&first), migrate(&second));
    a.unwrap();
    b.unwrap();
    migrate(&first).await.unwrap();
}

async fn a_fresh_database_is_migrated_concurrently_by_two_instances(db: TestDatabase) {
    // Drop the schema the harness created, then let two "instances" race to create it.
    let conn = db.store.connection();
    roster_migration::Migrator::reset(conn).await.unwrap();
    let first = connect(&db.url, PoolSettings::default()).await.unwrap();
    let second = connect(&db.url, PoolSettings::default()).await.unwrap();
    let (a, b) = futures::join!(migrate(&first), migrate(&second));
    a.unwrap();
    b.unwrap();
}

async fn two_tenants_trusting_one_issuer_and_audience_stop_migration_16_with_the_reason(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let conn = db.store.connection();
    roster_migration::Migrator::down(conn, Some(1)).await.unwrap();
    let placeholders = |n: usize| match db.backend() {
        sea_orm::DbBackend::Postgres => (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", "),
        _ => vec!["?"; n].join(", "),
    };
    for created in [&acme, &globex] {
        let values: Vec<Value> =
            vec![created.tenant.id.as_uuid().into(), "https://sso.example.com".into(), "roster".into(), false.into()];
        let sql =
            format!("INSERT INTO tenant_oidc (tenant_id, issuer, audience, just_in_time) VALUES ({})", placeholders(4));
        conn.execute_raw(Statement::from_sql_and_values(db.backend(), sql, values)).await.unwrap();
    }

    let error = migrate(conn).await.expect_err("the pair is trusted twice").to_string();

    assert!(error.contains("trusted by more than one tenant: 1, such as https://sso.example.com"), "{error}");
    let sql = format!("DELETE FROM tenant_oidc WHERE tenant_id = {}", placeholders(1));
    let values: Vec<Value> = vec![globex.tenant.id.as_uuid().into()];
    conn.execute_raw(Statement::from_sql_and_values(db.backend(), sql, values)).await.unwrap();
    migrate(conn).await.unwrap();
}

on_both_databases!(
    migrating_again_and_concurrently_is_harmless,
    a_fresh_database_is_migrated_concurrently_by_two_instances,
    two_tenants_trusting_one_issuer_and_audience_stop_migration_16_with_the_reason,
);
