//! Migrations apply once, also when several instances start together.

use roster_migration::MigratorTrait as _;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use roster_storage::{PoolSettings, connect, migrate};

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

on_both_databases!(
    migrating_again_and_concurrently_is_harmless,
    a_fresh_database_is_migrated_concurrently_by_two_instances
);
