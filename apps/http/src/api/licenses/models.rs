//! Request and response bodies of the license API, and their translation to the domain.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use roster_domain::{LicenseChanges, LicenseKind, LicenseName, MAX_SEATS, Seats};
use uuid::Uuid;

use crate::api::problem::Problem;
use crate::api::text::Text;

/// A license kind: a pool of purchased seats (e.g. Business, Pro, Knowledge Only).
#[derive(Object, Debug, Clone)]
#[oai(rename = "License")]
pub struct LicenseBody {
    /// Id.
    pub id: Uuid,
    /// Name, unique in the tenant in any letter case.
    pub name: String,
    /// Seats purchased.
    pub seats: u64,
    /// Seats held by users (invited or active); never above `seats`.
    pub assigned: u64,
    /// Seats free to assign: `seats - assigned`.
    pub available: u64,
    /// When the kind was created.
    pub created_at: DateTime<Utc>,
}

impl From<LicenseKind> for LicenseBody {
    fn from(kind: LicenseKind) -> Self {
        Self {
            id: kind.id.into(),
            available: kind.available(),
            name: kind.name.to_string(),
            seats: kind.seats.get(),
            assigned: kind.assigned,
            created_at: kind.created_at,
        }
    }
}

/// Every license kind of the tenant, by name.
#[derive(Object, Debug)]
#[oai(rename = "LicenseList")]
pub struct LicenseList {
    /// The kinds.
    pub items: Vec<LicenseBody>,
}

/// A license kind to create. Unknown fields are refused.
#[derive(Object, Debug)]
#[oai(rename = "CreateLicense", deny_unknown_fields)]
pub struct CreateLicenseRequest {
    /// 1 to 64 characters without control characters; unique in the tenant in any letter case.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub name: Text,
    /// Seats purchased: 0 to 1,000,000,000.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))]
    pub seats: u64,
}

/// Changes to a license kind: an omitted (or `null`) field stays as it is.
#[derive(Object, Debug)]
#[oai(rename = "UpdateLicense", deny_unknown_fields)]
pub struct UpdateLicenseRequest {
    /// New name.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub name: Option<Text>,
    /// New number of seats: refused below the seats assigned (`seats_in_use`).
    #[oai(validator(minimum(value = "0"), maximum(value = "1000000000")))]
    pub seats: Option<u64>,
}

/// The license kind to give a user.
#[derive(Object, Debug)]
#[oai(rename = "AssignLicense", deny_unknown_fields)]
pub struct AssignLicenseRequest {
    /// The kind's id. A user holding another kind moves to this one in one step.
    pub kind: Uuid,
}

fn parse_name(text: &Text) -> Result<LicenseName, Problem> {
    LicenseName::parse(text.as_str()).map_err(|e| Problem::unprocessable("invalid_license_name", e.to_string()))
}

fn parse_seats(seats: u64) -> Result<Seats, Problem> {
    Seats::new(seats).map_err(|_| Problem::bad_request(format!("seats must be between 0 and {MAX_SEATS}")))
}

impl CreateLicenseRequest {
    /// The name and seats, or the first invalid value.
    pub fn try_into_domain(self) -> Result<(LicenseName, Seats), Problem> {
        Ok((parse_name(&self.name)?, parse_seats(self.seats)?))
    }
}

impl UpdateLicenseRequest {
    /// The domain command, or the first invalid value.
    pub fn try_into_domain(self) -> Result<LicenseChanges, Problem> {
        Ok(LicenseChanges {
            name: self.name.as_ref().map(parse_name).transpose()?,
            seats: self.seats.map(parse_seats).transpose()?,
        })
    }
}
