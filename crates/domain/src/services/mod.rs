//! Use-case services: each method is one use case, checks governance, and calls the ports.
//! Services hold `Arc<dyn Port>` and are cheap to clone.

mod audit;
mod tenants;
mod tokens;
pub mod users;

pub use audit::{AuditService, ListAuditError};
pub use tenants::{CreateTenantError, CreatedTenant, TenantService};
pub use tokens::{AuthenticateError, IssueTokenError, TokenService};
pub use users::UserService;
