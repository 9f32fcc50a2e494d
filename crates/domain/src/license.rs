//! Licenses: per tenant, pools of purchased seats of several kinds (e.g. Business, Pro,
//! Knowledge Only). A user holds at most one seat; only active, licensed users may use AI
//! features. Storage keeps `assigned <= seats` atomically, whatever the concurrency.

use std::fmt;

use crate::{LicenseKindId, TenantId, Timestamp};

/// The most seats a kind may have.
pub const MAX_SEATS: u64 = 1_000_000_000;

/// A license kind's name: 1 to 64 characters, no control characters; unique per tenant in any
/// letter case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LicenseName(String);

/// The text is not an acceptable license name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a license name is 1 to 64 characters without control characters")]
pub struct LicenseNameError;

impl LicenseName {
    /// Parses a name (trimmed; case kept for display).
    ///
    /// # Errors
    /// [`LicenseNameError`] when empty, too long or containing control characters.
    pub fn parse(input: &str) -> Result<Self, LicenseNameError> {
        let trimmed = input.trim();
        let valid = !trimmed.is_empty() && trimmed.chars().count() <= 64 && !trimmed.chars().any(char::is_control);
        if valid { Ok(Self(trimmed.to_owned())) } else { Err(LicenseNameError) }
    }

    /// The name as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key names are unique by: lowercased.
    #[must_use]
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for LicenseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A number of seats: 0 to [`MAX_SEATS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seats(u64);

/// The number is above [`MAX_SEATS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seats must be between 0 and {MAX_SEATS}")]
pub struct SeatsError;

impl Seats {
    /// Checks a number of seats.
    ///
    /// # Errors
    /// [`SeatsError`] above [`MAX_SEATS`].
    pub fn new(seats: u64) -> Result<Self, SeatsError> {
        if seats <= MAX_SEATS { Ok(Self(seats)) } else { Err(SeatsError) }
    }

    /// The number.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A pool of seats of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseKind {
    /// Id.
    pub id: LicenseKindId,
    /// The tenant that bought it.
    pub tenant: TenantId,
    /// Name, unique in the tenant.
    pub name: LicenseName,
    /// Seats purchased.
    pub seats: Seats,
    /// Seats held by users (kept by storage, never above `seats`).
    pub assigned: u64,
    /// When the kind was created.
    pub created_at: Timestamp,
}

impl LicenseKind {
    /// Seats free to assign.
    #[must_use]
    pub fn available(&self) -> u64 {
        self.seats.get().saturating_sub(self.assigned)
    }
}

/// Changes to a kind: `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LicenseChanges {
    /// New name.
    pub name: Option<LicenseName>,
    /// New number of seats (refused below the seats assigned).
    pub seats: Option<Seats>,
}

/// The license a user holds, with its name (for display).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLicense {
    /// The kind.
    pub kind: LicenseKindId,
    /// Its name.
    pub name: LicenseName,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_names_are_unique_in_any_letter_case() {
        assert_eq!(LicenseName::parse(" Business ").unwrap().key(), LicenseName::parse("BUSINESS").unwrap().key());
        assert!(LicenseName::parse("").is_err());
        assert!(LicenseName::parse(&"x".repeat(65)).is_err());
        assert!(LicenseName::parse("a\tb").is_err());
    }

    #[test]
    fn seats_are_bounded() {
        assert!(Seats::new(0).is_ok());
        assert!(Seats::new(MAX_SEATS).is_ok());
        assert!(Seats::new(MAX_SEATS + 1).is_err());
    }
}
