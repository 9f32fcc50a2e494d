//! [`UserRepository`] on SeaORM.

mod batch;
mod convert;
mod counts;
mod governed;
pub(crate) mod listing;
mod seats;

use async_trait::async_trait;
use roster_domain::audit::PERSONAL_FIELDS;
use roster_domain::budget::BudgetPolicy;
use roster_domain::governance::Acting;
use roster_domain::ports::UserRepository;
use roster_domain::{
    AuditEvent, Email, Page, Premises, Role, StoreError, TenantId, User, UserCursor, UserId, UserQuery, UserStatus,
};
use sea_orm::ActiveValue::NotSet;
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait as _, ConnectionTrait as _, DatabaseTransaction, DbBackend, EntityTrait as _,
    PaginatorTrait as _, QueryFilter as _,
};

pub(crate) use convert::{from_row, to_row};
pub(crate) use governed::{Stored, check_actor, is_active, lock_and_check, lock_tenant};

use crate::Store;
use crate::audit::insert_event;
use crate::cache::Changed;
use crate::entities::users;
use crate::tokens::revoke_tokens;
use crate::transaction::{is_deadlock, is_unique_violation, raw, unexpected, with_attempts};

#[async_trait]
impl UserRepository for Store {
    async fn insert(&self, user: &User, acting: Acting, audit: &AuditEvent) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        if acting.is_some() {
            governed::lock_tenant(&txn, user.tenant).await?;
            governed::check_actor(&txn, user.tenant, acting).await?;
        }
        let budget = insert_user(&txn, user).await?;
        insert_event(&txn, &audit.with_default_budget(budget.as_ref())).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn get(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StoreError> {
        users::Entity::find_by_id(id.as_uuid())
            .filter(users::Column::TenantId.eq(tenant.as_uuid()))
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .map(from_row)
            .transpose()
    }

    async fn find_by_emails(&self, tenant: TenantId, emails: &[Email]) -> Result<Vec<User>, StoreError> {
        batch::find_by_emails(&self.db, tenant, emails).await
    }

    async fn insert_batch(
        &self,
        tenant: TenantId,
        records: &[roster_domain::ports::NewRecord],
        acting: Acting,
    ) -> Result<Vec<roster_domain::ports::RecordOutcome>, StoreError> {
        self.insert_users_batch(tenant, records, acting).await
    }

    async fn find_by_email(&self, tenant: TenantId, email: &Email) -> Result<Option<User>, StoreError> {
        users::Entity::find()
            .filter(users::Column::TenantId.eq(tenant.as_uuid()))
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await
            .map_err(unexpected)?
            .map(from_row)
            .transpose()
    }

    async fn list(&self, tenant: TenantId, query: &UserQuery) -> Result<Page<User, UserCursor>, StoreError> {
        listing::list(&self.db, self.limits, tenant, query).await
    }

    async fn scan(
        &self,
        tenant: TenantId,
        filter: &roster_domain::UserFilter,
        after: Option<UserCursor>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError> {
        listing::scan(&self.db, tenant, filter, after, limit).await
    }

    async fn count_active_administrators(&self, tenant: TenantId) -> Result<u64, StoreError> {
        users::Entity::find()
            .filter(users::Column::TenantId.eq(tenant.as_uuid()))
            .filter(users::Column::Role.eq(Role::Administrator.as_str()))
            .filter(users::Column::Status.eq(UserStatus::Active.as_str()))
            .count(&self.db)
            .await
            .map_err(unexpected)
    }

    async fn update(&self, updated: &User, premises: &Premises, audit: &AuditEvent) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let stored = governed::lock_and_check(&txn, updated.tenant, premises).await?;
        write_change(&txn, &stored, updated).await?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }

    async fn purge(&self, tenant: TenantId, premises: &Premises, audit: &AuditEvent) -> Result<(), StoreError> {
        // Deleting the user's rows may deadlock with the gateway's writes for them.
        with_attempts("a purge", is_deadlock, || self.purge_once(tenant, premises, audit)).await
    }

    async fn record_activity(&self, seen: &[(UserId, roster_domain::Timestamp)]) -> Result<(), StoreError> {
        // One statement per 500 users, each a join with the list, in one transaction; not under
        // the tenant lock: only ever moving `last_active_at` forward, it races nothing.
        let txn = self.begin_write().await.map_err(unexpected)?;
        for chunk in seen.chunks(500) {
            let sql = format!(
                "UPDATE users SET last_active_at = seen.at \
                 FROM (SELECT column1 AS id, column2 AS at FROM (VALUES {}) AS listed) AS seen \
                 WHERE users.id = seen.id AND (users.last_active_at IS NULL OR users.last_active_at < seen.at)",
                vec!["(?, ?)"; chunk.len()].join(", ")
            );
            let values = chunk.iter().flat_map(|(user, at)| [user.as_uuid().into(), (*at).into()]);
            let statement = raw(txn.get_database_backend(), &sql, values);
            txn.execute_raw(statement).await.map_err(unexpected)?;
        }
        txn.commit_changed(Changed::Nothing).await.map_err(unexpected)
    }
}

impl Store {
    async fn purge_once(&self, tenant: TenantId, premises: &Premises, audit: &AuditEvent) -> Result<(), StoreError> {
        let txn = self.begin_write().await.map_err(unexpected)?;
        let stored = governed::lock_and_check(&txn, tenant, premises).await?;
        counts::adjust(&txn, tenant, &stored.role, &stored.status, -1).await?;
        seats::moved(&txn, tenant, stored.license, None).await?;
        crate::budgets::forget_budget(&txn, tenant, premises.target).await?;
        anonymise_audit_trail(&txn, tenant, premises.target).await?;
        users::Entity::delete_by_id(premises.target.as_uuid()).exec(&*txn).await.map_err(unexpected)?;
        insert_event(&txn, audit).await?;
        txn.commit().await.map_err(unexpected)
    }
}

/// Replaces the user `stored` (as re-read under the tenant lock) with `updated`: moves their
/// seat and their count, and when they are deactivated, revokes every credential of theirs (API
/// tokens, sessions, magic links and invitation link; identity-provider tokens issued before).
pub(crate) async fn write_change(txn: &DatabaseTransaction, stored: &Stored, updated: &User) -> Result<(), StoreError> {
    seats::moved(txn, updated.tenant, stored.license, updated.license).await?;
    // `last_active_at` is the activity flush's alone (it only moves forward, without the tenant
    // lock): the copy of it read before this change may be older than what it wrote since.
    let row = users::ActiveModel { last_active_at: NotSet, ..to_row(updated) };
    row.update(txn).await.map_err(unexpected)?;
    counts::moved(
        txn,
        updated.tenant,
        (&stored.role, &stored.status),
        (updated.role.as_str(), updated.status.as_str()),
    )
    .await?;
    if updated.status == UserStatus::Deactivated {
        revoke_tokens(txn, updated.id).await?;
        crate::invitations::delete_invitation(txn, updated.id).await?;
        let at = updated.deactivated_at.unwrap_or(updated.updated_at);
        crate::sessions::revoke_all(txn, updated.tenant, updated.id, at).await?;
    }
    Ok(())
}

/// Inserts a user row, taking a seat of the license they hold, if any, and giving them the
/// tenant's default budget, if any (returned, for the audit trail); translates a duplicate email
/// into [`StoreError::EmailTaken`].
pub(crate) async fn insert_user(txn: &DatabaseTransaction, user: &User) -> Result<Option<BudgetPolicy>, StoreError> {
    seats::moved(txn, user.tenant, None, user.license).await?;
    users::Entity::insert(to_row(user))
        .exec_without_returning(txn)
        .await
        .map_err(|error| if is_unique_violation(&error) { StoreError::EmailTaken } else { unexpected(error) })?;
    let policy = crate::budgets::default_policy(txn, user.tenant).await?;
    if let Some(policy) = policy {
        let budget = roster_domain::budget::Budget::new(policy, user.created_at);
        crate::budgets::insert_budget(txn, user.tenant, user.id, &budget, user.created_at).await?;
    }
    counts::adjust(txn, user.tenant, user.role.as_str(), user.status.as_str(), 1).await?;
    Ok(policy)
}

/// Removes a purged user's personal data from the audit trail: labels naming them, and the
/// personal fields of the before/after snapshots of events about them.
async fn anonymise_audit_trail(txn: &DatabaseTransaction, tenant: TenantId, user: UserId) -> Result<(), StoreError> {
    let backend = txn.get_database_backend();
    let strip = |column: &str| match backend {
        DbBackend::Postgres => {
            let keys = PERSONAL_FIELDS.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(",");
            format!("{column} = {column} - ARRAY[{keys}]::text[]")
        }
        _ => {
            let paths = PERSONAL_FIELDS.iter().map(|k| format!("'$.{k}'")).collect::<Vec<_>>().join(",");
            format!("{column} = json_remove({column}, {paths})")
        }
    };
    let about = format!(
        "UPDATE audit_events SET target_label = NULL, {}, {} WHERE tenant_id = ? AND target_id = ?",
        strip("before"),
        strip("after")
    );
    let by = "UPDATE audit_events SET actor_label = NULL WHERE tenant_id = ? AND actor_id = ?";
    for sql in [about.as_str(), by] {
        let statement = raw(backend, sql, [tenant.as_uuid().into(), user.as_uuid().into()]);
        txn.execute_raw(statement).await.map_err(unexpected)?;
    }
    Ok(())
}
