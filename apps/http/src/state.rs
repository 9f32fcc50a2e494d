//! The services every request handler uses, wired onto one store and the outside world's
//! adapters (clock, email).

use std::sync::Arc;
use std::time::Duration;

use roster_domain::ports::{Clock, EmailSender, IdentityProvider, SystemClock};
use roster_domain::services::{
    AcceptLinks, AccessService, AuditService, BudgetService, CredentialStores, ImportService, InvitationService,
    LicenseService, OidcService, ServiceCredentialService, SignInService, TenantService, TokenService, UsageService,
    UserService,
};
use roster_email::{OutboxSender, SmtpSender, SmtpSettings, SmtpTls};
use roster_identity::{OidcOptions, OidcVerifier};
use roster_storage::Store;

use crate::settings::{EmailSettings, SmtpTlsMode};

/// The adapters of the ports that are not storage.
#[derive(Clone)]
pub struct Adapters {
    /// Tells the time.
    pub clock: Arc<dyn Clock>,
    /// Sends email.
    pub email: Arc<dyn EmailSender>,
    /// Builds the accept links of invitations and sign-in links.
    pub links: AcceptLinks,
    /// Verifies tokens of the OpenID Connect issuers tenants trust.
    pub identity: Arc<dyn IdentityProvider>,
}

impl std::fmt::Debug for Adapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapters").field("links", &self.links).finish_non_exhaustive()
    }
}

/// Email settings that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid email settings: {0}")]
pub struct EmailSettingsError(String);

/// An adapter that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The email settings are unusable.
    #[error(transparent)]
    Email(#[from] EmailSettingsError),
    /// The OpenID Connect client cannot be set up.
    #[error(transparent)]
    Identity(#[from] roster_identity::BuildError),
}

impl Adapters {
    /// The system clock, the email sender `email` configures (SMTP when a host is set, else the
    /// local outbox), links under `public_url`, and an OpenID Connect verifier with `oidc`.
    ///
    /// # Errors
    /// The SMTP settings or the sender address are unusable, or TLS cannot be set up.
    pub fn new(email: &EmailSettings, public_url: &str, oidc: OidcOptions) -> Result<Self, AdapterError> {
        Ok(Self {
            clock: Arc::new(SystemClock),
            email: email_sender(email)?,
            links: AcceptLinks::new(public_url),
            identity: Arc::new(OidcVerifier::new(oidc)?),
        })
    }
}

/// How long an SMTP relay gets to connect and answer, and how many times a message is tried.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
const SMTP_ATTEMPTS: u32 = 3;

fn email_sender(settings: &EmailSettings) -> Result<Arc<dyn EmailSender>, EmailSettingsError> {
    let invalid = |e: &dyn std::fmt::Display| EmailSettingsError(e.to_string());
    let Some(host) = &settings.smtp_host else {
        let outbox = OutboxSender::new(settings.outbox_dir.clone()).map_err(|e| invalid(&e))?;
        return Ok(Arc::new(outbox.with_from(&settings.email_from).map_err(|e| invalid(&e))?));
    };
    let credentials = match (&settings.smtp_username, &settings.smtp_password) {
        (Some(user), Some(password)) => Some((user.clone(), password.clone())),
        (None, None) => None,
        _ => return Err(EmailSettingsError("give both an SMTP user name and password, or neither".into())),
    };
    let tls = match settings.smtp_tls {
        SmtpTlsMode::None => SmtpTls::None,
        SmtpTlsMode::Starttls => SmtpTls::StartTls,
        SmtpTlsMode::Implicit => SmtpTls::Implicit,
    };
    let smtp = SmtpSettings {
        host: host.clone(),
        port: settings.port(),
        tls,
        credentials,
        from: settings.email_from.clone(),
        timeout: SMTP_TIMEOUT,
        attempts: SMTP_ATTEMPTS,
    };
    Ok(Arc::new(SmtpSender::new(smtp).map_err(|e| invalid(&e))?))
}

/// The wired application: services over the store and the adapters.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The clock every service reads.
    pub clock: Arc<dyn Clock>,
    /// User use cases.
    pub users: UserService,
    /// Token issuing and authentication.
    pub tokens: TokenService,
    /// Tenant creation and settings.
    pub tenants: TenantService,
    /// The audit trail.
    pub audit: AuditService,
    /// License kinds and seats.
    pub licenses: LicenseService,
    /// The access gate and the dashboard.
    pub access: AccessService,
    /// Invitations.
    pub invitations: InvitationService,
    /// Bulk imports.
    pub imports: ImportService,
    /// Budgets and usage reports.
    pub budgets: BudgetService,
    /// The AI gateway's metering.
    pub usage: UsageService,
    /// Service credentials.
    pub service_credentials: ServiceCredentialService,
    /// Built-in sign-in, sessions and MFA.
    pub sign_in: SignInService,
    /// Tenants' OpenID Connect issuers.
    pub oidc: OidcService,
}

impl AppState {
    /// Wires every service onto `store` and `adapters`.
    pub fn new(store: Store, adapters: Adapters) -> Self {
        let shared = Arc::new(store.clone());
        let Adapters { clock, email, links, identity } = adapters;
        let sign_in = SignInService::new(
            shared.clone(),
            shared.clone(),
            shared.clone(),
            email.clone(),
            clock.clone(),
            links.clone(),
        );
        let invitations =
            InvitationService::new(shared.clone(), shared.clone(), shared.clone(), email, clock.clone(), links);
        let stores = CredentialStores {
            tokens: shared.clone(),
            services: shared.clone(),
            sessions: shared.clone(),
            oidc: shared.clone(),
        };
        Self {
            imports: ImportService::new(
                shared.clone(),
                shared.clone(),
                shared.clone(),
                invitations.clone(),
                clock.clone(),
            ),
            invitations,
            users: UserService::new(shared.clone(), clock.clone()),
            tokens: TokenService::new(shared.clone(), shared.clone(), stores, clock.clone())
                .with_identity_provider(identity),
            sign_in,
            oidc: OidcService::new(shared.clone(), shared.clone(), clock.clone()),
            licenses: LicenseService::new(shared.clone(), shared.clone(), clock.clone()),
            access: AccessService::new(shared.clone(), shared.clone(), shared.clone(), clock.clone()),
            budgets: BudgetService::new(shared.clone(), shared.clone(), shared.clone(), clock.clone()),
            usage: UsageService::new(shared.clone(), clock.clone()),
            service_credentials: ServiceCredentialService::new(shared.clone(), clock.clone()),
            tenants: TenantService::new(shared.clone(), clock.clone()),
            audit: AuditService::new(shared),
            clock,
            store,
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("store", &self.store).finish_non_exhaustive()
    }
}
