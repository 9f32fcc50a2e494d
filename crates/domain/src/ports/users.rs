//! Storage of users.

use async_trait::async_trait;

use crate::governance::Acting;
use crate::invitation::Invitation;
use crate::{AuditEvent, Email, Page, Premises, StoreError, TenantId, User, UserCursor, UserId, UserQuery};

/// A new user to store in a batch, with their invitation (when invited) and audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    /// The user; `user.license`, when set, asks for a seat.
    pub user: User,
    /// Their invitation, when invited.
    pub invitation: Option<Invitation>,
    /// What the audit trail records of them.
    pub audit: AuditEvent,
}

/// What became of one record of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Stored, with their seat, invitation and default budget.
    Created,
    /// Not stored: the tenant has a user with this email.
    EmailTaken,
    /// Not stored: no seat of the license kind was left for them.
    NoSeats,
    /// Not stored: the tenant has no such license kind.
    LicenseNotFound,
}

/// Stores the users of every tenant; each call is scoped to one tenant.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Stores a new `user` and records `audit` atomically. When `acting` names a user, the
    /// transaction first re-checks, serialised with the tenant's governed changes, that they are
    /// still active with that role. When `user.license` is set, it MUST take a seat of that kind
    /// in the same transaction, never letting the kind's assigned seats exceed its seats. When
    /// the tenant has a default budget, the user MUST get it in that transaction.
    ///
    /// # Errors
    /// MUST return [`StoreError::EmailTaken`] when the tenant has a user with the same email in
    /// any letter case, also when two inserts race; [`StoreError::ActorChanged`] when the acting
    /// user changed; [`StoreError::NoSeats`] or [`StoreError::LicenseNotFound`] as for
    /// [`update`](Self::update). Nothing is written then.
    async fn insert(&self, user: &User, acting: Acting, audit: &AuditEvent) -> Result<(), StoreError>;

    /// The user `id` of `tenant`.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn get(&self, tenant: TenantId, id: UserId) -> Result<Option<User>, StoreError>;

    /// The users of `tenant` with these emails (those that exist).
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn find_by_emails(&self, tenant: TenantId, emails: &[Email]) -> Result<Vec<User>, StoreError>;

    /// Stores the users of `records` (of `tenant`) in one transaction that first re-checks
    /// `acting`, each record all or nothing: one whose email is taken, or whose license kind has
    /// no seat left (seats go to the records in their order), is not stored and its outcome says
    /// why; every other is stored with its seat, invitation, the tenant's default budget and
    /// its audit event, as [`insert`](Self::insert) would. One outcome per record, in order.
    ///
    /// # Errors
    /// MUST return [`StoreError::ActorChanged`] when the acting user changed, and
    /// [`StoreError::Stale`] when a record's email was taken by a concurrent write during the
    /// transaction (nothing is written then: store those records one by one instead).
    async fn insert_batch(
        &self,
        tenant: TenantId,
        records: &[NewRecord],
        acting: Acting,
    ) -> Result<Vec<RecordOutcome>, StoreError>;

    /// The user of `tenant` with this email.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn find_by_email(&self, tenant: TenantId, email: &Email) -> Result<Option<User>, StoreError>;

    /// One page of the users of `tenant` matching `query`, in its order, with the number of
    /// matching users (exact, or a lower bound when counting them all would be too costly).
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn list(&self, tenant: TenantId, query: &UserQuery) -> Result<Page<User, UserCursor>, StoreError>;

    /// Up to `limit` users of `tenant` matching `filter`, oldest first (by creation time, then
    /// id), after `after` (a [`UserCursor::CreatedAt`]): the export's walk, which needs no
    /// total and reads each user once whatever is created meanwhile.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn scan(
        &self,
        tenant: TenantId,
        filter: &crate::UserFilter,
        after: Option<UserCursor>,
        limit: u32,
    ) -> Result<Vec<User>, StoreError>;

    /// How many active administrators `tenant` has.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn count_active_administrators(&self, tenant: TenantId) -> Result<u64, StoreError>;

    /// Replaces the stored user `updated.id` with `updated` and records `audit`, in one
    /// transaction that first re-checks `premises` (see [`Premises`]). When the change
    /// deactivates the user, it MUST also revoke every credential of theirs in that transaction,
    /// API tokens and invitation link alike: reactivating them later brings none back. When the user's license changes,
    /// it MUST return the old seat and take the new one in that transaction, never letting a
    /// kind's assigned seats exceed its seats, under any concurrency.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] when the user is gone, [`StoreError::Stale`] when
    /// the stored user is not at `premises.version`, [`StoreError::ActorChanged`] when the
    /// acting user changed, [`StoreError::LastAdministrator`] when the change would leave no
    /// active administrator, [`StoreError::NoSeats`] when the new license kind has no free seat
    /// (or [`StoreError::LicenseNotFound`] when it does not exist in the tenant); nothing is written then.
    async fn update(&self, updated: &User, premises: &Premises, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Deletes the user `premises.target` of `tenant` for good (returning their seat) with
    /// everything that belongs to it (tokens, invitation),
    /// removes personal data from the audit events about or by that user, and records `audit`,
    /// in one transaction that first re-checks `premises`.
    ///
    /// # Errors
    /// As for [`update`](Self::update).
    async fn purge(&self, tenant: TenantId, premises: &Premises, audit: &AuditEvent) -> Result<(), StoreError>;

    /// Sets the `last_active_at` of each user of `seen` to its time, unless it is already
    /// later; changes nothing else (neither `version` nor `updated_at`). Unknown users are
    /// skipped.
    async fn record_activity(&self, seen: &[(UserId, crate::Timestamp)]) -> Result<(), StoreError>;
}
