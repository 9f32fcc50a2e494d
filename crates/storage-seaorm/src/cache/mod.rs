//! The AI gateway's hot reads kept in memory: each user's access facts (what
//! `GET /v1/users/{id}/entitlements` answers) and each service credential (how the gateway
//! authenticates). Nothing else is cached.
//!
//! A kept value is served only while nothing that could change it has been written since it was
//! read:
//! - a write transaction of this process tells the cache what it changed when it commits (see
//!   [`Changed`]): the budgets of the users a metering batch touched, or, for every other write,
//!   anything at all;
//! - writes of other instances and processes are learned from the database (see [`sync`]):
//!   PostgreSQL notifications sent by the writing transaction, SQLite's change counter polled
//!   every [`sync::POLL`]; while that channel is down, nothing is served from memory;
//! - facts also change with time alone: an entry lasts until the first of the user's live
//!   reservations expires, and never longer than [`MAX_AGE`] (a backstop).
//!
//! A read that raced a write is never kept: each read takes a [`Ticket`] (the epoch and the
//! user's generation) before it asks the database, and its answer is kept only if the ticket is
//! still current when the answer comes back.

pub(crate) mod sync;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use roster_domain::ports::AccessFacts;
use roster_domain::service::ServiceCredential;
use roster_domain::{TenantId, Timestamp, UserId};
use tokio::sync::oneshot;

/// The longest a value is kept, whatever else happens.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(60);

/// What a committed write transaction may have changed, for the caches of every instance.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Changed<'a> {
    /// Nothing any cache keeps (e.g. `last_active_at`).
    Nothing,
    /// The budgets (and reservations) of these users, nothing else.
    Budgets(&'a [UserId]),
    /// Possibly anything.
    Anything,
}

/// The result of a look-up.
#[derive(Debug)]
pub(crate) enum Lookup<T> {
    /// Served from memory.
    Hit(T),
    /// Read the database, then [`keep`](AccessCache::keep_facts) the answer with this ticket
    /// (`None`: do not keep it).
    Miss(Option<Ticket>),
}

/// What the cache looked like when a read began.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    epoch: u64,
    generation: u64,
}

#[derive(Debug)]
struct Kept<T> {
    value: T,
    tenant: TenantId,
    epoch: u64,
    generation: u64,
    until: Option<Timestamp>,
    read_at: Instant,
}

/// A user's place in the cache: how often their facts were invalidated, and what is kept.
#[derive(Debug, Default)]
struct Slot {
    generation: u64,
    kept: Option<Kept<AccessFacts>>,
}

#[derive(Debug)]
struct Shared {
    /// Most users (and, separately, credentials) kept; 0 keeps nothing.
    capacity: usize,
    /// Whether this store learns of other writers now (see [`sync`]).
    live: AtomicBool,
    /// Bumped by every invalidation of everything: values kept under an older epoch are stale.
    epoch: AtomicU64,
    users: Mutex<HashMap<UserId, Slot>>,
    services: Mutex<HashMap<[u8; 32], Kept<ServiceCredential>>>,
    /// This instance, in the notifications it sends (so that it ignores its own).
    instance: uuid::Uuid,
    /// SQLite: the change counter as this process's last write left it (see [`sync`]).
    counter: AtomicI64,
    /// Resolves for the sync task when the cache is dropped (with the sender below).
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
    _stop: oneshot::Sender<()>,
}

/// The in-memory cache of one store (shared by its clones).
#[derive(Debug, Clone)]
pub(crate) struct AccessCache {
    shared: Arc<Shared>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves a map that is still consistent.
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AccessCache {
    /// A cache of at most `capacity` users, serving nothing until its [`sync`] runs.
    pub(crate) fn new(capacity: usize) -> Self {
        let (stop, stopped) = oneshot::channel();
        Self {
            shared: Arc::new(Shared {
                capacity,
                live: AtomicBool::new(false),
                epoch: AtomicU64::new(0),
                users: Mutex::default(),
                services: Mutex::default(),
                instance: uuid::Uuid::now_v7(),
                counter: AtomicI64::new(0),
                stopped: Mutex::new(Some(stopped)),
                _stop: stop,
            }),
        }
    }

    fn ticket(&self, generation: u64) -> Option<Ticket> {
        let live = self.shared.capacity > 0 && self.shared.live.load(Ordering::Acquire);
        live.then(|| Ticket { epoch: self.shared.epoch.load(Ordering::Acquire), generation })
    }

    fn fresh<T>(&self, kept: &Kept<T>, tenant: TenantId, generation: u64, now: Option<Timestamp>) -> bool {
        kept.tenant == tenant
            && kept.epoch == self.shared.epoch.load(Ordering::Acquire)
            && kept.generation == generation
            && kept.until.is_none_or(|until| now.is_some_and(|now| now < until))
            && kept.read_at.elapsed() < MAX_AGE
            && self.shared.live.load(Ordering::Acquire)
    }

    /// The access facts of `user` of `tenant` at `now`, if kept and fresh.
    pub(crate) fn facts(&self, tenant: TenantId, user: UserId, now: Timestamp) -> Lookup<AccessFacts> {
        let users = lock(&self.shared.users);
        let slot = users.get(&user);
        let generation = slot.map_or(0, |slot| slot.generation);
        match slot.and_then(|slot| slot.kept.as_ref()) {
            Some(kept) if self.fresh(kept, tenant, generation, Some(now)) => Lookup::Hit(kept.value.clone()),
            _ => Lookup::Miss(self.ticket(generation)),
        }
    }

    /// Keeps `facts`, read from the database with `ticket`, until `until` (when the user's first
    /// live reservation expires), unless something was invalidated since the ticket was taken.
    pub(crate) fn keep_facts(
        &self,
        ticket: Ticket,
        tenant: TenantId,
        user: UserId,
        facts: AccessFacts,
        until: Option<Timestamp>,
    ) {
        let mut users = lock(&self.shared.users);
        if users.len() >= self.shared.capacity && !users.contains_key(&user) {
            // Full: start again. The epoch moves so that no read under way keeps a value whose
            // slot (with its generation) was just forgotten.
            users.clear();
            self.shared.epoch.fetch_add(1, Ordering::AcqRel);
            return;
        }
        if ticket.epoch != self.shared.epoch.load(Ordering::Acquire) {
            return;
        }
        let slot = users.entry(user).or_default();
        if slot.generation == ticket.generation {
            let (epoch, generation) = (ticket.epoch, ticket.generation);
            slot.kept = Some(Kept { value: facts, tenant, epoch, generation, until, read_at: Instant::now() });
        }
    }

    /// The service credential whose secret hashes to `hash`, if kept and fresh.
    pub(crate) fn service(&self, hash: &[u8; 32]) -> Lookup<ServiceCredential> {
        let services = lock(&self.shared.services);
        match services.get(hash) {
            Some(kept) if self.fresh(kept, kept.tenant, 0, None) => Lookup::Hit(kept.value.clone()),
            _ => Lookup::Miss(self.ticket(0)),
        }
    }

    /// Keeps `credential`, read from the database with `ticket`, unless something was
    /// invalidated since.
    pub(crate) fn keep_service(&self, ticket: Ticket, credential: ServiceCredential) {
        let mut services = lock(&self.shared.services);
        if services.len() >= self.shared.capacity && !services.contains_key(&credential.hash.0) {
            services.clear();
        }
        if ticket.epoch == self.shared.epoch.load(Ordering::Acquire) {
            let (tenant, epoch) = (credential.tenant, ticket.epoch);
            let kept = Kept { value: credential, tenant, epoch, generation: 0, until: None, read_at: Instant::now() };
            services.insert(kept.value.hash.0, kept);
        }
    }

    /// Forgets what `changed` may have made stale.
    pub(crate) fn invalidate(&self, changed: Changed<'_>) {
        match changed {
            Changed::Nothing => {}
            Changed::Budgets(users) => self.invalidate_users(users.iter().copied()),
            Changed::Anything => self.invalidate_all(),
        }
    }

    /// Forgets everything kept of `users` (their facts; credentials are not theirs).
    pub(crate) fn invalidate_users(&self, users: impl IntoIterator<Item = UserId>) {
        let mut kept = lock(&self.shared.users);
        for user in users {
            let slot = kept.entry(user).or_default();
            slot.generation += 1;
            slot.kept = None;
        }
    }

    /// Forgets everything.
    pub(crate) fn invalidate_all(&self) {
        // The epoch first: a read that began before it keeps nothing, even in a fresh map.
        self.shared.epoch.fetch_add(1, Ordering::AcqRel);
        lock(&self.shared.users).clear();
        lock(&self.shared.services).clear();
    }

    /// Whether this store learns of other writers; while it does not, nothing is served.
    pub(crate) fn set_live(&self, live: bool) {
        if live {
            // What was missed while down is forgotten before anything is served again.
            self.invalidate_all();
            self.shared.live.store(true, Ordering::Release);
        } else {
            self.shared.live.store(false, Ordering::Release);
            self.invalidate_all();
        }
    }

    /// Whether this store learns of other writers now.
    pub(crate) fn is_live(&self) -> bool {
        self.shared.live.load(Ordering::Acquire)
    }

    /// What resolves when the cache is dropped; `None` after the first call (one sync task).
    pub(crate) fn stopped(&self) -> Option<oneshot::Receiver<()>> {
        lock(&self.shared.stopped).take()
    }

    pub(crate) fn instance(&self) -> uuid::Uuid {
        self.shared.instance
    }

    pub(crate) fn counter(&self) -> &AtomicI64 {
        &self.shared.counter
    }

    /// A handle that does not keep the cache alive (for its sync task).
    pub(crate) fn downgrade(&self) -> WeakCache {
        WeakCache(Arc::downgrade(&self.shared))
    }
}

/// A cache that may have been dropped (see [`AccessCache::downgrade`]).
#[derive(Debug, Clone)]
pub(crate) struct WeakCache(std::sync::Weak<Shared>);

impl WeakCache {
    /// The cache, unless every store holding it was dropped.
    pub(crate) fn upgrade(&self) -> Option<AccessCache> {
        self.0.upgrade().map(|shared| AccessCache { shared })
    }
}

#[cfg(test)]
mod tests;
