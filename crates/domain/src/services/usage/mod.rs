//! The metering use cases of the AI gateway: reserve credits before AI work, commit the actual
//! use or release, and record use without a reservation. Services with `usage:write` only.
//! Every decision on a budget is taken under that budget's lock by the ledger (see
//! [`UsageLedger`]); this service checks who may ask and what is asked.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::budget::Credits;
use crate::governance;
use crate::ports::{Clock, UsageLedger};
use crate::usage::{
    CommitOutcome, EventOutcome, IdempotencyKey, MAX_EVENT_LEAD, Metrics, ReleaseOutcome, ReservationTtl,
    ReserveOutcome, ReserveRequest, UsageEvent,
};
use crate::{Actor, ReservationId, StoreError, UnexpectedError, UserId, Violation};

/// The most events one batch may hold.
pub const MAX_EVENTS: usize = 1000;

/// A metering use case failed before any business outcome.
#[derive(Debug, thiserror::Error)]
pub enum MeteringError {
    /// Only services with `usage:write` meter usage.
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// A batch holds more than [`MAX_EVENTS`] events, or the same key twice.
    #[error("a batch holds 1 to {MAX_EVENTS} events with distinct idempotency keys")]
    InvalidBatch,
    /// An event is dated more than [`MAX_EVENT_LEAD`] ahead of Roster's clock.
    #[error("the event `{}` is dated more than 5 minutes ahead of the server's clock", .0.as_str())]
    FutureEvent(IdempotencyKey),
    /// Anything else.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<StoreError> for MeteringError {
    fn from(error: StoreError) -> Self {
        Self::Unexpected(error.into_unexpected())
    }
}

/// Meters the AI gateway's usage against budgets.
#[derive(Clone)]
pub struct UsageService {
    ledger: Arc<dyn UsageLedger>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for UsageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageService")
    }
}

impl UsageService {
    /// A service over these ports.
    pub fn new(ledger: Arc<dyn UsageLedger>, clock: Arc<dyn Clock>) -> Self {
        Self { ledger, clock }
    }

    /// Holds `credits` of the budget of `user` for `ttl`, if the user is active, licensed, and
    /// their budget admits it; a retry with the same key gets the original answer.
    ///
    /// # Errors
    /// See [`MeteringError`]; refusals are [`ReserveOutcome`]s.
    pub async fn reserve(
        &self,
        actor: &Actor,
        user: UserId,
        credits: Credits,
        key: IdempotencyKey,
        ttl: ReservationTtl,
    ) -> Result<ReserveOutcome, MeteringError> {
        governance::check_usage_write(actor)?;
        let request = ReserveRequest { tenant: actor.tenant, user, credits, key, ttl };
        Ok(self.ledger.reserve(&request, self.clock.now()).await?)
    }

    /// Records the actual use of the reservation `id`.
    ///
    /// # Errors
    /// See [`MeteringError`].
    pub async fn commit(
        &self,
        actor: &Actor,
        id: ReservationId,
        credits: Credits,
        metrics: &Metrics,
    ) -> Result<CommitOutcome, MeteringError> {
        governance::check_usage_write(actor)?;
        Ok(self.ledger.commit(actor.tenant, id, credits, metrics, self.clock.now()).await?)
    }

    /// Gives the credits of the reservation `id` back.
    ///
    /// # Errors
    /// See [`MeteringError`].
    pub async fn release(&self, actor: &Actor, id: ReservationId) -> Result<ReleaseOutcome, MeteringError> {
        governance::check_usage_write(actor)?;
        Ok(self.ledger.release(actor.tenant, id, self.clock.now()).await?)
    }

    /// Records `events`, each at most once (by its key); one outcome per event, in order.
    ///
    /// # Errors
    /// See [`MeteringError`].
    pub async fn record(&self, actor: &Actor, events: &[UsageEvent]) -> Result<Vec<EventOutcome>, MeteringError> {
        governance::check_usage_write(actor)?;
        let mut keys: Vec<&IdempotencyKey> = events.iter().map(|event| &event.key).collect();
        keys.sort_unstable();
        keys.dedup();
        if events.is_empty() || events.len() > MAX_EVENTS || keys.len() != events.len() {
            return Err(MeteringError::InvalidBatch);
        }
        let now = self.clock.now();
        if let Some(event) = events.iter().find(|event| event.occurred_at.is_some_and(|at| at > now + MAX_EVENT_LEAD)) {
            return Err(MeteringError::FutureEvent(event.key.clone()));
        }
        Ok(self.ledger.record_events(actor.tenant, events, now).await?)
    }
}
