//! The `q` filter through the trigram index, its dense-match strategy, and capped totals.

use roster_domain::ports::UserRepository as _;
use roster_domain::user::{ProfileChanges, SortDirection};
use roster_domain::{
    Actor, AuditAction, AuditEvent, PersonName, Premises, Role, SearchText, Total, UserFilter, UserQuery, UserSort,
    UserSortField, UserStatus,
};
use roster_storage::testing::TestDatabase;
use roster_storage::{ListLimits, Store, on_both_databases};

use crate::fixtures::{add, now, tenant};

async fn search(store: &Store, tenant: roster_domain::TenantId, text: &str) -> (Vec<String>, Total) {
    let query = UserQuery {
        filter: UserFilter { q: Some(SearchText::parse(text).unwrap()), ..UserFilter::default() },
        sort: UserSort { field: UserSortField::Email, direction: SortDirection::Asc },
        ..UserQuery::default()
    };
    let page = store.list(tenant, &query).await.unwrap();
    (page.items.iter().map(|u| u.email.to_string()).collect(), page.total.unwrap())
}

/// Stores `after` in place of `before`, as the domain would.
async fn apply(
    store: &Store,
    actor: &Actor,
    before: &roster_domain::User,
    after: roster_domain::User,
    action: AuditAction,
) {
    let audit = AuditEvent::user_changed(actor, action, before, &after, now());
    store.update(&after, &Premises::of(actor, before, Some((after.role, after.status))), &audit).await.unwrap();
}

fn exact(count: u64) -> Total {
    Total { count, exact: true }
}

async fn every_search_strategy_finds_the_same_users(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    for i in 0..12 {
        add(&db.store, &acme, &format!("dense{i:02}@example.com"), Role::User).await;
    }
    add(&db.store, &acme, "rare.one@example.com", Role::User).await;
    let globex = tenant(&db.store, "globex").await;
    add(&db.store, &globex, "rare.two@example.com", Role::User).await;

    // Few candidates: served from the trigram index. Many: the ordered walk. Short: a scan.
    for limits in [ListLimits::default(), ListLimits { candidates: 3, count_cap: 100 }] {
        let store = db.store.clone().with_list_limits(limits);
        let (emails, total) = search(&store, acme.tenant.id, "rare").await;
        assert_eq!((emails, total), (vec!["rare.one@example.com".to_owned()], exact(1)), "{limits:?}");
        let (emails, total) = search(&store, acme.tenant.id, "dense").await;
        assert_eq!((emails.len(), total), (12, exact(12)), "{limits:?}");
        assert_eq!(emails[0], "dense00@example.com");
        let (emails, total) = search(&store, acme.tenant.id, "e1").await;
        assert_eq!(
            (emails, total),
            (vec!["dense10@example.com".to_owned(), "dense11@example.com".to_owned()], exact(2))
        );
    }
}

async fn the_list_and_the_export_find_the_same_users_for_any_letters(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let zeus = add(&db.store, &acme, "zeus@example.com", Role::User).await;
    let name =
        ProfileChanges { name: Some(Some(PersonName::parse("ΟΔΟΣ Ζεύς").unwrap())), ..Default::default() };
    let named = zeus.with_profile(name, now()).unwrap();
    apply(&db.store, &Actor::system(acme.tenant.id), &zeus, named, AuditAction::UserUpdated).await;

    for text in ["δοσ", "οδος", "ζεύς", "100%", "a_b"] {
        let (listed, _) = search(&db.store, acme.tenant.id, text).await;
        let filter = UserFilter { q: Some(SearchText::parse(text).unwrap()), ..UserFilter::default() };
        let exported = db.store.scan(acme.tenant.id, &filter, None, 100).await.unwrap();
        let exported: Vec<String> = exported.iter().map(|u| u.email.to_string()).collect();
        assert_eq!(listed, exported, "{text}");
    }
    assert_eq!(search(&db.store, acme.tenant.id, "οδος").await.0, ["zeus@example.com"]);
}

async fn a_total_beyond_the_cap_is_a_lower_bound(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    for i in 0..8 {
        add(&db.store, &acme, &format!("many{i}@example.com"), Role::User).await;
    }
    let store = db.store.clone().with_list_limits(ListLimits { candidates: 2, count_cap: 5 });
    let (emails, total) = search(&store, acme.tenant.id, "many").await;
    assert_eq!((emails.len(), total), (8, Total { count: 5, exact: false }));
    // Role and status totals come from the counters: exact at any size.
    let all = store.list(acme.tenant.id, &UserQuery::default()).await.unwrap();
    assert_eq!(all.total, Some(exact(9)));
}

async fn the_search_index_follows_renames_and_purges(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let system = Actor::system(acme.tenant.id);
    let user = add(&db.store, &acme, "x@example.com", Role::User).await;
    let named =
        |name: &str| ProfileChanges { name: Some(Some(PersonName::parse(name).unwrap())), ..Default::default() };

    let alpha = user.with_profile(named("Zoë \"Alpha\" O'Neil"), now()).unwrap();
    let audit = AuditEvent::user_changed(&system, AuditAction::UserUpdated, &user, &alpha, now());
    db.store.update(&alpha, &Premises::of(&system, &user, Some((alpha.role, alpha.status))), &audit).await.unwrap();
    assert_eq!(search(&db.store, acme.tenant.id, "ZOË").await.1, exact(1), "non-ASCII, case-insensitive");
    assert_eq!(search(&db.store, acme.tenant.id, "\"alpha\" o'n").await.1, exact(1), "quotes in the search");

    let omega = alpha.with_profile(named("Omega"), now()).unwrap();
    let audit = AuditEvent::user_changed(&system, AuditAction::UserUpdated, &alpha, &omega, now());
    db.store.update(&omega, &Premises::of(&system, &alpha, Some((omega.role, omega.status))), &audit).await.unwrap();
    assert_eq!(search(&db.store, acme.tenant.id, "alpha").await.1, exact(0));
    assert_eq!(search(&db.store, acme.tenant.id, "omega").await.1, exact(1));

    let audit = AuditEvent::user_purged(&system, &omega, now());
    db.store.purge(acme.tenant.id, &Premises::of(&system, &omega, None), &audit).await.unwrap();
    assert_eq!(search(&db.store, acme.tenant.id, "omega").await.1, exact(0));
    assert_eq!(search(&db.store, acme.tenant.id, "x@exa").await.1, exact(0));
}

async fn totals_by_role_and_status_match_the_users_after_every_kind_of_change(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let system = Actor::system(acme.tenant.id);
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(add(&db.store, &acme, &format!("u{i}@example.com"), Role::User).await);
    }
    futures::join!(
        apply(&db.store, &system, &users[0], users[0].deactivated(now()), AuditAction::UserDeactivated),
        apply(&db.store, &system, &users[1], users[1].deactivated(now()), AuditAction::UserDeactivated),
        apply(
            &db.store,
            &system,
            &users[2],
            users[2].with_role(Role::Collaborator, now()),
            AuditAction::UserRoleChanged
        ),
        apply(
            &db.store,
            &system,
            &users[3],
            users[3].with_role(Role::Collaborator, now()),
            AuditAction::UserRoleChanged
        ),
    );
    let audit = AuditEvent::user_purged(&system, &users[4], now());
    db.store.purge(acme.tenant.id, &Premises::of(&system, &users[4], None), &audit).await.unwrap();

    let expect = [
        (None, None, 6),
        (Some(Role::User), None, 3),
        (Some(Role::User), Some(UserStatus::Active), 1),
        (None, Some(UserStatus::Deactivated), 2),
        (Some(Role::Collaborator), Some(UserStatus::Active), 2),
        (Some(Role::Administrator), None, 1),
    ];
    for (role, status, count) in expect {
        let query = UserQuery { filter: UserFilter { role, status, ..UserFilter::default() }, ..UserQuery::default() };
        let page = db.store.list(acme.tenant.id, &query).await.unwrap();
        assert_eq!(page.total, Some(exact(count)), "{role:?} {status:?}");
        assert_eq!(page.items.len() as u64, count, "{role:?} {status:?}: the counters agree with the rows");
    }
}

on_both_databases!(
    the_list_and_the_export_find_the_same_users_for_any_letters,
    every_search_strategy_finds_the_same_users,
    a_total_beyond_the_cap_is_a_lower_bound,
    the_search_index_follows_renames_and_purges,
    totals_by_role_and_status_match_the_users_after_every_kind_of_change,
);
