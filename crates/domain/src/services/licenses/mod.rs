//! The license use cases: manage kinds (pools of seats) and assign, change or unassign a user's
//! seat. Administrators only. Storage keeps every kind's `assigned <= seats` atomically.

mod errors;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use errors::{
    AssignLicenseError, CreateLicenseError, DeleteLicenseError, GetLicenseError, ListLicensesError,
    UnassignLicenseError, UpdateLicenseError,
};

use crate::governance::{self, Premises};
use crate::ports::{Clock, LicenseRepository, UserRepository};
use crate::{
    Actor, AuditAction, AuditEvent, LicenseChanges, LicenseKind, LicenseKindId, LicenseName, Seats, StoreError, User,
    UserId, UserStatus,
};

/// How many times an assignment is decided again when another change of the user came first.
const ATTEMPTS: usize = 3;

/// Manages the license kinds and seats of the actor's tenant.
#[derive(Clone)]
pub struct LicenseService {
    licenses: Arc<dyn LicenseRepository>,
    users: Arc<dyn UserRepository>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LicenseService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LicenseService")
    }
}

impl LicenseService {
    /// A service over these ports.
    pub fn new(licenses: Arc<dyn LicenseRepository>, users: Arc<dyn UserRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { licenses, users, clock }
    }

    /// Every kind of the tenant, with seats, assigned and available.
    ///
    /// # Errors
    /// See [`ListLicensesError`].
    pub async fn list(&self, actor: &Actor) -> Result<Vec<LicenseKind>, ListLicensesError> {
        governance::check_license_management(actor)?;
        Ok(self.licenses.list(actor.tenant).await?)
    }

    /// The kind `id` of the tenant, with seats, assigned and available.
    ///
    /// # Errors
    /// See [`GetLicenseError`].
    pub async fn get(&self, actor: &Actor, id: LicenseKindId) -> Result<LicenseKind, GetLicenseError> {
        governance::check_license_management(actor)?;
        self.licenses.get(actor.tenant, id).await?.ok_or(GetLicenseError::NotFound)
    }

    /// The names of the tenant's kinds, to show which license a user holds. Names are no secret:
    /// anyone who may see users may see them.
    ///
    /// # Errors
    /// Unexpected storage failures only.
    pub async fn names(&self, actor: &Actor) -> Result<Vec<(LicenseKindId, LicenseName)>, crate::UnexpectedError> {
        let kinds = self.licenses.list(actor.tenant).await.map_err(StoreError::into_unexpected)?;
        Ok(kinds.into_iter().map(|kind| (kind.id, kind.name)).collect())
    }

    /// Creates a kind with `seats` seats.
    ///
    /// # Errors
    /// See [`CreateLicenseError`].
    pub async fn create(
        &self,
        actor: &Actor,
        name: LicenseName,
        seats: Seats,
    ) -> Result<LicenseKind, CreateLicenseError> {
        governance::check_license_management(actor)?;
        let now = self.clock.now();
        let kind =
            LicenseKind { id: LicenseKindId::new(), tenant: actor.tenant, name, seats, assigned: 0, created_at: now };
        let audit = AuditEvent::license_created(actor, &kind, now);
        self.licenses.create(&kind, governance::acting(actor), &audit).await?;
        Ok(kind)
    }

    /// Renames a kind or sets its seats (never below the seats assigned).
    ///
    /// # Errors
    /// See [`UpdateLicenseError`].
    pub async fn update(
        &self,
        actor: &Actor,
        id: LicenseKindId,
        changes: LicenseChanges,
    ) -> Result<LicenseKind, UpdateLicenseError> {
        governance::check_license_management(actor)?;
        let before = self.licenses.get(actor.tenant, id).await?.ok_or(UpdateLicenseError::NotFound)?;
        let planned = LicenseKind {
            name: changes.name.clone().unwrap_or_else(|| before.name.clone()),
            seats: changes.seats.unwrap_or(before.seats),
            ..before.clone()
        };
        if planned == before {
            return Ok(before);
        }
        let audit = AuditEvent::license_updated(actor, &before, &planned, self.clock.now());
        Ok(self.licenses.update(actor.tenant, id, &changes, governance::acting(actor), &audit).await?)
    }

    /// Deletes a kind none of whose seats is assigned.
    ///
    /// # Errors
    /// See [`DeleteLicenseError`].
    pub async fn delete(&self, actor: &Actor, id: LicenseKindId) -> Result<(), DeleteLicenseError> {
        governance::check_license_management(actor)?;
        let kind = self.licenses.get(actor.tenant, id).await?.ok_or(DeleteLicenseError::NotFound)?;
        if kind.assigned > 0 {
            return Err(DeleteLicenseError::InUse { assigned: kind.assigned });
        }
        let audit = AuditEvent::license_deleted(actor, &kind, self.clock.now());
        Ok(self.licenses.delete(actor.tenant, id, governance::acting(actor), &audit).await?)
    }

    /// Gives the user `id` a seat of `kind`: takes one seat, or moves the user's seat from
    /// another kind in one step (never holding two, never losing one). The user must be invited
    /// or active.
    ///
    /// # Errors
    /// See [`AssignLicenseError`].
    pub async fn assign(&self, actor: &Actor, id: UserId, kind: LicenseKindId) -> Result<User, AssignLicenseError> {
        governance::check_license_management(actor)?;
        for _ in 0..ATTEMPTS {
            let before = self.users.get(actor.tenant, id).await?.ok_or(AssignLicenseError::UserNotFound)?;
            if before.status == UserStatus::Deactivated {
                return Err(AssignLicenseError::UserDeactivated);
            }
            if before.license == Some(kind) {
                return Ok(before);
            }
            let after = before.with_license(Some(kind), self.clock.now());
            match self.apply(actor, &before, &after).await {
                Err(StoreError::Stale) => continue,
                result => return result.map(|()| after).map_err(Into::into),
            }
        }
        Err(AssignLicenseError::Conflict)
    }

    /// Returns the seat of the user `id` to its pool. A user without a seat is left as is.
    ///
    /// # Errors
    /// See [`UnassignLicenseError`].
    pub async fn unassign(&self, actor: &Actor, id: UserId) -> Result<User, UnassignLicenseError> {
        governance::check_license_management(actor)?;
        for _ in 0..ATTEMPTS {
            let before = self.users.get(actor.tenant, id).await?.ok_or(UnassignLicenseError::UserNotFound)?;
            if before.license.is_none() {
                return Ok(before);
            }
            let after = before.with_license(None, self.clock.now());
            match self.apply(actor, &before, &after).await {
                Err(StoreError::Stale) => continue,
                result => return result.map(|()| after).map_err(Into::into),
            }
        }
        Err(UnassignLicenseError::Conflict)
    }

    async fn apply(&self, actor: &Actor, before: &User, after: &User) -> Result<(), StoreError> {
        let premises = Premises::of(actor, before, Some((after.role, after.status)));
        let audit = AuditEvent::user_changed(actor, AuditAction::UserLicenseChanged, before, after, after.updated_at);
        self.users.update(after, &premises, &audit).await
    }
}
