//! The cache's rules, without a database: what is served, and what a race leaves out.

use chrono::TimeDelta;
use roster_domain::ports::AccessFacts;
use roster_domain::{Role, TenantId, Timestamp, UserId, UserStatus};

use super::{AccessCache, Changed, Lookup, Ticket};

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
