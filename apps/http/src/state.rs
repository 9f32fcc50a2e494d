//! The services every request handler uses, wired onto one store.

use std::sync::Arc;

use roster_domain::ports::{Clock, SystemClock};
use roster_domain::services::{AccessService, AuditService, LicenseService, TenantService, TokenService, UserService};
use roster_storage::Store;

/// The wired application: services over the store's adapters.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// User use cases.
    pub users: UserService,
    /// Token issuing and authentication.
    pub tokens: TokenService,
    /// Tenant creation.
    pub tenants: TenantService,
    /// The audit trail.
    pub audit: AuditService,
    /// License kinds and seats.
    pub licenses: LicenseService,
    /// The access gate and the dashboard.
    pub access: AccessService,
}

impl AppState {
    /// Wires every service onto `store` with the system clock.
    pub fn new(store: Store) -> Self {
        let shared = Arc::new(store.clone());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            users: UserService::new(shared.clone(), clock.clone()),
            tokens: TokenService::new(shared.clone(), shared.clone(), shared.clone(), clock.clone()),
            licenses: LicenseService::new(shared.clone(), shared.clone(), clock.clone()),
            access: AccessService::new(shared.clone()),
            tenants: TenantService::new(shared.clone(), clock),
            audit: AuditService::new(shared),
            store,
        }
    }
}
