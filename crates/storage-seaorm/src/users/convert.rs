//! Rows of the `users` table to and from domain users.

use roster_domain::user::search_haystack;
use roster_domain::{Email, PersonName, Phone, ReferralCode, StoreError, User};
use sea_orm::ActiveValue::Set;
use sea_orm::Value;

use crate::entities::users;
use crate::transaction::corrupt;

/// The row storing `user`.
pub(crate) fn to_row(user: &User) -> users::ActiveModel {
    users::ActiveModel {
        id: Set(user.id.into()),
        tenant_id: Set(user.tenant.into()),
        email: Set(user.email.to_string()),
        name: Set(user.name.as_ref().map(ToString::to_string)),
        phone: Set(user.phone.as_ref().map(ToString::to_string)),
        role: Set(user.role.as_str().to_owned()),
        status: Set(user.status.as_str().to_owned()),
        source: Set(user.source.as_str().to_owned()),
        referral_code: Set(user.referral_code.as_ref().map(|c| c.as_str().to_owned())),
        search_text: Set(search_haystack(&user.email, user.name.as_ref())),
        created_at: Set(user.created_at),
        updated_at: Set(user.updated_at),
        activated_at: Set(user.activated_at),
        last_active_at: Set(user.last_active_at),
        deactivated_at: Set(user.deactivated_at),
        version: Set(i64::try_from(user.version).unwrap_or(i64::MAX)),
        license_id: Set(user.license.map(Into::into)),
    }
}

/// The columns of `users`, in the order of [`row_values`].
pub(crate) const COLUMNS: [&str; 17] = [
    "id",
    "tenant_id",
    "email",
    "name",
    "phone",
    "role",
    "status",
    "source",
    "referral_code",
    "search_text",
    "created_at",
    "updated_at",
    "activated_at",
    "last_active_at",
    "deactivated_at",
    "version",
    "license_id",
];

/// The values of [`COLUMNS`] storing `user` (as [`to_row`], bound directly: imports write many).
pub(crate) fn row_values(user: &User) -> [Value; 17] {
    [
        user.id.as_uuid().into(),
        user.tenant.as_uuid().into(),
        user.email.as_str().into(),
        user.name.as_ref().map(ToString::to_string).into(),
        user.phone.as_ref().map(ToString::to_string).into(),
        user.role.as_str().into(),
        user.status.as_str().into(),
        user.source.as_str().into(),
        user.referral_code.as_ref().map(|c| c.as_str().to_owned()).into(),
        search_haystack(&user.email, user.name.as_ref()).into(),
        user.created_at.into(),
        user.updated_at.into(),
        user.activated_at.into(),
        user.last_active_at.into(),
        user.deactivated_at.into(),
        i64::try_from(user.version).unwrap_or(i64::MAX).into(),
        user.license.map(|kind| kind.as_uuid()).into(),
    ]
}

/// The user a row stores.
pub(crate) fn from_row(row: users::Model) -> Result<User, StoreError> {
    Ok(User {
        id: row.id.into(),
        tenant: row.tenant_id.into(),
        email: Email::parse(&row.email).map_err(|e| corrupt("user email", e))?,
        name: row.name.as_deref().map(PersonName::parse).transpose().map_err(|e| corrupt("user name", e))?,
        phone: row.phone.as_deref().map(Phone::parse).transpose().map_err(|e| corrupt("user phone", e))?,
        role: row.role.parse().map_err(|e| corrupt("user role", e))?,
        status: row.status.parse().map_err(|e| corrupt("user status", e))?,
        source: row.source.parse().map_err(|e| corrupt("user source", e))?,
        referral_code: row
            .referral_code
            .as_deref()
            .map(ReferralCode::parse)
            .transpose()
            .map_err(|e| corrupt("referral code", e))?,
        created_at: row.created_at,
        updated_at: row.updated_at,
        activated_at: row.activated_at,
        last_active_at: row.last_active_at,
        deactivated_at: row.deactivated_at,
        version: u64::try_from(row.version).map_err(|e| corrupt("user version", e))?,
        license: row.license_id.map(Into::into),
    })
}
