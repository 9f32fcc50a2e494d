//! Reservations: credits are held only for active, licensed users whose budget (judged at the
//! instant given, after releasing what expired) admits them; an idempotency key is applied once,
//! also under races; a hard limit holds under races; periods start again on UTC boundaries.

use chrono::Duration;
use futures::future::join_all;
use roster_domain::budget::{Budget, BudgetPeriod, BudgetPolicy, MAX_CREDITS};
use roster_domain::ports::UsageLedger;
use roster_domain::usage::{ReservationStatus, ReservationTtl, ReserveOutcome, ReserveRequest};
use roster_domain::user::NewUser;
use roster_domain::{AuditAction, Email, Role, Timestamp, User, UserId};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use sea_orm::{ConnectionTrait as _, DbBackend, Statement, TransactionTrait as _};

use crate::fixtures::{
    add, add_budgeted, add_license, add_licensed, at, change, count, credits, granted, hard, held_and_consumed, insert,
    now, policy, request, reserve, set_budget, spend, stored_budget, tenant,
};

/// An active user of `acme` with a seat and the budget `policy`, set at `at`.
async fn spender(db: &TestDatabase, policy: BudgetPolicy, at: Timestamp) -> User {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    add_budgeted(&db.store, &acme, "spender@example.com", &kind, policy, at).await
}

/// How many reservations of `user` are in `status`, counted with raw SQL.
async fn reservations(db: &TestDatabase, user: &User, status: ReservationStatus) -> i64 {
    let sql = "SELECT COUNT(*) AS n FROM reservations WHERE user_id = ? AND status = ?";
    count(db, sql, [user.id.as_uuid().into(), status.as_str().into()]).await
}

async fn a_reservation_within_a_hard_budget_holds_its_credits(db: TestDatabase) {
    let user = spender(&db, hard(100), now()).await;
    let at = now();
    let outcome = reserve(&db.store, &user, "first", 60, at).await;
    let ReserveOutcome::Reserved { reservation, budget } = outcome else { panic!("{outcome:?}") };
    assert_eq!((reservation.user, reservation.tenant, reservation.key.as_str()), (user.id, user.tenant, "first"));
    assert_eq!(
        (reservation.credits, reservation.status, reservation.committed),
        (credits(60), ReservationStatus::Active, None)
    );
    assert_eq!((reservation.created_at, reservation.expires_at), (at, at + ReservationTtl::DEFAULT.as_delta()));
    let budget = budget.expect("the budget after");
    assert_eq!((budget.reserved.get(), budget.consumed.get()), (60, 0));
    assert_eq!(stored_budget(&db.store, &user).await, Some(budget));
    assert_eq!(reservations(&db, &user, ReservationStatus::Active).await, 1);
}

async fn a_reservation_beyond_a_hard_budget_is_exceeded_and_holds_nothing(db: TestDatabase) {
    let user = spender(&db, hard(100), now()).await;
    spend(&db.store, &user, "spent", 10, now()).await;
    granted(reserve(&db.store, &user, "first", 60, now()).await);

    let outcome = reserve(&db.store, &user, "too-much", 31, now()).await;
    let ReserveOutcome::Exceeded { budget } = outcome else { panic!("{outcome:?}") };
    assert_eq!((budget.consumed.get(), budget.reserved.get(), budget.policy.limit.get()), (10, 60, 100));
    assert_eq!(held_and_consumed(&db.store, &user).await, (60, 10));
    assert_eq!(reservations(&db, &user, ReservationStatus::Active).await, 1);

    // Exactly up to the limit is admitted.
    granted(reserve(&db.store, &user, "just-enough", 30, now()).await);
    assert_eq!(held_and_consumed(&db.store, &user).await, (90, 10));
}

async fn a_user_without_budget_reserves_without_limit(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_licensed(&db.store, &acme, "free@example.com", &kind).await;
    let outcome = reserve(&db.store, &user, "big", 1_000_000_000, now()).await;
    assert!(matches!(&outcome, ReserveOutcome::Reserved { budget: None, .. }), "{outcome:?}");
    assert_eq!(stored_budget(&db.store, &user).await, None);
}

async fn a_soft_budget_admits_beyond_its_limit(db: TestDatabase) {
    let user = spender(&db, policy(100, BudgetPeriod::Monthly, false), now()).await;
    granted(reserve(&db.store, &user, "first", 80, now()).await);
    let outcome = reserve(&db.store, &user, "second", 80, now()).await;
    let ReserveOutcome::Reserved { budget: Some(budget), .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!((budget.reserved.get(), budget.remaining()), (160, 0));
    assert_eq!(held_and_consumed(&db.store, &user).await, (160, 0));
}

async fn a_soft_budget_holds_no_more_than_its_reserved_credits_count(db: TestDatabase) {
    let user = spender(&db, policy(100, BudgetPeriod::None, false), now()).await;
    let start = now();
    let ttl = ReservationTtl::from_seconds(1).unwrap();
    let most = ReserveRequest { ttl, ..request(&user, "most", MAX_CREDITS) };
    granted(UsageLedger::reserve(&db.store, &most, start).await.unwrap());
    let outcome = reserve(&db.store, &user, "more", 1, start).await;
    let ReserveOutcome::Exceeded { budget } = outcome else { panic!("{outcome:?}") };
    assert_eq!(budget.reserved.get(), MAX_CREDITS);

    // Expired, its credits are free again; the budget reads as ever.
    let later = start + Duration::seconds(2);
    let outcome = reserve(&db.store, &user, "more", 1, later).await;
    let ReserveOutcome::Reserved { budget: Some(budget), .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(budget.reserved.get(), 1);
    assert_eq!(held_and_consumed(&db.store, &user).await, (1, 0));
}

async fn invited_and_deactivated_users_are_inactive_and_hold_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let leaving = add_budgeted(&db.store, &acme, "leaving@example.com", &kind, hard(100), now()).await;
    change(&db.store, &leaving, &leaving.deactivated(now()), AuditAction::UserDeactivated).await.unwrap();
    let new = NewUser {
        email: Email::parse("invited@example.com").unwrap(),
        name: None,
        phone: None,
        role: Role::User,
        referral_code: None,
    };
    let invited = User::invite(acme.tenant.id, new, Some(kind.id), now());
    insert(&db.store, &invited).await;
    for user in [&leaving, &invited] {
        let outcome = reserve(&db.store, user, "k", 10, now()).await;
        assert_eq!(outcome, ReserveOutcome::UserInactive, "{}", user.email);
    }
    assert_eq!(held_and_consumed(&db.store, &leaving).await, (0, 0));
    assert_eq!(reservations(&db, &leaving, ReservationStatus::Active).await, 0);
    assert_eq!(reservations(&db, &invited, ReservationStatus::Active).await, 0);
}

async fn a_user_without_a_seat_has_no_license_to_reserve(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = add(&db.store, &acme, "unlicensed@example.com", Role::User).await;
    set_budget(&db.store, &user, Some(hard(100)), now()).await.unwrap();
    assert_eq!(reserve(&db.store, &user, "k", 10, now()).await, ReserveOutcome::NoLicense);
    assert_eq!(held_and_consumed(&db.store, &user).await, (0, 0));
    assert_eq!(reservations(&db, &user, ReservationStatus::Active).await, 0);
}

async fn reserving_for_an_unknown_or_foreign_user_is_user_not_found(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let kind = add_license(&db.store, &globex, "Pro", 5).await;
    let theirs = add_budgeted(&db.store, &globex, "theirs@example.com", &kind, hard(100), now()).await;
    let ghost = User { id: UserId::new(), ..theirs.clone() };
    let foreign = User { tenant: acme.tenant.id, ..theirs.clone() };
    for (user, what) in [(&ghost, "unknown"), (&foreign, "foreign")] {
        assert_eq!(reserve(&db.store, user, "k", 10, now()).await, ReserveOutcome::UserNotFound, "{what}");
    }
    assert_eq!(held_and_consumed(&db.store, &theirs).await, (0, 0));
    // The key was not taken in either tenant.
    granted(reserve(&db.store, &theirs, "k", 10, now()).await);
}

async fn the_same_key_again_answers_with_the_original_reservation_and_holds_nothing_more(db: TestDatabase) {
    let user = spender(&db, hard(100), now()).await;
    let first = granted(reserve(&db.store, &user, "once", 60, now()).await);
    let outcome = reserve(&db.store, &user, "once", 60, now()).await;
    let ReserveOutcome::Reserved { reservation, budget: Some(budget) } = outcome else { panic!("{outcome:?}") };
    assert_eq!(reservation, first);
    assert_eq!(budget.reserved.get(), 60);
    assert_eq!(held_and_consumed(&db.store, &user).await, (60, 0));
    assert_eq!(reservations(&db, &user, ReservationStatus::Active).await, 1);

    // Whatever became of it.
    UsageLedger::release(&db.store, user.tenant, first.id, now()).await.unwrap();
    let again = granted(reserve(&db.store, &user, "once", 60, now()).await);
    assert_eq!((again.id, again.status), (first.id, ReservationStatus::Released));
    assert_eq!(held_and_consumed(&db.store, &user).await, (0, 0));
}

async fn a_key_used_for_another_amount_or_user_is_key_reused(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_budgeted(&db.store, &acme, "u@example.com", &kind, hard(100), now()).await;
    let other = add_budgeted(&db.store, &acme, "other@example.com", &kind, hard(100), now()).await;
    granted(reserve(&db.store, &user, "once", 60, now()).await);
    assert_eq!(reserve(&db.store, &user, "once", 61, now()).await, ReserveOutcome::KeyReused);
    assert_eq!(reserve(&db.store, &other, "once", 60, now()).await, ReserveOutcome::KeyReused);
    assert_eq!(held_and_consumed(&db.store, &user).await, (60, 0));
    assert_eq!(held_and_consumed(&db.store, &other).await, (0, 0));
    assert_eq!(reservations(&db, &other, ReservationStatus::Active).await, 0);
}

async fn concurrent_reserves_with_one_key_hold_the_credits_once(db: TestDatabase) {
    let user = spender(&db, hard(1000), now()).await;
    let at = now();
    let request = request(&user, "retried", 10);
    let outcomes = join_all((0..20).map(|_| UsageLedger::reserve(&db.store, &request, at))).await;
    let ids: Vec<_> = outcomes.into_iter().map(|outcome| granted(outcome.unwrap()).id).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(held_and_consumed(&db.store, &user).await, (10, 0));
    let sql = "SELECT COUNT(*) AS n FROM reservations WHERE idempotency_key = ?";
    assert_eq!(count(&db, sql, ["retried".into()]).await, 1);
}

async fn concurrent_reservations_never_hold_more_than_a_hard_limit(db: TestDatabase) {
    let user = spender(&db, hard(1000), now()).await;
    let at = now();
    let requests: Vec<ReserveRequest> = (0..200).map(|i| request(&user, &format!("k{i}"), 10)).collect();
    let outcomes = join_all(requests.iter().map(|request| UsageLedger::reserve(&db.store, request, at))).await;
    let outcomes: Vec<ReserveOutcome> = outcomes.into_iter().map(Result::unwrap).collect();

    let reserved = outcomes.iter().filter(|o| matches!(o, ReserveOutcome::Reserved { .. })).count();
    let exceeded = outcomes
        .iter()
        .filter(|o| matches!(o, ReserveOutcome::Exceeded { budget } if budget.reserved.get() == 1000))
        .count();
    assert_eq!((reserved, exceeded), (100, 100));
    assert_eq!(held_and_consumed(&db.store, &user).await, (1000, 0));
    assert_eq!(reservations(&db, &user, ReservationStatus::Active).await, 100);
}

async fn expired_reservations_give_their_credits_back_before_a_new_one_is_judged(db: TestDatabase) {
    let user = spender(&db, hard(100), now()).await;
    let start = now();
    let short = ReserveRequest { ttl: ReservationTtl::from_seconds(1).unwrap(), ..request(&user, "short", 80) };
    let first = granted(UsageLedger::reserve(&db.store, &short, start).await.unwrap());

    let still_live = start + Duration::seconds(1) - Duration::microseconds(1);
    let outcome = reserve(&db.store, &user, "waiting", 50, still_live).await;
    assert!(matches!(outcome, ReserveOutcome::Exceeded { .. }), "{outcome:?}");

    let outcome = reserve(&db.store, &user, "waiting", 50, start + Duration::seconds(2)).await;
    let ReserveOutcome::Reserved { budget: Some(budget), .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(budget.reserved.get(), 50);
    assert_eq!(held_and_consumed(&db.store, &user).await, (50, 0));
    assert_eq!(reservations(&db, &user, ReservationStatus::Expired).await, 1);
    let expired = granted(UsageLedger::reserve(&db.store, &short, start + Duration::seconds(3)).await.unwrap());
    assert_eq!((expired.id, expired.status), (first.id, ReservationStatus::Expired));
}

async fn releasing_credits_held_before_the_budget_existed_frees_none_held_under_it(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_licensed(&db.store, &acme, "u@example.com", &kind).await;
    let before = granted(reserve(&db.store, &user, "before", 30, now()).await);
    set_budget(&db.store, &user, Some(hard(100)), now()).await.unwrap();
    granted(reserve(&db.store, &user, "under", 60, now()).await);

    UsageLedger::release(&db.store, user.tenant, before.id, now()).await.unwrap();
    assert_eq!(held_and_consumed(&db.store, &user).await.0, 60, "the 60 held under the budget are still held");
    let outcome = reserve(&db.store, &user, "more", 50, now()).await;
    assert!(matches!(outcome, ReserveOutcome::Exceeded { .. }), "60 held + 50 > 100: {outcome:?}");
}

/// A budget of 100 per `period`: 90 consumed at `spent_at`, a reservation of 50 refused at
/// `last_instant` (still that period) and admitted at `next_start`, where consumption restarts.
async fn rollover(db: &TestDatabase, period: BudgetPeriod, spent_at: &str, last_instant: &str, next_start: &str) {
    let user = spender(db, policy(100, period, true), at(spent_at)).await;
    spend(&db.store, &user, "spent", 90, at(spent_at)).await;
    let outcome = reserve(&db.store, &user, "late", 50, at(last_instant)).await;
    assert!(matches!(outcome, ReserveOutcome::Exceeded { .. }), "{outcome:?}");

    let outcome = reserve(&db.store, &user, "next", 50, at(next_start)).await;
    let ReserveOutcome::Reserved { budget: Some(budget), .. } = outcome else { panic!("{outcome:?}") };
    let expected = Budget {
        policy: policy(100, period, true),
        consumed: credits(0),
        reserved: credits(50),
        period_start: at(&format!("{}T00:00:00Z", &next_start[..10])),
    };
    assert_eq!(budget, expected);
    assert_eq!(stored_budget(&db.store, &user).await, Some(expected));
}

async fn a_daily_budget_starts_again_at_midnight_utc(db: TestDatabase) {
    rollover(&db, BudgetPeriod::Daily, "2026-11-24T23:00:00Z", "2026-11-24T23:59:59Z", "2026-11-25T00:00:01Z").await;
}

async fn a_weekly_budget_starts_again_on_monday_at_midnight_utc(db: TestDatabase) {
    // Monday 23 November to Sunday 29 November 2026.
    rollover(&db, BudgetPeriod::Weekly, "2026-11-23T00:00:00Z", "2026-11-29T23:59:59Z", "2026-11-30T00:00:00Z").await;
}

async fn a_monthly_budget_starts_again_on_the_first_at_midnight_utc(db: TestDatabase) {
    rollover(&db, BudgetPeriod::Monthly, "2026-11-01T00:00:00Z", "2026-11-30T23:59:59Z", "2026-12-01T00:00:00Z").await;
}

/// The plan of `sql` with sequential scans discouraged (PostgreSQL plans a tiny table as a scan
/// whatever its indexes), as text.
async fn plan(db: &TestDatabase, sql: &str) -> String {
    let txn = db.store.connection().begin().await.unwrap();
    let explain = if db.backend() == DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL enable_seqscan = off").await.unwrap();
        "EXPLAIN"
    } else {
        "EXPLAIN QUERY PLAN"
    };
    let rows = txn.query_all_raw(Statement::from_string(db.backend(), format!("{explain} {sql}"))).await.unwrap();
    let column = if db.backend() == DbBackend::Postgres { "QUERY PLAN" } else { "detail" };
    let lines: Vec<String> = rows.iter().map(|row| row.try_get::<String>("", column).unwrap()).collect();
    txn.rollback().await.unwrap();
    lines.join("\n")
}

async fn a_users_live_reservations_are_looked_up_in_the_index_of_active_ones(db: TestDatabase) {
    let user = spender(&db, hard(100), now()).await;
    granted(reserve(&db.store, &user, "live", 10, now()).await);
    let (id, at) = (user.id.as_uuid(), "2026-12-06T00:00:00Z");
    // The batches write SQLite's values as `+?` (not looked up in the statistics).
    let plus = if db.backend() == DbBackend::Sqlite { "+" } else { "" };
    let live = [
        format!(
            "UPDATE reservations SET status = 'expired', closed_at = '{at}' \
             WHERE user_id IN ({plus}'{id}') AND status = 'active' AND expires_at <= {plus}'{at}'"
        ),
        format!(
            "SELECT SUM(credits) FROM reservations WHERE user_id = '{id}' AND status = 'active' AND expires_at > '{at}'"
        ),
    ];
    for sql in live {
        let plan = plan(&db, &sql).await;
        assert!(plan.contains("ix_reservations_active_user_expires"), "{sql}\n{plan}");
    }
}

on_both_databases!(
    a_users_live_reservations_are_looked_up_in_the_index_of_active_ones,
    a_reservation_within_a_hard_budget_holds_its_credits,
    a_reservation_beyond_a_hard_budget_is_exceeded_and_holds_nothing,
    a_user_without_budget_reserves_without_limit,
    a_soft_budget_admits_beyond_its_limit,
    a_soft_budget_holds_no_more_than_its_reserved_credits_count,
    invited_and_deactivated_users_are_inactive_and_hold_nothing,
    a_user_without_a_seat_has_no_license_to_reserve,
    reserving_for_an_unknown_or_foreign_user_is_user_not_found,
    the_same_key_again_answers_with_the_original_reservation_and_holds_nothing_more,
    a_key_used_for_another_amount_or_user_is_key_reused,
    concurrent_reserves_with_one_key_hold_the_credits_once,
    concurrent_reservations_never_hold_more_than_a_hard_limit,
    expired_reservations_give_their_credits_back_before_a_new_one_is_judged,
    releasing_credits_held_before_the_budget_existed_frees_none_held_under_it,
    a_daily_budget_starts_again_at_midnight_utc,
    a_weekly_budget_starts_again_on_monday_at_midnight_utc,
    a_monthly_budget_starts_again_on_the_first_at_midnight_utc,
);
