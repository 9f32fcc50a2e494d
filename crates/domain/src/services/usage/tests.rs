//! The metering and budget rules, one behaviour per test, with the ports mocked.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::*;
use crate::budget::{Budget, BudgetPeriod, BudgetPolicy, Threshold};
use crate::ports::{
    AccessFacts, BudgetTotals, MockBudgetRepository, MockClock, MockInvitationRepository, MockLicenseRepository,
    MockUsageLedger, MockUserRepository,
};
use crate::service::{Scope, ServiceCredential, ServiceName};
use crate::services::{AccessService, BudgetError, BudgetService, EntitlementsError};
use crate::user::NewUser;
use crate::{Email, Role, TenantId, Timestamp, User, UserSource};

fn tenant() -> TenantId {
    TenantId::from(uuid::Uuid::from_u128(5))
}

fn now() -> Timestamp {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z").unwrap().with_timezone(&Utc)
}

fn clock() -> Arc<MockClock> {
    let mut clock = MockClock::new();
    clock.expect_now().returning(now);
    Arc::new(clock)
}

fn user(email: &str, role: Role) -> User {
    let new = NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role, referral_code: None };
    User::create(tenant(), new, UserSource::Created, now())
}

fn person(user: &User) -> Actor {
    Actor::user(user.tenant, user.id, user.email.clone(), user.role)
}

fn service(scopes: &[Scope]) -> Actor {
    let name = ServiceName::parse("gateway").unwrap();
    Actor::service(&ServiceCredential::issue(tenant(), name, scopes.iter().copied().collect::<BTreeSet<_>>(), now()).0)
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

fn credits(value: i64) -> Credits {
    Credits::new(value).unwrap()
}

#[tokio::test]
async fn only_a_service_with_usage_write_meters_usage_never_a_persons_token() {
    let admin = user("a@example.com", Role::Administrator);
    let mut ledger = MockUsageLedger::new();
    ledger.expect_reserve().never();
    ledger.expect_commit().never();
    ledger.expect_record_events().never();
    let usage = UsageService::new(Arc::new(ledger), clock());
    for actor in [person(&admin), service(&[Scope::EntitlementsRead]), Actor::system(tenant())] {
        let reserved = usage.reserve(&actor, admin.id, credits(10), key("k"), ReservationTtl::DEFAULT).await;
        assert!(matches!(reserved, Err(MeteringError::Forbidden(Violation::MissingScope(Scope::UsageWrite)))));
        let committed = usage.commit(&actor, ReservationId::new(), credits(1), &Metrics::default()).await;
        assert!(matches!(committed, Err(MeteringError::Forbidden(_))));
    }
}

#[tokio::test]
async fn a_reservation_is_judged_by_the_ledger_at_the_clocks_instant_in_the_services_tenant() {
    let member = user("u@example.com", Role::User);
    let mut ledger = MockUsageLedger::new();
    let id = member.id;
    ledger
        .expect_reserve()
        .withf(move |request, at| {
            request.tenant == tenant() && request.user == id && request.credits.get() == 10 && *at == now()
        })
        .times(1)
        .returning(|_, _| Ok(ReserveOutcome::UserInactive));
    let usage = UsageService::new(Arc::new(ledger), clock());
    let gateway = service(&[Scope::UsageWrite]);
    let outcome = usage.reserve(&gateway, id, credits(10), key("k"), ReservationTtl::DEFAULT).await;
    assert_eq!(outcome.unwrap(), ReserveOutcome::UserInactive);
}

#[tokio::test]
async fn a_batch_with_a_repeated_key_or_no_event_or_too_many_is_refused_whole() {
    let mut ledger = MockUsageLedger::new();
    ledger.expect_record_events().never();
    let usage = UsageService::new(Arc::new(ledger), clock());
    let event = |k: &str| UsageEvent {
        key: key(k),
        user: crate::UserId::new(),
        credits: credits(1),
        metrics: Metrics::default(),
        occurred_at: None,
    };
    let actor = service(&[Scope::UsageWrite]);
    let repeated = [event("a"), event("b"), event("a")];
    assert!(matches!(usage.record(&actor, &repeated).await, Err(MeteringError::InvalidBatch)));
    assert!(matches!(usage.record(&actor, &[]).await, Err(MeteringError::InvalidBatch)));
    let many: Vec<UsageEvent> = (0..=MAX_EVENTS).map(|i| event(&i.to_string())).collect();
    assert!(matches!(usage.record(&actor, &many).await, Err(MeteringError::InvalidBatch)));
}

#[tokio::test]
async fn events_dated_up_to_five_minutes_ahead_are_recorded_and_a_batch_with_one_further_ahead_is_refused_whole() {
    let event = |k: &str, ahead: chrono::TimeDelta| UsageEvent {
        key: key(k),
        user: crate::UserId::new(),
        credits: credits(1),
        metrics: Metrics::default(),
        occurred_at: Some(now() + ahead),
    };
    let within = [event("past", -chrono::TimeDelta::days(400)), event("ahead", MAX_EVENT_LEAD)];
    let mut ledger = MockUsageLedger::new();
    let expected = within.to_vec();
    ledger
        .expect_record_events()
        .withf(move |t, events, at| *t == tenant() && events == expected && *at == now())
        .times(1)
        .returning(|_, events, _| Ok(vec![EventOutcome::Recorded; events.len()]));
    let usage = UsageService::new(Arc::new(ledger), clock());
    let actor = service(&[Scope::UsageWrite]);
    assert_eq!(usage.record(&actor, &within).await.unwrap(), vec![EventOutcome::Recorded; 2]);

    let mut ledger = MockUsageLedger::new();
    ledger.expect_record_events().never();
    let usage = UsageService::new(Arc::new(ledger), clock());
    let beyond =
        [event("now", chrono::TimeDelta::zero()), event("later", MAX_EVENT_LEAD + chrono::TimeDelta::microseconds(1))];
    let refused = usage.record(&actor, &beyond).await;
    assert!(matches!(&refused, Err(MeteringError::FutureEvent(k)) if *k == key("later")), "{refused:?}");
}

fn access_with(facts: AccessFacts) -> AccessService {
    let mut licenses = MockLicenseRepository::new();
    licenses.expect_access_facts().returning(move |_, _, _| Ok(Some(facts.clone())));
    let mut budgets = MockBudgetRepository::new();
    budgets.expect_budget_totals().returning(|_, _| Ok(BudgetTotals::default()));
    AccessService::new(Arc::new(licenses), Arc::new(MockInvitationRepository::new()), Arc::new(budgets), clock())
}

fn policy(limit: i64) -> BudgetPolicy {
    BudgetPolicy { limit: credits(limit), period: BudgetPeriod::Daily, warn_at: Threshold::new(80).ok(), hard: true }
}

#[tokio::test]
async fn the_gateway_reads_entitlements_with_entitlements_read_and_sees_the_budget_as_of_now() {
    let member = user("u@example.com", Role::User);
    let yesterday = DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z").unwrap().with_timezone(&Utc);
    let stale = Budget { consumed: credits(900), ..Budget::new(policy(1000), yesterday) };
    let facts = AccessFacts { role: Role::User, status: crate::UserStatus::Active, license: None, budget: Some(stale) };
    let access = access_with(facts);
    let entitlements = access.entitlements(&service(&[Scope::EntitlementsRead]), member.id).await.unwrap();
    let budget = entitlements.budget.unwrap();
    assert_eq!(budget.consumed, Credits::ZERO, "a new day began: consumption starts again");
    assert_eq!(budget.remaining(), 1000);
    let denied = access.entitlements(&service(&[Scope::UsageWrite]), member.id).await;
    assert!(matches!(denied, Err(EntitlementsError::Forbidden(Violation::MissingScope(Scope::EntitlementsRead)))));
}

fn budgets_over(users: &[&User], stored: Option<Budget>) -> (MockUserRepository, MockBudgetRepository) {
    let known: Vec<User> = users.iter().map(|u| (*u).clone()).collect();
    let mut user_repository = MockUserRepository::new();
    user_repository.expect_get().returning(move |_, id| Ok(known.iter().find(|u| u.id == id).cloned()));
    let mut budgets = MockBudgetRepository::new();
    budgets.expect_budget().returning(move |_, _, _| Ok(stored));
    (user_repository, budgets)
}

#[tokio::test]
async fn only_administrators_set_budgets_and_a_change_is_audited() {
    let admin = user("a@example.com", Role::Administrator);
    let collaborator = user("c@example.com", Role::Collaborator);
    let member = user("u@example.com", Role::User);
    let (users, mut budgets) = budgets_over(&[&admin, &collaborator, &member], None);
    budgets
        .expect_set_budget()
        .withf(|_, _, policy, _, _, audit| {
            policy.is_some_and(|p| p.limit.get() == 500) && audit.action == crate::AuditAction::UserBudgetChanged
        })
        .times(1)
        .returning(|_, _, policy, now, _, _| Ok(policy.map(|p| Budget::new(p, now))));
    let service = BudgetService::new(Arc::new(users), Arc::new(budgets), Arc::new(MockUsageLedger::new()), clock());
    let refused = service.set(&person(&collaborator), member.id, Some(policy(500))).await;
    assert!(matches!(refused, Err(BudgetError::Forbidden(_))));
    let set = service.set(&person(&admin), member.id, Some(policy(500))).await.unwrap().unwrap();
    assert_eq!(set.policy.limit.get(), 500);
}

#[tokio::test]
async fn users_read_their_own_budget_but_not_anothers() {
    let member = user("u@example.com", Role::User);
    let other = user("o@example.com", Role::User);
    let (users, budgets) = budgets_over(&[&member, &other], Some(Budget::new(policy(100), now())));
    let service = BudgetService::new(Arc::new(users), Arc::new(budgets), Arc::new(MockUsageLedger::new()), clock());
    assert!(service.get(&person(&member), member.id).await.unwrap().is_some());
    assert!(matches!(service.get(&person(&member), other.id).await, Err(BudgetError::Forbidden(_))));
}

#[tokio::test]
async fn a_usage_report_spans_at_most_a_year_and_never_backwards() {
    let member = user("u@example.com", Role::User);
    let (users, budgets) = budgets_over(&[&member], None);
    let mut ledger = MockUsageLedger::new();
    ledger.expect_usage().times(1).returning(|_, _, _, _| Ok(crate::usage::UsageReport::default()));
    let service = BudgetService::new(Arc::new(users), Arc::new(budgets), Arc::new(ledger), clock());
    let day = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
    let backwards = service.usage(&person(&member), member.id, day("2026-11-23"), day("2026-11-22")).await;
    assert!(matches!(backwards, Err(BudgetError::InvalidSpan)));
    let long = service.usage(&person(&member), member.id, day("2025-01-01"), day("2026-01-02")).await;
    assert!(matches!(long, Err(BudgetError::InvalidSpan)));
    service.usage(&person(&member), member.id, day("2026-01-01"), day("2026-12-31")).await.unwrap();
}
