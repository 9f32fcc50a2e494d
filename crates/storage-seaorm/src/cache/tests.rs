//! The cache's rules, without a database: what is served, and what a race leaves out.

use chrono::TimeDelta;
use roster_domain::budget::{Budget, BudgetPeriod, BudgetPolicy, Credits};
use roster_domain::ports::AccessFacts;
use roster_domain::{Role, TenantId, Timestamp, UserId, UserStatus};

use super::{AccessCache, BudgetWritten, Changed, Lookup, Metered, Ticket};

fn facts(role: Role) -> AccessFacts {
    AccessFacts { role, status: UserStatus::Active, license: None, budget: None }
}

fn now() -> Timestamp {
    chrono::Utc::now()
}

fn live(capacity: usize) -> AccessCache {
    let cache = AccessCache::new(capacity);
    cache.set_live(true);
    cache
}

fn miss(cache: &AccessCache, tenant: TenantId, user: UserId) -> Ticket {
    match cache.facts(tenant, user, now()) {
        Lookup::Miss(Some(ticket)) => ticket,
        other => panic!("expected a miss with a ticket, got {other:?}"),
    }
}

fn hit(cache: &AccessCache, tenant: TenantId, user: UserId, at: Timestamp) -> Option<AccessFacts> {
    match cache.facts(tenant, user, at) {
        Lookup::Hit(facts) => Some(facts),
        Lookup::Miss(_) => None,
    }
}

#[test]
fn a_kept_value_is_served_to_its_tenant_only() {
    let (cache, tenant, user) = (live(10), TenantId::new(), UserId::new());
    let ticket = miss(&cache, tenant, user);
    cache.keep_facts(ticket, tenant, user, facts(Role::User), None);
    assert_eq!(hit(&cache, tenant, user, now()), Some(facts(Role::User)));
    assert_eq!(hit(&cache, TenantId::new(), user, now()), None, "another tenant reads the database");
}

#[test]
fn nothing_is_served_or_kept_while_the_cache_does_not_learn_of_other_writers() {
    let (cache, tenant, user) = (AccessCache::new(10), TenantId::new(), UserId::new());
    assert!(matches!(cache.facts(tenant, user, now()), Lookup::Miss(None)), "not live yet: no ticket");
    let cache = live(10);
    let ticket = miss(&cache, tenant, user);
    cache.keep_facts(ticket, tenant, user, facts(Role::User), None);
    cache.set_live(false);
    assert_eq!(hit(&cache, tenant, user, now()), None, "down: nothing served");
    cache.set_live(true);
    assert_eq!(hit(&cache, tenant, user, now()), None, "up again: what was kept before is forgotten");
    let disabled = AccessCache::new(0);
    disabled.set_live(true);
    assert!(matches!(disabled.facts(tenant, user, now()), Lookup::Miss(None)), "capacity 0 keeps nothing");
}

#[test]
fn a_read_that_raced_an_invalidation_is_not_kept() {
    let (cache, tenant, user) = (live(10), TenantId::new(), UserId::new());
    let before = miss(&cache, tenant, user);
    cache.invalidate(Changed::Budgets(&[user]));
    cache.keep_facts(before, tenant, user, facts(Role::User), None);
    assert_eq!(hit(&cache, tenant, user, now()), None, "the user's own invalidation");

    let before = miss(&cache, tenant, user);
    cache.invalidate(Changed::Anything);
    cache.keep_facts(before, tenant, user, facts(Role::User), None);
    assert_eq!(hit(&cache, tenant, user, now()), None, "an invalidation of everything");

    let other = UserId::new();
    let before = miss(&cache, tenant, user);
    cache.invalidate(Changed::Budgets(&[other]));
    cache.invalidate(Changed::Nothing);
    cache.keep_facts(before, tenant, user, facts(Role::User), None);
    assert_eq!(hit(&cache, tenant, user, now()), Some(facts(Role::User)), "another user's does not matter");
}

#[test]
fn an_invalidation_forgets_what_was_kept() {
    let (cache, tenant) = (live(10), TenantId::new());
    let (ada, bob) = (UserId::new(), UserId::new());
    for user in [ada, bob] {
        let ticket = miss(&cache, tenant, user);
        cache.keep_facts(ticket, tenant, user, facts(Role::User), None);
    }
    cache.invalidate(Changed::Budgets(&[ada]));
    assert_eq!(hit(&cache, tenant, ada, now()), None);
    assert!(hit(&cache, tenant, bob, now()).is_some());
    cache.invalidate(Changed::Anything);
    assert_eq!(hit(&cache, tenant, bob, now()), None);
}

#[test]
fn facts_are_served_until_the_first_live_reservation_expires() {
    let (cache, tenant, user) = (live(10), TenantId::new(), UserId::new());
    let at = now();
    let expiry = at + TimeDelta::minutes(5);
    let ticket = miss(&cache, tenant, user);
    cache.keep_facts(ticket, tenant, user, facts(Role::User), Some(expiry));
    assert!(hit(&cache, tenant, user, expiry - TimeDelta::microseconds(1)).is_some());
    assert_eq!(hit(&cache, tenant, user, expiry), None, "a reservation expiring now no longer counts");
}

#[test]
fn a_full_cache_starts_again_and_keeps_no_read_begun_before() {
    let (cache, tenant) = (live(2), TenantId::new());
    let users = [UserId::new(), UserId::new(), UserId::new()];
    let tickets = users.map(|user| miss(&cache, tenant, user));
    cache.keep_facts(tickets[0], tenant, users[0], facts(Role::User), None);
    cache.keep_facts(tickets[1], tenant, users[1], facts(Role::User), None);
    cache.keep_facts(tickets[2], tenant, users[2], facts(Role::User), None);
    assert!(users.iter().all(|user| hit(&cache, tenant, *user, now()).is_none()), "cleared, and the third not kept");
    let ticket = miss(&cache, tenant, users[2]);
    cache.keep_facts(ticket, tenant, users[2], facts(Role::User), None);
    assert!(hit(&cache, tenant, users[2], now()).is_some());
}

fn budget(consumed: i64) -> Budget {
    let policy =
        BudgetPolicy { limit: Credits::new(1000).unwrap(), period: BudgetPeriod::Monthly, warn_at: None, hard: true };
    Budget { consumed: Credits::new(consumed).unwrap(), ..Budget::new(policy, now()) }
}

fn budgeted(consumed: i64) -> AccessFacts {
    AccessFacts { budget: Some(budget(consumed)), ..facts(Role::User) }
}

/// What a metering batch that left `user`'s budget at `consumed` tells the cache, its ticket
/// taken now (as before its commit).
fn metered(cache: &AccessCache, user: UserId, consumed: i64, expires: Option<Timestamp>) -> Metered {
    let ticket = cache.tickets(&[user])[0];
    Metered {
        users: vec![user],
        budgets: vec![BudgetWritten { user, ticket, budget: budget(consumed), expires }],
        at: now(),
    }
}

#[test]
fn a_metering_batch_writes_the_budget_through_and_its_reservations_shorten_the_facts() {
    let (cache, tenant, user) = (live(10), TenantId::new(), UserId::new());
    let first_expiry = now() + TimeDelta::minutes(5);
    let ticket = miss(&cache, tenant, user);
    cache.keep_facts(ticket, tenant, user, budgeted(10), Some(first_expiry));
    let made_expires = now() + TimeDelta::minutes(1);
    let batch = metered(&cache, user, 20, Some(made_expires));
    cache.after_commit(true, None, Changed::Metered(&batch));
    assert_eq!(hit(&cache, tenant, user, now()), Some(budgeted(20)));
    assert_eq!(hit(&cache, tenant, user, made_expires), None, "the reservation made expires first");

    // A later batch cannot lengthen them.
    let batch = metered(&cache, user, 30, Some(first_expiry + TimeDelta::minutes(1)));
    cache.after_commit(true, None, Changed::Metered(&batch));
    assert_eq!(hit(&cache, tenant, user, now()), Some(budgeted(30)));
    assert_eq!(hit(&cache, tenant, user, made_expires), None);
}

#[test]
fn a_metering_batch_judged_before_the_facts_were_read_writes_nothing_through() {
    // The batch counted as held a reservation that expired before the facts were read.
    let (cache, tenant, user) = (live(10), TenantId::new(), UserId::new());
    let read = now() + TimeDelta::seconds(10);
    let ticket = match cache.facts(tenant, user, read) {
        Lookup::Miss(Some(ticket)) => ticket,
        other => panic!("{other:?}"),
    };
    cache.keep_facts(ticket, tenant, user, budgeted(10), None);
    let batch = Metered { at: read - TimeDelta::seconds(1), ..metered(&cache, user, 20, None) };
    cache.after_commit(true, None, Changed::Metered(&batch));
    assert_eq!(hit(&cache, tenant, user, read), None, "judged before the read");

    let ticket = match cache.facts(tenant, user, read) {
        Lookup::Miss(Some(ticket)) => ticket,
        other => panic!("{other:?}"),
    };
    cache.keep_facts(ticket, tenant, user, budgeted(10), None);
    let batch = Metered { at: read, ..metered(&cache, user, 20, None) };
    cache.after_commit(true, None, Changed::Metered(&batch));
    assert_eq!(hit(&cache, tenant, user, read), Some(budgeted(20)), "judged as of the read");
}

#[test]
fn a_metering_batch_keeps_nothing_that_another_write_may_have_changed() {
    let (cache, tenant, user) = (live(10), TenantId::new(), UserId::new());
    let keep = || {
        let ticket = miss(&cache, tenant, user);
        cache.keep_facts(ticket, tenant, user, budgeted(10), None);
    };

    keep();
    let batch = metered(&cache, user, 20, None);
    cache.invalidate(Changed::Budgets(&[user]));
    keep();
    cache.after_commit(true, None, Changed::Metered(&batch));
    assert_eq!(hit(&cache, tenant, user, now()), None, "invalidated between the ticket and the commit");

    keep();
    let batch = metered(&cache, user, 20, None);
    cache.invalidate(Changed::Anything);
    keep();
    cache.after_commit(true, None, Changed::Metered(&batch));
    assert_eq!(hit(&cache, tenant, user, now()), None, "everything invalidated meanwhile");

    keep();
    let batch = metered(&cache, user, 20, None);
    cache.after_commit(false, None, Changed::Metered(&batch));
    assert_eq!(hit(&cache, tenant, user, now()), None, "a commit that failed may have committed");

    // Nothing kept when the batch began: nothing written through, and a read begun before the
    // commit keeps nothing either.
    let batch = metered(&cache, user, 20, None);
    let before = miss(&cache, tenant, user);
    cache.after_commit(true, None, Changed::Metered(&batch));
    assert_eq!(hit(&cache, tenant, user, now()), None);
    cache.keep_facts(before, tenant, user, budgeted(10), None);
    assert_eq!(hit(&cache, tenant, user, now()), None, "read before the commit");

    // Kept facts without a budget: a budget written meanwhile is not theirs to take.
    let ticket = miss(&cache, tenant, user);
    cache.keep_facts(ticket, tenant, user, facts(Role::User), None);
    let batch = metered(&cache, user, 20, None);
    cache.after_commit(true, None, Changed::Metered(&batch));
    assert_eq!(hit(&cache, tenant, user, now()), None);

    // Users of the batch whose budget it did not write are forgotten.
    keep();
    let batch = Metered { users: vec![user], budgets: Vec::new(), at: now() };
    cache.after_commit(true, None, Changed::Metered(&batch));
    assert_eq!(hit(&cache, tenant, user, now()), None);
}

#[test]
fn a_write_after_another_process_wrote_on_sqlite_forgets_everything() {
    let (cache, tenant) = (live(10), TenantId::new());
    let (ada, bob) = (UserId::new(), UserId::new());
    cache.counter().store(41, std::sync::atomic::Ordering::Release);
    let keep = |user| {
        let ticket = miss(&cache, tenant, user);
        cache.keep_facts(ticket, tenant, user, facts(Role::User), None);
    };
    keep(ada);
    keep(bob);
    cache.after_commit(true, Some(42), Changed::Budgets(&[ada]));
    assert!(hit(&cache, tenant, bob, now()).is_some(), "this process's own write, the next in line");
    // Another process added one (43) before this one's next write.
    cache.after_commit(true, Some(44), Changed::Budgets(&[ada]));
    assert_eq!(hit(&cache, tenant, bob, now()), None, "another process may have changed anything");
}
