//! One transaction for a batch of reservations, commits and releases: everything the batch
//! touches is read and locked with a handful of statements (budgets first, in user order, then
//! reservations), each operation is judged in turn in memory with the domain's rules (as if
//! they had come one after the other), and the outcome is written back with one statement per
//! table. A batch of one is the same code. On SQLite, where the transaction holds the write lock
//! from its start, the reads go to the driver in one call and the writes with the commit in
//! another.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use roster_domain::budget::{Budget, Credits, MAX_CREDITS};
use roster_domain::usage::{
    CommitOutcome, IdempotencyKey, Metrics, ReleaseOutcome, Reservation, ReservationStatus, ReserveOutcome,
    ReserveRequest,
};
use roster_domain::{ReservationId, StoreError, TenantId, Timestamp, UserId, UserStatus};
use sea_orm::{ConnectionTrait as _, DatabaseTransaction, DbBackend};

use super::rows::{self, Holder};
use crate::Store;
use crate::budgets::counters::Usage;
use crate::budgets::locked::write_budgets;
use crate::cache::{BudgetWritten, Changed, Metered};
use crate::transaction::unexpected;
use crate::writes::Writes;

/// An operation on the ledger.
#[derive(Debug)]
pub(super) enum Op {
    Reserve(ReserveRequest),
    Commit { tenant: TenantId, id: ReservationId, credits: Credits, metrics: Metrics },
    Release { tenant: TenantId, id: ReservationId },
}

/// The outcome of an [`Op`] of the same kind.
#[derive(Debug)]
pub(super) enum Outcome {
    Reserve(ReserveOutcome),
    Commit(CommitOutcome),
    Release(ReleaseOutcome),
}

/// Why a batch wrote nothing.
#[derive(Debug)]
pub(super) enum Failure {
    /// A concurrent transaction took the idempotency key of a reservation of the batch: run
    /// again, to answer with that reservation.
    KeyTaken,
    /// A budget was given to a user of the batch while it waited for their row (PostgreSQL):
    /// run again, to lock that budget in user order with the others.
    BudgetGiven,
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// Runs `ops` in one transaction at `now`; one outcome per op, in order, all committed.
pub(super) async fn run(store: &Store, ops: &[&Op], now: Timestamp) -> Result<Vec<Outcome>, Failure> {
    let wanted = Wanted::of(ops);
    if store.backend() == DbBackend::Sqlite {
        return run_on_sqlite(store, ops, &wanted, now).await;
    }
    let txn = store.begin_write().await.map_err(unexpected)?;
    // The batch's statements are written to be planned as index lookups whatever their lists
    // hold (see `rows`): the plan made once per connection serves every batch. Left to choose,
    // PostgreSQL plans the two locking reads again on every call (a fifth of a millisecond
    // each under load, more than this statement's round trip: 1,589 and 1,503 against 1,452
    // and 1,276 pairs/s in alternating runs of the gateway benchmark).
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan").await.map_err(unexpected)?;
    let loaded = load_locked(&txn, &wanted, now).await?;
    let Judged { outcomes, writes, metered, created } = Judged::of(store, loaded, ops, now);
    let changed = Changed::Metered(&metered);
    let written = txn.write(writes, changed).await.map_err(unexpected)?;
    if written.counted < created as u64 {
        // Dropped without commit: nothing of the batch is written.
        return Err(Failure::KeyTaken);
    }
    txn.commit_written(written, changed).await.map_err(unexpected)?;
    Ok(outcomes)
}

/// [`run`] on SQLite, in two calls to its driver (see [`SqliteWrite`](crate::transaction::SqliteWrite)):
/// the reads, all of them, since nothing else writes until commit; then the writes. A taken
/// idempotency key cannot be: the keys are read under the write lock.
async fn run_on_sqlite(
    store: &Store,
    ops: &[&Op],
    wanted: &Wanted<'_>,
    now: Timestamp,
) -> Result<Vec<Outcome>, Failure> {
    let backend = DbBackend::Sqlite;
    let reads = [
        rows::expire_statement(backend, &wanted.reserving, &wanted.ids, now, rows::Expiring::Holders),
        rows::budgets_statement(backend, &wanted.reserving, &wanted.ids),
        rows::holders_statement(backend, &wanted.reserving),
        rows::reservations_statement(backend, &wanted.ids, &wanted.keys),
    ];
    let present = reads.iter().flatten().cloned().collect();
    let (txn, results) = store.begin_sqlite_write(present).await.map_err(unexpected)?;
    let mut results = results.into_iter();
    let [expired, budgets, holders, reservations] =
        reads.map(|read| if read.is_some() { results.next().unwrap_or_default() } else { Vec::new() });
    let (budgets, mut budget_holders) = rows::budgets_from_rows(&budgets)?;
    budget_holders.extend(rows::holders_from_rows(&holders)?);
    let loaded = Loaded {
        budgets,
        holders: budget_holders,
        expired: rows::expired_from_rows(&expired)?,
        reservations: rows::reservations_from_rows(&reservations)?,
    };
    let Judged { outcomes, writes, metered, .. } = Judged::of(store, loaded, ops, now);
    txn.commit(writes, Changed::Metered(&metered)).await.map_err(unexpected)?;
    Ok(outcomes)
}

/// A batch judged: the outcome of each operation, and what stores them.
#[derive(Debug)]
struct Judged {
    outcomes: Vec<Outcome>,
    writes: Writes,
    /// What changed, for the access caches.
    metered: Metered,
    /// Reservations made.
    created: usize,
}

impl Judged {
    /// Judges `ops` in turn at `now`, from `loaded` (read with the budgets locked), for the
    /// transaction of `store`.
    fn of(store: &Store, loaded: Loaded, ops: &[&Op], now: Timestamp) -> Self {
        let mut ledger = Ledger::new(loaded, now);
        let outcomes = ops.iter().map(|op| ledger.apply(op)).collect();
        let mut writes = Writes::new(store.backend());
        let users = ledger.write(&mut writes);
        // The first expiry of the reservations made, by user.
        let mut expires: HashMap<UserId, Timestamp> = HashMap::new();
        for reservation in ledger.created.iter().map(|id| &ledger.reservations[id]) {
            let first = expires.entry(reservation.user).or_insert(reservation.expires_at);
            *first = (*first).min(reservation.expires_at);
        }
        let written: Vec<UserId> = ledger.judged.iter().copied().collect();
        let tickets = store.cache.tickets(&written);
        let budgets = written
            .into_iter()
            .zip(tickets)
            .map(|(user, ticket)| BudgetWritten {
                user,
                ticket,
                budget: ledger.budgets[&user],
                expires: expires.get(&user).copied(),
            })
            .collect();
        Self { outcomes, writes, metered: Metered { users, budgets, at: now }, created: ledger.created.len() }
    }
}

/// What a batch reads: the users who reserve, the reservations it commits or releases, and
/// the idempotency keys of its reservations.
#[derive(Debug, Default)]
struct Wanted<'a> {
    reserving: BTreeSet<UserId>,
    ids: BTreeSet<ReservationId>,
    keys: BTreeSet<(TenantId, &'a IdempotencyKey)>,
}

impl<'a> Wanted<'a> {
    fn of(ops: &[&'a Op]) -> Self {
        let mut wanted = Self::default();
        for op in ops {
            match op {
                Op::Reserve(request) => {
                    wanted.reserving.insert(request.user);
                    wanted.keys.insert((request.tenant, &request.key));
                }
                Op::Commit { id, .. } | Op::Release { id, .. } => {
                    wanted.ids.insert(*id);
                }
            }
        }
        wanted
    }
}

/// The rows a batch starts from.
#[derive(Debug)]
struct Loaded {
    /// The budgets of the batch's users, as stored.
    budgets: HashMap<UserId, Budget>,
    holders: HashMap<UserId, Holder>,
    /// Credits held by reservations found expired (and marked so), by user.
    expired: HashMap<UserId, i64>,
    reservations: Vec<Reservation>,
}

/// Reads and locks what the batch `wanted` touches on PostgreSQL, in the order every
/// transaction locks them: budgets (in user order), users without a budget, reservations.
async fn load_locked(txn: &DatabaseTransaction, wanted: &Wanted<'_>, now: Timestamp) -> Result<Loaded, Failure> {
    let (budgets, mut holders) = rows::lock_budgets(txn, &wanted.reserving, &wanted.ids).await?;
    let unbudgeted: BTreeSet<UserId> = wanted.reserving.iter().filter(|u| !holders.contains_key(u)).copied().collect();
    holders.extend(rows::holders(txn, &unbudgeted).await?);
    // A budget given to one of them while this transaction waited for their rows (see
    // `rows::holders`) must judge their reservations like any other; locked now, it would be
    // locked out of user order (two batches could wait for each other), so the batch runs again.
    if rows::any_budget(txn, &unbudgeted).await? {
        return Err(Failure::BudgetGiven);
    }
    // Only held credits can have expired: users holding none have nothing to release.
    let holding: BTreeSet<UserId> =
        budgets.iter().filter(|(_, budget)| budget.reserved > Credits::ZERO).map(|(user, _)| *user).collect();
    let expired = rows::expire_reservations(txn, &holding, now).await?;
    let reservations = rows::lock_reservations(txn, &wanted.ids, &wanted.keys).await?;
    Ok(Loaded { budgets, holders, expired, reservations })
}

/// Credits, never beyond the most an amount may hold.
fn clamp(value: i64) -> Credits {
    Credits::new(value.clamp(0, MAX_CREDITS)).expect("clamped")
}

/// What a batch reads, changes in memory, and writes back.
#[derive(Debug)]
struct Ledger {
    now: Timestamp,
    /// The budgets of the batch's users (locked), judged at `now`.
    budgets: HashMap<UserId, Budget>,
    /// Those whose budget is written back.
    judged: BTreeSet<UserId>,
    /// The users who reserve.
    holders: HashMap<UserId, Holder>,
    reservations: HashMap<ReservationId, Reservation>,
    by_key: HashMap<(TenantId, IdempotencyKey), ReservationId>,
    created: Vec<ReservationId>,
    closed: BTreeSet<ReservationId>,
    usage: Usage,
    /// For users without a budget: credits given back (reserved, negative) and committed
    /// (consumed), for a budget created meanwhile (see [`rows::adjust_late_budgets`]).
    late: BTreeMap<UserId, (i64, i64)>,
}

impl Ledger {
    /// The ledger of `loaded`, judged at `now`.
    fn new(loaded: Loaded, now: Timestamp) -> Self {
        let Loaded { mut budgets, holders, expired, reservations } = loaded;
        for budget in budgets.values_mut() {
            *budget = budget.at(now);
        }
        let mut judged = BTreeSet::new();
        for (user, credits) in expired {
            if let Some(budget) = budgets.get_mut(&user) {
                budget.reserved = clamp(budget.reserved.get() - credits);
                judged.insert(user);
            }
        }
        let by_key = reservations.iter().map(|r| ((r.tenant, r.key.clone()), r.id)).collect();
        let reservations = reservations.into_iter().map(|r| (r.id, r)).collect();
        Self {
            now,
            budgets,
            judged,
            holders,
            reservations,
            by_key,
            created: Vec::new(),
            closed: BTreeSet::new(),
            usage: Usage::default(),
            late: BTreeMap::new(),
        }
    }

    fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Reserve(request) => Outcome::Reserve(self.reserve(request)),
            Op::Commit { tenant, id, credits, metrics } => {
                Outcome::Commit(self.commit(*tenant, *id, *credits, metrics))
            }
            Op::Release { tenant, id } => Outcome::Release(self.release(*tenant, *id)),
        }
    }

    fn reserve(&mut self, request: &ReserveRequest) -> ReserveOutcome {
        if let Some(id) = self.by_key.get(&(request.tenant, request.key.clone())) {
            let existing = &self.reservations[id];
            if existing.user != request.user || existing.credits != request.credits {
                return ReserveOutcome::KeyReused;
            }
            let budget = self.budgets.get(&request.user).copied();
            return ReserveOutcome::Reserved { reservation: existing.clone().at(self.now), budget };
        }
        let Some(holder) = self.holders.get(&request.user).filter(|h| h.tenant == request.tenant) else {
            return ReserveOutcome::UserNotFound;
        };
        if holder.status != UserStatus::Active {
            return ReserveOutcome::UserInactive;
        }
        if !holder.licensed {
            return ReserveOutcome::NoLicense;
        }
        let budget = match self.budgets.get_mut(&request.user) {
            None => None,
            Some(budget) => {
                self.judged.insert(request.user);
                if !budget.admits(request.credits) {
                    return ReserveOutcome::Exceeded { budget: *budget };
                }
                budget.reserved = clamp(budget.reserved.get() + request.credits.get());
                Some(*budget)
            }
        };
        let reservation = Reservation {
            id: ReservationId::new(),
            tenant: request.tenant,
            user: request.user,
            key: request.key.clone(),
            credits: request.credits,
            status: ReservationStatus::Active,
            committed: None,
            created_at: self.now,
            expires_at: self.now + request.ttl.as_delta(),
        };
        self.by_key.insert((reservation.tenant, reservation.key.clone()), reservation.id);
        self.created.push(reservation.id);
        self.reservations.insert(reservation.id, reservation.clone());
        ReserveOutcome::Reserved { reservation, budget }
    }

    fn commit(&mut self, tenant: TenantId, id: ReservationId, credits: Credits, metrics: &Metrics) -> CommitOutcome {
        let Some(reservation) = self.reservations.get_mut(&id).filter(|r| r.tenant == tenant) else {
            return CommitOutcome::NotFound;
        };
        match reservation.status {
            ReservationStatus::Committed if reservation.committed == Some(credits) => {
                let budget = self.budgets.get(&reservation.user).copied();
                return CommitOutcome::Committed { reservation: reservation.clone(), budget };
            }
            ReservationStatus::Committed | ReservationStatus::Released => {
                return CommitOutcome::Closed(reservation.clone());
            }
            // An expired reservation's work was done all the same: its use is recorded.
            ReservationStatus::Active | ReservationStatus::Expired => {}
        }
        let held = if reservation.status == ReservationStatus::Active { reservation.credits } else { Credits::ZERO };
        let budget = self.budgets.get_mut(&reservation.user).map(|budget| {
            budget.reserved = clamp(budget.reserved.get() - held.get());
            budget.consumed = clamp(budget.consumed.get().saturating_add(credits.get()));
            *budget
        });
        let user = reservation.user;
        if budget.is_some() {
            self.judged.insert(user);
        }
        reservation.status = ReservationStatus::Committed;
        reservation.committed = Some(credits);
        let outcome = CommitOutcome::Committed { reservation: reservation.clone(), budget };
        self.closed.insert(id);
        if budget.is_none() {
            self.late_change(user, -held.get(), credits.get());
        }
        // The committed reservation is the ledger's record of this use; the counters add it up.
        self.usage.add(tenant, user, self.now.date_naive(), credits.get(), metrics);
        outcome
    }

    fn release(&mut self, tenant: TenantId, id: ReservationId) -> ReleaseOutcome {
        let Some(reservation) = self.reservations.get_mut(&id).filter(|r| r.tenant == tenant) else {
            return ReleaseOutcome::NotFound;
        };
        match reservation.status {
            ReservationStatus::Committed => return ReleaseOutcome::Committed(reservation.clone()),
            ReservationStatus::Released | ReservationStatus::Expired => {
                let budget = self.budgets.get(&reservation.user).copied();
                return ReleaseOutcome::Released { reservation: reservation.clone(), budget };
            }
            ReservationStatus::Active => {}
        }
        // Past its time (not yet marked so: its user holds no credits under a budget), it had
        // expired: its credits go back all the same, and the answer says so.
        reservation.status =
            if reservation.expired_by(self.now) { ReservationStatus::Expired } else { ReservationStatus::Released };
        let (user, held, reservation) = (reservation.user, reservation.credits, reservation.clone());
        self.closed.insert(id);
        let budget = self.budgets.get_mut(&user).map(|budget| {
            budget.reserved = clamp(budget.reserved.get() - held.get());
            *budget
        });
        if budget.is_some() {
            self.judged.insert(user);
        } else {
            self.late_change(user, -held.get(), 0);
        }
        ReleaseOutcome::Released { reservation, budget }
    }

    /// Notes what a budget created meanwhile gives back (`reserved`) and adds to its consumption.
    fn late_change(&mut self, user: UserId, reserved: i64, consumed: i64) {
        let late = self.late.entry(user).or_default();
        *late = (late.0.saturating_add(reserved), late.1.saturating_add(consumed));
    }

    /// Adds what changed to `writes`; returns the users whose budget or reservations changed.
    fn write(&self, writes: &mut Writes) -> Vec<UserId> {
        let created: Vec<&Reservation> = self.created.iter().map(|id| &self.reservations[id]).collect();
        rows::insert_reservations(writes, &created);
        let closed: Vec<&Reservation> =
            self.closed.iter().filter(|id| !self.created.contains(id)).map(|id| &self.reservations[id]).collect();
        rows::close_reservations(writes, &closed, self.now);
        let budgets: Vec<(UserId, Budget)> = self.judged.iter().map(|user| (*user, self.budgets[user])).collect();
        write_budgets(writes, &budgets, self.now);
        rows::adjust_late_budgets(writes, &self.late, self.now);
        self.usage.write(writes);
        let mut changed: BTreeSet<UserId> = self.judged.clone();
        changed.extend(created.iter().chain(&closed).map(|r| r.user));
        changed.into_iter().collect()
    }
}
