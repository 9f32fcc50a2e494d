//! Storage of invitations. Revoking one removes the never-activated user through
//! [`UserRepository::purge`](super::UserRepository::purge), which drops their invitation too.

use async_trait::async_trait;

use crate::governance::Acting;
use crate::invitation::{Delivery, Invitation};
use crate::{AuditEvent, Premises, StoreError, TenantId, Timestamp, TokenHash, User, UserId};

/// Stores the live invitation of each invited user (at most one), by the hash of its link.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait InvitationRepository: Send + Sync {
    /// Stores the new invited `user`, taking a seat of `user.license` if set, with its
    /// `invitation`, and records `audit`, in one transaction that first re-checks `acting` (as
    /// [`UserRepository::insert`](super::UserRepository::insert) does).
    ///
    /// # Errors
    /// MUST return [`StoreError::EmailTaken`], [`StoreError::NoSeats`],
    /// [`StoreError::LicenseNotFound`] or [`StoreError::ActorChanged`]; nothing is written then.
    async fn invite(
        &self,
        user: &User,
        invitation: &Invitation,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The invitation of the user `user` of `tenant`.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn get_invitation(&self, tenant: TenantId, user: UserId) -> Result<Option<Invitation>, StoreError>;

    /// The invitations of those of `users` (of `tenant`) who have one.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn invitations_of(&self, tenant: TenantId, users: &[UserId]) -> Result<Vec<Invitation>, StoreError>;

    /// The invitation whose link has this hash, in whichever tenant.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn find_invitation(&self, hash: &TokenHash) -> Result<Option<Invitation>, StoreError>;

    /// Gives the user `premises.target` the new link `invitation` in place of their current one
    /// (if any), and records `audit`, in one transaction that first re-checks `premises` (the
    /// user is still at that version, so still invited; the actor is unchanged).
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`], [`StoreError::Stale`] or
    /// [`StoreError::ActorChanged`]; nothing is written then.
    async fn reissue(&self, invitation: &Invitation, premises: &Premises, audit: &AuditEvent)
    -> Result<(), StoreError>;

    /// Records how the mailing of the link with `hash` went, if that link is still its user's
    /// (a link replaced meanwhile has nothing left to record).
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn record_delivery(&self, tenant: TenantId, hash: &TokenHash, delivery: &Delivery) -> Result<(), StoreError>;

    /// Accepts the invitation with `hash`, in one transaction: deletes it (a link works once),
    /// stores `accepted` (the user, now active) if the stored user is still at `version`, starts
    /// their first `session`, and records `audit`.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] when no invitation of `accepted` has this hash any
    /// more (used, replaced or revoked meanwhile: two accepts of one link never both succeed),
    /// [`StoreError::Stale`] when the user changed; nothing is written then.
    async fn accept(
        &self,
        hash: &TokenHash,
        accepted: &User,
        version: u64,
        session: &crate::session::Session,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// How many invitations of `tenant` still work at `now`.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn count_pending(&self, tenant: TenantId, now: Timestamp) -> Result<u64, StoreError>;
}
