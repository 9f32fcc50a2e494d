//! Service credentials: stored as the hash of their secret only, listed oldest first, found by
//! that hash in whichever tenant, revoked at once; changes re-check the acting administrator.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use roster_domain::governance::acting;
use roster_domain::ports::ServiceCredentialRepository;
use roster_domain::service::{Scope, ServiceCredential, ServiceName, ServiceSecret};
use roster_domain::services::CreatedTenant;
use roster_domain::{Actor, AuditAction, AuditEvent, StoreError, TenantId, Timestamp};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;

use crate::fixtures::{events, former_administrator, now, occurs, readable_columns, rows_of, tenant};

/// A credential of `created` named `name`, issued at `at` with every scope; not stored.
fn issue(created: &CreatedTenant, name: &str, at: Timestamp) -> (ServiceCredential, ServiceSecret) {
    let scopes = BTreeSet::from(Scope::ALL);
    ServiceCredential::issue(created.tenant.id, ServiceName::parse(name).unwrap(), scopes, at)
}

/// Stores `credential` on behalf of `actor`.
async fn insert(db: &TestDatabase, actor: &Actor, credential: &ServiceCredential) -> Result<(), StoreError> {
    let audit = AuditEvent::service_credential_created(actor, credential, now());
    db.store.insert_credential(credential, acting(actor), &audit).await
}

/// Revokes `credential` through `tenant` on behalf of `actor`.
async fn revoke(
    db: &TestDatabase,
    tenant: TenantId,
    actor: &Actor,
    credential: &ServiceCredential,
) -> Result<(), StoreError> {
    let audit = AuditEvent::service_credential_revoked(actor, credential, now());
    db.store.revoke_credential(tenant, credential.id, acting(actor), &audit).await
}

fn admin_of(created: &CreatedTenant) -> Actor {
    Actor::user(created.tenant.id, created.admin.id, created.admin.email.clone(), created.admin.role)
}

async fn credentials_are_listed_oldest_first_and_authenticate_by_the_hash_of_their_secret(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let admin = admin_of(&acme);
    let first_at = now() - Duration::hours(1);
    let (older, older_secret) = issue(&acme, "AI gateway", first_at);
    let (newer, newer_secret) = issue(&acme, "Batch importer", first_at + Duration::seconds(1));
    let (theirs, theirs_secret) = issue(&globex, "AI gateway", first_at);
    insert(&db, &admin, &newer).await.unwrap();
    insert(&db, &admin, &older).await.unwrap();
    insert(&db, &admin_of(&globex), &theirs).await.unwrap();

    assert_eq!(db.store.credentials(acme.tenant.id).await.unwrap(), vec![older.clone(), newer.clone()]);
    assert_eq!(db.store.credentials(globex.tenant.id).await.unwrap(), vec![theirs.clone()]);
    for (secret, credential) in [(&older_secret, &older), (&newer_secret, &newer), (&theirs_secret, &theirs)] {
        assert_eq!(db.store.authenticate_service(&secret.hash()).await.unwrap().as_ref(), Some(credential));
    }
    assert_eq!(db.store.authenticate_service(&ServiceSecret::generate().hash()).await.unwrap(), None);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::ServiceCredentialCreated).await.len(), 2);
}

async fn a_revoked_credential_stops_authenticating_and_cannot_be_revoked_again(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let admin = admin_of(&acme);
    let (credential, secret) = issue(&acme, "AI gateway", now());
    let (kept, _) = issue(&acme, "Batch importer", now() + Duration::seconds(1));
    insert(&db, &admin, &credential).await.unwrap();
    insert(&db, &admin, &kept).await.unwrap();

    let result = revoke(&db, globex.tenant.id, &admin_of(&globex), &credential).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "through another tenant: {result:?}");
    assert!(db.store.authenticate_service(&secret.hash()).await.unwrap().is_some());

    revoke(&db, acme.tenant.id, &admin, &credential).await.unwrap();
    assert_eq!(db.store.authenticate_service(&secret.hash()).await.unwrap(), None);
    assert_eq!(db.store.credentials(acme.tenant.id).await.unwrap(), vec![kept]);
    let result = revoke(&db, acme.tenant.id, &admin, &credential).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "again: {result:?}");
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::ServiceCredentialRevoked).await.len(), 1);
    assert_eq!(events(&db.store, globex.tenant.id, AuditAction::ServiceCredentialRevoked).await, vec![]);
}

async fn the_credentials_table_holds_the_hash_of_the_secret_never_the_secret(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let (credential, secret) = issue(&acme, "AI gateway", now());
    insert(&db, &admin_of(&acme), &credential).await.unwrap();
    let plain = secret.expose().as_bytes();
    let random = &secret.expose()[4..];
    let random_bytes = URL_SAFE_NO_PAD.decode(random).expect("the random part is base64url");
    assert_eq!(random_bytes.len(), 32);

    let rows = rows_of(&db, "service_credentials", "id", credential.id.as_uuid()).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].column_names().len() >= 6, "{:?}", rows[0].column_names());
    let read = readable_columns(&rows[0]);
    for (column, value) in &read {
        for (what, needle) in [("secret", plain), ("base64 part", random.as_bytes()), ("random bytes", &random_bytes)] {
            assert!(!occurs(value, needle), "column {column} holds the credential's {what}");
        }
    }
    let hash = read.iter().find(|(column, value)| column == "hash" && value.len() == 32);
    assert_eq!(hash.map(|(_, value)| value.as_slice()), Some(&secret.hash().as_bytes()[..]));
    assert!(read.iter().any(|(column, _)| column == "scopes"), "text columns were read: {read:?}");

    for row in rows_of(&db, "audit_events", "target_id", credential.id.as_uuid()).await {
        for (column, value) in readable_columns(&row) {
            assert!(!occurs(&value, random.as_bytes()), "audit column {column} holds the credential's secret");
        }
    }
}

async fn credential_changes_by_an_actor_no_longer_administrator_are_actor_changed_and_write_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let (existing, existing_secret) = issue(&acme, "AI gateway", now());
    insert(&db, &admin_of(&acme), &existing).await.unwrap();
    let former = former_administrator(&db.store, &acme, "former@example.com").await;

    let (credential, secret) = issue(&acme, "Rogue", now());
    let result = insert(&db, &former, &credential).await;
    assert!(matches!(result, Err(StoreError::ActorChanged)), "insert: {result:?}");
    let result = revoke(&db, acme.tenant.id, &former, &existing).await;
    assert!(matches!(result, Err(StoreError::ActorChanged)), "revoke: {result:?}");

    assert_eq!(db.store.authenticate_service(&secret.hash()).await.unwrap(), None);
    assert_eq!(db.store.authenticate_service(&existing_secret.hash()).await.unwrap(), Some(existing.clone()));
    assert_eq!(db.store.credentials(acme.tenant.id).await.unwrap(), vec![existing]);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::ServiceCredentialCreated).await.len(), 1);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::ServiceCredentialRevoked).await, vec![]);
}

on_both_databases!(
    credentials_are_listed_oldest_first_and_authenticate_by_the_hash_of_their_secret,
    a_revoked_credential_stops_authenticating_and_cannot_be_revoked_again,
    the_credentials_table_holds_the_hash_of_the_secret_never_the_secret,
    credential_changes_by_an_actor_no_longer_administrator_are_actor_changed_and_write_nothing,
);
