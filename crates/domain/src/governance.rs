//! Governance: who may do what to whom. Pure functions over the actor, the target and the
//! tenant's head count of active administrators; the services call them for every entry point
//! (HTTP, CLI, and later SCIM and import), and storage re-checks their premises atomically
//! (see [`Premises`]).
//!
//! The rules:
//! - only an administrator grants or removes the administrator role, or acts on an administrator;
//! - nobody changes their own role, deactivates themselves or deletes themselves;
//! - the last active administrator of a tenant can never be demoted, deactivated or deleted;
//! - users without the `manage_users` capability act only on themselves.

use crate::service::Scope;
use crate::{Actor, ActorIdentity, Capability, Role, User, UserId, UserStatus};

/// Why an actor may not do something. Each has a stable code in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// The actor's role lacks a capability.
    #[error("your role lacks the {0} capability")]
    MissingCapability(Capability),
    /// Only administrators grant or remove the administrator role.
    #[error("only administrators grant or remove the administrator role")]
    AdministratorRoleReserved,
    /// Only administrators act on administrators.
    #[error("only administrators act on administrators")]
    AdministratorTarget,
    /// Nobody changes their own role.
    #[error("you cannot change your own role")]
    SelfRoleChange,
    /// Nobody deactivates themselves.
    #[error("you cannot deactivate yourself")]
    SelfDeactivation,
    /// Nobody deletes themselves.
    #[error("you cannot delete yourself")]
    SelfDeletion,
    /// Only a service credential with this scope may do this.
    #[error("this needs a service credential with the scope {0}")]
    MissingScope(Scope),
}

/// Why a change is refused: a rule of who may act, or the last-administrator rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The actor may not do this.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// The target is the tenant's last active administrator.
    #[error("this is the tenant's last active administrator")]
    LastAdministrator,
}

fn require(actor: &Actor, capability: Capability) -> Result<(), Violation> {
    if actor.can(capability) { Ok(()) } else { Err(Violation::MissingCapability(capability)) }
}

/// Only administrators act on administrators.
fn require_rights_over(actor: &Actor, target: &User) -> Result<(), Violation> {
    if target.role == Role::Administrator && !actor.can(Capability::ManageAdministrators) {
        return Err(Violation::AdministratorTarget);
    }
    Ok(())
}

/// The change removes `target` from the active administrators: one other must remain.
fn keep_an_administrator(target: &User, active_administrators: u64) -> Result<(), Refusal> {
    if target.is_active_administrator() && active_administrators <= 1 {
        return Err(Refusal::LastAdministrator);
    }
    Ok(())
}

/// May `actor` manage licenses (create kinds, assign and unassign seats)? Administrators only.
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_license_management(actor: &Actor) -> Result<(), Violation> {
    require(actor, Capability::ManageLicenses)
}

/// May `actor` invite a user with `role`, holding a seat when `with_license`? As for creating
/// a user, and giving a seat needs `manage_licenses`.
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_invite(actor: &Actor, role: Role, with_license: bool) -> Result<(), Violation> {
    check_create(actor, role)?;
    if with_license { check_license_management(actor) } else { Ok(()) }
}

/// May `actor` reinvite `target`, copy their link or revoke their invitation? As for
/// reactivating them: `manage_users`, and only administrators act on administrators.
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_invitation(actor: &Actor, target: &User) -> Result<(), Violation> {
    check_reactivation(actor, target)
}

/// May `actor` end every session of `target`? Everyone ends their own; others need
/// `manage_users`, and only administrators act on administrators.
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_session_revocation(actor: &Actor, target: &User) -> Result<(), Violation> {
    if actor.is(target.id) { Ok(()) } else { check_mfa_reset(actor, target) }
}

/// May `actor` reset the MFA of `target`? `manage_users`, and only administrators act on
/// administrators. Not one's own without it: a stolen session must not swap the authenticator.
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_mfa_reset(actor: &Actor, target: &User) -> Result<(), Violation> {
    require(actor, Capability::ManageUsers)?;
    require_rights_over(actor, target)
}

/// May `actor` change the tenant's settings? Administrators only.
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_settings(actor: &Actor) -> Result<(), Violation> {
    require(actor, Capability::ManageSettings)
}

/// May `actor` meter usage (reserve, commit, release, record events)? Services with
/// `usage:write` only: never a person's token.
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_usage_write(actor: &Actor) -> Result<(), Violation> {
    if actor.has_scope(Scope::UsageWrite) { Ok(()) } else { Err(Violation::MissingScope(Scope::UsageWrite)) }
}

/// May `actor` read the entitlements of `target`? Everyone reads their own; others need
/// `view_users`, or a service with `entitlements:read` (a service without it misses that scope).
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_entitlements(actor: &Actor, target: UserId) -> Result<(), Violation> {
    match &actor.identity {
        ActorIdentity::Service { .. } if actor.has_scope(Scope::EntitlementsRead) => Ok(()),
        ActorIdentity::Service { .. } => Err(Violation::MissingScope(Scope::EntitlementsRead)),
        ActorIdentity::User { .. } | ActorIdentity::System => check_view(actor, target),
    }
}

/// May `actor` read the budget and usage of `target`? Everyone reads their own; others need
/// `view_users`.
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_budget_view(actor: &Actor, target: UserId) -> Result<(), Violation> {
    check_view(actor, target)
}

/// May `actor` set budgets? Administrators only.
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_budget_management(actor: &Actor) -> Result<(), Violation> {
    require(actor, Capability::ManageBudgets)
}

/// May `actor` see `target`? Everyone sees themselves; seeing others needs `view_users`.
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_view(actor: &Actor, target: UserId) -> Result<(), Violation> {
    if actor.is(target) { Ok(()) } else { require(actor, Capability::ViewUsers) }
}

/// May `actor` list the tenant's users?
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_list(actor: &Actor) -> Result<(), Violation> {
    require(actor, Capability::ViewUsers)
}

/// May `actor` create a user with `role`?
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_create(actor: &Actor, role: Role) -> Result<(), Violation> {
    require(actor, Capability::ManageUsers)?;
    if role == Role::Administrator && !actor.can(Capability::ManageAdministrators) {
        return Err(Violation::AdministratorRoleReserved);
    }
    Ok(())
}

/// May `actor` edit `target`'s profile? Everyone edits their own.
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_profile_update(actor: &Actor, target: &User) -> Result<(), Violation> {
    if actor.is(target.id) {
        return Ok(());
    }
    require(actor, Capability::ManageUsers)?;
    require_rights_over(actor, target)
}

/// May `actor` give `target` the role `role`, with `active_administrators` in the tenant?
///
/// # Errors
/// The [`Refusal`] that forbids it, checked in this order: capability, administrator role,
/// last administrator, own role.
pub fn check_role_change(actor: &Actor, target: &User, role: Role, active_administrators: u64) -> Result<(), Refusal> {
    require(actor, Capability::ManageUsers)?;
    let touches_administrator = role == Role::Administrator || target.role == Role::Administrator;
    if touches_administrator && !actor.can(Capability::ManageAdministrators) {
        return Err(Violation::AdministratorRoleReserved.into());
    }
    if role != Role::Administrator {
        keep_an_administrator(target, active_administrators)?;
    }
    if actor.is(target.id) {
        return Err(Violation::SelfRoleChange.into());
    }
    Ok(())
}

/// May `actor` deactivate `target`, with `active_administrators` in the tenant?
///
/// # Errors
/// The [`Refusal`] that forbids it.
pub fn check_deactivation(actor: &Actor, target: &User, active_administrators: u64) -> Result<(), Refusal> {
    require(actor, Capability::ManageUsers)?;
    require_rights_over(actor, target)?;
    keep_an_administrator(target, active_administrators)?;
    if actor.is(target.id) {
        return Err(Violation::SelfDeactivation.into());
    }
    Ok(())
}

/// May `actor` reactivate `target`?
///
/// # Errors
/// The [`Violation`] that forbids it.
pub fn check_reactivation(actor: &Actor, target: &User) -> Result<(), Violation> {
    require(actor, Capability::ManageUsers)?;
    require_rights_over(actor, target)
}

/// May `actor` delete `target` for good, with `active_administrators` in the tenant?
/// Purging is irreversible, so it needs `purge_users` (administrators only).
///
/// # Errors
/// The [`Refusal`] that forbids it.
pub fn check_purge(actor: &Actor, target: &User, active_administrators: u64) -> Result<(), Refusal> {
    require(actor, Capability::PurgeUsers)?;
    require_rights_over(actor, target)?;
    keep_an_administrator(target, active_administrators)?;
    if actor.is(target.id) {
        return Err(Violation::SelfDeletion.into());
    }
    Ok(())
}

/// The acting user and the role they acted with, unless the system acts. Storage re-checks, in
/// the transaction of the change, that this user is still active with this role, so that a user
/// demoted or deactivated a moment ago cannot complete a request already under way.
pub type Acting = Option<(UserId, Role)>;

/// The acting user of `actor`, for storage to re-check.
#[must_use]
pub fn acting(actor: &Actor) -> Acting {
    actor.user_id().map(|id| (id, actor.role))
}

/// The premises of a governed decision, which the storage adapter MUST re-check in the same
/// transaction as the change, serialised with every other governed change of the tenant: the
/// target is still at the version the decision saw, the acting user is still active with the
/// role they acted with, and (when asked) another active administrator remains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Premises {
    /// The user changed.
    pub target: UserId,
    /// The target's version when the decision was taken.
    pub version: u64,
    /// Who acts.
    pub actor: Acting,
    /// The change removes the target from the active administrators, so another must remain.
    pub keep_an_administrator: bool,
}

impl Premises {
    /// The premises of `actor` changing `before` into a user whose role and status are
    /// `after` (`None` for a purge).
    #[must_use]
    pub fn of(actor: &Actor, before: &User, after: Option<(Role, UserStatus)>) -> Self {
        let stays_active_administrator = after == Some((Role::Administrator, UserStatus::Active));
        Self {
            target: before.id,
            version: before.version,
            actor: acting(actor),
            keep_an_administrator: before.is_active_administrator() && !stays_active_administrator,
        }
    }
}
