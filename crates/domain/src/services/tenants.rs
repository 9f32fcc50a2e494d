//! Creating tenants with their first administrator, including the default one at first start.

use std::sync::Arc;

use crate::invitation::TenantSettings;
use crate::ports::{Clock, TenantRepository};
use crate::user::NewUser;
use crate::{
    Actor, ApiToken, AuditEvent, Email, Role, StoreError, Tenant, TenantId, TenantName, TokenLabel, TokenSecret,
    UnexpectedError, User, UserSource,
};

/// A tenant just created, with its first administrator and that administrator's token.
#[derive(Debug)]
pub struct CreatedTenant {
    /// The tenant.
    pub tenant: Tenant,
    /// Its first administrator.
    pub admin: User,
    /// The administrator's API token: shown once, stored only as a hash.
    pub token: TokenSecret,
}

/// Creating a tenant failed.
#[derive(Debug, thiserror::Error)]
pub enum CreateTenantError {
    /// A tenant has this name.
    #[error("a tenant named {0} already exists")]
    NameTaken(TenantName),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Reading or changing a tenant's settings failed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Administrators only.
    #[error(transparent)]
    Forbidden(#[from] crate::Violation),
    /// The acting user changed meanwhile; nothing was written.
    #[error("your own account changed while this request ran; retry")]
    Conflict,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

/// Creates tenants (only the operator does: CLI, first start) and keeps their settings.
#[derive(Clone)]
pub struct TenantService {
    tenants: Arc<dyn TenantRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TenantService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TenantService")
    }
}

impl TenantService {
    /// A service over these ports.
    pub fn new(tenants: Arc<dyn TenantRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { tenants, clock }
    }

    /// Creates the tenant `name` with `admin_email` as its first, active administrator, and
    /// issues that administrator's API token.
    ///
    /// # Errors
    /// See [`CreateTenantError`].
    pub async fn create(&self, name: TenantName, admin_email: Email) -> Result<CreatedTenant, CreateTenantError> {
        let now = self.clock.now();
        let tenant = Tenant { id: TenantId::new(), name, created_at: now, settings: TenantSettings::default() };
        let new =
            NewUser { email: admin_email, name: None, phone: None, role: Role::Administrator, referral_code: None };
        let admin = User::create(tenant.id, new, UserSource::Created, now);
        let label = TokenLabel::parse("first administrator").expect("a valid label");
        let (token, secret) = ApiToken::issue(tenant.id, admin.id, label, now);
        let system = Actor::system(tenant.id);
        let audit = [
            AuditEvent::tenant_created(&system, &tenant, now),
            AuditEvent::user_created(&system, &admin, now),
            AuditEvent::token_created(&system, &token, now),
        ];
        match self.tenants.create(&tenant, &admin, &token, &audit).await {
            Ok(()) => Ok(CreatedTenant { tenant, admin, token: secret }),
            Err(StoreError::TenantNameTaken) => Err(CreateTenantError::NameTaken(tenant.name)),
            Err(other) => Err(other.into_unexpected().into()),
        }
    }

    /// The tenant named `name` (for the operator's command line).
    ///
    /// # Errors
    /// Unexpected storage failures only.
    pub async fn find(&self, name: &TenantName) -> Result<Option<Tenant>, UnexpectedError> {
        self.tenants.find_by_name(name).await.map_err(StoreError::into_unexpected)
    }

    /// The settings of the actor's tenant. Administrators only.
    ///
    /// # Errors
    /// See [`SettingsError`].
    pub async fn settings(&self, actor: &Actor) -> Result<TenantSettings, SettingsError> {
        crate::governance::check_settings(actor)?;
        Ok(self.load(actor.tenant).await?.settings)
    }

    /// Replaces the settings of the actor's tenant with `settings`. Administrators only.
    ///
    /// # Errors
    /// See [`SettingsError`].
    pub async fn update_settings(
        &self,
        actor: &Actor,
        settings: TenantSettings,
    ) -> Result<TenantSettings, SettingsError> {
        crate::governance::check_settings(actor)?;
        let tenant = self.load(actor.tenant).await?;
        if tenant.settings == settings {
            return Ok(settings);
        }
        let audit = AuditEvent::tenant_settings_changed(actor, &tenant, &tenant.settings, &settings, self.clock.now());
        match self.tenants.update_settings(tenant.id, &settings, crate::governance::acting(actor), &audit).await {
            Ok(()) => Ok(settings),
            Err(StoreError::ActorChanged) => Err(SettingsError::Conflict),
            Err(other) => Err(other.into_unexpected().into()),
        }
    }

    async fn load(&self, id: TenantId) -> Result<Tenant, UnexpectedError> {
        let tenant = self.tenants.get_tenant(id).await.map_err(StoreError::into_unexpected)?;
        tenant.ok_or_else(|| UnexpectedError::new(format!("the actor's tenant {id} does not exist")))
    }

    /// At first start: creates the tenant `name` with `admin_email` when no tenant exists yet.
    /// `None` when a tenant exists (also when another instance created it a moment ago).
    ///
    /// # Errors
    /// Unexpected storage failures only.
    pub async fn bootstrap(
        &self,
        name: TenantName,
        admin_email: Email,
    ) -> Result<Option<CreatedTenant>, UnexpectedError> {
        if self.tenants.any_exists().await.map_err(StoreError::into_unexpected)? {
            return Ok(None);
        }
        match self.create(name, admin_email).await {
            Ok(created) => Ok(Some(created)),
            Err(CreateTenantError::NameTaken(_)) => Ok(None),
            Err(CreateTenantError::Unexpected(error)) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::{MockClock, MockTenantRepository};

    fn service(tenants: MockTenantRepository) -> TenantService {
        let mut clock = MockClock::new();
        clock.expect_now().returning(chrono::Utc::now);
        TenantService::new(Arc::new(tenants), Arc::new(clock))
    }

    #[tokio::test]
    async fn a_new_tenant_gets_an_active_administrator_a_token_and_three_audit_events() {
        let mut tenants = MockTenantRepository::new();
        tenants
            .expect_create()
            .withf(|tenant, admin, token, audit| {
                admin.tenant == tenant.id
                    && admin.is_active_administrator()
                    && token.user == admin.id
                    && audit.len() == 3
            })
            .returning(|_, _, _, _| Ok(()));
        let created = service(tenants)
            .create(TenantName::parse("acme").unwrap(), Email::parse("root@acme.test").unwrap())
            .await
            .unwrap();
        assert_eq!(created.token.hash(), created.token.hash());
        assert_eq!(created.admin.email.as_str(), "root@acme.test");
    }

    #[tokio::test]
    async fn only_administrators_change_the_settings_and_a_change_is_audited() {
        let tenant = Tenant {
            id: TenantId::new(),
            name: TenantName::parse("acme").unwrap(),
            created_at: chrono::Utc::now(),
            settings: TenantSettings::default(),
        };
        let id = tenant.id;
        let mut tenants = MockTenantRepository::new();
        tenants.expect_get_tenant().returning(move |_| Ok(Some(tenant.clone())));
        tenants
            .expect_update_settings()
            .withf(|_, settings, _, audit| {
                settings.invitation_ttl.seconds() == 3600
                    && audit.after.as_ref().unwrap()["invitation_ttl_seconds"] == 3600
            })
            .times(1)
            .returning(|_, _, _, _| Ok(()));
        let service = service(tenants);
        let hour = TenantSettings {
            invitation_ttl: crate::invitation::InvitationTtl::from_seconds(3600).unwrap(),
            ..TenantSettings::default()
        };
        let email = Email::parse("c@acme.test").unwrap();
        let collaborator = Actor::user(id, crate::UserId::new(), email.clone(), Role::Collaborator);
        assert!(matches!(service.update_settings(&collaborator, hour).await, Err(SettingsError::Forbidden(_))));
        let admin = Actor::user(id, crate::UserId::new(), email, Role::Administrator);
        assert_eq!(service.update_settings(&admin, hour).await.unwrap(), hour);
        assert_eq!(
            service.update_settings(&admin, TenantSettings::default()).await.unwrap(),
            TenantSettings::default()
        );
    }

    #[tokio::test]
    async fn bootstrap_does_nothing_when_a_tenant_exists() {
        let mut tenants = MockTenantRepository::new();
        tenants.expect_any_exists().returning(|| Ok(true));
        tenants.expect_create().never();
        let created = service(tenants)
            .bootstrap(TenantName::parse("default").unwrap(), Email::parse("admin@example.com").unwrap())
            .await
            .unwrap();
        assert!(created.is_none());
    }

    #[tokio::test]
    async fn bootstrap_racing_another_instance_yields_to_it() {
        let mut tenants = MockTenantRepository::new();
        tenants.expect_any_exists().returning(|| Ok(false));
        tenants.expect_create().returning(|_, _, _, _| Err(StoreError::TenantNameTaken));
        let created = service(tenants)
            .bootstrap(TenantName::parse("default").unwrap(), Email::parse("admin@example.com").unwrap())
            .await
            .unwrap();
        assert!(created.is_none());
    }
}
