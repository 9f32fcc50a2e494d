//! [`InvitationRepository`] on SeaORM: one row per invited user holding the SHA-256 of their
//! link's secret. Accepting deletes the row in the transaction that activates the user, so a
//! link works once however many requests race with it, and starts the user's first session.

use async_trait::async_trait;
use roster_domain::governance::Acting;
use roster_domain::invitation::{Delivery, Invitation};
use roster_domain::ports::InvitationRepository;
use roster_domain::{AuditEvent, Premises, StoreError, TenantId, Timestamp, TokenHash, User, UserId};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait as _, DatabaseTransaction, EntityTrait as _, PaginatorTrait as _, QueryFilter as _};

use crate::Store;
use crate::audit::insert_event;
use crate::entities::invitations::{self, Column, Entity};
use crate::transaction::{corrupt, unexpected};
use crate::users::{check_actor, insert_user, lock_and_check, lock_tenant, write_change};

fn to_row(invitation: &Invitation) -> invitations::ActiveModel {
    invitations::ActiveModel {
        user_id: Set(invitation.user.as_uuid()),
        tenant_id: Set(invitation.tenant.as_uuid()),
        token_hash: Set(invitation.hash.as_bytes().to_vec()),
        issued_at: Set(invitation.issued_at),
        expires_at: Set(invitation.expires_at),
        invited_by: Set(invitation.invited_by.map(Into::into)),
        delivery_status: Set(invitation.delivery.status.as_str().to_owned()),
        delivery_error: Set(invitation.delivery.error.clone()),
        delivered_at: Set(invitation.delivery.at),
    }
}

fn from_row(row: invitations::Model) -> Result<Invitation, StoreError> {
    let hash: [u8; 32] = row.token_hash.try_into().map_err(|_| corrupt("invitation hash", "not 32 bytes"))?;
    Ok(Invitation {
        user: row.user_id.into(),
        tenant: row.tenant_id.into(),
        hash: TokenHash(hash),
        issued_at: row.issued_at,
        expires_at: row.expires_at,
        invited_by: row.invited_by.map(Into::into),
        delivery: Delivery {
            status: row.delivery_status.parse().map_err(|e| corrupt("delivery status", e))?,
            error: row.delivery_error,
            at: row.delivered_at,
        },
    })
}

/// Deletes the invitation of `user`, if any, as part of `txn` (its link stops working).
pub(crate) async fn delete_invitation(txn: &DatabaseTransaction, user: UserId) -> Result<(), StoreError> {
    Entity::delete_many().filter(Column::UserId.eq(user.as_uuid())).exec(txn).await.map_err(unexpected)?;
    Ok(())
}

/// Inserts `invitations` as part of `txn`, many to a statement.
pub(crate) async fn insert_invitations(
    txn: &DatabaseTransaction,
    invitations: &[Invitation],
) -> Result<(), StoreError> {
    for chunk in invitations.chunks(500) {
        Entity::insert_many(chunk.iter().map(to_row)).exec_without_returning(txn).await.map_err(unexpected)?;
    }
    Ok(())
}

async fn insert_invitation(txn: &DatabaseTransaction, invitation: &Invitation) -> Result<(), StoreError> {
    Entity::insert(to_row(invitation)).exec_without_returning(txn).await.map_err(unexpected)?;
    Ok(())
}

#[async_trait]
impl InvitationRepository for Store {
    async fn invite(
        &self,
        user: &User,
        invitation: &Invitation,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        if acting.is_some() {
            lock_tenant(&txn, user.tenant).await?;
            check_actor(&txn, user.tenant, acting).await?;
        }
        let budget = insert_user(&txn, user).await?;
        insert_invitation(&txn, invitation).await?;
        insert_event(&txn, &audit.with_default_budget(budget.as_ref())).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn get_invitation(&self, tenant: TenantId, user: UserId) -> Result<Option<Invitation>, StoreError> {
        let row = Entity::find_by_id(user.as_uuid())
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unexpected)?;
        row.map(from_row).transpose()
    }

    async fn invitations_of(&self, tenant: TenantId, users: &[UserId]) -> Result<Vec<Invitation>, StoreError> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let rows = Entity::find()
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .filter(Column::UserId.is_in(users.iter().map(UserId::as_uuid)))
            .all(&self.db)
            .await
            .map_err(unexpected)?;
        rows.into_iter().map(from_row).collect()
    }

    async fn find_invitation(&self, hash: &TokenHash) -> Result<Option<Invitation>, StoreError> {
        let row = Entity::find()
            .filter(Column::TokenHash.eq(hash.as_bytes().to_vec()))
            .one(&self.db)
            .await
            .map_err(unexpected)?;
        row.map(from_row).transpose()
    }

    async fn reissue(
        &self,
        invitation: &Invitation,
        premises: &Premises,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        if invitation.user != premises.target {
            return Err(StoreError::Unexpected(roster_domain::UnexpectedError::new(
                "a reissued invitation must belong to the user its premises are about",
            )));
        }
        let txn = self.begin_write().await.map_err(unexpected)?;
        lock_and_check(&txn, invitation.tenant, premises).await?;
        delete_invitation(&txn, invitation.user).await?;
        insert_invitation(&txn, invitation).await?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn record_delivery(&self, tenant: TenantId, hash: &TokenHash, delivery: &Delivery) -> Result<(), StoreError> {
        Entity::update_many()
            .col_expr(Column::DeliveryStatus, Expr::val(delivery.status.as_str()))
            .col_expr(Column::DeliveryError, Expr::val(delivery.error.clone()))
            .col_expr(Column::DeliveredAt, Expr::val(delivery.at))
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .filter(Column::TokenHash.eq(hash.as_bytes().to_vec()))
            .exec(&self.db)
            .await
            .map_err(unexpected)?;
        Ok(())
    }

    async fn accept(
        &self,
        hash: &TokenHash,
        accepted: &User,
        version: u64,
        session: &roster_domain::session::Session,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let premises = Premises { target: accepted.id, version, actor: None, keep_an_administrator: false };
        let stored = lock_and_check(&txn, accepted.tenant, &premises).await?;
        let used = Entity::delete_many()
            .filter(Column::UserId.eq(accepted.id.as_uuid()))
            .filter(Column::TokenHash.eq(hash.as_bytes().to_vec()))
            .exec(&*txn)
            .await
            .map_err(unexpected)?;
        if used.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        write_change(&txn, &stored, accepted).await?;
        crate::sessions::insert_session(&txn, session).await?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn count_pending(&self, tenant: TenantId, now: Timestamp) -> Result<u64, StoreError> {
        Entity::find()
            .filter(Column::TenantId.eq(tenant.as_uuid()))
            .filter(Column::ExpiresAt.gt(now))
            .count(&self.db)
            .await
            .map_err(unexpected)
    }
}
