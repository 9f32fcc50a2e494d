//! The invitation use cases: invite (create an invited user, mail them a single-use link),
//! reinvite (a new link, mailed), copy link (a new link, handed to the administrator), revoke
//! (remove the never-activated user, returning any seat they held) and accept (public: the link
//! makes its user active and yields their first credential).

mod errors;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use errors::{AcceptInvitationError, InviteError, ReissueInvitationError, RevokeInvitationError};

use crate::governance::{self, Premises};
use crate::invitation::{Delivery, DeliveryStatus, Invitation, InvitationSecret, InvitationState};
use crate::mail::InvitationMail;
use crate::ports::{Clock, EmailSender, InvitationRepository, TenantRepository, UserRepository};
use crate::session::{Session, SessionSecret, SessionState, SignInMethod};
use crate::user::NewUser;
use crate::{
    Actor, ActorIdentity, AuditAction, AuditEvent, LicenseKindId, PersonName, StoreError, Tenant, TenantId,
    UnexpectedError, User, UserId, UserStatus,
};

/// How many times a change is decided again when another change of the same user came first.
const ATTEMPTS: usize = 3;

/// Builds the accept links mailed to invitees: `{public_url}/invitations/accept?token=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptLinks {
    base: String,
}

impl AcceptLinks {
    /// Links under `public_url`, the address users reach Roster (or the platform's front end
    /// that serves the accept page) at, e.g. `https://ai.example.com`.
    #[must_use]
    pub fn new(public_url: &str) -> Self {
        Self { base: public_url.trim_end_matches('/').to_owned() }
    }

    /// The link carrying `secret`.
    #[must_use]
    pub fn link(&self, secret: &InvitationSecret) -> String {
        format!("{}/invitations/accept?token={}", self.base, secret.expose())
    }

    /// The sign-in link carrying `secret`: `{public_url}/sign-in?token=...`.
    #[must_use]
    pub fn sign_in_link(&self, secret: &crate::session::MagicLinkSecret) -> String {
        format!("{}/sign-in?token={}", self.base, secret.expose())
    }
}

/// A user to invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    /// Their email, name, phone, role and referral code.
    pub user: NewUser,
    /// The license kind whose seat is reserved for them at once.
    pub license: Option<LicenseKindId>,
}

/// A link just issued: the invited user, their invitation (with how the mailing went) and the
/// link itself, to hand out only when it was not mailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedInvitation {
    /// The invited user.
    pub user: User,
    /// Their invitation.
    pub invitation: Invitation,
    /// The accept link (a secret: mailed to the user, or shown to the administrator who copies it).
    pub link: String,
}

/// An accepted invitation.
#[derive(Debug)]
pub struct AcceptedInvitation {
    /// The user, now active.
    pub user: User,
    /// Their first session, signed in through the built-in identity provider.
    pub session: Session,
    /// Its bearer secret (shown once).
    pub token: SessionSecret,
}

/// Invites users and accepts invitations.
#[derive(Clone)]
pub struct InvitationService {
    users: Arc<dyn UserRepository>,
    invitations: Arc<dyn InvitationRepository>,
    tenants: Arc<dyn TenantRepository>,
    email: Arc<dyn EmailSender>,
    clock: Arc<dyn Clock>,
    links: AcceptLinks,
}

impl std::fmt::Debug for InvitationService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationService").field("links", &self.links).finish_non_exhaustive()
    }
}

impl InvitationService {
    /// A service over these ports, mailing links built by `links`.
    pub fn new(
        users: Arc<dyn UserRepository>,
        invitations: Arc<dyn InvitationRepository>,
        tenants: Arc<dyn TenantRepository>,
        email: Arc<dyn EmailSender>,
        clock: Arc<dyn Clock>,
        links: AcceptLinks,
    ) -> Self {
        Self { users, invitations, tenants, email, clock, links }
    }

    /// Creates `new` as an invited user of the actor's tenant (reserving a seat of `license`)
    /// and mails them a link. A failed mailing keeps the invitation, with delivery `failed`:
    /// reinvite to send a new link.
    ///
    /// # Errors
    /// See [`InviteError`].
    pub async fn invite(&self, actor: &Actor, new: NewInvitation) -> Result<IssuedInvitation, InviteError> {
        governance::check_invite(actor, new.user.role, new.license.is_some())?;
        let tenant = self.tenant(actor.tenant).await?;
        let now = self.clock.now();
        let user = User::invite(actor.tenant, new.user, new.license, now);
        let ttl = tenant.settings.invitation_ttl;
        let (invitation, secret) =
            Invitation::issue(tenant.id, user.id, ttl, actor.user_id(), Delivery::pending(), now);
        let audit = AuditEvent::user_invited(actor, &user, &invitation, now);
        match self.invitations.invite(&user, &invitation, governance::acting(actor), &audit).await {
            Ok(()) => {}
            Err(StoreError::EmailTaken) => return Err(InviteError::EmailTaken(user.email)),
            Err(other) => return Err(other.into()),
        }
        let link = self.links.link(&secret);
        let invitation = self.mail(&tenant, actor, &user, invitation, &link).await?;
        Ok(IssuedInvitation { user, invitation, link })
    }

    /// Sends the invited user `id` a new link (the old one stops working), valid for the
    /// tenant's invitation lifetime from now: for pending and expired invitations alike.
    ///
    /// # Errors
    /// See [`ReissueInvitationError`].
    pub async fn reinvite(&self, actor: &Actor, id: UserId) -> Result<IssuedInvitation, ReissueInvitationError> {
        self.reissue(actor, id, true).await
    }

    /// A new link for the invited user `id`, returned instead of mailed (the old one stops
    /// working, since only hashes are stored).
    ///
    /// # Errors
    /// See [`ReissueInvitationError`].
    pub async fn copy_link(&self, actor: &Actor, id: UserId) -> Result<IssuedInvitation, ReissueInvitationError> {
        self.reissue(actor, id, false).await
    }

    async fn reissue(&self, actor: &Actor, id: UserId, mail: bool) -> Result<IssuedInvitation, ReissueInvitationError> {
        for _ in 0..ATTEMPTS {
            let user = self.users.get(actor.tenant, id).await?.ok_or(ReissueInvitationError::NotFound)?;
            governance::check_invitation(actor, &user)?;
            if user.status != UserStatus::Invited {
                return Err(ReissueInvitationError::NotInvited(user.status));
            }
            let tenant = self.tenant(actor.tenant).await?;
            let now = self.clock.now();
            let delivery = if mail { Delivery::pending() } else { Delivery::not_sent() };
            let ttl = tenant.settings.invitation_ttl;
            let (invitation, secret) = Invitation::issue(tenant.id, user.id, ttl, actor.user_id(), delivery, now);
            let premises = Premises::of(actor, &user, Some((user.role, user.status)));
            let audit = AuditEvent::invitation_reissued(actor, &user, &invitation, mail, now);
            match self.invitations.reissue(&invitation, &premises, &audit).await {
                Err(StoreError::Stale) => continue,
                Err(other) => return Err(other.into()),
                Ok(()) => {}
            }
            let link = self.links.link(&secret);
            let invitation = if mail { self.mail(&tenant, actor, &user, invitation, &link).await? } else { invitation };
            return Ok(IssuedInvitation { user, invitation, link });
        }
        Err(ReissueInvitationError::Conflict)
    }

    /// Withdraws the invitation of the user `id`, who never accepted: they are removed (with an
    /// audit record that keeps no personal data) and any seat reserved for them returns to its
    /// pool.
    ///
    /// # Errors
    /// See [`RevokeInvitationError`].
    pub async fn revoke(&self, actor: &Actor, id: UserId) -> Result<(), RevokeInvitationError> {
        for _ in 0..ATTEMPTS {
            let user = self.users.get(actor.tenant, id).await?.ok_or(RevokeInvitationError::NotFound)?;
            governance::check_invitation(actor, &user)?;
            if !user.never_activated() {
                return Err(RevokeInvitationError::NotInvited(user.status));
            }
            let premises = Premises::of(actor, &user, None);
            let audit = AuditEvent::invitation_revoked(actor, &user, self.clock.now());
            match self.users.purge(actor.tenant, &premises, &audit).await {
                Err(StoreError::Stale) => continue,
                result => return result.map_err(Into::into),
            }
        }
        Err(RevokeInvitationError::Conflict)
    }

    /// Accepts the invitation whose link carries `presented`: its user becomes active (with
    /// `name`, if given) and receives their first credential. Public: the link is the proof.
    ///
    /// # Errors
    /// See [`AcceptInvitationError`]: an unknown, used, replaced or revoked link is one and the
    /// same `NotFound`, so the answer tells nothing about which.
    pub async fn accept(
        &self,
        presented: &str,
        name: Option<PersonName>,
    ) -> Result<AcceptedInvitation, AcceptInvitationError> {
        let secret = InvitationSecret::parse(presented).ok_or(AcceptInvitationError::NotFound)?;
        let hash = secret.hash();
        let invitation = self.invitations.find_invitation(&hash).await?.ok_or(AcceptInvitationError::NotFound)?;
        let now = self.clock.now();
        if invitation.state(now) == InvitationState::Expired {
            return Err(AcceptInvitationError::Expired);
        }
        let user = self.users.get(invitation.tenant, invitation.user).await?;
        let user = user.filter(|u| u.status == UserStatus::Invited).ok_or(AcceptInvitationError::NotFound)?;
        let accepted = user.accepted(name, now);
        let (session, token) =
            Session::start(user.tenant, user.id, SessionState::Active, SignInMethod::Invitation, false, now);
        let actor = Actor::user(user.tenant, user.id, user.email.clone(), user.role);
        let mut audit = AuditEvent::user_changed(&actor, AuditAction::InvitationAccepted, &user, &accepted, now);
        // Accepting signs the user in: the event names the session it starts.
        if let Some(serde_json::Value::Object(after)) = &mut audit.after {
            after.insert("session".into(), session.id.to_string().into());
            after.insert("method".into(), session.method.as_str().into());
        }
        match self.invitations.accept(&hash, &accepted, user.version, &session, &audit).await {
            Ok(()) => Ok(AcceptedInvitation { user: accepted, session, token }),
            Err(StoreError::NotFound | StoreError::Stale) => Err(AcceptInvitationError::NotFound),
            Err(other) => Err(AcceptInvitationError::Unexpected(other.into_unexpected())),
        }
    }

    /// The invitations of those of `users` who have one, for showing them with the users. The
    /// caller may see these users.
    ///
    /// # Errors
    /// Unexpected storage failures only.
    pub async fn of_users(&self, tenant: TenantId, users: &[UserId]) -> Result<Vec<Invitation>, UnexpectedError> {
        self.invitations.invitations_of(tenant, users).await.map_err(StoreError::into_unexpected)
    }

    /// The storage of invitations, for imports that store invited users one by one.
    pub(crate) fn repository(&self) -> &Arc<dyn InvitationRepository> {
        &self.invitations
    }

    /// Mails the link of `invitation` (just stored with its new `user`) and records how it went:
    /// for imports, which store invited users in batches.
    pub(crate) async fn deliver(
        &self,
        tenant: &Tenant,
        actor: &Actor,
        user: &User,
        invitation: Invitation,
        secret: &InvitationSecret,
    ) -> Result<Invitation, UnexpectedError> {
        let link = self.links.link(secret);
        self.mail(tenant, actor, user, invitation, &link).await
    }

    /// The tenant, for its name and invitation lifetime.
    async fn tenant(&self, id: TenantId) -> Result<Tenant, UnexpectedError> {
        let tenant = self.tenants.get_tenant(id).await.map_err(StoreError::into_unexpected)?;
        tenant.ok_or_else(|| UnexpectedError::new(format!("the actor's tenant {id} does not exist")))
    }

    /// Mails `link` to `user` and records how it went: the invitation stays whatever happens.
    async fn mail(
        &self,
        tenant: &Tenant,
        actor: &Actor,
        user: &User,
        mut invitation: Invitation,
        link: &str,
    ) -> Result<Invitation, UnexpectedError> {
        let inviter = match &actor.identity {
            ActorIdentity::User { email, .. } => Some(email.as_str()),
            ActorIdentity::Service { .. } | ActorIdentity::System => None,
        };
        let email = InvitationMail {
            to: &user.email,
            tenant: tenant.name.as_str(),
            inviter,
            link,
            expires_at: invitation.expires_at,
        }
        .render();
        let outcome = self.email.send(&email).await;
        let at = Some(self.clock.now());
        invitation.delivery = match outcome {
            Ok(()) => Delivery { status: DeliveryStatus::Sent, error: None, at },
            Err(error) => Delivery { status: DeliveryStatus::Failed, error: Some(error.to_string()), at },
        };
        self.invitations
            .record_delivery(tenant.id, &invitation.hash, &invitation.delivery)
            .await
            .map_err(StoreError::into_unexpected)?;
        Ok(invitation)
    }
}
