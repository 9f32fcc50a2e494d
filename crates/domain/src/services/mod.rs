//! Use-case services: each method is one use case, checks governance, and calls the ports.
//! Services hold `Arc<dyn Port>` and are cheap to clone.

mod access;
mod audit;
pub mod invitations;
pub mod licenses;
mod tenants;
mod tokens;
pub mod users;

pub use access::{AccessService, Dashboard, DashboardError, Entitlements, EntitlementsError};
pub use audit::{AuditService, ListAuditError};
pub use invitations::{AcceptLinks, InvitationService};
pub use licenses::LicenseService;
pub use tenants::{CreateTenantError, CreatedTenant, SettingsError, TenantService};
pub use tokens::{AuthenticateError, IssueTokenError, TokenService};
pub use users::UserService;
