//! The user list: every filter, both sort orders, keyset paging and the total.

use std::collections::HashSet;

use roster_domain::ports::UserRepository as _;
use roster_domain::user::SortDirection;
use roster_domain::{
    PageLimit, ReferralCode, Role, SearchText, User, UserFilter, UserId, UserQuery, UserSort, UserSortField, UserStatus,
};
use roster_storage::testing::TestDatabase;
use roster_storage::{ListLimits, Store, on_both_databases};

use crate::fixtures::{days_ago, insert, now, tenant, user_of};

/// Follows `next` from the first page to the last and returns every id, in order.
async fn walk(
    db: &TestDatabase,
    tenant: roster_domain::TenantId,
    filter: UserFilter,
    sort: UserSort,
    limit: u64,
) -> Vec<UserId> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let query = UserQuery { filter: filter.clone(), sort, after, limit: PageLimit::new(limit).unwrap() };
        let page = db.store.list(tenant, &query).await.unwrap();
        assert!(page.items.len() <= limit as usize);
        ids.extend(page.items.iter().map(|u| u.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
}

async fn paging_through_250_users_returns_each_exactly_once_in_every_order(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let same_instant = now();
    let mut expected: HashSet<UserId> = HashSet::from([acme.admin.id]);
    for i in 0..250 {
        // Many users share one creation instant, so ties must be broken by id.
        let user = user_of(
            &acme,
            &format!("user{i:03}@example.com"),
            Role::User,
            if i % 3 == 0 { same_instant } else { now() },
        );
        insert(&db.store, &user).await;
        expected.insert(user.id);
    }
    for field in [UserSortField::CreatedAt, UserSortField::Email] {
        for direction in [SortDirection::Asc, SortDirection::Desc] {
            let ids = walk(&db, acme.tenant.id, UserFilter::default(), UserSort { field, direction }, 37).await;
            assert_eq!(ids.len(), 251, "{field:?} {direction:?}");
            assert_eq!(ids.iter().copied().collect::<HashSet<_>>(), expected, "{field:?} {direction:?}");
        }
    }
}

async fn pages_come_in_the_requested_order_with_the_total(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    for (i, email) in ["b@example.com", "c@example.com", "a@example.com"].iter().enumerate() {
        let user = user_of(&acme, email, Role::User, days_ago(3 - i as i64));
        insert(&db.store, &user).await;
    }
    let by_email = UserQuery {
        sort: UserSort { field: UserSortField::Email, direction: SortDirection::Asc },
        limit: PageLimit::new(2).unwrap(),
        ..UserQuery::default()
    };
    let page = db.store.list(acme.tenant.id, &by_email).await.unwrap();
    let emails: Vec<&str> = page.items.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails, ["a@example.com", "admin@acme.test"]);
    assert_eq!(page.total, Some(roster_domain::Total { count: 4, exact: true }));
    assert!(page.next.is_some());

    let newest_first = UserQuery::default();
    let page = db.store.list(acme.tenant.id, &newest_first).await.unwrap();
    let emails: Vec<&str> = page.items.iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails, ["admin@acme.test", "a@example.com", "c@example.com", "b@example.com"]);
    assert_eq!(page.next, None);
}

/// Seeds a tenant with users that each filter tells apart, and returns them.
async fn seeded(db: &TestDatabase) -> (roster_domain::services::CreatedTenant, Vec<User>) {
    let acme = tenant(&db.store, "acme").await;
    let mut users = Vec::new();
    let mut add = |user: User| users.push(user);
    let mut martin = user_of(&acme, "martin.dupont@example.com", Role::Collaborator, days_ago(10));
    martin.referral_code = Some(ReferralCode::parse("SPRING").unwrap());
    add(martin);
    let mut ana = user_of(&acme, "ana@example.com", Role::User, days_ago(5));
    ana.name = Some(roster_domain::PersonName::parse("Ana MARTINEZ").unwrap());
    add(ana);
    let old = user_of(&acme, "old_timer@example.com", Role::User, days_ago(40)).deactivated(days_ago(1));
    add(old);
    let mut percent = user_of(&acme, "100%sure@example.com", Role::User, days_ago(2));
    percent.referral_code = Some(ReferralCode::parse("spring").unwrap());
    add(percent);
    for user in &users {
        insert(&db.store, user).await;
    }
    (acme, users)
}

async fn emails_of(store: &Store, tenant: roster_domain::TenantId, filter: UserFilter) -> (Vec<String>, u64) {
    let query = UserQuery {
        filter,
        sort: UserSort { field: UserSortField::Email, direction: SortDirection::Asc },
        ..UserQuery::default()
    };
    let page = store.list(tenant, &query).await.unwrap();
    (page.items.iter().map(|u| u.email.to_string()).collect(), page.total.unwrap().count)
}

async fn every_filter_selects_exactly_its_users(db: TestDatabase) {
    let (acme, _) = seeded(&db).await;
    // Default limits page over the ids of few matches; `candidates: 0` walks the order's index.
    for limits in [ListLimits::default(), ListLimits { candidates: 0, ..ListLimits::default() }] {
        filters_select_exactly_their_users(&db.store.clone().with_list_limits(limits), acme.tenant.id).await;
    }
}

async fn filters_select_exactly_their_users(store: &Store, t: roster_domain::TenantId) {
    let q = |text: &str| UserFilter { q: Some(SearchText::parse(text).unwrap()), ..UserFilter::default() };

    assert_eq!(
        emails_of(store, t, q("MARTIN")).await,
        (vec!["ana@example.com".into(), "martin.dupont@example.com".into()], 2)
    );
    assert_eq!(emails_of(store, t, q("%")).await, (vec!["100%sure@example.com".into()], 1));
    assert_eq!(emails_of(store, t, q("_")).await, (vec!["old_timer@example.com".into()], 1));
    assert_eq!(emails_of(store, t, q("nobody")).await, (vec![], 0));

    let role = UserFilter { role: Some(Role::Collaborator), ..UserFilter::default() };
    assert_eq!(emails_of(store, t, role).await, (vec!["martin.dupont@example.com".into()], 1));

    let status = UserFilter { status: Some(UserStatus::Deactivated), ..UserFilter::default() };
    assert_eq!(emails_of(store, t, status).await, (vec!["old_timer@example.com".into()], 1));

    let period =
        UserFilter { created_from: Some(days_ago(11)), created_to: Some(days_ago(4)), ..UserFilter::default() };
    assert_eq!(
        emails_of(store, t, period).await,
        (vec!["ana@example.com".into(), "martin.dupont@example.com".into()], 2)
    );

    let code = UserFilter { referral_code: Some(ReferralCode::parse("SPRING").unwrap()), ..UserFilter::default() };
    assert_eq!(emails_of(store, t, code).await, (vec!["martin.dupont@example.com".into()], 1));

    let combined = UserFilter { role: Some(Role::User), status: Some(UserStatus::Active), ..UserFilter::default() };
    assert_eq!(emails_of(store, t, combined).await, (vec!["100%sure@example.com".into(), "ana@example.com".into()], 2));
}

async fn the_list_never_shows_another_tenants_users(db: TestDatabase) {
    let (_, _) = seeded(&db).await;
    let globex = tenant(&db.store, "globex").await;
    assert_eq!(
        emails_of(&db.store, globex.tenant.id, UserFilter::default()).await,
        (vec!["admin@globex.test".into()], 1)
    );
}

on_both_databases!(
    paging_through_250_users_returns_each_exactly_once_in_every_order,
    pages_come_in_the_requested_order_with_the_total,
    every_filter_selects_exactly_its_users,
    the_list_never_shows_another_tenants_users,
);
