//! The built-in identity provider: magic-link sign-in with optional TOTP MFA, sessions, and
//! the administrator's resets (end every session, reset MFA).
//!
//! Who may sign in: an *active* user of the tenant, with or without a license. A license
//! decides AI features (the entitlements and the gateway), not administration.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::governance::{self, Violation};
use crate::mail::MagicLinkMail;
use crate::ports::{Clock, EmailSender, SessionRepository, TenantRepository, UserRepository};
use crate::services::AcceptLinks;
use crate::session::{MAX_CODE_ATTEMPTS, MagicLink, MagicLinkSecret, Session, SessionState, SignInMethod, TotpSecret};
use crate::{
    Actor, AuditAction, AuditEvent, Email, SessionId, StoreError, TenantName, Timestamp, UnexpectedError, User, UserId,
    UserStatus,
};

/// Verifying a magic link failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyLinkError {
    /// The link is unknown, used, expired or burnt by wrong codes, or its user is not active:
    /// one answer for all, so it tells nothing.
    #[error("this sign-in link is invalid, used or expired")]
    InvalidLink,
    /// The user has MFA: give the code of their authenticator with the link (which still works).
    #[error("a code from your authenticator app is required")]
    CodeRequired,
    /// The code is wrong or was used already; after a few wrong codes the link stops working.
    #[error("the code is wrong or was used already")]
    InvalidCode,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// An administrator's (or the user's own) change to someone's credentials failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The actor may not.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No such user in the tenant.
    #[error("user not found")]
    NotFound,
    /// Only a person has sessions and MFA (not a service credential).
    #[error("only a signed-in person has sessions and MFA")]
    NotAPerson,
    /// The acting user changed meanwhile; nothing was done.
    #[error("the acting user changed concurrently")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Enrolling in TOTP failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// A confirmed authenticator exists; an administrator resets MFA to replace it.
    #[error("MFA is already set up; an administrator can reset it")]
    AlreadyEnrolled,
    /// Nothing to confirm: start the enrollment first (or it was replaced or reset).
    #[error("no enrollment is pending")]
    NotPending,
    /// The code does not match the pending secret.
    #[error("the code is wrong")]
    InvalidCode,
    /// Only a person enrolls.
    #[error("only a signed-in person enrolls in MFA")]
    NotAPerson,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<StoreError> for VerifyLinkError {
    fn from(error: StoreError) -> Self {
        Self::Unexpected(error.into_unexpected())
    }
}

impl From<StoreError> for CredentialsError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

impl From<StoreError> for EnrollError {
    fn from(error: StoreError) -> Self {
        Self::Unexpected(error.into_unexpected())
    }
}

/// A session just started.
#[derive(Debug)]
pub struct SignedIn {
    /// The session.
    pub session: Session,
    /// Its bearer secret (shown once).
    pub secret: crate::session::SessionSecret,
    /// The user.
    pub user: User,
}

/// A TOTP enrollment to confirm with a code.
#[derive(Debug)]
pub struct Enrollment {
    /// The secret in base32, to type in.
    pub secret: String,
    /// The `otpauth://` URI, to scan as a QR code.
    pub otpauth_uri: String,
}

/// Built-in sign-in and the management of sessions and MFA.
#[derive(Clone)]
pub struct SignInService {
    tenants: Arc<dyn TenantRepository>,
    users: Arc<dyn UserRepository>,
    sessions: Arc<dyn SessionRepository>,
    email: Arc<dyn EmailSender>,
    clock: Arc<dyn Clock>,
    links: AcceptLinks,
}

impl std::fmt::Debug for SignInService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInService").field("links", &self.links).finish_non_exhaustive()
    }
}

impl SignInService {
    /// A service over these ports, mailing links built by `links`.
    pub fn new(
        tenants: Arc<dyn TenantRepository>,
        users: Arc<dyn UserRepository>,
        sessions: Arc<dyn SessionRepository>,
        email: Arc<dyn EmailSender>,
        clock: Arc<dyn Clock>,
        links: AcceptLinks,
    ) -> Self {
        Self { tenants, users, sessions, email, clock, links }
    }

    /// Mails a single-use sign-in link to `email` of `tenant`, if they are an active user
    /// there; otherwise does nothing. The caller answers the same either way (and should not
    /// wait for this, so that the time taken tells nothing either).
    ///
    /// # Errors
    /// Storage or mail failures, for the log: the requester is never told.
    pub async fn request_magic_link(&self, tenant: &TenantName, email: &Email) -> Result<bool, UnexpectedError> {
        let unexpected = StoreError::into_unexpected;
        let Some(tenant) = self.tenants.find_by_name(tenant).await.map_err(unexpected)? else { return Ok(false) };
        let user = self.users.find_by_email(tenant.id, email).await.map_err(unexpected)?;
        let Some(user) = user.filter(|u| u.status == UserStatus::Active) else { return Ok(false) };
        let now = self.clock.now();
        let (link, secret) = MagicLink::issue(tenant.id, user.id, now);
        self.sessions.insert_magic_link(&link).await.map_err(unexpected)?;
        let url = self.links.sign_in_link(&secret);
        let mail =
            MagicLinkMail { to: &user.email, tenant: tenant.name.as_str(), link: &url, expires_at: link.expires_at };
        self.email.send(&mail.render()).await.map_err(|e| UnexpectedError::new(e.to_string()))?;
        Ok(true)
    }

    /// Signs in with the magic link `presented` and, when the user has MFA, `code`. A user whose
    /// MFA was reset gets an enrolling session, good only for enrolling again.
    ///
    /// # Errors
    /// See [`VerifyLinkError`].
    pub async fn verify_magic_link(&self, presented: &str, code: Option<&str>) -> Result<SignedIn, VerifyLinkError> {
        let secret = MagicLinkSecret::parse(presented).ok_or(VerifyLinkError::InvalidLink)?;
        let hash = secret.hash();
        let link = self.sessions.find_magic_link(&hash).await?.ok_or(VerifyLinkError::InvalidLink)?;
        let now = self.clock.now();
        if now >= link.expires_at {
            return Err(VerifyLinkError::InvalidLink);
        }
        let user = self.users.get(link.tenant, link.user).await?;
        let user = user.filter(|u| u.status == UserStatus::Active).ok_or(VerifyLinkError::InvalidLink)?;
        let mfa = self.sessions.mfa_of(link.tenant, link.user).await?;
        let (state, step) = match mfa.confirmed_secret() {
            Some(totp) => {
                let code = code.ok_or(VerifyLinkError::CodeRequired)?;
                match totp.verify(code, now, mfa.last_step) {
                    Some(step) => (SessionState::Active, Some(step)),
                    None => {
                        self.sessions.fail_magic_link(&hash, MAX_CODE_ATTEMPTS).await?;
                        return Err(VerifyLinkError::InvalidCode);
                    }
                }
            }
            None if mfa.must_enroll() => (SessionState::Enrolling, None),
            None => (SessionState::Active, None),
        };
        let (session, secret) =
            Session::start(user.tenant, user.id, state, SignInMethod::MagicLink, step.is_some(), now);
        let audit = signed_in(&user, &session, now);
        match self.sessions.redeem_magic_link(&hash, &session, step, &audit).await {
            Ok(()) => Ok(SignedIn { session, secret, user }),
            Err(StoreError::NotFound) => Err(VerifyLinkError::InvalidLink),
            Err(StoreError::Stale) if step.is_some() => Err(VerifyLinkError::InvalidCode),
            Err(StoreError::Stale) => Err(VerifyLinkError::InvalidLink),
            Err(other) => Err(other.into()),
        }
    }

    /// The unexpired sessions of the acting person, newest first.
    ///
    /// # Errors
    /// [`CredentialsError::NotAPerson`] for a service; unexpected storage failures.
    pub async fn my_sessions(&self, actor: &Actor) -> Result<Vec<Session>, CredentialsError> {
        let user = actor.user_id().ok_or(CredentialsError::NotAPerson)?;
        Ok(self.sessions.sessions_of(actor.tenant, user, self.clock.now()).await?)
    }

    /// Ends the acting person's session `id` (signing out there).
    ///
    /// # Errors
    /// [`CredentialsError::NotFound`] when they have no such session.
    pub async fn end_my_session(&self, actor: &Actor, id: SessionId) -> Result<(), CredentialsError> {
        let (user, email) = person(actor).ok_or(CredentialsError::NotAPerson)?;
        let target = crate::AuditTarget::user(user, email);
        let mut audit = AuditEvent::about(actor, AuditAction::UserSignedOut, target, self.clock.now());
        audit.before = Some(serde_json::json!({ "session": id.to_string() }));
        Ok(self.sessions.end_session(actor.tenant, user, id, &audit).await?)
    }

    /// Ends every session of `target` and refuses the identity-provider tokens issued to them
    /// until now. Everyone may do it to themselves (sign out everywhere).
    ///
    /// # Errors
    /// See [`CredentialsError`].
    pub async fn revoke_sessions(&self, actor: &Actor, target: UserId) -> Result<u64, CredentialsError> {
        let user = self.users.get(actor.tenant, target).await?.ok_or(CredentialsError::NotFound)?;
        governance::check_session_revocation(actor, &user)?;
        let now = self.clock.now();
        let audit = user_event(actor, AuditAction::SessionsRevoked, &user, now);
        Ok(self.sessions.revoke_sessions(actor.tenant, target, now, governance::acting(actor), &audit).await?)
    }

    /// Resets the MFA of `target`: their authenticator is forgotten and their next sign-in must
    /// enroll one again. Sessions already open stay open (end them too if the device was lost).
    ///
    /// # Errors
    /// See [`CredentialsError`].
    pub async fn reset_mfa(&self, actor: &Actor, target: UserId) -> Result<(), CredentialsError> {
        let user = self.users.get(actor.tenant, target).await?.ok_or(CredentialsError::NotFound)?;
        governance::check_mfa_reset(actor, &user)?;
        let audit = user_event(actor, AuditAction::MfaReset, &user, self.clock.now());
        Ok(self.sessions.reset_mfa(actor.tenant, target, governance::acting(actor), &audit).await?)
    }

    /// Starts a TOTP enrollment for the acting person: a new secret, pending until confirmed
    /// with a code (replacing any pending one).
    ///
    /// # Errors
    /// See [`EnrollError`].
    pub async fn begin_enrollment(&self, actor: &Actor) -> Result<Enrollment, EnrollError> {
        let Some((user, email)) = person(actor) else { return Err(EnrollError::NotAPerson) };
        let tenant = self.tenants.get_tenant(actor.tenant).await?;
        let label = tenant.map_or_else(|| "Roster".to_owned(), |t| format!("Roster ({})", t.name));
        let secret = TotpSecret::generate();
        match self.sessions.begin_enrollment(actor.tenant, user, &secret).await {
            Ok(()) => Ok(Enrollment { secret: secret.base32(), otpauth_uri: secret.otpauth_uri(&label, email) }),
            Err(StoreError::Stale) => Err(EnrollError::AlreadyEnrolled),
            Err(other) => Err(other.into()),
        }
    }

    /// Confirms the acting person's pending enrollment with a `code` of their authenticator:
    /// from now on every sign-in needs a code. An enrolling `session` becomes a full one.
    ///
    /// # Errors
    /// See [`EnrollError`].
    pub async fn confirm_enrollment(
        &self,
        actor: &Actor,
        session: Option<SessionId>,
        code: &str,
    ) -> Result<(), EnrollError> {
        let Some((user, email)) = person(actor) else { return Err(EnrollError::NotAPerson) };
        let mfa = self.sessions.mfa_of(actor.tenant, user).await?;
        if mfa.enrolled() {
            return Err(EnrollError::AlreadyEnrolled);
        }
        let secret = mfa.secret.ok_or(EnrollError::NotPending)?;
        let now = self.clock.now();
        let step = secret.verify(code, now, mfa.last_step).ok_or(EnrollError::InvalidCode)?;
        let audit = AuditEvent::about(actor, AuditAction::MfaEnrolled, crate::AuditTarget::user(user, email), now);
        match self.sessions.confirm_enrollment(actor.tenant, user, &secret, step, session, now, &audit).await {
            Ok(()) => Ok(()),
            Err(StoreError::Stale) => Err(EnrollError::NotPending),
            Err(other) => Err(other.into()),
        }
    }
}

/// The acting person's id and email.
fn person(actor: &Actor) -> Option<(UserId, &Email)> {
    match &actor.identity {
        crate::ActorIdentity::User { id, email } => Some((*id, email)),
        _ => None,
    }
}

fn user_event(actor: &Actor, action: AuditAction, user: &User, now: Timestamp) -> AuditEvent {
    AuditEvent::about(actor, action, crate::AuditTarget::user(user.id, &user.email), now)
}

fn signed_in(user: &User, session: &Session, now: Timestamp) -> AuditEvent {
    let actor = Actor::user(user.tenant, user.id, user.email.clone(), user.role);
    let mut event = user_event(&actor, AuditAction::UserSignedIn, user, now);
    event.after = Some(serde_json::json!({
        "session": session.id.to_string(),
        "method": session.method.as_str(),
        "mfa": session.mfa,
        "state": session.state.as_str(),
    }));
    event
}
