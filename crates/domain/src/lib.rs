//! Roster's domain: who may sign in to a multi-tenant AI platform, with which role.
//!
//! This crate holds entities and value objects ([`User`], [`Email`], [`Role`], ...), the governance
//! rules ([`governance`]), the use-case services ([`services`]) and the port traits ([`ports`]) that
//! storage, identity and email adapters implement. It performs no I/O of its own and depends on no
//! database, web or mail library: embed it and plug in your own adapters, or the ones of the
//! `roster-storage` crate.
//!
//! With the `mocks` feature every port has a mockall mock (`MockUserRepository`, ...) for tests.
//!
//! # Embedding
#![doc = include_str!("../README.md")]

pub mod actor;
pub mod audit;
pub mod budget;
pub mod error;
pub mod governance;
pub mod identity;
pub mod ids;
pub mod import;
pub mod invitation;
pub mod license;
pub mod mail;
pub mod paging;
pub mod ports;
pub mod role;
pub mod service;
pub mod services;
pub mod session;
pub mod tenant;
pub mod token;
pub mod usage;
pub mod user;

pub use actor::{Actor, ActorIdentity};
pub use audit::{AuditAction, AuditActor, AuditEvent, AuditQuery, AuditTarget, TargetKind};
pub use error::{StoreError, UnexpectedError};
pub use governance::{Premises, Violation};
pub use ids::{AuditEventId, LicenseKindId, ReservationId, ServiceCredentialId, SessionId, TenantId, TokenId, UserId};
pub use license::{HeldLicense, LicenseChanges, LicenseKind, LicenseName, MAX_SEATS, Seats};
pub use paging::{Page, PageLimit, Total};
pub use role::{Capability, Role};
pub use tenant::{Tenant, TenantName};
pub use token::{ApiToken, TokenHash, TokenLabel, TokenSecret};
pub use user::{
    Email, PersonName, Phone, ReferralCode, SearchText, User, UserCursor, UserFilter, UserQuery, UserSort,
    UserSortField, UserSource, UserStatus,
};

/// Every instant in Roster: UTC, truncated to microseconds (what PostgreSQL stores).
pub type Timestamp = chrono::DateTime<chrono::Utc>;
