//! Seeding helpers shared by the storage tests.

use chrono::{Duration, SubsecRound as _, Utc};
use roster_domain::ports::SystemClock;
use roster_domain::ports::{LicenseRepository, TenantRepository as _, UserRepository as _};
use roster_domain::services::{CreatedTenant, TenantService};
use roster_domain::user::NewUser;
use roster_domain::{
    Actor, AuditEvent, Email, LicenseKind, LicenseKindId, LicenseName, Role, Seats, TenantName, Timestamp, User,
    UserSource,
};
use roster_storage::Store;
use std::sync::Arc;

/// A tenant with its first administrator.
pub async fn tenant(store: &Store, name: &str) -> CreatedTenant {
    TenantService::new(Arc::new(store.clone()), Arc::new(SystemClock))
        .create(TenantName::parse(name).unwrap(), Email::parse(&format!("admin@{name}.test")).unwrap())
        .await
        .expect("tenant created")
}

/// A user of `tenant` built in memory (not stored).
pub fn user_of(created: &CreatedTenant, email: &str, role: Role, at: Timestamp) -> User {
    let new = NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role, referral_code: None };
    User::create(created.tenant.id, new, UserSource::Created, at)
}

/// Stores `user` as created by the system.
pub async fn insert(store: &Store, user: &User) {
    let audit = AuditEvent::user_created(&Actor::system(user.tenant), user, user.created_at);
    store.insert(user, None, &audit).await.expect("user inserted");
}

/// Stores a user of `tenant` with `email` and `role`, created now.
pub async fn add(store: &Store, created: &CreatedTenant, email: &str, role: Role) -> User {
    let user = user_of(created, email, role, now());
    insert(store, &user).await;
    user
}

/// A license kind of `tenant` named `name` with `seats` seats, built in memory (not stored).
pub fn license_of(created: &CreatedTenant, name: &str, seats: u64) -> LicenseKind {
    LicenseKind {
        id: LicenseKindId::new(),
        tenant: created.tenant.id,
        name: LicenseName::parse(name).unwrap(),
        seats: Seats::new(seats).unwrap(),
        assigned: 0,
        created_at: now(),
    }
}

/// Stores a license kind of `tenant` named `name` with `seats` seats, created by the system.
pub async fn add_license(store: &Store, created: &CreatedTenant, name: &str, seats: u64) -> LicenseKind {
    let kind = license_of(created, name, seats);
    let audit = AuditEvent::license_created(&Actor::system(created.tenant.id), &kind, kind.created_at);
    LicenseRepository::create(store, &kind, None, &audit).await.expect("license kind created");
    kind
}

/// Now, at the microsecond precision stored.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

/// `days` days ago.
pub fn days_ago(days: i64) -> Timestamp {
    now() - Duration::days(days)
}

/// Silences the "unused" lint for helpers only some test modules use.
#[allow(dead_code)]
pub async fn tenant_exists(store: &Store, name: &str) -> bool {
    store.find_by_name(&TenantName::parse(name).unwrap()).await.unwrap().is_some()
}
