//! Budgets: one per user at most, set, changed and removed by administrators with their audit
//! event, given by the tenant's default to new users, counted in the tenant's totals, and never
//! negative in the database.

use roster_domain::budget::{Budget, BudgetPeriod, Credits, MAX_CREDITS};
use roster_domain::governance::acting;
use roster_domain::invitation::{Delivery, Invitation, InvitationTtl, TenantSettings};
use roster_domain::ports::{
    BudgetRepository, BudgetTotals, InvitationRepository as _, LicenseRepository as _, TenantRepository as _,
    UsageLedger, UserRepository,
};
use roster_domain::usage::{ReservationTtl, ReserveRequest};
use roster_domain::user::NewUser;
use roster_domain::{
    Actor, AuditAction, AuditEvent, Email, Premises, Role, StoreError, Tenant, TenantId, Timestamp, User,
};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use sea_orm::{ConnectionTrait as _, DbBackend, Statement, Value};

use crate::fixtures::{
    add, add_license, add_licensed, at, events, fail_next_insert_once, former_administrator, granted, now, policy,
    request, set_budget, spend, stored_budget, tenant, user_of,
};

/// The budget totals of `tenant` at `now`.
async fn totals(db: &TestDatabase, tenant: TenantId, now: Timestamp) -> BudgetTotals {
    BudgetRepository::budget_totals(&db.store, tenant, now).await.unwrap()
}

/// The users with a budget and the sum of their limits in `tenant`.
async fn budgeted(db: &TestDatabase, tenant: TenantId) -> (u64, i64) {
    let totals = totals(db, tenant, now()).await;
    (totals.users, totals.limit)
}

/// Holds `amount` credits of `user`'s budget at `at` for an hour under `key`.
async fn hold(db: &TestDatabase, user: &User, key: &str, amount: i64, at: Timestamp) {
    let request = ReserveRequest { ttl: ReservationTtl::from_seconds(3600).unwrap(), ..request(user, key, amount) };
    granted(UsageLedger::reserve(&db.store, &request, at).await.unwrap());
}

async fn a_first_budget_is_stored_with_nothing_spent_and_its_audit_event(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    let admin = Actor::user(acme.tenant.id, acme.admin.id, acme.admin.email.clone(), Role::Administrator);
    let monthly = policy(1000, BudgetPeriod::Monthly, true);
    let when = at("2026-11-25T15:00:00Z");
    let audit = AuditEvent::user_budget_changed(&admin, &user, None, Some(&monthly), when);
    let stored =
        BudgetRepository::set_budget(&db.store, acme.tenant.id, user.id, Some(monthly), when, acting(&admin), &audit)
            .await
            .unwrap();

    let expected = Budget::new(monthly, when);
    assert_eq!(expected.period_start, at("2026-11-01T00:00:00Z"));
    assert_eq!(stored, Some(expected));
    assert_eq!(stored_budget(&db.store, &user).await, Some(expected));
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserBudgetChanged).await, vec![audit]);
    assert_eq!(budgeted(&db, acme.tenant.id).await, (1, 1000));
}

async fn a_changed_budget_keeps_what_was_consumed_and_held_and_starts_the_period_at_nows(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_licensed(&db.store, &acme, "u@example.com", &kind).await;
    set_budget(&db.store, &user, Some(policy(100, BudgetPeriod::Daily, true)), at("2026-11-24T09:00:00Z"))
        .await
        .unwrap();
    spend(&db.store, &user, "spent", 30, at("2026-11-24T10:00:00Z")).await;
    hold(&db, &user, "held", 20, at("2026-11-24T23:30:00Z")).await;

    let larger = policy(200, BudgetPeriod::Daily, false);
    let changed = set_budget(&db.store, &user, Some(larger), at("2026-11-24T23:45:00Z")).await.unwrap();
    let expected = Budget {
        policy: larger,
        consumed: Credits::new(30).unwrap(),
        reserved: Credits::new(20).unwrap(),
        period_start: at("2026-11-24T00:00:00Z"),
    };
    assert_eq!(changed, Some(expected));
    assert_eq!(stored_budget(&db.store, &user).await, Some(expected));

    // The next day the daily period that consumed 30 is over: nothing consumed as of then.
    let monthly = policy(500, BudgetPeriod::Monthly, true);
    let changed = set_budget(&db.store, &user, Some(monthly), at("2026-11-25T00:10:00Z")).await.unwrap();
    let expected = Budget {
        policy: monthly,
        consumed: Credits::ZERO,
        reserved: Credits::new(20).unwrap(),
        period_start: at("2026-11-01T00:00:00Z"),
    };
    assert_eq!(changed, Some(expected));
    assert_eq!(stored_budget(&db.store, &user).await, Some(expected));
    assert_eq!(budgeted(&db, acme.tenant.id).await, (1, 500));
}

async fn a_removed_budget_is_deleted_with_its_audit_event(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    set_budget(&db.store, &user, Some(policy(100, BudgetPeriod::None, true)), now()).await.unwrap();
    assert_eq!(set_budget(&db.store, &user, None, now()).await.unwrap(), None);
    assert_eq!(stored_budget(&db.store, &user).await, None);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserBudgetChanged).await.len(), 2);
    assert_eq!(budgeted(&db, acme.tenant.id).await, (0, 0));
}

async fn setting_the_budget_of_an_unknown_or_foreign_user_is_not_found_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let ghost = user_of(&acme, "ghost@example.com", Role::User, now());
    let mut theirs = add(&db.store, &globex, "theirs@example.com", Role::User).await;
    theirs.tenant = acme.tenant.id;
    for (user, what) in [(&ghost, "unknown"), (&theirs, "foreign")] {
        let result = set_budget(&db.store, user, Some(policy(100, BudgetPeriod::Daily, true)), now()).await;
        assert!(matches!(result, Err(StoreError::NotFound)), "{what}: {result:?}");
    }
    assert_eq!(BudgetRepository::budget(&db.store, globex.tenant.id, theirs.id, now()).await.unwrap(), None);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserBudgetChanged).await, vec![]);
    assert_eq!(budgeted(&db, acme.tenant.id).await, (0, 0));
    assert_eq!(budgeted(&db, globex.tenant.id).await, (0, 0));
}

async fn a_budget_set_by_an_actor_no_longer_administrator_is_actor_changed_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    let daily = policy(100, BudgetPeriod::Daily, true);
    let before = set_budget(&db.store, &user, Some(daily), now()).await.unwrap();
    let former = former_administrator(&db.store, &acme, "former@example.com").await;
    for change in [None, Some(policy(999, BudgetPeriod::Monthly, false))] {
        let audit = AuditEvent::user_budget_changed(&former, &user, Some(&daily), change.as_ref(), now());
        let result =
            BudgetRepository::set_budget(&db.store, acme.tenant.id, user.id, change, now(), acting(&former), &audit)
                .await;
        assert!(matches!(result, Err(StoreError::ActorChanged)), "{change:?}: {result:?}");
    }
    assert_eq!(stored_budget(&db.store, &user).await, before);
    assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserBudgetChanged).await.len(), 1);
    assert_eq!(budgeted(&db, acme.tenant.id).await, (1, 100));
}

async fn budget_totals_follow_budgets_set_changed_removed_and_purged(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let mut users = Vec::new();
    for (i, limit) in [100, 200, 300].into_iter().enumerate() {
        let user = add(&db.store, &acme, &format!("u{i}@example.com"), Role::User).await;
        set_budget(&db.store, &user, Some(policy(limit, BudgetPeriod::Monthly, true)), now()).await.unwrap();
        users.push(user);
    }
    let theirs = add(&db.store, &globex, "theirs@example.com", Role::User).await;
    set_budget(&db.store, &theirs, Some(policy(5000, BudgetPeriod::Daily, true)), now()).await.unwrap();
    assert_eq!(budgeted(&db, acme.tenant.id).await, (3, 600));

    set_budget(&db.store, &users[1], Some(policy(250, BudgetPeriod::Weekly, false)), now()).await.unwrap();
    assert_eq!(budgeted(&db, acme.tenant.id).await, (3, 650));
    set_budget(&db.store, &users[0], None, now()).await.unwrap();
    assert_eq!(budgeted(&db, acme.tenant.id).await, (2, 550));

    let actor = Actor::system(acme.tenant.id);
    let unbudgeted = add(&db.store, &acme, "free@example.com", Role::User).await;
    for user in [&users[2], &unbudgeted] {
        let audit = AuditEvent::user_purged(&actor, user, now());
        UserRepository::purge(&db.store, acme.tenant.id, &Premises::of(&actor, user, None), &audit).await.unwrap();
    }
    assert_eq!(budgeted(&db, acme.tenant.id).await, (1, 250));
    assert_eq!(budgeted(&db, globex.tenant.id).await, (1, 5000));
}

/// Stores `settings` as those of `tenant`, on behalf of the system.
async fn settle(db: &TestDatabase, tenant: &Tenant, settings: TenantSettings) {
    let actor = Actor::system(tenant.id);
    let audit = AuditEvent::tenant_settings_changed(&actor, tenant, &tenant.settings, &settings, now());
    db.store.update_settings(tenant.id, &tenant.settings, &settings, None, &audit).await.unwrap();
}

async fn a_tenant_default_budget_is_given_to_users_created_or_invited_afterwards(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let earlier = add(&db.store, &acme, "earlier@example.com", Role::User).await;
    let default = policy(500, BudgetPeriod::Daily, false);
    let settings = TenantSettings { invitation_ttl: InvitationTtl::DEFAULT, default_budget: Some(default) };
    settle(&db, &acme.tenant, settings).await;

    let created = add(&db.store, &acme, "created@example.com", Role::Collaborator).await;
    let new = NewUser {
        email: Email::parse("invited@example.com").unwrap(),
        name: None,
        phone: None,
        role: Role::User,
        referral_code: None,
    };
    let invited = User::invite(acme.tenant.id, new, None, now());
    let (invitation, _) =
        Invitation::issue(acme.tenant.id, invited.id, InvitationTtl::DEFAULT, None, Delivery::pending(), now());
    let audit = AuditEvent::user_invited(&Actor::system(acme.tenant.id), &invited, &invitation, now());
    db.store.invite(&invited, &invitation, None, &audit).await.unwrap();

    for user in [&created, &invited] {
        assert_eq!(stored_budget(&db.store, user).await, Some(Budget::new(default, user.created_at)), "{}", user.email);
    }
    assert_eq!(stored_budget(&db.store, &earlier).await, None);
    assert_eq!(stored_budget(&db.store, &acme.admin).await, None);
    assert_eq!(budgeted(&db, acme.tenant.id).await, (2, 1000));

    let stored = db.store.get_tenant(acme.tenant.id).await.unwrap().expect("tenant stored");
    settle(&db, &stored, TenantSettings::default()).await;
    let later = add(&db.store, &acme, "later@example.com", Role::User).await;
    assert_eq!(stored_budget(&db.store, &later).await, None);
    assert_eq!(budgeted(&db, acme.tenant.id).await, (2, 1000));
}

async fn access_facts_carry_the_stored_budget(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_licensed(&db.store, &acme, "u@example.com", &kind).await;
    let weekly = policy(1000, BudgetPeriod::Weekly, true);
    set_budget(&db.store, &user, Some(weekly), now()).await.unwrap();
    spend(&db.store, &user, "spent", 70, now()).await;
    hold(&db, &user, "held", 30, now()).await;

    let stored = stored_budget(&db.store, &user).await.expect("a budget");
    assert_eq!((stored.consumed.get(), stored.reserved.get()), (70, 30));
    let facts = db.store.access_facts(acme.tenant.id, user.id, now()).await.unwrap().expect("user found");
    assert_eq!(facts.budget, Some(stored));
    let facts = db.store.access_facts(acme.tenant.id, acme.admin.id, now()).await.unwrap().expect("admin found");
    assert_eq!(facts.budget, None);
}

/// Inserts `n` active reservations of `credits` each for `user`, made at `at` and expiring a
/// second later, with raw SQL (as `n` requests would).
async fn hold_many(db: &TestDatabase, user: &User, n: i64, credits: i64, at: Timestamp) {
    let columns = "id, tenant_id, user_id, idempotency_key, credits, status, created_at, expires_at";
    let sql = match db.backend() {
        DbBackend::Postgres => format!(
            "INSERT INTO reservations ({columns}) SELECT gen_random_uuid(), $1, $2, 'many-' || g.i, $3, 'active', $4, $5 \
             FROM generate_series(1, $6) AS g(i)"
        ),
        _ => format!(
            "INSERT INTO reservations ({columns}) WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?6) \
             SELECT randomblob(16), ?1, ?2, 'many-' || g.i, ?3, 'active', ?4, ?5 FROM g"
        ),
    };
    let values: [Value; 6] = [
        user.tenant.as_uuid().into(),
        user.id.as_uuid().into(),
        credits.into(),
        at.into(),
        (at + chrono::Duration::seconds(1)).into(),
        n.into(),
    ];
    let inserted = db.store.connection().execute_raw(Statement::from_sql_and_values(db.backend(), sql, values));
    assert_eq!(inserted.await.unwrap().rows_affected(), u64::try_from(n).unwrap());
}

/// A budget given to a user who holds more than an integer sums counts the most it can, and
/// reads as holding nothing once all of it expired.
async fn a_budget_given_over_more_held_than_an_integer_sums_reads_once_it_expired(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let user = add_licensed(&db.store, &acme, "u@example.com", &kind).await;
    let start = now();
    hold_many(&db, &user, 9_300, MAX_CREDITS, start).await;
    let soft = policy(100, BudgetPeriod::None, false);
    let given = set_budget(&db.store, &user, Some(soft), start).await.unwrap().expect("a budget");
    assert_eq!(given.reserved.get(), MAX_CREDITS);

    let later = start + chrono::Duration::seconds(2);
    let read = BudgetRepository::budget(&db.store, acme.tenant.id, user.id, later).await.unwrap();
    assert_eq!(read.map(|budget| budget.reserved.get()), Some(0));
    let facts = db.store.access_facts(acme.tenant.id, user.id, later).await.unwrap().expect("user found");
    assert_eq!(facts.budget.map(|budget| budget.reserved.get()), Some(0));
}

async fn the_database_refuses_negative_consumed_or_reserved_credits(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = add(&db.store, &acme, "u@example.com", Role::User).await;
    let budget = set_budget(&db.store, &user, Some(policy(100, BudgetPeriod::None, true)), now()).await.unwrap();
    let connection = db.store.connection();
    // The statement is valid: with a value in range, the database accepts it.
    connection.execute_unprepared("UPDATE budgets SET reserved = 0, consumed = 0").await.unwrap();
    for column in ["reserved", "consumed"] {
        let result = connection.execute_unprepared(&format!("UPDATE budgets SET {column} = -1")).await;
        let error = result.expect_err("a negative count refused").to_string();
        assert!(error.to_lowercase().contains("check constraint"), "{column}: {error}");
    }
    assert_eq!(stored_budget(&db.store, &user).await, budget);
}

on_both_databases!(
    a_first_budget_is_stored_with_nothing_spent_and_its_audit_event,
    a_changed_budget_keeps_what_was_consumed_and_held_and_starts_the_period_at_nows,
    a_removed_budget_is_deleted_with_its_audit_event,
    setting_the_budget_of_an_unknown_or_foreign_user_is_not_found_and_writes_nothing,
    a_budget_set_by_an_actor_no_longer_administrator_is_actor_changed_and_writes_nothing,
    budget_totals_follow_budgets_set_changed_removed_and_purged,
    a_tenant_default_budget_is_given_to_users_created_or_invited_afterwards,
    access_facts_carry_the_stored_budget,
    a_budget_given_over_more_held_than_an_integer_sums_reads_once_it_expired,
    the_database_refuses_negative_consumed_or_reserved_credits,
);

/// PostgreSQL: a budget change that the database fails to break a deadlock (with a batch of
/// reservations giving a budget created meanwhile its credits) runs again, once.
#[tokio::test]
async fn a_budget_change_failed_by_a_deadlock_runs_again_once() {
    roster_storage::testing::on_postgres(|db: TestDatabase| async move {
        let acme = tenant(&db.store, "acme").await;
        let user = add(&db.store, &acme, "u@example.com", Role::User).await;
        fail_next_insert_once(&db, "budgets", "40P01").await;
        let monthly = policy(1000, BudgetPeriod::Monthly, true);
        let stored = set_budget(&db.store, &user, Some(monthly), now()).await.unwrap();
        assert_eq!(stored.map(|budget| budget.policy), Some(monthly));
        assert_eq!(events(&db.store, acme.tenant.id, AuditAction::UserBudgetChanged).await.len(), 1);
        assert_eq!(budgeted(&db, acme.tenant.id).await, (1, 1000));
    })
    .await;
}
