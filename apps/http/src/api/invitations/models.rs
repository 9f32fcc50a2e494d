//! Request and response bodies of the invitation API, and their translation to the domain.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use roster_domain::services::invitations::NewInvitation;
use roster_domain::user::NewUser;
use roster_domain::{PersonName, Role};
use uuid::Uuid;

use crate::api::models::{RoleDto, UserBody, parse_email, parse_name, parse_phone, parse_referral_code};
use crate::api::problem::Problem;
use crate::api::text::Text;

/// A user to invite. Unknown fields are refused.
#[derive(Object, Debug)]
#[oai(rename = "CreateInvitation", deny_unknown_fields)]
pub struct CreateInvitationRequest {
    /// Login id; compared case-insensitively, stored lowercased, never changes (else 422
    /// `invalid_email`).
    pub email: Text,
    /// Display name: 1 to 200 characters once trimmed, no control characters (else 422
    /// `invalid_name`).
    pub name: Option<Text>,
    /// Phone number with country code, e.g. `+33 6 12 34 56 78` (else 422 `invalid_phone`).
    pub phone: Option<Text>,
    /// Role; `user` when omitted. Only administrators invite administrators.
    pub role: Option<RoleDto>,
    /// Referral or promo code: 1 to 64 of `A-Z a-z 0-9 _ - .`.
    pub referral_code: Option<Text>,
    /// A license kind whose seat is reserved for the invitee at once (administrators only), so
    /// that accepting never fails for lack of seats.
    pub license: Option<Uuid>,
}

impl CreateInvitationRequest {
    /// The domain command, or the first invalid value.
    pub fn try_into_domain(self) -> Result<NewInvitation, Problem> {
        let user = NewUser {
            email: parse_email(&self.email.0)?,
            name: self.name.as_ref().map(|t| parse_name(t.as_str())).transpose()?,
            phone: self.phone.as_ref().map(|t| parse_phone(t.as_str())).transpose()?,
            role: self.role.map_or(Role::User, Role::from),
            referral_code: self.referral_code.as_ref().map(|t| parse_referral_code(t.as_str())).transpose()?,
        };
        Ok(NewInvitation { user, license: self.license.map(Into::into) })
    }
}

/// A fresh accept link, for an administrator to hand over.
#[derive(Object, Debug)]
#[oai(rename = "InvitationLink")]
pub struct InvitationLinkBody {
    /// The single-use accept link. Any earlier link of this user no longer works.
    pub link: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// The invited user.
    pub user: UserBody,
}

/// An invitation link, accepted.
#[derive(Object, Debug)]
#[oai(rename = "AcceptInvitation", deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The `token` of the accept link (`inv_...`).
    #[oai(validator(min_length = 1, max_length = 100))]
    pub token: Text,
    /// The name the user wants to be shown with (1 to 200 characters once trimmed, else 422
    /// `invalid_name`); their current name when omitted.
    pub name: Option<Text>,
}

impl AcceptInvitationRequest {
    /// The name given, parsed.
    pub fn name(&self) -> Result<Option<PersonName>, Problem> {
        self.name.as_ref().map(|t| parse_name(t.as_str())).transpose()
    }
}

/// The user who accepted, signed in.
#[derive(Object, Debug)]
#[oai(rename = "AcceptedInvitation")]
pub struct AcceptedInvitationBody {
    /// The user, now active.
    pub user: UserBody,
    /// Their first session's token (shown once): `Authorization: Bearer <token>`. Later sign-ins
    /// use a magic link (`POST /v1/auth/magic-link`) or the tenant's identity provider.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}
