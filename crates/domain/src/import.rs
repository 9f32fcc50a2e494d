//! Bulk import: rows read from a file (CSV in `roster-csv`), validated one by one by the domain,
//! and applied in batches where each row is all or nothing.

use std::fmt;

/// One row of an import file, as read: text only, trimmed, empty cells absent. The domain
/// validates every field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportRow {
    /// The line of the file the row starts on (1-based, counting the header and blank lines).
    pub line: u64,
    /// The email: the one required cell.
    pub email: String,
    /// The display name.
    pub name: Option<String>,
    /// The country of the phone: a calling code (`33`, `+33`) or an ISO code (`FR`).
    pub country_code: Option<String>,
    /// The phone number: international (`+33 6 12 34 56 78`), or national with `country_code`.
    pub phone: Option<String>,
    /// The role (`administrator`, `collaborator`, `user`); the import's default when absent.
    pub role: Option<String>,
    /// The license kind, by name (any letter case); the import's when absent.
    pub license: Option<String>,
}

/// Why a row was skipped or failed. Each has a stable code in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowReason {
    /// The email is not an address.
    InvalidEmail,
    /// An earlier row of the file has the same email (in any letter case), whether or not that
    /// row could be applied.
    DuplicateInFile,
    /// The tenant has a user with this email (and the import skips existing users).
    AlreadyExists,
    /// The phone is not a valid number, or has no country code.
    InvalidPhone,
    /// The name is too long or has control characters.
    InvalidName,
    /// The role is not `administrator`, `collaborator` or `user`.
    InvalidRole,
    /// The importer may not give this role (only administrators create administrators).
    ForbiddenRole,
    /// The tenant has no license kind of this name.
    UnknownLicense,
    /// Every seat of the license kind is taken.
    NoSeats,
    /// The existing user could not be updated (their role is protected, or they changed meanwhile).
    NotUpdated,
    /// The importer may not give seats (only administrators manage licenses).
    ForbiddenLicense,
    /// The row could not be read (invalid UTF-8, too many or too long cells).
    Unreadable,
}

impl RowReason {
    /// The stable code in the report.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidEmail => "invalid_email",
            Self::DuplicateInFile => "duplicate_in_file",
            Self::AlreadyExists => "already_exists",
            Self::InvalidPhone => "invalid_phone",
            Self::InvalidName => "invalid_name",
            Self::InvalidRole => "invalid_role",
            Self::ForbiddenRole => "forbidden_role",
            Self::UnknownLicense => "unknown_license",
            Self::NoSeats => "no_seats_available",
            Self::NotUpdated => "not_updated",
            Self::ForbiddenLicense => "forbidden_license",
            Self::Unreadable => "unreadable_row",
        }
    }

    /// Whether the row is counted as skipped (nothing wrong with it; it was not needed) rather
    /// than failed.
    #[must_use]
    pub const fn is_skip(self) -> bool {
        matches!(self, Self::DuplicateInFile | Self::AlreadyExists)
    }
}

impl fmt::Display for RowReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
