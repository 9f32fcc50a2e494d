//! The user: a member of one tenant, identified by an email, with a role and a lifecycle status.

mod query;
mod values;

use std::fmt;
use std::str::FromStr;

pub use query::{
    CursorError, InvitationFilter, SortDirection, UserCursor, UserFilter, UserQuery, UserSort, UserSortField,
};
pub use values::{
    EMAIL_MAX_LEN, Email, EmailError, NAME_MAX_CHARS, NameError, PersonName, Phone, PhoneError, REFERRAL_CODE_MAX_LEN,
    ReferralCode, ReferralCodeError, SEARCH_MAX_CHARS, SearchText, SearchTextError, search_haystack,
};

use crate::{LicenseKindId, Role, TenantId, Timestamp, UserId};

/// Where a user is in their lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserStatus {
    /// Invited, has not accepted yet.
    Invited,
    /// May sign in.
    Active,
    /// Soft-deleted: cannot sign in, history kept, can be reactivated.
    Deactivated,
}

/// How a user came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserSource {
    /// Created one at a time by an administrator or collaborator.
    Created,
    /// Invited by email.
    Invited,
    /// Imported from a CSV file.
    Imported,
    /// Provisioned by an identity provider over SCIM.
    Scim,
    /// Created by a service through the API.
    Api,
    /// Created at their first sign-in through the tenant's OpenID Connect issuer.
    Oidc,
}

macro_rules! text_enum {
    ($ty:ident, $err:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stable lowercase name used in storage and the API.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[doc = concat!("The text is not a known ", $what, ".")]
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("unknown {what}: {value:?}", what = $what, value = .0)]
        pub struct $err(pub String);

        impl FromStr for $ty {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| $err(s.to_owned()))
            }
        }
    };
}

text_enum!(UserStatus, UnknownStatus, "user status", {
    Invited => "invited",
    Active => "active",
    Deactivated => "deactivated",
});
text_enum!(UserSource, UnknownSource, "user source", {
    Created => "created",
    Invited => "invited",
    Imported => "imported",
    Scim => "scim",
    Api => "api",
    Oidc => "oidc",
});

/// A member of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Global id.
    pub id: UserId,
    /// The tenant the user belongs to; never changes.
    pub tenant: TenantId,
    /// Login id, unique per tenant; never changes.
    pub email: Email,
    /// Display name, if known.
    pub name: Option<PersonName>,
    /// Phone number with country code, if given.
    pub phone: Option<Phone>,
    /// What the user may do.
    pub role: Role,
    /// Lifecycle status.
    pub status: UserStatus,
    /// How the user came to exist.
    pub source: UserSource,
    /// Referral or promo code given at sign-up.
    pub referral_code: Option<ReferralCode>,
    /// When the user was created.
    pub created_at: Timestamp,
    /// When the user was last changed.
    pub updated_at: Timestamp,
    /// When the user first became active.
    pub activated_at: Option<Timestamp>,
    /// When the user was last seen using the platform.
    pub last_active_at: Option<Timestamp>,
    /// When the user was deactivated, while deactivated.
    pub deactivated_at: Option<Timestamp>,
    /// The license kind whose seat the user holds. Never set while deactivated.
    pub license: Option<LicenseKindId>,
    /// How many times the user was changed: storage refuses a change decided on an older
    /// version (optimistic concurrency), so no concurrent change is ever lost.
    pub version: u64,
}

/// The data of a user to create, already valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login id.
    pub email: Email,
    /// Display name.
    pub name: Option<PersonName>,
    /// Phone number.
    pub phone: Option<Phone>,
    /// Role to give.
    pub role: Role,
    /// Referral or promo code.
    pub referral_code: Option<ReferralCode>,
}

/// A change to a user's profile. `None` leaves a field alone; `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    /// New display name.
    pub name: Option<Option<PersonName>>,
    /// New phone number.
    pub phone: Option<Option<Phone>>,
    /// New referral code.
    pub referral_code: Option<Option<ReferralCode>>,
}

impl ProfileChanges {
    /// Whether the change touches nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.phone.is_none() && self.referral_code.is_none()
    }
}

impl User {
    /// A new active user of `tenant`, created now.
    #[must_use]
    pub fn create(tenant: TenantId, new: NewUser, source: UserSource, now: Timestamp) -> Self {
        Self {
            id: UserId::new(),
            tenant,
            email: new.email,
            name: new.name,
            phone: new.phone,
            role: new.role,
            status: UserStatus::Active,
            source,
            referral_code: new.referral_code,
            created_at: now,
            updated_at: now,
            activated_at: Some(now),
            last_active_at: None,
            deactivated_at: None,
            license: None,
            version: 0,
        }
    }

    /// A new user of `tenant` invited now, holding a seat of `license` (reserved at once, so
    /// accepting can never fail for lack of seats).
    #[must_use]
    pub fn invite(tenant: TenantId, new: NewUser, license: Option<LicenseKindId>, now: Timestamp) -> Self {
        Self {
            status: UserStatus::Invited,
            activated_at: None,
            license,
            ..Self::create(tenant, new, UserSource::Invited, now)
        }
    }

    /// This invited user, active from `now` after accepting their invitation (with the name they
    /// gave, if any).
    #[must_use]
    pub fn accepted(&self, name: Option<PersonName>, now: Timestamp) -> Self {
        Self {
            status: UserStatus::Active,
            activated_at: Some(now),
            name: name.or_else(|| self.name.clone()),
            ..self.next_version(now)
        }
    }

    /// Whether the user was invited and never accepted: revoking the invitation removes them.
    #[must_use]
    pub fn never_activated(&self) -> bool {
        self.status == UserStatus::Invited && self.activated_at.is_none()
    }

    /// Whether the user is an administrator who may currently sign in.
    #[must_use]
    pub fn is_active_administrator(&self) -> bool {
        self.role == Role::Administrator && self.status == UserStatus::Active
    }

    /// The next version of this user, changed at `now`.
    fn next_version(&self, now: Timestamp) -> Self {
        Self { updated_at: now, version: self.version + 1, ..self.clone() }
    }

    /// This user with `changes` applied, or `None` when they change nothing.
    #[must_use]
    pub fn with_profile(&self, changes: ProfileChanges, now: Timestamp) -> Option<Self> {
        let mut next = self.next_version(now);
        if let Some(name) = changes.name {
            next.name = name;
        }
        if let Some(phone) = changes.phone {
            next.phone = phone;
        }
        if let Some(code) = changes.referral_code {
            next.referral_code = code;
        }
        let unchanged = next.name == self.name && next.phone == self.phone && next.referral_code == self.referral_code;
        (!unchanged).then_some(next)
    }

    /// This user with another role.
    #[must_use]
    pub fn with_role(&self, role: Role, now: Timestamp) -> Self {
        Self { role, ..self.next_version(now) }
    }

    /// This user, deactivated now: their seat goes back to the pool.
    #[must_use]
    pub fn deactivated(&self, now: Timestamp) -> Self {
        Self { status: UserStatus::Deactivated, deactivated_at: Some(now), license: None, ..self.next_version(now) }
    }

    /// This user holding a seat of `license` (or none).
    #[must_use]
    pub fn with_license(&self, license: Option<LicenseKindId>, now: Timestamp) -> Self {
        Self { license, ..self.next_version(now) }
    }

    /// Whether the user may use AI features: active and licensed.
    #[must_use]
    pub fn has_ai_access(&self) -> bool {
        self.status == UserStatus::Active && self.license.is_some()
    }

    /// This user, reactivated: active again if they had ever been active, else invited again.
    #[must_use]
    pub fn reactivated(&self, now: Timestamp) -> Self {
        let status = if self.activated_at.is_some() { UserStatus::Active } else { UserStatus::Invited };
        Self { status, deactivated_at: None, ..self.next_version(now) }
    }
}
