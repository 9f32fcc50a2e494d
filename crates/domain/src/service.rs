//! Service credentials: bearer secrets for machines (the platform's AI gateway), bound to a
//! tenant and to scopes rather than to a user. A service acts with no role capability at all:
//! only what its scopes allow.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::token::{is_secret, random_secret};
use crate::{ServiceCredentialId, TenantId, Timestamp, TokenHash};

const PREFIX: &str = "rsk_";

/// What a service credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Reserve, commit and release credits, and record usage events.
    UsageWrite,
    /// Read any user's entitlements (the access gate).
    EntitlementsRead,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Self; 2] = [Self::UsageWrite, Self::EntitlementsRead];

    /// The stable name used in storage and the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UsageWrite => "usage:write",
            Self::EntitlementsRead => "entitlements:read",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}: expected usage:write or entitlements:read")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s).ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

/// What a service credential is for, e.g. "AI gateway": 1 to 100 characters, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceName(String);

/// The text is not an acceptable service name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a service name is 1 to 100 characters without control characters")]
pub struct ServiceNameError;

impl ServiceName {
    /// Parses a name (trimmed).
    ///
    /// # Errors
    /// [`ServiceNameError`] when empty, too long or containing control characters.
    pub fn parse(input: &str) -> Result<Self, ServiceNameError> {
        let trimmed = input.trim();
        let valid = !trimmed.is_empty() && trimmed.chars().count() <= 100 && !trimmed.chars().any(char::is_control);
        if valid { Ok(Self(trimmed.to_owned())) } else { Err(ServiceNameError) }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The secret of a service credential (`rsk_` and 256 random bits). Shown once; its `Debug`
/// hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceSecret(String);

impl ServiceSecret {
    /// A fresh secret.
    #[must_use]
    pub fn generate() -> Self {
        Self(random_secret(PREFIX))
    }

    /// Reads a presented secret; `None` when it cannot be one of ours.
    #[must_use]
    pub fn parse(presented: &str) -> Option<Self> {
        is_secret(presented, PREFIX).then(|| Self(presented.to_owned()))
    }

    /// The secret, to show once.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which it is stored and looked up.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for ServiceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServiceSecret(***)")
    }
}

/// A bearer credential of a machine, bound to a tenant and scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCredential {
    /// Id.
    pub id: ServiceCredentialId,
    /// The tenant it acts in.
    pub tenant: TenantId,
    /// What it is for.
    pub name: ServiceName,
    /// What it may do.
    pub scopes: BTreeSet<Scope>,
    /// Hash of the secret.
    pub hash: TokenHash,
    /// When it was issued.
    pub created_at: Timestamp,
}

impl ServiceCredential {
    /// Issues a credential, returning it with its secret (to show once).
    #[must_use]
    pub fn issue(
        tenant: TenantId,
        name: ServiceName,
        scopes: BTreeSet<Scope>,
        now: Timestamp,
    ) -> (Self, ServiceSecret) {
        let secret = ServiceSecret::generate();
        let credential =
            Self { id: ServiceCredentialId::new(), tenant, name, scopes, hash: secret.hash(), created_at: now };
        (credential, secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_and_secrets_are_distinct_from_user_tokens() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
        assert!("admin".parse::<Scope>().is_err());
        let secret = ServiceSecret::generate();
        assert!(ServiceSecret::parse(secret.expose()).is_some());
        assert!(crate::TokenSecret::parse(secret.expose()).is_none(), "a service key is no user token");
        assert!(!format!("{secret:?}").contains(&secret.expose()[4..]));
    }
}
