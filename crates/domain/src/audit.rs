//! The audit trail: every state change records who did what to whom, before and after, and when.
//! Adapters commit an event in the same transaction as the change it describes.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use serde_json::{Map, Value, json};

use crate::budget::BudgetPolicy;
use crate::invitation::{Invitation, TenantSettings};
use crate::service::ServiceCredential;
use crate::{Actor, ActorIdentity, AuditEventId, PageLimit, Tenant, TenantId, Timestamp, User, UserId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A tenant was created with its first administrator.
    TenantCreated,
    /// A user was created.
    UserCreated,
    /// A user's profile changed.
    UserUpdated,
    /// A user's role changed.
    UserRoleChanged,
    /// A user was deactivated (soft delete).
    UserDeactivated,
    /// A user was reactivated.
    UserReactivated,
    /// A user was deleted for good.
    UserPurged,
    /// An API token was issued.
    TokenCreated,
    /// A user's license was assigned, changed or unassigned.
    UserLicenseChanged,
    /// A license kind was created.
    LicenseCreated,
    /// A license kind was renamed or its seats changed.
    LicenseUpdated,
    /// A license kind was deleted.
    LicenseDeleted,
    /// A user was invited (created in status invited, with an invitation link).
    UserInvited,
    /// A user's invitation link was replaced (reinvite or copy link).
    InvitationReissued,
    /// An invitation was revoked: the never-activated user was removed.
    InvitationRevoked,
    /// An invitation was accepted: the user became active.
    InvitationAccepted,
    /// A tenant's settings changed.
    TenantSettingsChanged,
    /// A user's budget was set, changed or removed.
    UserBudgetChanged,
    /// A service credential was issued.
    ServiceCredentialCreated,
    /// A service credential was revoked.
    ServiceCredentialRevoked,
    /// A user signed in with a magic link (accepting an invitation signs in too: its
    /// `invitation.accepted` event names the session it starts).
    UserSignedIn,
    /// A user enrolled a TOTP authenticator.
    MfaEnrolled,
    /// A user's MFA was reset: they must enroll again at their next sign-in.
    MfaReset,
    /// Every session of a user was ended.
    SessionsRevoked,
    /// A user ended one of their sessions (signed out there).
    UserSignedOut,
    /// A user's subject at the tenant's OpenID Connect issuer was linked to them (at their
    /// first sign-in with it).
    IdentityLinked,
    /// The OpenID Connect issuer a tenant trusts was set, changed or removed.
    TenantOidcChanged,
}

impl AuditAction {
    /// Every action.
    pub const ALL: &'static [AuditAction] = &[
        Self::TenantCreated,
        Self::UserCreated,
        Self::UserUpdated,
        Self::UserRoleChanged,
        Self::UserDeactivated,
        Self::UserReactivated,
        Self::UserPurged,
        Self::TokenCreated,
        Self::UserLicenseChanged,
        Self::LicenseCreated,
        Self::LicenseUpdated,
        Self::LicenseDeleted,
        Self::UserInvited,
        Self::InvitationReissued,
        Self::InvitationRevoked,
        Self::InvitationAccepted,
        Self::TenantSettingsChanged,
        Self::UserBudgetChanged,
        Self::ServiceCredentialCreated,
        Self::ServiceCredentialRevoked,
        Self::UserSignedIn,
        Self::MfaEnrolled,
        Self::MfaReset,
        Self::SessionsRevoked,
        Self::TenantOidcChanged,
        Self::UserSignedOut,
        Self::IdentityLinked,
    ];

    /// The stable dotted name used in storage and the API.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TenantCreated => "tenant.created",
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserRoleChanged => "user.role_changed",
            Self::UserDeactivated => "user.deactivated",
            Self::UserReactivated => "user.reactivated",
            Self::UserPurged => "user.purged",
            Self::TokenCreated => "token.created",
            Self::UserLicenseChanged => "user.license_changed",
            Self::LicenseCreated => "license.created",
            Self::LicenseUpdated => "license.updated",
            Self::LicenseDeleted => "license.deleted",
            Self::UserInvited => "user.invited",
            Self::InvitationReissued => "invitation.reissued",
            Self::InvitationRevoked => "invitation.revoked",
            Self::InvitationAccepted => "invitation.accepted",
            Self::TenantSettingsChanged => "tenant.settings_changed",
            Self::UserBudgetChanged => "user.budget_changed",
            Self::ServiceCredentialCreated => "service_credential.created",
            Self::ServiceCredentialRevoked => "service_credential.revoked",
            Self::UserSignedIn => "user.signed_in",
            Self::MfaEnrolled => "user.mfa_enrolled",
            Self::MfaReset => "user.mfa_reset",
            Self::SessionsRevoked => "user.sessions_revoked",
            Self::TenantOidcChanged => "tenant.oidc_changed",
            Self::UserSignedOut => "user.signed_out",
            Self::IdentityLinked => "user.identity_linked",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a known audit action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action {0:?}")]
pub struct UnknownAction(pub String);

impl FromStr for AuditAction {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.iter().copied().find(|a| a.as_str() == s).ok_or_else(|| UnknownAction(s.to_owned()))
    }
}

/// Who acted, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditActor {
    /// A user, with their email at the time (removed if the user is purged).
    User {
        /// The user's id.
        id: UserId,
        /// The user's email at the time.
        label: Option<String>,
    },
    /// The operator (CLI, first start).
    System,
}

/// The kind of record acted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// A tenant.
    Tenant,
    /// A user.
    User,
    /// An API token.
    Token,
    /// A license kind.
    License,
    /// A service credential.
    ServiceCredential,
}

impl TargetKind {
    /// The stable lowercase name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::User => "user",
            Self::Token => "token",
            Self::License => "license",
            Self::ServiceCredential => "service",
        }
    }
}

impl FromStr for TargetKind {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Tenant, Self::User, Self::Token, Self::License, Self::ServiceCredential]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownAction(s.to_owned()))
    }
}

/// What was acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditTarget {
    /// Kind of record.
    pub kind: TargetKind,
    /// Its id.
    pub id: uuid::Uuid,
    /// A human-readable name at the time (e.g. the email), removed when a user is purged.
    pub label: Option<String>,
}

impl AuditTarget {
    /// The user `id`, labelled with their `email`.
    #[must_use]
    pub fn user(id: UserId, email: &crate::Email) -> Self {
        Self { kind: TargetKind::User, id: id.into(), label: Some(email.to_string()) }
    }
}

/// One recorded state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Id of the event.
    pub id: AuditEventId,
    /// Tenant the change happened in.
    pub tenant: TenantId,
    /// Who acted.
    pub actor: AuditActor,
    /// What happened.
    pub action: AuditAction,
    /// What it happened to.
    pub target: AuditTarget,
    /// The changed fields before, when the action changed existing fields.
    pub before: Option<Value>,
    /// The changed fields after.
    pub after: Option<Value>,
    /// When.
    pub occurred_at: Timestamp,
}

/// The fields of a user that the audit trail records.
fn user_fields(user: &User) -> Map<String, Value> {
    let fields = json!({
        "email": user.email.as_str(),
        "name": user.name.as_ref().map(|n| n.as_str()),
        "phone": user.phone.as_ref().map(|p| p.as_str()),
        "role": user.role.as_str(),
        "status": user.status.as_str(),
        "referral_code": user.referral_code.as_ref().map(|c| c.as_str()),
        "license": user.license.map(|kind| kind.to_string()),
    });
    match fields {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

/// A budget policy as the audit trail records it.
fn budget_fields(policy: &BudgetPolicy) -> Value {
    json!({
        "limit": policy.limit.get(),
        "period": policy.period.as_str(),
        "warn_at": policy.warn_at.map(|threshold| threshold.percent()),
        "hard": policy.hard,
    })
}

/// The keys of a user's audit record that identify a person; a purge removes them from every
/// event about that user (`subject`: their identity provider's id for them).
pub const PERSONAL_FIELDS: &[&str] = &["email", "name", "phone", "subject"];

impl AuditEvent {
    fn new(actor: &Actor, action: AuditAction, target: AuditTarget, now: Timestamp) -> Self {
        let actor_record = match &actor.identity {
            ActorIdentity::User { id, email } => AuditActor::User { id: *id, label: Some(email.to_string()) },
            // Services change nothing the audit trail records: their usage is its own ledger.
            ActorIdentity::Service { .. } | ActorIdentity::System => AuditActor::System,
        };
        Self {
            id: AuditEventId::new(),
            tenant: actor.tenant,
            actor: actor_record,
            action,
            target,
            before: None,
            after: None,
            occurred_at: now,
        }
    }

    /// `action` by `actor` on `target`, with no before and after (the caller may add them).
    #[must_use]
    pub fn about(actor: &Actor, action: AuditAction, target: AuditTarget, now: Timestamp) -> Self {
        Self::new(actor, action, target, now)
    }

    fn user_target(user: &User) -> AuditTarget {
        AuditTarget::user(user.id, &user.email)
    }

    /// `user` was created (or invited, imported, ...).
    #[must_use]
    pub fn user_created(actor: &Actor, user: &User, now: Timestamp) -> Self {
        let mut event = Self::new(actor, AuditAction::UserCreated, Self::user_target(user), now);
        let mut after = user_fields(user);
        after.insert("source".into(), user.source.as_str().into());
        event.after = Some(Value::Object(after));
        event
    }

    /// This event of a user's creation, saying that they got the tenant's default budget
    /// `policy` with it, if any (storage applies the default in the creation's transaction).
    #[must_use]
    pub fn with_default_budget(&self, policy: Option<&BudgetPolicy>) -> Self {
        let mut event = self.clone();
        if let (Some(policy), Some(Value::Object(after))) = (policy, &mut event.after) {
            after.insert("budget".into(), budget_fields(policy));
        }
        event
    }

    /// `before` became `after` through `action`; only the fields that differ are recorded.
    #[must_use]
    pub fn user_changed(actor: &Actor, action: AuditAction, before: &User, after: &User, now: Timestamp) -> Self {
        let mut event = Self::new(actor, action, Self::user_target(after), now);
        let (old, new) = (user_fields(before), user_fields(after));
        let changed: Vec<&String> = new.keys().filter(|key| old.get(*key) != new.get(*key)).collect();
        let pick = |map: &Map<String, Value>| {
            Value::Object(changed.iter().map(|key| ((*key).clone(), map[*key].clone())).collect())
        };
        event.before = Some(pick(&old));
        event.after = Some(pick(&new));
        event
    }

    /// `user` was deleted for good. The record keeps no personal data: the role and status only.
    #[must_use]
    pub fn user_purged(actor: &Actor, user: &User, now: Timestamp) -> Self {
        let target = AuditTarget { kind: TargetKind::User, id: user.id.into(), label: None };
        let mut event = Self::new(actor, AuditAction::UserPurged, target, now);
        event.before = Some(json!({ "role": user.role.as_str(), "status": user.status.as_str() }));
        event
    }

    /// `user` was invited with `invitation`.
    #[must_use]
    pub fn user_invited(actor: &Actor, user: &User, invitation: &Invitation, now: Timestamp) -> Self {
        let mut event = Self::new(actor, AuditAction::UserInvited, Self::user_target(user), now);
        let mut after = user_fields(user);
        after.insert("source".into(), user.source.as_str().into());
        after.insert("expires_at".into(), invitation.expires_at.to_rfc3339().into());
        event.after = Some(Value::Object(after));
        event
    }

    /// `user` got a new invitation link, mailed or handed to the actor (`mailed` false).
    #[must_use]
    pub fn invitation_reissued(
        actor: &Actor,
        user: &User,
        invitation: &Invitation,
        mailed: bool,
        now: Timestamp,
    ) -> Self {
        let mut event = Self::new(actor, AuditAction::InvitationReissued, Self::user_target(user), now);
        event.after = Some(json!({ "expires_at": invitation.expires_at.to_rfc3339(), "mailed": mailed }));
        event
    }

    /// The invitation of `user` was revoked and the never-activated user removed. Like a purge,
    /// the record keeps no personal data.
    #[must_use]
    pub fn invitation_revoked(actor: &Actor, user: &User, now: Timestamp) -> Self {
        let target = AuditTarget { kind: TargetKind::User, id: user.id.into(), label: None };
        let mut event = Self::new(actor, AuditAction::InvitationRevoked, target, now);
        event.before = Some(json!({
            "role": user.role.as_str(),
            "status": user.status.as_str(),
            "license": user.license.map(|kind| kind.to_string()),
        }));
        event
    }

    /// The tenant's settings went from `before` to `after`.
    #[must_use]
    pub fn tenant_settings_changed(
        actor: &Actor,
        tenant: &Tenant,
        before: &TenantSettings,
        after: &TenantSettings,
        now: Timestamp,
    ) -> Self {
        let target =
            AuditTarget { kind: TargetKind::Tenant, id: tenant.id.into(), label: Some(tenant.name.to_string()) };
        let mut event = Self::new(actor, AuditAction::TenantSettingsChanged, target, now);
        let fields = |settings: &TenantSettings| {
            json!({
                "invitation_ttl_seconds": settings.invitation_ttl.seconds(),
                "default_budget": settings.default_budget.map(|policy| budget_fields(&policy)),
            })
        };
        event.before = Some(fields(before));
        event.after = Some(fields(after));
        event
    }

    /// The budget of `user` went from `before` to `after` (`None`: no budget).
    #[must_use]
    pub fn user_budget_changed(
        actor: &Actor,
        user: &User,
        before: Option<&BudgetPolicy>,
        after: Option<&BudgetPolicy>,
        now: Timestamp,
    ) -> Self {
        let mut event = Self::new(actor, AuditAction::UserBudgetChanged, Self::user_target(user), now);
        event.before = Some(json!({ "budget": before.map(budget_fields) }));
        event.after = Some(json!({ "budget": after.map(budget_fields) }));
        event
    }

    /// `credential` was issued.
    #[must_use]
    pub fn service_credential_created(actor: &Actor, credential: &ServiceCredential, now: Timestamp) -> Self {
        let mut event =
            Self::new(actor, AuditAction::ServiceCredentialCreated, Self::credential_target(credential), now);
        let scopes: Vec<&str> = credential.scopes.iter().map(|scope| scope.as_str()).collect();
        event.after = Some(json!({ "name": credential.name.as_str(), "scopes": scopes }));
        event
    }

    /// `credential` was revoked.
    #[must_use]
    pub fn service_credential_revoked(actor: &Actor, credential: &ServiceCredential, now: Timestamp) -> Self {
        let mut event =
            Self::new(actor, AuditAction::ServiceCredentialRevoked, Self::credential_target(credential), now);
        event.before = Some(json!({ "name": credential.name.as_str() }));
        event
    }

    fn credential_target(credential: &ServiceCredential) -> AuditTarget {
        AuditTarget {
            kind: TargetKind::ServiceCredential,
            id: credential.id.into(),
            label: Some(credential.name.as_str().to_owned()),
        }
    }

    /// `tenant` was created.
    #[must_use]
    pub fn tenant_created(actor: &Actor, tenant: &Tenant, now: Timestamp) -> Self {
        let target =
            AuditTarget { kind: TargetKind::Tenant, id: tenant.id.into(), label: Some(tenant.name.to_string()) };
        let mut event = Self::new(actor, AuditAction::TenantCreated, target, now);
        event.after = Some(json!({ "name": tenant.name.as_str() }));
        event
    }

    /// `token` was issued.
    #[must_use]
    pub fn token_created(actor: &Actor, token: &crate::ApiToken, now: Timestamp) -> Self {
        let label = token.label.as_str();
        let target = AuditTarget { kind: TargetKind::Token, id: token.id.into(), label: Some(label.to_owned()) };
        let mut event = Self::new(actor, AuditAction::TokenCreated, target, now);
        event.after = Some(json!({ "user": token.user.to_string(), "label": label }));
        event
    }
}

impl AuditEvent {
    fn license_target(kind: &crate::LicenseKind) -> AuditTarget {
        AuditTarget { kind: TargetKind::License, id: kind.id.into(), label: Some(kind.name.to_string()) }
    }

    fn license_fields(kind: &crate::LicenseKind) -> Value {
        json!({ "name": kind.name.as_str(), "seats": kind.seats.get() })
    }

    /// `kind` was created.
    #[must_use]
    pub fn license_created(actor: &Actor, kind: &crate::LicenseKind, now: Timestamp) -> Self {
        let mut event = Self::new(actor, AuditAction::LicenseCreated, Self::license_target(kind), now);
        event.after = Some(Self::license_fields(kind));
        event
    }

    /// `before` became `after` (name or seats).
    #[must_use]
    pub fn license_updated(
        actor: &Actor,
        before: &crate::LicenseKind,
        after: &crate::LicenseKind,
        now: Timestamp,
    ) -> Self {
        let mut event = Self::new(actor, AuditAction::LicenseUpdated, Self::license_target(after), now);
        event.before = Some(Self::license_fields(before));
        event.after = Some(Self::license_fields(after));
        event
    }

    /// `kind` was deleted.
    #[must_use]
    pub fn license_deleted(actor: &Actor, kind: &crate::LicenseKind, now: Timestamp) -> Self {
        let mut event = Self::new(actor, AuditAction::LicenseDeleted, Self::license_target(kind), now);
        event.before = Some(Self::license_fields(kind));
        event
    }
}

/// The position after the last event of a page (events come newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor(pub Timestamp, pub AuditEventId);

impl AuditCursor {
    /// The opaque text handed to clients.
    #[must_use]
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("a|{}|{}", self.0.timestamp_micros(), self.1))
    }

    /// Reads a cursor issued by [`encode`](Self::encode).
    ///
    /// # Errors
    /// [`crate::user::CursorError`] when the text was not issued by us.
    pub fn decode(text: &str) -> Result<Self, crate::user::CursorError> {
        let err = crate::user::CursorError;
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| err.clone())?;
        let plain = String::from_utf8(bytes).map_err(|_| err.clone())?;
        let mut parts = plain.splitn(3, '|');
        let (Some("a"), Some(micros), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(err);
        };
        let at = micros
            .parse()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .filter(crate::paging::is_storable)
            .ok_or(err.clone())?;
        Ok(Self(at, id.parse().map_err(|_| err)?))
    }
}

/// Which events to list; every filter set must match. Newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Done by this user.
    pub actor: Option<UserId>,
    /// Done to this record.
    pub target: Option<uuid::Uuid>,
    /// This action.
    pub action: Option<AuditAction>,
    /// At or after this instant.
    pub from: Option<Timestamp>,
    /// Before this instant (exclusive).
    pub to: Option<Timestamp>,
    /// Start after this position; `None` for the first page.
    pub after: Option<AuditCursor>,
    /// How many events at most.
    pub limit: PageLimit,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::user::{Email, NewUser, UserSource};
    use crate::{Role, TenantId};

    fn alice(now: Timestamp) -> User {
        let new = NewUser {
            email: Email::parse("alice@example.com").unwrap(),
            name: None,
            phone: None,
            role: Role::User,
            referral_code: None,
        };
        User::create(TenantId::new(), new, UserSource::Created, now)
    }

    #[test]
    fn a_change_records_only_the_fields_that_differ() {
        let now = chrono::Utc::now();
        let before = alice(now);
        let after = before.with_role(Role::Collaborator, now);
        let event =
            AuditEvent::user_changed(&Actor::system(before.tenant), AuditAction::UserRoleChanged, &before, &after, now);
        assert_eq!(event.before, Some(json!({ "role": "user" })));
        assert_eq!(event.after, Some(json!({ "role": "collaborator" })));
    }

    #[test]
    fn a_purge_record_holds_no_personal_data() {
        let now = chrono::Utc::now();
        let user = alice(now);
        let event = AuditEvent::user_purged(&Actor::system(user.tenant), &user, now);
        assert_eq!(event.target.label, None);
        assert!(!serde_json::to_string(&event.before).unwrap().contains("alice"));
    }

    #[test]
    fn audit_cursors_round_trip() {
        let cursor = AuditCursor(DateTime::from_timestamp_micros(1_790_000_000_000_001).unwrap(), AuditEventId::new());
        assert_eq!(AuditCursor::decode(&cursor.encode()), Ok(cursor));
        assert!(AuditCursor::decode("nope").is_err());
    }
}
