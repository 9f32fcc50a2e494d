//! Request and response bodies of the user API, and their translation to and from the domain.
//! Requests become domain commands here (`try_into_domain`), so services only see valid data.

use chrono::{DateTime, Utc};
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Enum, Object};
use roster_domain::invitation::{DeliveryStatus, Invitation, InvitationState};
use roster_domain::user::{NewUser, ProfileChanges};
use roster_domain::{Email, PersonName, Phone, ReferralCode, Role, User, UserSource, UserStatus};
use uuid::Uuid;

use super::budgets::models::{BudgetBody, UsageBody};
use super::problem::Problem;
use super::text::Text;

/// A role.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "Role", rename_all = "lowercase")]
pub enum RoleDto {
    /// Everything, including licenses, billing and budgets.
    Administrator,
    /// Agents, workspaces, groups, connectors and non-administrator users.
    Collaborator,
    /// Their own profile and the agents shared with them.
    User,
}

/// Where a user is in their lifecycle.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "UserStatus", rename_all = "lowercase")]
pub enum StatusDto {
    /// Invited, not accepted yet.
    Invited,
    /// May sign in.
    Active,
    /// Soft-deleted: cannot sign in; can be reactivated.
    Deactivated,
}

/// How a user came to exist.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "UserSource", rename_all = "lowercase")]
pub enum SourceDto {
    /// Created one at a time.
    Created,
    /// Invited by email.
    Invited,
    /// Imported from CSV.
    Imported,
    /// Provisioned over SCIM.
    Scim,
    /// Created by a service.
    Api,
    /// Created at their first sign-in through the tenant's OpenID Connect issuer.
    Oidc,
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::Administrator => Role::Administrator,
            RoleDto::Collaborator => Role::Collaborator,
            RoleDto::User => Role::User,
        }
    }
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> Self {
        match role {
            Role::Administrator => RoleDto::Administrator,
            Role::Collaborator => RoleDto::Collaborator,
            Role::User => RoleDto::User,
        }
    }
}

impl From<StatusDto> for UserStatus {
    fn from(status: StatusDto) -> Self {
        match status {
            StatusDto::Invited => UserStatus::Invited,
            StatusDto::Active => UserStatus::Active,
            StatusDto::Deactivated => UserStatus::Deactivated,
        }
    }
}

impl From<UserStatus> for StatusDto {
    fn from(status: UserStatus) -> Self {
        match status {
            UserStatus::Invited => StatusDto::Invited,
            UserStatus::Active => StatusDto::Active,
            UserStatus::Deactivated => StatusDto::Deactivated,
        }
    }
}

impl From<UserSource> for SourceDto {
    fn from(source: UserSource) -> Self {
        match source {
            UserSource::Created => SourceDto::Created,
            UserSource::Invited => SourceDto::Invited,
            UserSource::Imported => SourceDto::Imported,
            UserSource::Scim => SourceDto::Scim,
            UserSource::Api => SourceDto::Api,
            UserSource::Oidc => SourceDto::Oidc,
        }
    }
}

/// A user of the caller's tenant.
#[derive(Object, Debug, Clone)]
#[oai(rename = "User", skip_serializing_if_is_none)]
pub struct UserBody {
    /// Id.
    pub id: Uuid,
    /// Login id, lowercased; unique in the tenant and immutable.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// Phone number, E.164.
    pub phone: Option<String>,
    /// Role.
    pub role: RoleDto,
    /// Lifecycle status.
    pub status: StatusDto,
    /// How the user came to exist.
    pub source: SourceDto,
    /// Referral or promo code given at sign-up.
    pub referral_code: Option<String>,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
    /// When the user was last changed.
    pub updated_at: DateTime<Utc>,
    /// When the user first became active.
    pub activated_at: Option<DateTime<Utc>>,
    /// When the user was last seen.
    pub last_active_at: Option<DateTime<Utc>>,
    /// When the user was deactivated.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// The license whose seat the user holds; absent when unlicensed.
    pub license: Option<LicenseRef>,
    /// The invitation of an invited user; absent for other users.
    pub invitation: Option<InvitationBody>,
    /// The user's budget as of now; absent when they have none (no limit).
    pub budget: Option<BudgetBody>,
    /// What the user used since they exist (credits and other metrics); absent before any use.
    pub usage: Option<UsageBody>,
}

/// Whether an invitation link still works.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "InvitationState", rename_all = "lowercase")]
pub enum InvitationStateDto {
    /// The link works until `expires_at`.
    Pending,
    /// The link expired (or the user has none): reinvite.
    Expired,
}

impl From<InvitationState> for InvitationStateDto {
    fn from(state: InvitationState) -> Self {
        match state {
            InvitationState::Pending => Self::Pending,
            InvitationState::Expired => Self::Expired,
        }
    }
}

impl From<InvitationStateDto> for InvitationState {
    fn from(state: InvitationStateDto) -> Self {
        match state {
            InvitationStateDto::Pending => Self::Pending,
            InvitationStateDto::Expired => Self::Expired,
        }
    }
}

/// How the mailing of the current link went.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "DeliveryStatus", rename_all = "snake_case")]
pub enum DeliveryStatusDto {
    /// Being sent.
    Pending,
    /// Handed to the mail system.
    Sent,
    /// Refused or unreachable (see `error`): reinvite to send a new link.
    Failed,
    /// Not mailed: the link was copied by an administrator.
    NotSent,
}

/// The invitation of an invited user.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Invitation", skip_serializing_if_is_none)]
pub struct InvitationBody {
    /// Whether the link still works.
    pub state: InvitationStateDto,
    /// When the link stops working; absent when the user has no link (e.g. reactivated before
    /// accepting).
    pub expires_at: Option<DateTime<Utc>>,
    /// Whole seconds left until `expires_at` (0 once expired): the countdown.
    pub expires_in_seconds: u64,
    /// How the mailing of the current link went.
    pub delivery: Option<DeliveryBody>,
}

/// How the mailing of a link went.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Delivery", skip_serializing_if_is_none)]
pub struct DeliveryBody {
    /// The outcome.
    pub status: DeliveryStatusDto,
    /// Why it failed.
    pub error: Option<String>,
    /// When the outcome was known.
    pub at: Option<DateTime<Utc>>,
}

impl InvitationBody {
    /// The invitation of an invited user as of `now` (`None`: they have no link).
    pub fn new(invitation: Option<&Invitation>, now: DateTime<Utc>) -> Self {
        let Some(invitation) = invitation else {
            return Self {
                state: InvitationStateDto::Expired,
                expires_at: None,
                expires_in_seconds: 0,
                delivery: None,
            };
        };
        let status = match invitation.delivery.status {
            DeliveryStatus::Pending => DeliveryStatusDto::Pending,
            DeliveryStatus::Sent => DeliveryStatusDto::Sent,
            DeliveryStatus::Failed => DeliveryStatusDto::Failed,
            DeliveryStatus::NotSent => DeliveryStatusDto::NotSent,
        };
        Self {
            state: invitation.state(now).into(),
            expires_at: Some(invitation.expires_at),
            expires_in_seconds: invitation.seconds_left(now),
            delivery: Some(DeliveryBody {
                status,
                error: invitation.delivery.error.clone(),
                at: invitation.delivery.at,
            }),
        }
    }
}

/// A license kind, named.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
#[oai(rename = "LicenseRef")]
pub struct LicenseRef {
    /// The kind's id.
    pub id: Uuid,
    /// The kind's name, e.g. `Business`.
    pub name: String,
}

/// What is shown with a user beside their own fields.
#[derive(Debug, Default)]
pub struct UserExtras {
    /// The license held.
    pub license: Option<LicenseRef>,
    /// The invitation, when invited.
    pub invitation: Option<InvitationBody>,
    /// The budget as of now.
    pub budget: Option<BudgetBody>,
    /// The usage since they exist.
    pub usage: Option<UsageBody>,
}

impl UserBody {
    /// The body of `user` with what is shown beside.
    pub fn new(user: User, extras: UserExtras) -> Self {
        let UserExtras { license, invitation, budget, usage } = extras;
        Self {
            id: user.id.into(),
            email: user.email.to_string(),
            name: user.name.map(|n| n.to_string()),
            phone: user.phone.map(|p| p.to_string()),
            role: user.role.into(),
            status: user.status.into(),
            source: user.source.into(),
            referral_code: user.referral_code.map(|c| c.as_str().to_owned()),
            created_at: user.created_at,
            updated_at: user.updated_at,
            activated_at: user.activated_at,
            last_active_at: user.last_active_at,
            deactivated_at: user.deactivated_at,
            license,
            invitation,
            budget,
            usage,
        }
    }
}

/// A user to create. Unknown fields are refused.
#[derive(Object, Debug)]
#[oai(rename = "CreateUser", deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Login id; compared case-insensitively, stored lowercased, never changes (else 422
    /// `invalid_email`).
    pub email: Text,
    /// Display name: 1 to 200 characters once trimmed, no control characters (else 422
    /// `invalid_name`).
    pub name: Option<Text>,
    /// Phone number with country code, e.g. `+33 6 12 34 56 78` (else 422 `invalid_phone`).
    pub phone: Option<Text>,
    /// Role; `user` when omitted. Only administrators create administrators.
    pub role: Option<RoleDto>,
    /// Referral or promo code: 1 to 64 of `A-Z a-z 0-9 _ - .` (else 422 `invalid_referral_code`).
    pub referral_code: Option<Text>,
}

pub(crate) fn parse_email(text: &str) -> Result<Email, Problem> {
    Email::parse(text).map_err(|e| Problem::unprocessable("invalid_email", e.to_string()))
}

pub(crate) fn parse_name(text: &str) -> Result<PersonName, Problem> {
    PersonName::parse(text).map_err(|e| Problem::unprocessable("invalid_name", e.to_string()))
}

pub(crate) fn parse_phone(text: &str) -> Result<Phone, Problem> {
    Phone::parse(text).map_err(|e| Problem::unprocessable("invalid_phone", e.to_string()))
}

pub(crate) fn parse_referral_code(text: &str) -> Result<ReferralCode, Problem> {
    ReferralCode::parse(text).map_err(|e| Problem::unprocessable("invalid_referral_code", e.to_string()))
}

impl CreateUserRequest {
    /// The domain command, or the first invalid value.
    pub fn try_into_domain(self) -> Result<NewUser, Problem> {
        Ok(NewUser {
            email: parse_email(&self.email.0)?,
            name: self.name.as_ref().map(|t| parse_name(t.as_str())).transpose()?,
            phone: self.phone.as_ref().map(|t| parse_phone(t.as_str())).transpose()?,
            role: self.role.map_or(Role::User, Role::from),
            referral_code: self.referral_code.as_ref().map(|t| parse_referral_code(t.as_str())).transpose()?,
        })
    }
}

/// Changes to a user's profile (JSON merge patch): an omitted field stays, `null` clears it.
/// The email never changes; the role and status have their own endpoints.
#[derive(Object, Debug)]
#[oai(rename = "UpdateUser", deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// New display name (1 to 200 characters once trimmed, else 422 `invalid_name`), or `null`
    /// to clear it.
    pub name: MaybeUndefined<Text>,
    /// New phone number with country code (else 422 `invalid_phone`), or `null` to clear it.
    pub phone: MaybeUndefined<Text>,
    /// New referral code (1 to 64 of `A-Z a-z 0-9 _ - .`, else 422 `invalid_referral_code`), or
    /// `null` to clear it.
    pub referral_code: MaybeUndefined<Text>,
}

fn patch<T>(
    field: MaybeUndefined<Text>,
    parse: impl Fn(&str) -> Result<T, Problem>,
) -> Result<Option<Option<T>>, Problem> {
    match field {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(text) => Ok(Some(Some(parse(text.as_str())?))),
    }
}

impl UpdateUserRequest {
    /// The domain command, or the first invalid value.
    pub fn try_into_domain(self) -> Result<ProfileChanges, Problem> {
        Ok(ProfileChanges {
            name: patch(self.name, parse_name)?,
            phone: patch(self.phone, parse_phone)?,
            referral_code: patch(self.referral_code, parse_referral_code)?,
        })
    }
}

/// The role to give.
#[derive(Object, Debug)]
#[oai(rename = "ChangeRole", deny_unknown_fields)]
pub struct ChangeRoleRequest {
    /// The new role.
    pub role: RoleDto,
}

/// One page of users.
#[derive(Object, Debug)]
#[oai(rename = "UserPage", skip_serializing_if_is_none)]
pub struct UserPage {
    /// The users, in the requested order.
    pub items: Vec<UserBody>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// How many users match the filters, in all pages (a lower bound when `total_exact` is false).
    pub total: u64,
    /// Whether `total` is exact. Totals of lists filtered only by role and status are always
    /// exact; other filtered totals count up to 100,000 matching users and stop there.
    pub total_exact: bool,
}
