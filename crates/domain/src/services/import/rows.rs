//! One row of an import file made into domain values, or the reason it cannot be.

use std::collections::HashMap;

use crate::import::{ImportRow, RowReason};
use crate::user::ProfileChanges;
use crate::{Email, LicenseKindId, PersonName, Phone, Role};

/// A row whose every cell is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Parsed {
    pub email: Email,
    pub name: Option<PersonName>,
    pub phone: Option<Phone>,
    /// The row's role, or the import's default.
    pub role: Role,
    /// The role the row itself gives.
    pub explicit_role: Option<Role>,
    /// The license kind the row itself names.
    pub license: Option<LicenseKindId>,
}

impl Parsed {
    /// What the row sets on an existing user: the cells it gives, nothing else.
    pub fn profile(&self) -> ProfileChanges {
        ProfileChanges { name: self.name.clone().map(Some), phone: self.phone.clone().map(Some), referral_code: None }
    }
}

/// Validates `row`, whose role defaults to `default_role` and whose license names one of
/// `kinds` (by lowercased name).
pub(super) fn parse_row(
    row: &ImportRow,
    default_role: Role,
    kinds: &HashMap<String, LicenseKindId>,
) -> Result<Parsed, RowReason> {
    let email = Email::parse(&row.email).map_err(|_| RowReason::InvalidEmail)?;
    let name = row.name.as_deref().map(PersonName::parse).transpose().map_err(|_| RowReason::InvalidName)?;
    let phone = row
        .phone
        .as_deref()
        .map(|number| Phone::parse_with_country(row.country_code.as_deref(), number))
        .transpose()
        .map_err(|_| RowReason::InvalidPhone)?;
    let explicit_role = row
        .role
        .as_deref()
        .map(|role| role.trim().to_ascii_lowercase().parse::<Role>())
        .transpose()
        .map_err(|_| RowReason::InvalidRole)?;
    let license = row
        .license
        .as_deref()
        .map(|name| kinds.get(&name.trim().to_lowercase()).copied().ok_or(RowReason::UnknownLicense))
        .transpose()?;
    Ok(Parsed { email, name, phone, role: explicit_role.unwrap_or(default_role), explicit_role, license })
}
