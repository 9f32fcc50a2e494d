//! Tenants and their creation with a first administrator.

use roster_domain::ports::{AuditLog as _, TenantRepository as _, UserRepository as _};
use roster_domain::{ApiToken, AuditQuery, StoreError, Tenant, TenantId, TenantName};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;

use crate::fixtures::{now, tenant, tenant_exists, user_of};

async fn a_tenant_is_created_with_its_administrator_token_and_audit_events(db: TestDatabase) {
    assert!(!db.store.any_exists().await.unwrap());
    let acme = tenant(&db.store, "acme").await;
    assert!(db.store.any_exists().await.unwrap());
    assert!(tenant_exists(&db.store, "acme").await);
    assert_eq!(db.store.get_tenant(acme.tenant.id).await.unwrap(), Some(acme.tenant.clone()));
    assert_eq!(db.store.get(acme.tenant.id, acme.admin.id).await.unwrap(), Some(acme.admin.clone()));
    assert_eq!(db.store.count_active_administrators(acme.tenant.id).await.unwrap(), 1);
    assert_eq!(db.store.list_events(acme.tenant.id, &AuditQuery::default()).await.unwrap().items.len(), 3);
}

async fn a_taken_tenant_name_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let twin = Tenant {
        id: TenantId::new(),
        name: TenantName::parse("acme").unwrap(),
        created_at: now(),
        settings: Default::default(),
    };
    let mut admin = user_of(&acme, "twin@example.com", roster_domain::Role::Administrator, now());
    admin.tenant = twin.id;
    let (token, _) = ApiToken::issue(twin.id, admin.id, roster_domain::TokenLabel::parse("t").unwrap(), now());
    let result = db.store.create(&twin, &admin, &token, &[]).await;
    assert!(matches!(result, Err(StoreError::TenantNameTaken)), "{result:?}");
    assert_eq!(db.store.get_tenant(twin.id).await.unwrap(), None);
    assert_eq!(db.store.get(twin.id, admin.id).await.unwrap(), None);
}

on_both_databases!(
    a_tenant_is_created_with_its_administrator_token_and_audit_events,
    a_taken_tenant_name_writes_nothing
);
