//! Which OpenID Connect issuer a tenant trusts: read and set by its administrators (API) or
//! the operator (CLI).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::governance::{self, Violation};
use crate::identity::OidcSettings;
use crate::ports::{Clock, OidcRepository, TenantRepository};
use crate::{Actor, AuditAction, AuditEvent, AuditTarget, StoreError, TargetKind, Tenant, TenantName, UnexpectedError};

/// Reading or setting a tenant's issuer failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcSettingsError {
    /// Not an administrator.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// No tenant has this name (CLI).
    #[error("no tenant named {0}")]
    UnknownTenant(TenantName),
    /// The acting user changed meanwhile; nothing was written.
    #[error("the acting user changed concurrently")]
    Conflict,
    /// Another tenant trusts this issuer with this audience: its tokens could sign in to
    /// either tenant.
    #[error("another tenant trusts this issuer with this audience; give this tenant an audience of its own")]
    IssuerTaken,
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<StoreError> for OidcSettingsError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ActorChanged => Self::Conflict,
            StoreError::IssuerTaken => Self::IssuerTaken,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

/// Reads and sets the OpenID Connect issuer of tenants.
#[derive(Clone)]
pub struct OidcService {
    tenants: Arc<dyn TenantRepository>,
    oidc: Arc<dyn OidcRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for OidcService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OidcService")
    }
}

impl OidcService {
    /// A service over these ports.
    pub fn new(tenants: Arc<dyn TenantRepository>, oidc: Arc<dyn OidcRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { tenants, oidc, clock }
    }

    /// The issuer the actor's tenant trusts. Administrators only.
    ///
    /// # Errors
    /// See [`OidcSettingsError`].
    pub async fn settings(&self, actor: &Actor) -> Result<Option<OidcSettings>, OidcSettingsError> {
        governance::check_settings(actor)?;
        Ok(self.oidc.oidc_settings(actor.tenant).await?)
    }

    /// Trusts `settings` (or, with `None`, no issuer) for the actor's tenant. Administrators
    /// only.
    ///
    /// # Errors
    /// See [`OidcSettingsError`].
    pub async fn set(
        &self,
        actor: &Actor,
        settings: Option<OidcSettings>,
    ) -> Result<Option<OidcSettings>, OidcSettingsError> {
        governance::check_settings(actor)?;
        let tenant = self.tenants.get_tenant(actor.tenant).await?;
        let tenant = tenant.ok_or_else(|| UnexpectedError::new("the actor's tenant does not exist"))?;
        self.store(actor, &tenant, settings).await
    }

    /// Trusts `settings` (or no issuer) for the tenant `name`, on the operator's behalf.
    ///
    /// # Errors
    /// See [`OidcSettingsError`].
    pub async fn set_for(
        &self,
        name: &TenantName,
        settings: Option<OidcSettings>,
    ) -> Result<Option<OidcSettings>, OidcSettingsError> {
        let tenant = self.tenants.find_by_name(name).await?;
        let tenant = tenant.ok_or_else(|| OidcSettingsError::UnknownTenant(name.clone()))?;
        self.store(&Actor::system(tenant.id), &tenant, settings).await
    }

    async fn store(
        &self,
        actor: &Actor,
        tenant: &Tenant,
        settings: Option<OidcSettings>,
    ) -> Result<Option<OidcSettings>, OidcSettingsError> {
        let before = self.oidc.oidc_settings(tenant.id).await?;
        if before == settings {
            return Ok(settings);
        }
        let target =
            AuditTarget { kind: TargetKind::Tenant, id: tenant.id.into(), label: Some(tenant.name.to_string()) };
        let mut audit = AuditEvent::about(actor, AuditAction::TenantOidcChanged, target, self.clock.now());
        audit.before = Some(fields(before.as_ref()));
        audit.after = Some(fields(settings.as_ref()));
        self.oidc.set_oidc_settings(tenant.id, settings.clone(), governance::acting(actor), &audit).await?;
        Ok(settings)
    }
}

fn fields(settings: Option<&OidcSettings>) -> Value {
    settings.map_or(Value::Null, |s| {
        json!({
            "issuer": s.issuer.as_str(),
            "audience": s.audience.as_str(),
            "entra_tenant_id": s.entra_tenant.as_ref().map(|t| t.as_str()),
            "just_in_time": s.just_in_time,
        })
    })
}
