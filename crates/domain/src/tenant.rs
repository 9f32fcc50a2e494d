//! Tenants: the organisations that use the platform. Nothing crosses a tenant boundary.

use std::fmt;
use std::str::FromStr;

use crate::invitation::TenantSettings;
use crate::{TenantId, Timestamp};

/// A tenant's unique name, used on the command line: 1 to 63 of `a-z 0-9 -`, starting with a
/// letter or digit (a DNS label).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantName(String);

/// The text is not an acceptable tenant name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tenant name must be 1 to 63 of a-z 0-9 and '-', starting with a letter or digit: {0:?}")]
pub struct TenantNameError(pub String);

impl TenantName {
    /// Parses a tenant name (uppercase letters are lowercased).
    ///
    /// # Errors
    /// [`TenantNameError`] when the name breaks the rule above.
    pub fn parse(input: &str) -> Result<Self, TenantNameError> {
        let name = input.trim().to_ascii_lowercase();
        let valid = !name.is_empty()
            && name.len() <= 63
            && !name.starts_with('-')
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid { Ok(Self(name)) } else { Err(TenantNameError(input.to_owned())) }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TenantName {
    type Err = TenantNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An organisation using the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Global id.
    pub id: TenantId,
    /// Unique name.
    pub name: TenantName,
    /// When the tenant was created.
    pub created_at: Timestamp,
    /// Its settings.
    pub settings: TenantSettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_are_dns_labels() {
        assert_eq!(TenantName::parse(" Acme-2 ").unwrap().as_str(), "acme-2");
        for bad in ["", "-acme", "acme corp", "acmé", &"a".repeat(64)] {
            assert!(TenantName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
