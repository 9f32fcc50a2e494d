//! Port traits: what the domain needs from the outside world. Adapters implement them
//! (`roster-storage` for databases); tests use the mockall mocks (feature `mocks`).
//!
//! Every method is scoped to one tenant, and every mutation takes the [`AuditEvent`] that
//! describes it: adapters MUST commit both atomically.
//!
//! [`AuditEvent`]: crate::AuditEvent

mod audit;
mod budgets;
mod clock;
mod email;
mod identity;
mod invitations;
mod licenses;
mod services;
mod sessions;
mod tenants;
mod tokens;
mod users;

pub use audit::AuditLog;
pub use budgets::{BudgetRepository, BudgetTotals, UsageLedger};
pub use clock::{Clock, SystemClock};
pub use email::EmailSender;
pub use identity::IdentityProvider;
pub use invitations::InvitationRepository;
pub use licenses::{AccessFacts, LicenseRepository};
pub use services::ServiceCredentialRepository;
pub use sessions::{OidcRepository, SessionRepository};
pub use tenants::TenantRepository;
pub use tokens::TokenRepository;
pub use users::{NewRecord, RecordOutcome, UserRepository};

#[cfg(any(test, feature = "mocks"))]
pub use audit::MockAuditLog;
#[cfg(any(test, feature = "mocks"))]
pub use budgets::{MockBudgetRepository, MockUsageLedger};
#[cfg(any(test, feature = "mocks"))]
pub use clock::MockClock;
#[cfg(any(test, feature = "mocks"))]
pub use email::MockEmailSender;
#[cfg(any(test, feature = "mocks"))]
pub use identity::MockIdentityProvider;
#[cfg(any(test, feature = "mocks"))]
pub use invitations::MockInvitationRepository;
#[cfg(any(test, feature = "mocks"))]
pub use licenses::MockLicenseRepository;
#[cfg(any(test, feature = "mocks"))]
pub use services::MockServiceCredentialRepository;
#[cfg(any(test, feature = "mocks"))]
pub use sessions::{MockOidcRepository, MockSessionRepository};
#[cfg(any(test, feature = "mocks"))]
pub use tenants::MockTenantRepository;
#[cfg(any(test, feature = "mocks"))]
pub use tokens::MockTokenRepository;
#[cfg(any(test, feature = "mocks"))]
pub use users::MockUserRepository;
