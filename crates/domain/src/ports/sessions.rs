//! Storage of built-in sign-in: magic links, sessions and TOTP enrollment (hashes and secrets
//! of one user each), and the OpenID Connect trust of each tenant.

use async_trait::async_trait;

use crate::governance::Acting;
use crate::identity::{ExternalLink, OidcSettings};
use crate::session::{MagicLink, Mfa, Session, TotpSecret};
use crate::{Actor, AuditEvent, SessionId, StoreError, TenantId, Timestamp, TokenHash, UserId};

/// Stores magic links, sessions and MFA state.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait SessionRepository: Send + Sync {
    /// Stores `link`, deleting the user's expired links.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn insert_magic_link(&self, link: &MagicLink) -> Result<(), StoreError>;

    /// The link with this hash, in whichever tenant.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn find_magic_link(&self, hash: &TokenHash) -> Result<Option<MagicLink>, StoreError>;

    /// Counts a wrong code given with the link `hash`; at `limit` wrong codes the link is deleted.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn fail_magic_link(&self, hash: &TokenHash, limit: u32) -> Result<(), StoreError>;

    /// Redeems the link `hash`, in one transaction: deletes it, stores `session`, records
    /// `step` as the user's last accepted TOTP step (when a code was given) and `audit`.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] when the link is gone (redeemed concurrently), and
    /// [`StoreError::Stale`] when the user is not active or `step` is not later than the last
    /// step accepted (a replayed code); nothing is written then.
    async fn redeem_magic_link(
        &self,
        hash: &TokenHash,
        session: &Session,
        step: Option<u64>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The actor and session of the session with this hash, if it has not expired at `now`,
    /// its user is active, and its user's sessions were not revoked since it began.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn authenticate_session(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<(Actor, Session)>, StoreError>;

    /// The sessions of `user` unexpired at `now`, newest first.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn sessions_of(&self, tenant: TenantId, user: UserId, now: Timestamp) -> Result<Vec<Session>, StoreError>;

    /// Ends the session `id` of `user` and records `audit`, in one transaction.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] when `user` has no such session; nothing is
    /// written then.
    async fn end_session(
        &self,
        tenant: TenantId,
        user: UserId,
        id: SessionId,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Ends every session of `user`, refuses identity-provider tokens issued before `now`, and
    /// records `audit`, in one transaction that re-checks `acting`; answers how many sessions
    /// ended.
    ///
    /// # Errors
    /// MUST return [`StoreError::ActorChanged`]; nothing is written then.
    async fn revoke_sessions(
        &self,
        tenant: TenantId,
        user: UserId,
        now: Timestamp,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<u64, StoreError>;

    /// When the sessions of `user` were last revoked (by an administrator, the user, or
    /// deactivation): identity-provider tokens issued before are refused.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn sessions_revoked_at(&self, tenant: TenantId, user: UserId) -> Result<Option<Timestamp>, StoreError>;

    /// The MFA state of `user` (the default when they never enrolled).
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn mfa_of(&self, tenant: TenantId, user: UserId) -> Result<Mfa, StoreError>;

    /// Stores `secret` as the unconfirmed TOTP secret of `user`, replacing an unconfirmed one.
    ///
    /// # Errors
    /// MUST return [`StoreError::Stale`] when a confirmed secret exists; nothing is written then.
    async fn begin_enrollment(&self, tenant: TenantId, user: UserId, secret: &TotpSecret) -> Result<(), StoreError>;

    /// Confirms the TOTP secret `secret` of `user` at `now` (MFA becomes required), records
    /// `step` as the last accepted, turns the enrolling `session` (if given) into an active one,
    /// and records `audit`, in one transaction.
    ///
    /// # Errors
    /// MUST return [`StoreError::Stale`] when the stored unconfirmed secret is no longer
    /// `secret` (replaced, confirmed or reset meanwhile); nothing is written then.
    #[allow(clippy::too_many_arguments)]
    async fn confirm_enrollment(
        &self,
        tenant: TenantId,
        user: UserId,
        secret: &TotpSecret,
        step: u64,
        session: Option<SessionId>,
        now: Timestamp,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// Deletes the TOTP secret of `user` and makes MFA required (the next sign-in must enroll
    /// again, also for a user who never enrolled), and records `audit`, in one transaction that
    /// re-checks `acting`.
    ///
    /// # Errors
    /// MUST return [`StoreError::ActorChanged`]; nothing is written then.
    async fn reset_mfa(
        &self,
        tenant: TenantId,
        user: UserId,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
}

/// Stores which OpenID Connect issuer each tenant trusts, and the links from issuers'
/// subjects to users.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait OidcRepository: Send + Sync {
    /// The issuer `tenant` trusts, if any.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn oidc_settings(&self, tenant: TenantId) -> Result<Option<OidcSettings>, StoreError>;

    /// Trusts `settings` (or no issuer, with `None`) for `tenant` and records `audit`, in one
    /// transaction that re-checks `acting`. Changing the issuer forgets the links made with the
    /// old one. A pair of issuer and audience is trusted by one tenant at most, atomically
    /// across instances.
    ///
    /// # Errors
    /// MUST return [`StoreError::ActorChanged`] and [`StoreError::IssuerTaken`] (another tenant
    /// trusts the pair); nothing is written then.
    async fn set_oidc_settings(
        &self,
        tenant: TenantId,
        settings: Option<OidcSettings>,
        acting: Acting,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The tenants that trust the issuer `issuer` (exactly as tokens carry it), with their
    /// settings: one per audience.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn tenants_trusting(&self, issuer: &str) -> Result<Vec<(TenantId, OidcSettings)>, StoreError>;

    /// The user the issuer's `subject` is linked to in `tenant`.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn linked_user(&self, tenant: TenantId, issuer: &str, subject: &str) -> Result<Option<UserId>, StoreError>;

    /// Stores `link` and records `audit`, in one transaction; a link for the same subject
    /// already there is kept, and nothing is recorded then.
    ///
    /// # Errors
    /// [`StoreError::Unexpected`] only.
    async fn link(&self, link: &ExternalLink, audit: &AuditEvent) -> Result<(), StoreError>;
}
