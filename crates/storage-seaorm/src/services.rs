//! [`ServiceCredentialRepository`] on SeaORM: the SHA-256 of each secret, never the secret.

use std::collections::BTreeSet;

use async_trait::async_trait;
use roster_domain::governance::Acting;
use roster_domain::ports::ServiceCredentialRepository;
use roster_domain::service::{Scope, ServiceCredential, ServiceName};
use roster_domain::{AuditEvent, ServiceCredentialId, StoreError, TenantId, TokenHash};
use sea_orm::{ConnectionTrait as _, QueryResult, Value};

use crate::Store;
use crate::audit::insert_event;
use crate::cache::Lookup;
use crate::transaction::{corrupt, raw, unexpected};
use crate::users::{check_actor, lock_tenant};

const COLUMNS: &str = "id, tenant_id, name, scopes, hash, created_at";

fn from_row(row: &QueryResult) -> Result<ServiceCredential, StoreError> {
    let id: uuid::Uuid = row.try_get("", "id").map_err(unexpected)?;
    let tenant: uuid::Uuid = row.try_get("", "tenant_id").map_err(unexpected)?;
    let name: String = row.try_get("", "name").map_err(unexpected)?;
    let scopes: String = row.try_get("", "scopes").map_err(unexpected)?;
    let hash: Vec<u8> = row.try_get("", "hash").map_err(unexpected)?;
    let scopes = scopes
        .split(' ')
        .filter(|scope| !scope.is_empty())
        .map(|scope| scope.parse::<Scope>().map_err(|e| corrupt("service scope", e)))
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok(ServiceCredential {
        id: id.into(),
        tenant: tenant.into(),
        name: ServiceName::parse(&name).map_err(|e| corrupt("service name", e))?,
        scopes,
        hash: TokenHash(hash.try_into().map_err(|_| corrupt("service hash", "not 32 bytes"))?),
        created_at: row.try_get("", "created_at").map_err(unexpected)?,
    })
}

#[async_trait]
impl ServiceCredentialRepository for Store {
    async fn insert_credential(
        &self,
        credential: &ServiceCredential,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        lock_tenant(&txn, credential.tenant).await?;
        check_actor(&txn, credential.tenant, acting).await?;
        let scopes: Vec<&str> = credential.scopes.iter().map(|scope| scope.as_str()).collect();
        let sql = format!("INSERT INTO service_credentials ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)");
        let values: Vec<Value> = vec![
            credential.id.as_uuid().into(),
            credential.tenant.as_uuid().into(),
            credential.name.as_str().into(),
            scopes.join(" ").into(),
            credential.hash.as_bytes().to_vec().into(),
            credential.created_at.into(),
        ];
        txn.execute_raw(raw(self.backend(), &sql, values)).await.map_err(unexpected)?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn credentials(&self, tenant: TenantId) -> Result<Vec<ServiceCredential>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM service_credentials WHERE tenant_id = ? ORDER BY created_at, id");
        let rows =
            self.db.query_all_raw(raw(self.backend(), &sql, [tenant.as_uuid().into()])).await.map_err(unexpected)?;
        rows.iter().map(from_row).collect()
    }

    async fn revoke_credential(
        &self,
        tenant: TenantId,
        id: ServiceCredentialId,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        lock_tenant(&txn, tenant).await?;
        check_actor(&txn, tenant, acting).await?;
        let sql = "DELETE FROM service_credentials WHERE tenant_id = ? AND id = ?";
        let deleted = txn
            .execute_raw(raw(self.backend(), sql, [tenant.as_uuid().into(), id.as_uuid().into()]))
            .await
            .map_err(unexpected)?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn authenticate_service(&self, hash: &TokenHash) -> Result<Option<ServiceCredential>, StoreError> {
        let ticket = match self.cache.service(&hash.0) {
            Lookup::Hit(credential) => return Ok(Some(credential)),
            Lookup::Miss(ticket) => ticket,
        };
        let sql = format!("SELECT {COLUMNS} FROM service_credentials WHERE hash = ?");
        let statement = raw(self.backend(), &sql, [hash.as_bytes().to_vec().into()]);
        let row = self.db.query_one_raw(statement).await.map_err(unexpected)?;
        let credential = row.as_ref().map(from_row).transpose()?;
        if let (Some(ticket), Some(credential)) = (ticket, &credential) {
            self.cache.keep_service(ticket, credential.clone());
        }
        Ok(credential)
    }
}
