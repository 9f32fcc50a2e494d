//! Recorded use: commits and releases of reservations, usage events, idempotent all; the usage
//! counters per user and day, and the tenant's consumption today and this month.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use roster_domain::budget::{BudgetPeriod, BudgetPolicy};
use roster_domain::ports::{BudgetRepository, BudgetTotals, UsageLedger};
use roster_domain::services::CreatedTenant;
use roster_domain::usage::{
    CommitOutcome, EventOutcome, Metrics, ReleaseOutcome, Reservation, ReservationStatus, ReservationTtl,
    ReserveOutcome, ReserveRequest, UsageEvent, UsageReport,
};
use roster_domain::{ReservationId, TenantId, Timestamp, User, UserId};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;

use crate::fixtures::{
    add_budgeted, add_license, add_licensed, at, credits, event, fail_next_insert_once, granted, hard,
    held_and_consumed, now, policy, request, reserve, set_budget, spend, stored_budget, tenant,
};

fn metrics(pairs: &[(&str, u64)]) -> Metrics {
    Metrics::new(pairs.iter().copied()).unwrap()
}

/// A usage report of `credits` and `metrics`.
fn report(credits: i64, metrics: &[(&str, i64)]) -> UsageReport {
    UsageReport { credits, metrics: metrics.iter().map(|(name, value)| ((*name).to_owned(), *value)).collect() }
}

/// A licensed user of `created` with the budget `policy`.
async fn spender(db: &TestDatabase, created: &CreatedTenant, email: &str, policy: BudgetPolicy) -> User {
    let kind = add_license(&db.store, created, &format!("Pro {email}"), 5).await;
    add_budgeted(&db.store, created, email, &kind, policy, now()).await
}

/// `user` of a new tenant `acme`, licensed with a hard budget of 100.
async fn acme_spender(db: &TestDatabase) -> User {
    let acme = tenant(&db.store, "acme").await;
    spender(db, &acme, "spender@example.com", hard(100)).await
}

/// Commits `amount` credits and `metrics` used under the reservation `id` of `tenant`, at `at`.
async fn commit(db: &TestDatabase, tenant: TenantId, id: ReservationId, amount: i64, at: Timestamp) -> CommitOutcome {
    UsageLedger::commit(&db.store, tenant, id, credits(amount), &Metrics::default(), at).await.unwrap()
}

/// The reservation `outcome` committed; panics when it committed none.
fn committed(outcome: CommitOutcome) -> Reservation {
    match outcome {
        CommitOutcome::Committed { reservation, .. } => reservation,
        other => panic!("expected a commit, got {other:?}"),
    }
}

/// What `user` used from `from` to `to`.
async fn usage(db: &TestDatabase, user: &User, from: NaiveDate, to: NaiveDate) -> UsageReport {
    UsageLedger::usage(&db.store, user.tenant, user.id, from, to).await.unwrap()
}

/// What each of `users` used since they exist, by user.
async fn totals_of(db: &TestDatabase, tenant: TenantId, users: &[UserId]) -> BTreeMap<UserId, UsageReport> {
    UsageLedger::usage_totals_of(&db.store, tenant, users).await.unwrap().into_iter().collect()
}

async fn committing_consumes_the_credits_used_and_stops_holding_the_reservation(db: TestDatabase) {
    let user = acme_spender(&db).await;
    let held = granted(reserve(&db.store, &user, "work", 60, now()).await);
    let outcome = commit(&db, user.tenant, held.id, 45, now()).await;
    let CommitOutcome::Committed { reservation, budget: Some(budget) } = outcome else { panic!("{outcome:?}") };
    let expected = Reservation { status: ReservationStatus::Committed, committed: Some(credits(45)), ..held.clone() };
    assert_eq!(reservation, expected);
    assert_eq!((budget.reserved.get(), budget.consumed.get()), (0, 45));
    assert_eq!(stored_budget(&db.store, &user).await, Some(budget));
}

async fn a_commit_beyond_the_reservation_and_the_limit_records_all_of_it(db: TestDatabase) {
    let user = acme_spender(&db).await;
    let held = granted(reserve(&db.store, &user, "work", 60, now()).await);
    granted(reserve(&db.store, &user, "other", 30, now()).await);
    committed(commit(&db, user.tenant, held.id, 150, now()).await);
    assert_eq!(held_and_consumed(&db.store, &user).await, (30, 150));
    let outcome = reserve(&db.store, &user, "more", 1, now()).await;
    assert!(matches!(outcome, ReserveOutcome::Exceeded { .. }), "{outcome:?}");
}

async fn a_repeated_commit_answers_with_the_original_outcome_and_counts_nothing_more(db: TestDatabase) {
    let user = acme_spender(&db).await;
    let held = granted(reserve(&db.store, &user, "work", 60, now()).await);
    let first = committed(commit(&db, user.tenant, held.id, 45, now()).await);
    let again = committed(commit(&db, user.tenant, held.id, 45, now()).await);
    assert_eq!(again, first);
    assert_eq!(held_and_consumed(&db.store, &user).await, (0, 45));
    let today = now().date_naive();
    assert_eq!(usage(&db, &user, today, today).await.credits, 45);

    let outcome = commit(&db, user.tenant, held.id, 50, now()).await;
    assert_eq!(outcome, CommitOutcome::Closed(first));
    assert_eq!(held_and_consumed(&db.store, &user).await, (0, 45));
    assert_eq!(usage(&db, &user, today, today).await.credits, 45);
}

async fn committing_a_released_reservation_is_closed_and_counts_nothing(db: TestDatabase) {
    let user = acme_spender(&db).await;
    let held = granted(reserve(&db.store, &user, "work", 60, now()).await);
    UsageLedger::release(&db.store, user.tenant, held.id, now()).await.unwrap();
    let outcome = commit(&db, user.tenant, held.id, 45, now()).await;
    let released = Reservation { status: ReservationStatus::Released, ..held };
    assert_eq!(outcome, CommitOutcome::Closed(released));
    assert_eq!(held_and_consumed(&db.store, &user).await, (0, 0));
}

async fn committing_or_releasing_an_unknown_or_foreign_reservation_is_not_found(db: TestDatabase) {
    let user = acme_spender(&db).await;
    let globex = tenant(&db.store, "globex").await;
    let held = granted(reserve(&db.store, &user, "work", 60, now()).await);
    for (tenant, id, what) in [(user.tenant, ReservationId::new(), "unknown"), (globex.tenant.id, held.id, "foreign")] {
        assert_eq!(commit(&db, tenant, id, 10, now()).await, CommitOutcome::NotFound, "{what}");
        let released = UsageLedger::release(&db.store, tenant, id, now()).await.unwrap();
        assert_eq!(released, ReleaseOutcome::NotFound, "{what}");
    }
    assert_eq!(held_and_consumed(&db.store, &user).await, (60, 0));
}

async fn committed_use_lands_in_the_usage_counters(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = spender(&db, &acme, "spender@example.com", hard(100)).await;
    let kind = add_license(&db.store, &acme, "Idle", 5).await;
    let idle = add_licensed(&db.store, &acme, "idle@example.com", &kind).await;
    let at = now();
    let today = at.date_naive();
    let first = granted(reserve(&db.store, &user, "first", 50, at).await);
    let second = granted(reserve(&db.store, &user, "second", 10, at).await);
    let chats = metrics(&[("chats", 2), ("pages_imported", 7)]);
    UsageLedger::commit(&db.store, user.tenant, first.id, credits(45), &chats, at).await.unwrap();
    UsageLedger::commit(&db.store, user.tenant, second.id, credits(5), &metrics(&[("chats", 1)]), at).await.unwrap();

    let expected = report(50, &[("chats", 3), ("pages_imported", 7)]);
    assert_eq!(usage(&db, &user, today, today).await, expected);
    let yesterday = today - Duration::days(1);
    assert_eq!(usage(&db, &user, yesterday, yesterday).await, report(0, &[]));
    let totals = totals_of(&db, user.tenant, &[user.id, idle.id]).await;
    assert_eq!(totals.get(&user.id), Some(&expected));
    assert_eq!(totals.get(&idle.id).cloned().unwrap_or_default(), report(0, &[]));
}

/// Holds `amount` credits of `user` under `key` at `at` for `seconds`.
async fn hold_for(db: &TestDatabase, user: &User, key: &str, amount: i64, seconds: u64, at: Timestamp) -> Reservation {
    let request = ReserveRequest { ttl: ReservationTtl::from_seconds(seconds).unwrap(), ..request(user, key, amount) };
    granted(UsageLedger::reserve(&db.store, &request, at).await.unwrap())
}

async fn a_commit_after_expiry_still_records_the_use(db: TestDatabase) {
    let user = acme_spender(&db).await;
    let start = now();
    // Past its time, still marked active: nothing released it yet.
    let lapsed = hold_for(&db, &user, "lapsed", 30, 60, start).await;
    let late = start + Duration::seconds(120);
    let outcome = commit(&db, user.tenant, lapsed.id, 40, late).await;
    assert_eq!(committed(outcome).committed, Some(credits(40)));
    assert_eq!(held_and_consumed(&db.store, &user).await, (0, 40));

    // Marked expired by a later reservation, which gave its credits back: not given back twice.
    let expiring = hold_for(&db, &user, "expiring", 30, 60, late).await;
    let later = late + Duration::seconds(120);
    hold_for(&db, &user, "later", 20, 300, later).await;
    assert_eq!(held_and_consumed(&db.store, &user).await, (20, 40));
    let outcome = commit(&db, user.tenant, expiring.id, 10, later).await;
    assert_eq!(committed(outcome).committed, Some(credits(10)));
    assert_eq!(held_and_consumed(&db.store, &user).await, (20, 50));
    let today = later.date_naive();
    assert_eq!(usage(&db, &user, today - Duration::days(1), today).await.credits, 50);
}

async fn releasing_gives_the_credits_back_once(db: TestDatabase) {
    let user = acme_spender(&db).await;
    let held = granted(reserve(&db.store, &user, "work", 60, now()).await);
    let released = Reservation { status: ReservationStatus::Released, ..held.clone() };
    let outcome = UsageLedger::release(&db.store, user.tenant, held.id, now()).await.unwrap();
    let budget = stored_budget(&db.store, &user).await;
    assert_eq!(budget.map(|budget| budget.reserved.get()), Some(0));
    assert_eq!(outcome, ReleaseOutcome::Released { reservation: released.clone(), budget });
    assert_eq!(held_and_consumed(&db.store, &user).await, (0, 0));

    granted(reserve(&db.store, &user, "other", 30, now()).await);
    let outcome = UsageLedger::release(&db.store, user.tenant, held.id, now()).await.unwrap();
    let budget = stored_budget(&db.store, &user).await;
    assert_eq!(outcome, ReleaseOutcome::Released { reservation: released, budget });
    assert_eq!(held_and_consumed(&db.store, &user).await, (30, 0));
}

async fn releasing_a_reservation_past_its_time_tells_it_expired(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    // Without a budget: nothing marks the reservation expired before the release.
    let user = add_licensed(&db.store, &acme, "free@example.com", &kind).await;
    let start = now();
    let held = hold_for(&db, &user, "work", 60, 1, start).await;
    let outcome = UsageLedger::release(&db.store, user.tenant, held.id, start + Duration::seconds(2)).await.unwrap();
    let expired = ReleaseOutcome::Released {
        reservation: Reservation { status: ReservationStatus::Expired, ..held },
        budget: None,
    };
    assert_eq!(outcome, expired);
    let again = UsageLedger::release(&db.store, user.tenant, held.id, start + Duration::seconds(3)).await.unwrap();
    assert_eq!(again, expired);
}

async fn releasing_a_committed_reservation_is_committed_and_keeps_its_use(db: TestDatabase) {
    let user = acme_spender(&db).await;
    let held = granted(reserve(&db.store, &user, "work", 60, now()).await);
    let done = committed(commit(&db, user.tenant, held.id, 45, now()).await);
    granted(reserve(&db.store, &user, "other", 30, now()).await);
    let outcome = UsageLedger::release(&db.store, user.tenant, held.id, now()).await.unwrap();
    assert_eq!(outcome, ReleaseOutcome::Committed(done));
    assert_eq!(held_and_consumed(&db.store, &user).await, (30, 45));
}

/// Records `events` of `tenant` at `at`.
async fn record(db: &TestDatabase, tenant: TenantId, events: &[UsageEvent], at: Timestamp) -> Vec<EventOutcome> {
    UsageLedger::record_events(&db.store, tenant, events, at).await.unwrap()
}

async fn events_are_applied_once_per_key_with_one_outcome_each_in_order(db: TestDatabase) {
    use EventOutcome::{Duplicate, Recorded, UserNotFound};
    let user = acme_spender(&db).await;
    let globex = tenant(&db.store, "globex").await;
    let theirs = spender(&db, &globex, "theirs@example.com", hard(100)).await;
    let ghost = User { id: UserId::new(), ..user.clone() };
    let first = [
        event(&user, "a", 10),
        event(&ghost, "b", 5),
        event(&user, "c", 20),
        event(&theirs, "d", 7),
        event(&user, "c", 20),
    ];
    assert_eq!(
        record(&db, user.tenant, &first, now()).await,
        vec![Recorded, UserNotFound, Recorded, UserNotFound, Duplicate]
    );
    let second = [event(&user, "a", 10), event(&user, "e", 1)];
    assert_eq!(record(&db, user.tenant, &second, now()).await, vec![Duplicate, Recorded]);

    assert_eq!(held_and_consumed(&db.store, &user).await, (0, 31));
    assert_eq!(held_and_consumed(&db.store, &theirs).await, (0, 0));
    let today = now().date_naive();
    assert_eq!(usage(&db, &user, today, today).await.credits, 31);
    // A key is the tenant's: another tenant may use it.
    assert_eq!(record(&db, globex.tenant.id, &[event(&theirs, "a", 7)], now()).await, vec![Recorded]);
}

async fn a_key_recorded_before_answers_a_retry_as_a_duplicate_and_other_use_as_a_reused_key(db: TestDatabase) {
    use EventOutcome::{Duplicate, KeyReused, Recorded};
    let acme = tenant(&db.store, "acme").await;
    let user = spender(&db, &acme, "spender@example.com", hard(100)).await;
    let colleague = spender(&db, &acme, "colleague@example.com", hard(100)).await;
    let (first_at, later) = (now(), now() + Duration::minutes(3));
    let chats = UsageEvent { metrics: metrics(&[("chats", 2)]), ..event(&user, "chats", 5) };
    let dated = UsageEvent { occurred_at: Some(first_at - Duration::seconds(30)), ..event(&user, "dated", 1) };
    let undated = event(&user, "undated", 3);
    let first = [chats.clone(), dated.clone(), undated.clone()];
    assert_eq!(record(&db, user.tenant, &first, first_at).await, vec![Recorded; 3]);

    let retries = [
        chats.clone(),
        dated.clone(),
        undated.clone(),
        // Dated when it was first recorded, as the first request was.
        UsageEvent { occurred_at: Some(first_at), ..undated.clone() },
    ];
    assert_eq!(record(&db, user.tenant, &retries, later).await, vec![Duplicate; 4]);
    let reused = [
        UsageEvent { credits: credits(6), ..chats.clone() },
        UsageEvent { metrics: metrics(&[("chats", 3)]), ..chats.clone() },
        UsageEvent { metrics: Metrics::default(), ..chats.clone() },
        UsageEvent { user: colleague.id, ..chats.clone() },
        UsageEvent { occurred_at: dated.occurred_at.map(|at| at + Duration::seconds(1)), ..dated.clone() },
        UsageEvent { occurred_at: Some(later), ..undated.clone() },
        // The second of a key twice in one batch is judged against the first.
        event(&user, "fresh", 4),
        event(&user, "fresh", 4),
        event(&user, "fresh", 40),
    ];
    let outcomes = record(&db, user.tenant, &reused, later).await;
    assert_eq!(outcomes, [vec![KeyReused; 6], vec![Recorded, Duplicate, KeyReused]].concat());

    assert_eq!(held_and_consumed(&db.store, &user).await, (0, 13), "each key counted once, with its first event");
    assert_eq!(held_and_consumed(&db.store, &colleague).await, (0, 0));
    let (from, to) = ((first_at - Duration::seconds(30)).date_naive(), later.date_naive());
    assert_eq!(usage(&db, &user, from, to).await, report(13, &[("chats", 2)]));
}

async fn event_credits_count_against_the_budget_even_beyond_a_hard_limit(db: TestDatabase) {
    let user = acme_spender(&db).await;
    granted(reserve(&db.store, &user, "held", 30, now()).await);
    spend(&db.store, &user, "spent", 150, now()).await;
    let budget = stored_budget(&db.store, &user).await.expect("a budget");
    assert_eq!((budget.reserved.get(), budget.consumed.get(), budget.remaining()), (30, 150, 0));
    let outcome = reserve(&db.store, &user, "more", 1, now()).await;
    assert!(matches!(outcome, ReserveOutcome::Exceeded { .. }), "{outcome:?}");
}

async fn an_event_counts_on_the_day_it_occurred_with_its_metrics(db: TestDatabase) {
    let user = acme_spender(&db).await;
    let today = at("2026-11-20T10:00:00Z");
    let yesterday = at("2026-11-19T15:00:00Z");
    let late =
        UsageEvent { metrics: metrics(&[("chats", 4)]), occurred_at: Some(yesterday), ..event(&user, "late", 12) };
    let current = UsageEvent { metrics: metrics(&[("ai_responses", 9)]), ..event(&user, "current", 3) };
    record(&db, user.tenant, &[late, current], today).await;

    let (d19, d20) = (yesterday.date_naive(), today.date_naive());
    assert_eq!(usage(&db, &user, d19, d19).await, report(12, &[("chats", 4)]));
    assert_eq!(usage(&db, &user, d20, d20).await, report(3, &[("ai_responses", 9)]));
    assert_eq!(usage(&db, &user, d19, d20).await, report(15, &[("ai_responses", 9), ("chats", 4)]));
    let totals = totals_of(&db, user.tenant, &[user.id]).await;
    assert_eq!(totals.get(&user.id), Some(&report(15, &[("ai_responses", 9), ("chats", 4)])));
}

async fn an_event_dated_ahead_of_the_clock_counts_as_of_now(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = spender(&db, &acme, "u@example.com", policy(1000, BudgetPeriod::Daily, true)).await;
    let (now, tomorrow) = (at("2027-11-20T23:57:00Z"), at("2027-11-21T00:01:00Z"));
    let ahead = UsageEvent { occurred_at: Some(tomorrow), ..event(&user, "ahead", 1000) };
    assert_eq!(record(&db, user.tenant, std::slice::from_ref(&ahead), now).await, [EventOutcome::Recorded]);
    // Spent from today's budget, on today's date; tomorrow starts from nothing.
    let outcome = reserve(&db.store, &user, "today", 1, now + Duration::minutes(1)).await;
    assert!(matches!(outcome, ReserveOutcome::Exceeded { .. }), "{outcome:?}");
    let (d20, d21) = (now.date_naive(), tomorrow.date_naive());
    assert_eq!((usage(&db, &user, d20, d20).await.credits, usage(&db, &user, d21, d21).await.credits), (1000, 0));
    granted(reserve(&db.store, &user, "tomorrow", 1000, tomorrow + Duration::minutes(1)).await);
    // A retry gives the time it gave first.
    assert_eq!(record(&db, user.tenant, &[ahead], tomorrow).await, [EventOutcome::Duplicate]);
}

async fn budget_totals_sum_the_tenants_use_today_and_this_month(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let user = spender(&db, &acme, "u@example.com", policy(10_000, BudgetPeriod::Monthly, true)).await;
    let other = spender(&db, &acme, "other@example.com", policy(10_000, BudgetPeriod::Monthly, true)).await;
    let theirs = spender(&db, &globex, "theirs@example.com", policy(10_000, BudgetPeriod::Monthly, true)).await;
    let now = at("2026-11-20T12:00:00Z");
    let held = granted(reserve(&db.store, &user, "work", 50, now).await);
    committed(commit(&db, user.tenant, held.id, 40, now).await);
    let earlier = |user: &User, key: &str, amount: i64, when: &str| UsageEvent {
        occurred_at: Some(at(when)),
        ..event(user, key, amount)
    };
    let ours = [
        event(&user, "now", 7),
        event(&other, "other-now", 3),
        earlier(&user, "yesterday", 5, "2026-11-19T23:59:59Z"),
        earlier(&other, "first", 11, "2026-11-01T00:00:00Z"),
        earlier(&user, "last-month", 100, "2026-10-31T23:59:59Z"),
    ];
    record(&db, acme.tenant.id, &ours, now).await;
    let held = granted(reserve(&db.store, &theirs, "work", 500, now).await);
    committed(commit(&db, theirs.tenant, held.id, 500, now).await);
    record(&db, globex.tenant.id, &[event(&theirs, "now", 1000)], now).await;

    let totals = |at: Timestamp| BudgetRepository::budget_totals(&db.store, acme.tenant.id, at);
    let spent = |t: BudgetTotals| (t.consumed_today, t.consumed_this_month);
    assert_eq!(spent(totals(now).await.unwrap()), (50, 66));
    assert_eq!(spent(totals(now + Duration::days(1)).await.unwrap()), (0, 66));
    assert_eq!(spent(totals(at("2026-12-01T00:00:00Z")).await.unwrap()), (0, 0));
    assert_eq!(spent(totals(at("2026-10-31T12:00:00Z")).await.unwrap()), (100, 100));
    let theirs = BudgetRepository::budget_totals(&db.store, globex.tenant.id, now).await.unwrap();
    assert_eq!(spent(theirs), (1500, 1500));
}

/// Runs `sql` on `db` (raw: as if long use had brought the counters there).
async fn execute(db: &TestDatabase, sql: &str) {
    sea_orm::ConnectionTrait::execute_unprepared(db.store.connection(), sql).await.unwrap();
}

async fn counters_and_their_sums_stop_at_the_most_an_integer_counts(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = spender(&db, &acme, "u@example.com", policy(10_000, BudgetPeriod::Monthly, false)).await;
    let (yesterday, today) = (at("2026-11-19T12:00:00Z"), at("2026-11-20T12:00:00Z"));
    let chats = |key: &str, count: u64, when: Timestamp| UsageEvent {
        metrics: metrics(&[("chats", count)]),
        occurred_at: Some(when),
        ..event(&user, key, 1)
    };
    record(&db, user.tenant, &[chats("before", 1, yesterday), chats("first", 1, today)], today).await;
    let near = i64::MAX - 5;
    execute(&db, &format!("UPDATE usage_totals SET value = {near}")).await;
    execute(&db, &format!("UPDATE usage_daily SET value = {near}")).await;
    execute(&db, &format!("UPDATE usage_tenant_daily SET credits = {near}")).await;
    execute(&db, &format!("UPDATE budget_totals SET limit_total = {near}")).await;

    let more = UsageEvent { credits: credits(10), ..chats("more", 10, today) };
    assert_eq!(record(&db, user.tenant, &[more], today).await, [EventOutcome::Recorded]);
    let most = report(i64::MAX, &[("chats", i64::MAX)]);
    let (d19, d20) = (yesterday.date_naive(), today.date_naive());
    assert_eq!(usage(&db, &user, d20, d20).await, most);
    assert_eq!(usage(&db, &user, d19, d20).await, most, "two days near the most");
    assert_eq!(totals_of(&db, user.tenant, &[user.id]).await.get(&user.id), Some(&most));
    let totals = BudgetRepository::budget_totals(&db.store, acme.tenant.id, today).await.unwrap();
    assert_eq!((totals.consumed_today, totals.consumed_this_month), (i64::MAX, i64::MAX));

    // A budget more: the sum of the limits stops there too, and follows them down from there.
    let other = spender(&db, &acme, "other@example.com", policy(100, BudgetPeriod::Monthly, true)).await;
    assert_eq!(BudgetRepository::budget_totals(&db.store, acme.tenant.id, today).await.unwrap().limit, i64::MAX);
    set_budget(&db.store, &other, None, today).await.unwrap();
    let limit = BudgetRepository::budget_totals(&db.store, acme.tenant.id, today).await.unwrap().limit;
    assert_eq!(limit, i64::MAX - 100);
}

on_both_databases!(
    an_event_dated_ahead_of_the_clock_counts_as_of_now,
    counters_and_their_sums_stop_at_the_most_an_integer_counts,
    releasing_a_reservation_past_its_time_tells_it_expired,
    committing_consumes_the_credits_used_and_stops_holding_the_reservation,
    a_commit_beyond_the_reservation_and_the_limit_records_all_of_it,
    a_repeated_commit_answers_with_the_original_outcome_and_counts_nothing_more,
    committing_a_released_reservation_is_closed_and_counts_nothing,
    committing_or_releasing_an_unknown_or_foreign_reservation_is_not_found,
    committed_use_lands_in_the_usage_counters,
    a_commit_after_expiry_still_records_the_use,
    releasing_gives_the_credits_back_once,
    releasing_a_committed_reservation_is_committed_and_keeps_its_use,
    events_are_applied_once_per_key_with_one_outcome_each_in_order,
    a_key_recorded_before_answers_a_retry_as_a_duplicate_and_other_use_as_a_reused_key,
    event_credits_count_against_the_budget_even_beyond_a_hard_limit,
    an_event_counts_on_the_day_it_occurred_with_its_metrics,
    budget_totals_sum_the_tenants_use_today_and_this_month,
);

/// PostgreSQL: a batch of events that the database fails to break a deadlock (with a batch of
/// reservations giving a budget created meanwhile its credits), or on a user purged since it
/// read its users, is recorded again, once.
#[tokio::test]
async fn events_failed_by_a_deadlock_or_a_purge_meanwhile_are_recorded_again_once() {
    roster_storage::testing::on_postgres(|db: TestDatabase| async move {
        let user = acme_spender(&db).await;
        fail_next_insert_once(&db, "usage_events", "40P01").await;
        let events = [event(&user, "once", 10)];
        assert_eq!(record(&db, user.tenant, &events, now()).await, vec![EventOutcome::Recorded]);
        assert_eq!(held_and_consumed(&db.store, &user).await, (0, 10));
        assert_eq!(record(&db, user.tenant, &events, now()).await, vec![EventOutcome::Duplicate]);
        fail_next_insert_once(&db, "usage_daily", "23503").await;
        assert_eq!(record(&db, user.tenant, &[event(&user, "twice", 5)], now()).await, vec![EventOutcome::Recorded]);
        assert_eq!(held_and_consumed(&db.store, &user).await, (0, 15));
    })
    .await;
}
