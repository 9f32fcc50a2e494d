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
//!
//! A metering batch of this process writes its users' budgets through instead of forgetting
//! them (see [`Metered`]): the gateway checks a user's entitlements between their reservations,
//! and each check would otherwise read the database again.

pub(crate) mod sync;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use roster_domain::budget::Budget;
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
    /// The budgets (and reservations) of the users of a metering batch, and what it left them.
    Metered(&'a Metered),
}

impl Changed<'_> {
    /// Whether it names nothing that a cache keeps: [`Nothing`](Self::Nothing), or no user.
    pub(crate) fn is_nothing(self) -> bool {
        match self {
            Self::Nothing => true,
            Self::Budgets(users) => users.is_empty(),
            Self::Metered(metered) => metered.users.is_empty(),
            Self::Anything => false,
        }
    }
}

/// What a metering batch changed: the budgets and reservations of `users`; for those among them
/// whose facts this process keeps, the budget it wrote and when their reservations made expire.
#[derive(Debug)]
pub(crate) struct Metered {
    pub users: Vec<UserId>,
    pub budgets: Vec<BudgetWritten>,
    /// When the batch was judged.
    pub at: Timestamp,
}

/// A user's budget as a metering batch left it (see [`AccessCache::write_budgets`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct BudgetWritten {
    pub user: UserId,
    /// Taken before the commit, with the user's budget row locked.
    pub ticket: Option<Ticket>,
    pub budget: Budget,
    /// The first expiry of the reservations the batch made for the user.
    pub expires: Option<Timestamp>,
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
    /// The instant of the read the ticket was taken for, when it reads a user's facts as of one.
    at: Option<Timestamp>,
}

#[derive(Debug)]
struct Kept<T> {
    value: T,
    tenant: TenantId,
    epoch: u64,
    generation: u64,
    until: Option<Timestamp>,
    read_at: Instant,
    /// The instant the value was read as of, if any.
    as_of: Option<Timestamp>,
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
        live.then(|| Ticket { epoch: self.shared.epoch.load(Ordering::Acquire), generation, at: None })
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
            _ => Lookup::Miss(self.ticket(generation).map(|ticket| Ticket { at: Some(now), ..ticket })),
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
            let (read_at, as_of) = (Instant::now(), ticket.at);
            slot.kept = Some(Kept { value: facts, tenant, epoch, generation, until, read_at, as_of });
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
            let read_at = Instant::now();
            let kept = Kept { value: credential, tenant, epoch, generation: 0, until: None, read_at, as_of: None };
            services.insert(kept.value.hash.0, kept);
        }
    }

    /// Forgets what `changed` may have made stale.
    pub(crate) fn invalidate(&self, changed: Changed<'_>) {
        match changed {
            Changed::Nothing => {}
            Changed::Budgets(users) => self.invalidate_users(users.iter().copied()),
            Changed::Metered(metered) => self.invalidate_users(metered.users.iter().copied()),
            Changed::Anything => self.invalidate_all(),
        }
    }

    /// After a write transaction that `changed` this, still during this process's write turn
    /// on SQLite: when it `committed`, what a metering batch wrote is kept (see
    /// [`write_budgets`](Self::write_budgets)); anything else it changed is forgotten, also when
    /// the commit failed (it may have committed all the same). `counter` is SQLite's change
    /// counter as the transaction left it: anything but one more than this process last saw means
    /// that another process wrote meanwhile, and everything is forgotten.
    pub(crate) fn after_commit(&self, committed: bool, counter: Option<i64>, changed: Changed<'_>) {
        if let Some(counter) = counter.filter(|_| committed) {
            let seen = self.shared.counter.swap(counter, Ordering::AcqRel);
            if seen.checked_add(1) != Some(counter) {
                self.invalidate_all();
            }
        }
        match changed {
            Changed::Metered(metered) if committed => self.write_budgets(metered),
            other => self.invalidate(other),
        }
    }

    /// The tickets of `users`: taken by a metering batch before it commits, with their budget
    /// rows locked (the budgets cannot change until the commit).
    pub(crate) fn tickets(&self, users: &[UserId]) -> Vec<Option<Ticket>> {
        let kept = lock(&self.shared.users);
        users.iter().map(|user| self.ticket(kept.get(user).map_or(0, |slot| slot.generation))).collect()
    }

    /// Forgets the users of a committed metering batch, then keeps again, with the budget it
    /// wrote, the facts of each whose kept facts were fresh and whose ticket is still current
    /// (nothing else was invalidated since the batch locked their budget: no other write of their
    /// facts came in between) and who were read as of no later than the batch was judged. Their
    /// reservations made lower how long the facts hold: the budget written counts no reservation
    /// expired by then, since the facts were fresh. The age of the facts stays that of their read
    /// (the [`MAX_AGE`] backstop).
    pub(crate) fn write_budgets(&self, metered: &Metered) {
        let mut users = lock(&self.shared.users);
        for written in &metered.budgets {
            let slot = users.entry(written.user).or_default();
            let current = written.ticket.is_some_and(|ticket| {
                ticket.generation == slot.generation && ticket.epoch == self.shared.epoch.load(Ordering::Acquire)
            });
            // Facts read as of a later instant than the batch's may leave out reservations that
            // expired in between, which the batch still counted as held.
            let kept = slot.kept.take().filter(|kept| {
                current
                    && kept.value.budget.is_some()
                    && kept.as_of.is_none_or(|read| read <= metered.at)
                    && self.fresh(kept, kept.tenant, slot.generation, Some(metered.at))
            });
            // Reads under way, begun before the commit, keep nothing.
            slot.generation += 1;
            slot.kept = kept.map(|mut kept| {
                kept.value.budget = Some(written.budget);
                kept.until = match (kept.until, written.expires) {
                    (Some(until), Some(expires)) => Some(until.min(expires)),
                    (until, expires) => until.or(expires),
                };
                kept.generation = slot.generation;
                kept
            });
        }
        drop(users);
        let written: std::collections::HashSet<UserId> = metered.budgets.iter().map(|w| w.user).collect();
        self.invalidate_users(metered.users.iter().copied().filter(|user| !written.contains(user)));
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
