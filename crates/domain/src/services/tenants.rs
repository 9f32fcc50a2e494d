//! Creating tenants with their first administrator, including the default one at first start.

use std::sync::Arc;

use crate::budget::BudgetPolicy;
use crate::invitation::{InvitationTtl, TenantSettings};
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

/// A change of a tenant's settings: the settings given are set, the others kept as they are
/// when the change is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SettingsChange {
    /// The new lifetime of invitation links.
    pub invitation_ttl: Option<InvitationTtl>,
    /// The new default budget (`Some(None)`: none).
    pub default_budget: Option<Option<BudgetPolicy>>,
}

impl SettingsChange {
    /// `settings` with this change.
    #[must_use]
    pub fn applied_to(self, settings: TenantSettings) -> TenantSettings {
        TenantSettings {
            invitation_ttl: self.invitation_ttl.unwrap_or(settings.invitation_ttl),
            default_budget: self.default_budget.unwrap_or(settings.default_budget),
        }
    }
}

/// How many times a settings change is applied again to settings changed meanwhile.
const SETTINGS_ATTEMPTS: usize = 5;

/// Reading or changing a tenant's settings failed.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Administrators only.
    #[error(transparent)]
    Forbidden(#[from] crate::Violation),
    /// The acting user changed meanwhile, or the settings kept changing; nothing was written.
    #[error("your own account or the settings changed while this request ran; retry")]
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

    /// Applies `change` to the settings of the actor's tenant, as they are when it is stored
    /// (a concurrent change of other settings is kept); returns the settings then. Administrators
    /// only.
    ///
    /// # Errors
    /// See [`SettingsError`].
    pub async fn update_settings(
        &self,
        actor: &Actor,
        change: SettingsChange,
    ) -> Result<TenantSettings, SettingsError> {
        crate::governance::check_settings(actor)?;
        for _ in 0..SETTINGS_ATTEMPTS {
            let tenant = self.load(actor.tenant).await?;
            let after = change.applied_to(tenant.settings);
            if after == tenant.settings {
                return Ok(after);
            }
            let before = &tenant.settings;
            let audit = AuditEvent::tenant_settings_changed(actor, &tenant, before, &after, self.clock.now());
            let acting = crate::governance::acting(actor);
            match self.tenants.update_settings(tenant.id, before, &after, acting, &audit).await {
                Ok(()) => return Ok(after),
                Err(StoreError::Stale) => {}
                Err(StoreError::ActorChanged) => return Err(SettingsError::Conflict),
                Err(other) => return Err(other.into_unexpected().into()),
            }
        }
        Err(SettingsError::Conflict)
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

    fn acme(settings: TenantSettings) -> Tenant {
        Tenant {
            id: TenantId::from(uuid::Uuid::from_u128(7)),
            name: TenantName::parse("acme").unwrap(),
            created_at: chrono::Utc::now(),
            settings,
        }
    }

    fn ttl(seconds: u64) -> InvitationTtl {
        InvitationTtl::from_seconds(seconds).unwrap()
    }

    fn actor(role: Role) -> Actor {
        let id = acme(TenantSettings::default()).id;
        Actor::user(id, crate::UserId::new(), Email::parse("someone@acme.test").unwrap(), role)
    }

    #[tokio::test]
    async fn only_administrators_change_the_settings_and_a_change_is_audited() {
        let mut tenants = MockTenantRepository::new();
        tenants.expect_get_tenant().returning(|_| Ok(Some(acme(TenantSettings::default()))));
        tenants
            .expect_update_settings()
            .withf(|_, before, after, _, audit| {
                *before == TenantSettings::default()
                    && after.invitation_ttl.seconds() == 3600
                    && audit.after.as_ref().unwrap()["invitation_ttl_seconds"] == 3600
            })
            .times(1)
            .returning(|_, _, _, _, _| Ok(()));
        let service = service(tenants);
        let hour = SettingsChange { invitation_ttl: Some(ttl(3600)), ..SettingsChange::default() };
        let forbidden = service.update_settings(&actor(Role::Collaborator), hour).await;
        assert!(matches!(forbidden, Err(SettingsError::Forbidden(_))), "{forbidden:?}");
        let changed = service.update_settings(&actor(Role::Administrator), hour).await.unwrap();
        assert_eq!(changed, TenantSettings { invitation_ttl: ttl(3600), ..TenantSettings::default() });
        let unchanged = SettingsChange { default_budget: Some(None), ..SettingsChange::default() };
        assert_eq!(
            service.update_settings(&actor(Role::Administrator), unchanged).await.unwrap(),
            TenantSettings::default(),
            "nothing to change: nothing written"
        );
    }

    #[tokio::test]
    async fn a_change_is_applied_again_to_settings_changed_meanwhile_keeping_that_change() {
        let budget = BudgetPolicy {
            limit: crate::budget::Credits::new(500).unwrap(),
            period: crate::budget::BudgetPeriod::Monthly,
            warn_at: None,
            hard: true,
        };
        let meanwhile = TenantSettings { default_budget: Some(budget), ..TenantSettings::default() };
        let mut tenants = MockTenantRepository::new();
        let mut reads = vec![acme(meanwhile), acme(TenantSettings::default())];
        tenants.expect_get_tenant().times(2).returning(move |_| Ok(reads.pop()));
        let mut sequence = mockall::Sequence::new();
        tenants
            .expect_update_settings()
            .withf(|_, before, _, _, _| *before == TenantSettings::default())
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_, _, _, _, _| Err(StoreError::Stale));
        tenants
            .expect_update_settings()
            .withf(move |_, before, after, _, _| {
                *before == meanwhile && *after == TenantSettings { invitation_ttl: ttl(3600), ..meanwhile }
            })
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_, _, _, _, _| Ok(()));
        let hour = SettingsChange { invitation_ttl: Some(ttl(3600)), ..SettingsChange::default() };

        let changed = service(tenants).update_settings(&actor(Role::Administrator), hour).await.unwrap();

        assert_eq!(changed, TenantSettings { invitation_ttl: ttl(3600), default_budget: Some(budget) });
    }

    #[tokio::test]
    async fn settings_that_keep_changing_are_a_conflict() {
        let mut tenants = MockTenantRepository::new();
        tenants.expect_get_tenant().returning(|_| Ok(Some(acme(TenantSettings::default()))));
        tenants.expect_update_settings().times(SETTINGS_ATTEMPTS).returning(|_, _, _, _, _| Err(StoreError::Stale));
        let hour = SettingsChange { invitation_ttl: Some(ttl(3600)), ..SettingsChange::default() };
        let result = service(tenants).update_settings(&actor(Role::Administrator), hour).await;
        assert!(matches!(result, Err(SettingsError::Conflict)), "{result:?}");
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
