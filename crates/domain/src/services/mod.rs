//! Use-case services: each method is one use case, checks governance, and calls the ports.
//! Services hold `Arc<dyn Port>` and are cheap to clone.

mod access;
mod activity;
mod audit;
pub mod budgets;
pub mod import;
pub mod invitations;
pub mod licenses;
pub mod oidc;
#[cfg(test)]
mod oidc_tests;
pub mod service_credentials;
pub mod sign_in;
mod tenants;
mod tokens;
pub mod usage;
pub mod users;

pub use access::{AccessService, Dashboard, DashboardError, Entitlements, EntitlementsError};
pub use activity::{ActivityTracker, FLUSH_LIMIT};
pub use audit::{AuditService, ListAuditError};
pub use budgets::{BudgetError, BudgetService};
pub use import::{ImportError, ImportOptions, ImportReport, ImportService, LISTED_PROBLEMS, OnExisting};
pub use invitations::{AcceptLinks, InvitationService};
pub use licenses::LicenseService;
pub use oidc::{OidcService, OidcSettingsError};
pub use service_credentials::{ServiceCredentialError, ServiceCredentialService};
pub use sign_in::{CredentialsError, EnrollError, Enrollment, SignInService, SignedIn, VerifyLinkError};
pub use tenants::{CreateTenantError, CreatedTenant, SettingsChange, SettingsError, TenantService};
pub use tokens::{AuthenticateError, Authenticated, CredentialStores, IssueTokenError, TokenService};
pub use usage::{MeteringError, UsageService};
pub use users::UserService;
