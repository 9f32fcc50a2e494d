//! Invitations: a user created in status `invited` receives a single-use link (256 random bits,
//! stored only as a hash) that expires after the tenant's invitation lifetime. Accepting it
//! makes the user active; reinviting or copying the link replaces it (the old one dies, since
//! only its hash was kept); revoking removes the never-activated user.

use std::fmt;
use std::str::FromStr;

use chrono::TimeDelta;

use crate::token::{is_secret, random_secret};
use crate::{TenantId, Timestamp, TokenHash, UserId};

const PREFIX: &str = "inv_";

/// The secret of an accept link (`inv_` and 256 random bits). Mailed or shown once; its `Debug`
/// hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct InvitationSecret(String);

impl InvitationSecret {
    /// A fresh secret.
    #[must_use]
    pub fn generate() -> Self {
        Self(random_secret(PREFIX))
    }

    /// Reads a presented secret; `None` when it cannot be one of ours (no lookup needed).
    #[must_use]
    pub fn parse(presented: &str) -> Option<Self> {
        is_secret(presented, PREFIX).then(|| Self(presented.to_owned()))
    }

    /// The secret, to put in the link.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the invitation is stored and looked up.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for InvitationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvitationSecret(***)")
    }
}

/// How long a tenant's invitation links work: 1 hour to 30 days, 7 days by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct InvitationTtl(u32);

/// The lifetime is outside 1 hour to 30 days.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an invitation lifetime is {min} to {max} seconds (1 hour to 30 days)", min = InvitationTtl::MIN_SECONDS, max = InvitationTtl::MAX_SECONDS)]
pub struct InvitationTtlError;

impl InvitationTtl {
    /// One hour.
    pub const MIN_SECONDS: u32 = 3600;
    /// Thirty days.
    pub const MAX_SECONDS: u32 = 30 * 24 * 3600;
    /// Seven days.
    pub const DEFAULT: Self = Self(7 * 24 * 3600);

    /// A lifetime of `seconds`.
    ///
    /// # Errors
    /// [`InvitationTtlError`] outside 1 hour to 30 days.
    pub fn from_seconds(seconds: u64) -> Result<Self, InvitationTtlError> {
        match u32::try_from(seconds) {
            Ok(s) if (Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(&s) => Ok(Self(s)),
            _ => Err(InvitationTtlError),
        }
    }

    /// The lifetime in seconds.
    #[must_use]
    pub const fn seconds(self) -> u32 {
        self.0
    }

    /// The lifetime as a duration.
    #[must_use]
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.0))
    }
}

impl Default for InvitationTtl {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Whether an invitation's link still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationState {
    /// The link works until `expires_at`.
    Pending,
    /// The link expired, or the user has none (e.g. reactivated before accepting): reinvite.
    Expired,
}

/// How the mailing of the current link went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Being sent.
    Pending,
    /// Handed to the mail system.
    Sent,
    /// The mail system refused it or was unreachable; reinvite to send a new link.
    Failed,
    /// Not mailed: the link was handed to an administrator (copy link).
    NotSent,
}

impl DeliveryStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Sent, Self::Failed, Self::NotSent];

    /// The stable name used in storage and the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::NotSent => "not_sent",
        }
    }
}

/// The text is not a delivery status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery status {0:?}")]
pub struct UnknownDeliveryStatus(pub String);

impl FromStr for DeliveryStatus {
    type Err = UnknownDeliveryStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| UnknownDeliveryStatus(s.to_owned()))
    }
}

/// How the mailing of the current link went, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The outcome.
    pub status: DeliveryStatus,
    /// Why it failed, for the administrator.
    pub error: Option<String>,
    /// When the outcome was known.
    pub at: Option<Timestamp>,
}

impl Delivery {
    /// Not mailed yet.
    #[must_use]
    pub fn pending() -> Self {
        Self { status: DeliveryStatus::Pending, error: None, at: None }
    }

    /// Not to be mailed: the link goes to an administrator.
    #[must_use]
    pub fn not_sent() -> Self {
        Self { status: DeliveryStatus::NotSent, error: None, at: None }
    }
}

/// The live invitation of an invited user: at most one per user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The invited user.
    pub user: UserId,
    /// Their tenant.
    pub tenant: TenantId,
    /// The hash of the link's secret.
    pub hash: TokenHash,
    /// When this link was issued.
    pub issued_at: Timestamp,
    /// When this link stops working.
    pub expires_at: Timestamp,
    /// Who issued it, unless the system did.
    pub invited_by: Option<UserId>,
    /// How its mailing went.
    pub delivery: Delivery,
}

impl Invitation {
    /// A new link for `user` of `tenant`, working for `ttl` from `now`, with its secret.
    #[must_use]
    pub fn issue(
        tenant: TenantId,
        user: UserId,
        ttl: InvitationTtl,
        invited_by: Option<UserId>,
        delivery: Delivery,
        now: Timestamp,
    ) -> (Self, InvitationSecret) {
        let secret = InvitationSecret::generate();
        let invitation = Self {
            user,
            tenant,
            hash: secret.hash(),
            issued_at: now,
            expires_at: now + ttl.as_delta(),
            invited_by,
            delivery,
        };
        (invitation, secret)
    }

    /// Whether the link still works at `now`.
    #[must_use]
    pub fn state(&self, now: Timestamp) -> InvitationState {
        if now < self.expires_at { InvitationState::Pending } else { InvitationState::Expired }
    }

    /// Whole seconds until the link stops working (0 once expired).
    #[must_use]
    pub fn seconds_left(&self, now: Timestamp) -> u64 {
        u64::try_from((self.expires_at - now).num_seconds()).unwrap_or(0)
    }
}

/// A tenant's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TenantSettings {
    /// How long invitation links work.
    pub invitation_ttl: InvitationTtl,
    /// The budget every new user gets (created, invited, imported); `None`: no budget, no limit.
    pub default_budget: Option<crate::budget::BudgetPolicy>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_one_hour_to_thirty_days() {
        assert!(InvitationTtl::from_seconds(3599).is_err());
        assert_eq!(InvitationTtl::from_seconds(3600).unwrap().seconds(), 3600);
        assert_eq!(InvitationTtl::from_seconds(2_592_000).unwrap().seconds(), 2_592_000);
        assert!(InvitationTtl::from_seconds(2_592_001).is_err());
        assert!(InvitationTtl::from_seconds(u64::MAX).is_err());
        assert_eq!(InvitationTtl::default().seconds(), 604_800);
    }

    #[test]
    fn a_link_is_pending_until_it_expires() {
        let now = chrono::Utc::now();
        let (invitation, secret) =
            Invitation::issue(TenantId::new(), UserId::new(), InvitationTtl::DEFAULT, None, Delivery::pending(), now);
        assert_eq!(invitation.hash, secret.hash());
        assert_eq!(invitation.state(now), InvitationState::Pending);
        assert_eq!(invitation.seconds_left(now), 604_800);
        assert_eq!(invitation.state(invitation.expires_at), InvitationState::Expired);
        assert_eq!(invitation.seconds_left(invitation.expires_at + TimeDelta::days(1)), 0);
    }

    #[test]
    fn secrets_have_256_bits_and_never_show_in_debug() {
        let secret = InvitationSecret::generate();
        assert_eq!(secret.expose().len(), 4 + 43);
        assert_eq!(InvitationSecret::parse(secret.expose()), Some(secret.clone()));
        assert_eq!(InvitationSecret::parse("rst_x"), None);
        assert!(!format!("{secret:?}").contains(&secret.expose()[4..]));
    }
}
