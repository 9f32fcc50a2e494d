//! [`TokenRepository`] on SeaORM.

use async_trait::async_trait;
use roster_domain::ports::TokenRepository;
use roster_domain::{Actor, ApiToken, AuditEvent, Email, Role, StoreError, TokenHash, UserId, UserStatus};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait as _, DatabaseTransaction, EntityTrait as _, JoinType, QueryFilter as _, QuerySelect as _, RelationDef,
};

use crate::Store;
use crate::audit::insert_event;
use crate::entities::{api_tokens, users};
use crate::transaction::{corrupt, unexpected};
use crate::users::{is_active, lock_tenant};

/// Writes `token` as part of `txn`.
pub(crate) async fn insert_token(txn: &DatabaseTransaction, token: &ApiToken) -> Result<(), StoreError> {
    let row = api_tokens::ActiveModel {
        id: Set(token.id.as_uuid()),
        tenant_id: Set(token.tenant.as_uuid()),
        user_id: Set(token.user.as_uuid()),
        label: Set(token.label.as_str().to_owned()),
        hash: Set(token.hash.as_bytes().to_vec()),
        created_at: Set(token.created_at),
    };
    api_tokens::Entity::insert(row).exec_without_returning(txn).await.map_err(unexpected)?;
    Ok(())
}

/// Deletes every API token of `user` as part of `txn`.
pub(crate) async fn revoke_tokens(txn: &DatabaseTransaction, user: UserId) -> Result<(), StoreError> {
    api_tokens::Entity::delete_many()
        .filter(api_tokens::Column::UserId.eq(user.as_uuid()))
        .exec(txn)
        .await
        .map_err(unexpected)?;
    Ok(())
}

/// `api_tokens.user_id = users.id`, within the same tenant.
fn token_user() -> RelationDef {
    api_tokens::Entity::belongs_to(users::Entity).from(api_tokens::Column::UserId).to(users::Column::Id).into()
}

#[async_trait]
impl TokenRepository for Store {
    async fn insert_token(&self, token: &ApiToken, audit: &AuditEvent) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        lock_tenant(&txn, token.tenant).await?;
        if !is_active(&txn, token.tenant, token.user.as_uuid()).await? {
            return Err(StoreError::Stale);
        }
        insert_token(&txn, token).await?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn authenticate(&self, hash: &TokenHash) -> Result<Option<Actor>, StoreError> {
        let row: Option<(uuid::Uuid, uuid::Uuid, String, String)> = api_tokens::Entity::find()
            .select_only()
            .column(users::Column::TenantId)
            .column(users::Column::Id)
            .column(users::Column::Email)
            .column(users::Column::Role)
            .join(JoinType::InnerJoin, token_user())
            .filter(api_tokens::Column::Hash.eq(hash.as_bytes().to_vec()))
            .filter(users::Column::Status.eq(UserStatus::Active.as_str()))
            .filter(
                Expr::col((users::Entity, users::Column::TenantId))
                    .eq(Expr::col((api_tokens::Entity, api_tokens::Column::TenantId))),
            )
            .into_tuple()
            .one(&self.db)
            .await
            .map_err(unexpected)?;
        let Some((tenant, user, email, role)) = row else { return Ok(None) };
        let email = Email::parse(&email).map_err(|e| corrupt("user email", e))?;
        let role: Role = role.parse().map_err(|e| corrupt("user role", e))?;
        Ok(Some(Actor::user(tenant.into(), user.into(), email, role)))
    }
}
