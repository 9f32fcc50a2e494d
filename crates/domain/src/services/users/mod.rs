//! The user use cases: create, get, list, update profile, change role, deactivate, reactivate,
//! purge.

mod errors;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use errors::{
    ChangeRoleError, CreateUserError, DeactivateUserError, GetUserError, ListUsersError, PurgeUserError,
    ReactivateUserError, UpdateProfileError,
};

use crate::governance::{self, Premises};
use crate::ports::{Clock, UserRepository};
use crate::user::{NewUser, ProfileChanges};
use crate::{
    Actor, AuditAction, AuditEvent, Email, Page, Role, StoreError, User, UserCursor, UserId, UserQuery, UserSource,
    UserStatus,
};

/// How many times a change is decided again when another change of the same user came first.
const ATTEMPTS: usize = 3;

/// How many users one page of an export holds.
pub const EXPORT_PAGE: u32 = 1000;

/// Manages the users of the actor's tenant.
#[derive(Clone)]
pub struct UserService {
    users: Arc<dyn UserRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for UserService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserService")
    }
}

impl UserService {
    /// A service over these ports.
    pub fn new(users: Arc<dyn UserRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { users, clock }
    }

    /// Creates an active user in the actor's tenant.
    ///
    /// # Errors
    /// See [`CreateUserError`].
    pub async fn create(&self, actor: &Actor, new: NewUser) -> Result<User, CreateUserError> {
        governance::check_create(actor, new.role)?;
        let now = self.clock.now();
        let user = User::create(actor.tenant, new, UserSource::Created, now);
        let audit = AuditEvent::user_created(actor, &user, now);
        match self.users.insert(&user, governance::acting(actor), &audit).await {
            Ok(()) => Ok(user),
            Err(StoreError::EmailTaken) => Err(CreateUserError::EmailTaken(user.email)),
            Err(StoreError::ActorChanged) => Err(CreateUserError::Conflict),
            Err(other) => Err(CreateUserError::Unexpected(other.into_unexpected())),
        }
    }

    /// The user `id`, if the actor may see them.
    ///
    /// # Errors
    /// See [`GetUserError`].
    pub async fn get(&self, actor: &Actor, id: UserId) -> Result<User, GetUserError> {
        governance::check_view(actor, id)?;
        self.users.get(actor.tenant, id).await?.ok_or(GetUserError::NotFound)
    }

    /// One page of the tenant's users.
    ///
    /// # Errors
    /// See [`ListUsersError`].
    pub async fn list(&self, actor: &Actor, query: &UserQuery) -> Result<Page<User, UserCursor>, ListUsersError> {
        governance::check_list(actor)?;
        Ok(self.users.list(actor.tenant, query).await?)
    }

    /// One page of the export of the tenant's users matching `filter`: up to [`EXPORT_PAGE`]
    /// users, oldest first, after `after`; and the position after them, `None` at the end.
    ///
    /// # Errors
    /// See [`ListUsersError`].
    pub async fn export_page(
        &self,
        actor: &Actor,
        filter: &crate::UserFilter,
        after: Option<UserCursor>,
    ) -> Result<(Vec<User>, Option<UserCursor>), ListUsersError> {
        governance::check_list(actor)?;
        let users = self.users.scan(actor.tenant, filter, after, EXPORT_PAGE).await?;
        let full = users.len() == EXPORT_PAGE as usize;
        let next = if full { users.last().map(|last| UserCursor::CreatedAt(last.created_at, last.id)) } else { None };
        Ok((users, next))
    }

    // The changes below are decided on the user as read, and stored only if the user is still at
    // that version. When another change came first, the use case reads the user again and decides
    // again (the rules may now answer differently), up to `ATTEMPTS` times.

    /// Edits the profile (name, phone, referral code) of the user `id`. The email never changes.
    ///
    /// # Errors
    /// See [`UpdateProfileError`].
    pub async fn update_profile(
        &self,
        actor: &Actor,
        id: UserId,
        changes: ProfileChanges,
    ) -> Result<User, UpdateProfileError> {
        for _ in 0..ATTEMPTS {
            let before = self.load(actor, id).await?.ok_or(UpdateProfileError::NotFound)?;
            governance::check_profile_update(actor, &before)?;
            let Some(after) = before.with_profile(changes.clone(), self.clock.now()) else {
                return Ok(before);
            };
            match self.apply(actor, AuditAction::UserUpdated, &before, &after).await {
                Err(StoreError::Stale) => continue,
                result => return result.map(|()| after).map_err(Into::into),
            }
        }
        Err(UpdateProfileError::Conflict)
    }

    /// Gives the user `id` the role `role`.
    ///
    /// # Errors
    /// See [`ChangeRoleError`].
    pub async fn change_role(&self, actor: &Actor, id: UserId, role: Role) -> Result<User, ChangeRoleError> {
        for _ in 0..ATTEMPTS {
            let before = self.load(actor, id).await?.ok_or(ChangeRoleError::NotFound)?;
            let administrators = self.active_administrators(&before).await?;
            governance::check_role_change(actor, &before, role, administrators)?;
            if before.role == role {
                return Ok(before);
            }
            let after = before.with_role(role, self.clock.now());
            match self.apply(actor, AuditAction::UserRoleChanged, &before, &after).await {
                Err(StoreError::Stale) => continue,
                result => return result.map(|()| after).map_err(Into::into),
            }
        }
        Err(ChangeRoleError::Conflict)
    }

    /// Deactivates (soft-deletes) the user `id`: they can no longer sign in and their tokens are
    /// revoked at once. Deactivating a deactivated user changes nothing.
    ///
    /// # Errors
    /// See [`DeactivateUserError`].
    pub async fn deactivate(&self, actor: &Actor, id: UserId) -> Result<User, DeactivateUserError> {
        for _ in 0..ATTEMPTS {
            let before = self.load(actor, id).await?.ok_or(DeactivateUserError::NotFound)?;
            let administrators = self.active_administrators(&before).await?;
            governance::check_deactivation(actor, &before, administrators)?;
            if before.status == UserStatus::Deactivated {
                return Ok(before);
            }
            let after = before.deactivated(self.clock.now());
            match self.apply(actor, AuditAction::UserDeactivated, &before, &after).await {
                Err(StoreError::Stale) => continue,
                result => return result.map(|()| after).map_err(Into::into),
            }
        }
        Err(DeactivateUserError::Conflict)
    }

    /// Reactivates the user `id`. Reactivating a user who is not deactivated changes nothing.
    ///
    /// # Errors
    /// See [`ReactivateUserError`].
    pub async fn reactivate(&self, actor: &Actor, id: UserId) -> Result<User, ReactivateUserError> {
        for _ in 0..ATTEMPTS {
            let before = self.load(actor, id).await?.ok_or(ReactivateUserError::NotFound)?;
            governance::check_reactivation(actor, &before)?;
            if before.status != UserStatus::Deactivated {
                return Ok(before);
            }
            let after = before.reactivated(self.clock.now());
            match self.apply(actor, AuditAction::UserReactivated, &before, &after).await {
                Err(StoreError::Stale) => continue,
                result => return result.map(|()| after).map_err(Into::into),
            }
        }
        Err(ReactivateUserError::Conflict)
    }

    /// Deletes the user `id` for good, if `confirmation` is their email (in any letter case).
    /// Audit events about or by the user lose their personal data.
    ///
    /// # Errors
    /// See [`PurgeUserError`].
    pub async fn purge(&self, actor: &Actor, id: UserId, confirmation: &str) -> Result<(), PurgeUserError> {
        for _ in 0..ATTEMPTS {
            let target = self.load(actor, id).await?.ok_or(PurgeUserError::NotFound)?;
            let administrators = self.active_administrators(&target).await?;
            governance::check_purge(actor, &target, administrators)?;
            if Email::parse(confirmation).ok().as_ref() != Some(&target.email) {
                return Err(PurgeUserError::ConfirmationMismatch);
            }
            let premises = Premises::of(actor, &target, None);
            let audit = AuditEvent::user_purged(actor, &target, self.clock.now());
            match self.users.purge(actor.tenant, &premises, &audit).await {
                Err(StoreError::Stale) => continue,
                result => return result.map_err(Into::into),
            }
        }
        Err(PurgeUserError::Conflict)
    }

    async fn load(&self, actor: &Actor, id: UserId) -> Result<Option<User>, StoreError> {
        self.users.get(actor.tenant, id).await
    }

    /// The tenant's active administrators, counted only when `target` is one: the
    /// last-administrator rule reads the count for no one else.
    async fn active_administrators(&self, target: &User) -> Result<u64, StoreError> {
        if target.is_active_administrator() {
            self.users.count_active_administrators(target.tenant).await
        } else {
            Ok(0)
        }
    }

    /// Stores `after` in place of `before`, with its audit event and governance premises.
    async fn apply(&self, actor: &Actor, action: AuditAction, before: &User, after: &User) -> Result<(), StoreError> {
        let premises = Premises::of(actor, before, Some((after.role, after.status)));
        let audit = AuditEvent::user_changed(actor, action, before, after, after.updated_at);
        self.users.update(after, &premises, &audit).await
    }
}
