//! Users stored in batches (`insert_batch`), found by many emails at once (`find_by_emails`)
//! and walked oldest first (`scan`): each record all or nothing, with the same seats,
//! invitations, default budgets, counters and audit events as one at a time, also under races.

use std::collections::{HashMap, HashSet};

use RecordOutcome::{Created, EmailTaken, LicenseNotFound, NoSeats};
use futures::future::join_all;
use roster_domain::budget::{Budget, BudgetPeriod};
use roster_domain::governance::{Acting, acting};
use roster_domain::invitation::{Delivery, Invitation, InvitationSecret, InvitationTtl, TenantSettings};
use roster_domain::ports::{
    AuditLog as _, BudgetRepository, InvitationRepository as _, LicenseRepository, NewRecord, RecordOutcome,
    TenantRepository as _, UserRepository,
};
use roster_domain::services::CreatedTenant;
use roster_domain::user::NewUser;
use roster_domain::{
    Actor, AuditAction, AuditEvent, AuditQuery, Email, LicenseKind, LicenseKindId, PageLimit, PersonName, Phone,
    ReferralCode, Role, SearchText, StoreError, TenantId, User, UserCursor, UserFilter, UserId, UserSource, UserStatus,
};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;

use crate::fixtures::{
    add, add_license, at, change, count, days_ago, former_administrator, insert, now, policy, stored_budget, tenant,
    user_of,
};

/// The record of `user` created by the system, with its audit event.
fn record_of(user: User) -> NewRecord {
    let audit = AuditEvent::user_created(&Actor::system(user.tenant), &user, user.created_at);
    NewRecord { user, invitation: None, audit }
}

/// The record of a new user of `created` with `email` and `role`, holding a seat of `license`.
fn record(created: &CreatedTenant, email: &str, role: Role, license: Option<LicenseKindId>) -> NewRecord {
    record_of(User { license, ..user_of(created, email, role, now()) })
}

/// The record of a user of `created` invited by its administrator with `email`, holding a seat
/// of `license`, and the secret of their link.
fn invited_record(
    created: &CreatedTenant,
    email: &str,
    license: Option<LicenseKindId>,
) -> (NewRecord, InvitationSecret) {
    let new =
        NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role: Role::User, referral_code: None };
    let user = User::invite(created.tenant.id, new, license, now());
    let ttl = InvitationTtl::DEFAULT;
    let (invitation, secret) =
        Invitation::issue(user.tenant, user.id, ttl, Some(created.admin.id), Delivery::pending(), now());
    let audit = AuditEvent::user_invited(&admin_of(created), &user, &invitation, now());
    (NewRecord { user, invitation: Some(invitation), audit }, secret)
}

/// The first administrator of `created`, as an actor.
fn admin_of(created: &CreatedTenant) -> Actor {
    Actor::user(created.tenant.id, created.admin.id, created.admin.email.clone(), Role::Administrator)
}

/// Stores `records` in `tenant` in one batch on behalf of `acting`.
async fn store_batch(
    db: &TestDatabase,
    tenant: TenantId,
    records: &[NewRecord],
    acting: Acting,
) -> Result<Vec<RecordOutcome>, StoreError> {
    UserRepository::insert_batch(&db.store, tenant, records, acting).await
}

/// `user` (by id) as stored now in their tenant, if stored.
async fn stored(db: &TestDatabase, user: &User) -> Option<User> {
    UserRepository::get(&db.store, user.tenant, user.id).await.unwrap()
}

/// Gives `tenant` the default budget `default` on behalf of the system.
async fn settle(db: &TestDatabase, created: &CreatedTenant, default: Option<roster_domain::budget::BudgetPolicy>) {
    let settings = TenantSettings { invitation_ttl: InvitationTtl::DEFAULT, default_budget: default };
    let tenant = &created.tenant;
    let audit =
        AuditEvent::tenant_settings_changed(&Actor::system(tenant.id), tenant, &tenant.settings, &settings, now());
    db.store.update_settings(tenant.id, &tenant.settings, &settings, None, &audit).await.unwrap();
}

/// The user counts of `tenant` (the dashboard's), without the pairs that count nobody.
async fn counts(db: &TestDatabase, tenant: TenantId) -> HashMap<(Role, UserStatus), u64> {
    let counts = db.store.user_counts(tenant).await.unwrap();
    counts.into_iter().filter(|(_, _, n)| *n > 0).map(|(role, status, n)| ((role, status), n)).collect()
}

/// The users of `tenant` per role and status, counted row by row with raw SQL.
async fn recount(db: &TestDatabase, tenant: TenantId) -> HashMap<(Role, UserStatus), u64> {
    let mut counted = HashMap::new();
    for role in Role::ALL {
        for status in UserStatus::ALL {
            let sql = "SELECT COUNT(*) AS n FROM users WHERE tenant_id = ? AND role = ? AND status = ?";
            let n = count(db, sql, [tenant.as_uuid().into(), role.as_str().into(), status.as_str().into()]).await;
            if n > 0 {
                counted.insert((role, *status), u64::try_from(n).unwrap());
            }
        }
    }
    counted
}

/// Checks that the dashboard's counters of `tenant` equal a recount, and returns them.
async fn counters_match_recount(db: &TestDatabase, tenant: TenantId) -> HashMap<(Role, UserStatus), u64> {
    let kept = counts(db, tenant).await;
    assert_eq!(kept, recount(db, tenant).await, "user_counts drifted from the users table");
    kept
}

/// The seats of `kind` assigned now.
async fn assigned(db: &TestDatabase, kind: &LicenseKind) -> u64 {
    LicenseRepository::get(&db.store, kind.tenant, kind.id).await.unwrap().expect("kind stored").assigned
}

/// How many users hold a seat of `kind`, counted with raw SQL.
async fn holders(db: &TestDatabase, kind: &LicenseKind) -> u64 {
    let sql = "SELECT COUNT(*) AS n FROM users WHERE tenant_id = ? AND license_id = ?";
    let n = count(db, sql, [kind.tenant.as_uuid().into(), kind.id.as_uuid().into()]).await;
    u64::try_from(n).unwrap()
}

/// Every event of `tenant` with `action`, all pages.
async fn all_events(db: &TestDatabase, tenant: TenantId, action: AuditAction) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    let mut after = None;
    loop {
        let query =
            AuditQuery { action: Some(action), after, limit: PageLimit::new(200).unwrap(), ..AuditQuery::default() };
        let page = db.store.list_events(tenant, &query).await.unwrap();
        events.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return events,
        }
    }
}

/// The events of `tenant` about the user `target`.
async fn events_about(db: &TestDatabase, tenant: TenantId, target: UserId) -> Vec<AuditEvent> {
    let query = AuditQuery { target: Some(target.into()), ..AuditQuery::default() };
    db.store.list_events(tenant, &query).await.unwrap().items
}

/// The users with a budget and the sum of their limits in `tenant`.
async fn budgeted(db: &TestDatabase, tenant: TenantId) -> (u64, i64) {
    let totals = BudgetRepository::budget_totals(&db.store, tenant, now()).await.unwrap();
    (totals.users, totals.limit)
}

/// Checks `result` of storing `records` against what is stored: a created record is stored as
/// given, any other is not (and an email taken is someone else's), and a stale batch wrote
/// nothing. Returns the ids created.
async fn check_outcomes(
    db: &TestDatabase,
    records: &[NewRecord],
    result: &Result<Vec<RecordOutcome>, StoreError>,
) -> Vec<UserId> {
    let outcomes = match result {
        Ok(outcomes) => outcomes,
        Err(StoreError::Stale) => {
            for record in records {
                assert_eq!(stored(db, &record.user).await, None, "a stale batch stored {}", record.user.email);
            }
            return Vec::new();
        }
        Err(other) => panic!("insert_batch failed with an error its contract does not allow: {other:?}"),
    };
    assert_eq!(outcomes.len(), records.len(), "one outcome per record");
    let mut created = Vec::new();
    for (record, outcome) in records.iter().zip(outcomes) {
        let user = &record.user;
        if *outcome == Created {
            assert_eq!(stored(db, user).await.as_ref(), Some(user), "{}", user.email);
            created.push(user.id);
            continue;
        }
        assert_eq!(stored(db, user).await, None, "{} is {outcome:?} but stored", user.email);
        if *outcome == EmailTaken {
            let holder = db.store.find_by_email(user.tenant, &user.email).await.unwrap();
            assert!(holder.is_some_and(|holder| holder.id != user.id), "{} taken by nobody", user.email);
        }
    }
    created
}

// insert_batch: what is stored

async fn a_batch_stores_each_user_as_given_with_its_audit_event_counters_and_the_default_budget(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let default = policy(500, BudgetPeriod::Monthly, true);
    settle(&db, &acme, Some(default)).await;
    let mut full = user_of(&acme, "full@example.com", Role::Collaborator, days_ago(2));
    full.name = Some(PersonName::parse("Zoë O'Brien").unwrap());
    full.phone = Some(Phone::parse("+33 6 12 34 56 78").unwrap());
    full.referral_code = Some(ReferralCode::parse("SPRING-26").unwrap());
    full.source = UserSource::Imported;
    let mut records = vec![record_of(full)];
    for i in 0..11 {
        let role = if i % 3 == 0 { Role::Collaborator } else { Role::User };
        records.push(record(&acme, &format!("new{i}@example.com"), role, None));
    }

    let outcomes = store_batch(&db, acme.tenant.id, &records, acting(&admin_of(&acme))).await.unwrap();

    assert_eq!(outcomes, vec![Created; 12]);
    for NewRecord { user, audit, .. } in &records {
        assert_eq!(stored(&db, user).await.as_ref(), Some(user));
        assert_eq!(db.store.find_by_email(acme.tenant.id, &user.email).await.unwrap().as_ref(), Some(user));
        // The creation's event says that the user got the default budget with it.
        let created = audit.with_default_budget(Some(&default));
        assert_eq!(events_about(&db, acme.tenant.id, user.id).await, vec![created], "{}", user.email);
        // As a single insert gives it: the default policy, its period started at the creation.
        assert_eq!(stored_budget(&db.store, user).await, Some(Budget::new(default, user.created_at)), "{}", user.email);
    }
    assert_eq!(all_events(&db, acme.tenant.id, AuditAction::UserCreated).await.len(), 1 + 12, "the admin's and 12");
    let expected = HashMap::from([
        ((Role::Administrator, UserStatus::Active), 1),
        ((Role::Collaborator, UserStatus::Active), 5),
        ((Role::User, UserStatus::Active), 7),
    ]);
    assert_eq!(counters_match_recount(&db, acme.tenant.id).await, expected);
    assert_eq!(budgeted(&db, acme.tenant.id).await, (12, 12 * 500));
    assert_eq!(stored_budget(&db.store, &acme.admin).await, None);
}

async fn a_batch_without_a_default_budget_gives_no_budget(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let records =
        vec![record(&acme, "a@example.com", Role::User, None), record(&acme, "b@example.com", Role::User, None)];
    assert_eq!(store_batch(&db, acme.tenant.id, &records, None).await.unwrap(), vec![Created, Created]);
    for record in &records {
        assert_eq!(stored_budget(&db.store, &record.user).await, None);
    }
    assert_eq!(budgeted(&db, acme.tenant.id).await, (0, 0));
}

async fn an_empty_batch_stores_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let before = counts(&db, acme.tenant.id).await;
    assert_eq!(store_batch(&db, acme.tenant.id, &[], acting(&admin_of(&acme))).await.unwrap(), vec![]);
    assert_eq!(counters_match_recount(&db, acme.tenant.id).await, before);
}

async fn invited_records_are_stored_invited_with_their_invitations_and_seats(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let default = policy(100, BudgetPeriod::Daily, false);
    settle(&db, &acme, Some(default)).await;
    let invited: Vec<(NewRecord, InvitationSecret)> =
        (0..4).map(|i| invited_record(&acme, &format!("inv{i}@example.com"), (i == 0).then_some(kind.id))).collect();
    let mut records: Vec<NewRecord> = invited.iter().map(|(record, _)| record.clone()).collect();
    records.push(record(&acme, "plain@example.com", Role::User, None));

    let outcomes = store_batch(&db, acme.tenant.id, &records, acting(&admin_of(&acme))).await.unwrap();

    assert_eq!(outcomes, vec![Created; 5]);
    for (record, secret) in &invited {
        let user = stored(&db, &record.user).await.expect("invited user stored");
        assert_eq!((user.status, user.source, user.activated_at), (UserStatus::Invited, UserSource::Invited, None));
        assert_eq!(&user, &record.user);
        let invitation = record.invitation.clone();
        assert_eq!(db.store.get_invitation(acme.tenant.id, user.id).await.unwrap(), invitation);
        assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), invitation);
        assert_eq!(
            events_about(&db, acme.tenant.id, user.id).await,
            vec![record.audit.with_default_budget(Some(&default))]
        );
        assert_eq!(stored_budget(&db.store, &user).await, Some(Budget::new(default, user.created_at)));
    }
    let plain = &records[4].user;
    assert_eq!(db.store.get_invitation(acme.tenant.id, plain.id).await.unwrap(), None);
    assert_eq!(all_events(&db, acme.tenant.id, AuditAction::UserInvited).await.len(), 4);
    assert_eq!((assigned(&db, &kind).await, holders(&db, &kind).await), (1, 1));
    let expected = HashMap::from([
        ((Role::Administrator, UserStatus::Active), 1),
        ((Role::User, UserStatus::Active), 1),
        ((Role::User, UserStatus::Invited), 4),
    ]);
    assert_eq!(counters_match_recount(&db, acme.tenant.id).await, expected);
}

async fn a_record_whose_email_is_taken_in_any_letter_case_is_email_taken_and_nothing_of_it_is_written(
    db: TestDatabase,
) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 1).await;
    let dup = add(&db.store, &acme, "dup@example.com", Role::User).await;
    let mixed = add(&db.store, &acme, "Mixed.Case@Example.com", Role::Collaborator).await;
    assert_eq!(mixed.email.as_str(), "mixed.case@example.com", "Email::parse lowercases");
    let before = counts(&db, acme.tenant.id).await;
    let created_before = all_events(&db, acme.tenant.id, AuditAction::UserCreated).await.len();

    let (invited_twin, secret) = invited_record(&acme, "MIXED.CASE@example.COM", None);
    let records = vec![
        record(&acme, "first@example.com", Role::User, None),
        // Asks for the only seat first: being refused, it must leave it to the next record.
        record(&acme, "DUP@Example.COM", Role::User, Some(kind.id)),
        record(&acme, "second@example.com", Role::User, Some(kind.id)),
        invited_twin,
        record(&acme, "third@example.com", Role::Collaborator, None),
    ];
    let outcomes = store_batch(&db, acme.tenant.id, &records, acting(&admin_of(&acme))).await.unwrap();

    assert_eq!(outcomes, vec![Created, EmailTaken, Created, EmailTaken, Created]);
    check_outcomes(&db, &records, &Ok(outcomes)).await;
    assert_eq!(stored(&db, &dup).await, Some(dup.clone()), "the holder of the email is left as it was");
    assert_eq!(stored(&db, &mixed).await, Some(mixed.clone()));
    for taken in [&records[1], &records[3]] {
        assert_eq!(events_about(&db, acme.tenant.id, taken.user.id).await, vec![]);
    }
    assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), None);
    assert_eq!(db.store.get_invitation(acme.tenant.id, mixed.id).await.unwrap(), None);
    assert_eq!(all_events(&db, acme.tenant.id, AuditAction::UserCreated).await.len(), created_before + 3);
    assert_eq!(all_events(&db, acme.tenant.id, AuditAction::UserInvited).await, vec![]);
    assert_eq!((assigned(&db, &kind).await, holders(&db, &kind).await), (1, 1));
    assert_eq!(stored(&db, &records[2].user).await.and_then(|u| u.license), Some(kind.id));
    let mut expected = before;
    *expected.entry((Role::User, UserStatus::Active)).or_default() += 2;
    *expected.entry((Role::Collaborator, UserStatus::Active)).or_default() += 1;
    assert_eq!(counters_match_recount(&db, acme.tenant.id).await, expected);
}

async fn a_batch_whose_every_email_is_taken_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    add(&db.store, &acme, "dup@example.com", Role::User).await;
    let before = counts(&db, acme.tenant.id).await;
    let records =
        vec![record(&acme, "dup@example.com", Role::User, None), record(&acme, "admin@acme.test", Role::User, None)];
    let outcomes = store_batch(&db, acme.tenant.id, &records, None).await.unwrap();
    assert_eq!(outcomes, vec![EmailTaken, EmailTaken]);
    check_outcomes(&db, &records, &Ok(outcomes)).await;
    assert_eq!(counters_match_recount(&db, acme.tenant.id).await, before);
}

async fn an_email_given_twice_in_one_batch_is_stored_once(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let records = vec![
        record(&acme, "twice@example.com", Role::User, None),
        record(&acme, "other@example.com", Role::User, None),
        record(&acme, "TWICE@example.com", Role::Collaborator, None),
    ];
    let result = store_batch(&db, acme.tenant.id, &records, None).await;
    // Either the later one is refused as taken, or the batch is stale (the caller then stores
    // the records one by one); never two users with one email, never a half-written batch.
    if let Ok(outcomes) = &result {
        assert_eq!(outcomes, &vec![Created, Created, EmailTaken]);
    }
    check_outcomes(&db, &records, &result).await;
    counters_match_recount(&db, acme.tenant.id).await;
}

// insert_batch: seats

async fn seats_go_to_the_records_in_their_order_and_the_rest_are_no_seats(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    let empty = add_license(&db.store, &acme, "Knowledge Only", 0).await;
    let mut records: Vec<NewRecord> =
        (0..8).map(|i| record(&acme, &format!("s{i}@example.com"), Role::User, Some(kind.id))).collect();
    records.push(record(&acme, "unlicensed@example.com", Role::User, None));
    records.push(record(&acme, "nothing-left@example.com", Role::User, Some(empty.id)));

    let outcomes = store_batch(&db, acme.tenant.id, &records, acting(&admin_of(&acme))).await.unwrap();

    let mut expected = vec![Created; 5];
    expected.extend([NoSeats, NoSeats, NoSeats, Created, NoSeats]);
    assert_eq!(outcomes, expected);
    check_outcomes(&db, &records, &Ok(outcomes)).await;
    assert_eq!((assigned(&db, &kind).await, holders(&db, &kind).await), (5, 5));
    assert_eq!((assigned(&db, &empty).await, holders(&db, &empty).await), (0, 0));
    for refused in records[5..8].iter().chain([&records[9]]) {
        assert_eq!(events_about(&db, acme.tenant.id, refused.user.id).await, vec![]);
    }
    assert_eq!(counters_match_recount(&db, acme.tenant.id).await[&(Role::User, UserStatus::Active)], 6);
}

async fn seats_already_assigned_are_not_given_twice(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 3).await;
    let held = [record(&acme, "held@example.com", Role::User, Some(kind.id))];
    assert_eq!(store_batch(&db, acme.tenant.id, &held, None).await.unwrap(), vec![Created]);
    let records: Vec<NewRecord> =
        (0..4).map(|i| record(&acme, &format!("s{i}@example.com"), Role::User, Some(kind.id))).collect();
    let outcomes = store_batch(&db, acme.tenant.id, &records, None).await.unwrap();
    assert_eq!(outcomes, vec![Created, Created, NoSeats, NoSeats]);
    assert_eq!((assigned(&db, &kind).await, holders(&db, &kind).await), (3, 3));
}

async fn a_record_asking_for_an_unknown_or_foreign_license_kind_is_license_not_found(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let theirs = add_license(&db.store, &globex, "Pro", 5).await;
    let mine = add_license(&db.store, &acme, "Pro", 5).await;
    let records = vec![
        record(&acme, "unknown@example.com", Role::User, Some(LicenseKindId::new())),
        record(&acme, "mine@example.com", Role::User, Some(mine.id)),
        record(&acme, "foreign@example.com", Role::User, Some(theirs.id)),
        invited_record(&acme, "invited-foreign@example.com", Some(theirs.id)).0,
    ];
    let outcomes = store_batch(&db, acme.tenant.id, &records, None).await.unwrap();
    assert_eq!(outcomes, vec![LicenseNotFound, Created, LicenseNotFound, LicenseNotFound]);
    check_outcomes(&db, &records, &Ok(outcomes)).await;
    assert_eq!((assigned(&db, &mine).await, assigned(&db, &theirs).await), (1, 0));
    assert_eq!(holders(&db, &theirs).await, 0);
    assert_eq!(all_events(&db, acme.tenant.id, AuditAction::UserInvited).await, vec![]);
}

// insert_batch: the acting user

async fn a_batch_by_an_actor_deactivated_or_demoted_meanwhile_is_actor_changed_and_writes_nothing(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let kind = add_license(&db.store, &acme, "Pro", 5).await;
    settle(&db, &acme, Some(policy(100, BudgetPeriod::Daily, true))).await;
    let demoted = former_administrator(&db.store, &acme, "demoted@example.com").await;
    let leaving = add(&db.store, &acme, "leaving@example.com", Role::Administrator).await;
    change(&db.store, &leaving, &leaving.deactivated(now()), AuditAction::UserDeactivated).await.unwrap();
    let deactivated = Actor::user(acme.tenant.id, leaving.id, leaving.email.clone(), Role::Administrator);
    let before = counters_match_recount(&db, acme.tenant.id).await;
    let created_before = all_events(&db, acme.tenant.id, AuditAction::UserCreated).await.len();
    let budgets_before = budgeted(&db, acme.tenant.id).await;

    for (actor, what) in [(&demoted, "demoted"), (&deactivated, "deactivated")] {
        let (invited, secret) = invited_record(&acme, &format!("invited-{what}@example.com"), Some(kind.id));
        let records = vec![
            record(&acme, &format!("plain-{what}@example.com"), Role::User, None),
            record(&acme, &format!("licensed-{what}@example.com"), Role::User, Some(kind.id)),
            invited,
        ];
        let result = store_batch(&db, acme.tenant.id, &records, acting(actor)).await;
        assert!(matches!(result, Err(StoreError::ActorChanged)), "{what}: {result:?}");
        for record in &records {
            assert_eq!(stored(&db, &record.user).await, None, "{what}: {}", record.user.email);
            assert_eq!(stored_budget(&db.store, &record.user).await, None);
        }
        assert_eq!(db.store.find_invitation(&secret.hash()).await.unwrap(), None, "{what}");
    }

    assert_eq!(counters_match_recount(&db, acme.tenant.id).await, before);
    assert_eq!(all_events(&db, acme.tenant.id, AuditAction::UserCreated).await.len(), created_before);
    assert_eq!(all_events(&db, acme.tenant.id, AuditAction::UserInvited).await, vec![]);
    assert_eq!(budgeted(&db, acme.tenant.id).await, budgets_before);
    assert_eq!(assigned(&db, &kind).await, 0);

    // The administrator still in office may.
    let records = vec![record(&acme, "fine@example.com", Role::User, Some(kind.id))];
    assert_eq!(store_batch(&db, acme.tenant.id, &records, acting(&admin_of(&acme))).await.unwrap(), vec![Created]);
}

// insert_batch: races

/// Records of `created` for `{prefix}{i:03}@example.com`, `i` in `range`, holding a seat of
/// `license`.
fn records_for(
    created: &CreatedTenant,
    prefix: &str,
    range: std::ops::Range<usize>,
    license: Option<LicenseKindId>,
) -> Vec<NewRecord> {
    range.map(|i| record(created, &format!("{prefix}{i:03}@example.com"), Role::User, license)).collect()
}

async fn racing_batches_over_overlapping_emails_store_each_email_exactly_once(db: TestDatabase) {
    for round in 0..3 {
        let acme = tenant(&db.store, &format!("race{round}")).await;
        let admin = acting(&admin_of(&acme));
        let a = records_for(&acme, "user", 0..200, None);
        let b = records_for(&acme, "user", 100..300, None);
        let (result_a, result_b) =
            futures::join!(store_batch(&db, acme.tenant.id, &a, admin), store_batch(&db, acme.tenant.id, &b, admin));

        let mut created: HashSet<UserId> = HashSet::new();
        created.extend(check_outcomes(&db, &a, &result_a).await);
        created.extend(check_outcomes(&db, &b, &result_b).await);
        // Every email of a batch that was not stale exists, once; none of a stale batch's alone.
        let mut expected_emails: HashSet<Email> = HashSet::new();
        for (records, result) in [(&a, &result_a), (&b, &result_b)] {
            if result.is_ok() {
                expected_emails.extend(records.iter().map(|record| record.user.email.clone()));
            }
        }
        let asked: Vec<Email> = a.iter().chain(&b).map(|record| record.user.email.clone()).collect();
        let found = db.store.find_by_emails(acme.tenant.id, &asked).await.unwrap();
        let found_ids: HashSet<UserId> = found.iter().map(|user| user.id).collect();
        assert_eq!(found_ids, created, "round {round}: {result_a:?} {result_b:?}");
        let found_emails: HashSet<Email> = found.iter().map(|user| user.email.clone()).collect();
        assert_eq!(found_emails, expected_emails, "round {round}");
        let sql = "SELECT COUNT(*) AS n FROM users WHERE tenant_id = ?";
        let rows = count(&db, sql, [acme.tenant.id.as_uuid().into()]).await;
        assert_eq!(rows, 1 + i64::try_from(created.len()).unwrap(), "round {round}: one row per email");
        if let (Ok(_), Ok(_)) = (&result_a, &result_b) {
            assert_eq!(created.len(), 300, "round {round}");
        }
        let events = all_events(&db, acme.tenant.id, AuditAction::UserCreated).await;
        assert_eq!(events.len(), 1 + created.len(), "round {round}: one audit event per user created");
        counters_match_recount(&db, acme.tenant.id).await;
    }
}

async fn racing_batches_for_one_kind_never_assign_more_seats_than_purchased(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    for round in 0..4 {
        let kind = add_license(&db.store, &acme, &format!("Pro {round}"), 10).await;
        let a = records_for(&acme, &format!("a{round}-"), 0..15, Some(kind.id));
        let b = records_for(&acme, &format!("b{round}-"), 0..15, Some(kind.id));
        let (result_a, result_b) =
            futures::join!(store_batch(&db, acme.tenant.id, &a, None), store_batch(&db, acme.tenant.id, &b, None));
        let mut created = check_outcomes(&db, &a, &result_a).await.len();
        created += check_outcomes(&db, &b, &result_b).await.len();
        for outcomes in [&result_a, &result_b].into_iter().flatten() {
            let first_refused = outcomes.iter().position(|o| *o == NoSeats).unwrap_or(outcomes.len());
            assert!(outcomes[first_refused..].iter().all(|o| *o == NoSeats), "round {round}: seats in order");
        }
        let (taken, held) = (assigned(&db, &kind).await, holders(&db, &kind).await);
        assert!(taken <= 10, "round {round}: {taken} seats of 10 assigned");
        assert_eq!((taken, held), (created as u64, created as u64), "round {round}");
        if let (Ok(_), Ok(_)) = (&result_a, &result_b) {
            assert_eq!(taken, 10, "round {round}: every seat is given when asked for");
        }
    }
    counters_match_recount(&db, acme.tenant.id).await;
}

/// Stores `records` one by one on behalf of the system; returns each result.
async fn insert_one_by_one(db: &TestDatabase, records: &[NewRecord]) -> Vec<Result<(), StoreError>> {
    join_all(records.iter().map(|record| UserRepository::insert(&db.store, &record.user, None, &record.audit))).await
}

async fn a_batch_racing_single_inserts_of_the_same_emails_stores_each_email_once_or_is_stale(db: TestDatabase) {
    for round in 0..5 {
        let acme = tenant(&db.store, &format!("race{round}")).await;
        let batch = records_for(&acme, "user", 0..100, None);
        let singles = records_for(&acme, "user", 60..120, None);
        let (singles_result, batch_result) = futures::join!(
            insert_one_by_one(&db, &singles),
            store_batch(&db, acme.tenant.id, &batch, acting(&admin_of(&acme)))
        );
        let mut created: HashSet<UserId> = check_outcomes(&db, &batch, &batch_result).await.into_iter().collect();
        for (record, result) in singles.iter().zip(&singles_result) {
            match result {
                Ok(()) => assert!(created.insert(record.user.id)),
                Err(StoreError::EmailTaken) => {}
                Err(other) => panic!("round {round}: single insert of {}: {other:?}", record.user.email),
            }
        }
        let asked: Vec<Email> = batch.iter().chain(&singles).map(|record| record.user.email.clone()).collect();
        let found = db.store.find_by_emails(acme.tenant.id, &asked).await.unwrap();
        let found_ids: HashSet<UserId> = found.iter().map(|user| user.id).collect();
        assert_eq!(found_ids, created, "round {round}");
        let emails: HashSet<&Email> = found.iter().map(|user| &user.email).collect();
        assert_eq!(emails.len(), found.len(), "round {round}: an email stored twice");
        if batch_result.is_ok() {
            assert_eq!(found.len(), 120, "round {round}: every email stored once");
        }
        counters_match_recount(&db, acme.tenant.id).await;
    }
}

async fn a_batch_racing_single_inserts_for_the_same_seats_fails_only_as_its_contract_allows(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let mut failures = Vec::new();
    for round in 0..10 {
        let kind = add_license(&db.store, &acme, &format!("Pro {round}"), 10).await;
        let batch = records_for(&acme, &format!("batch{round}-"), 0..15, Some(kind.id));
        let singles = records_for(&acme, &format!("single{round}-"), 0..15, Some(kind.id));
        let (singles_result, batch_result) = futures::join!(
            insert_one_by_one(&db, &singles),
            store_batch(&db, acme.tenant.id, &batch, acting(&admin_of(&acme)))
        );
        let mut created: u64 = 0;
        for result in &singles_result {
            match result {
                Ok(()) => created += 1,
                Err(StoreError::NoSeats { .. }) => {}
                Err(other) => panic!("round {round}: single insert: {other:?}"),
            }
        }
        if let Err(error @ StoreError::Unexpected(_)) = &batch_result {
            failures.push(format!("round {round}: {error:?}"));
            for record in &batch {
                assert_eq!(stored(&db, &record.user).await, None, "round {round}: a failed batch wrote");
            }
        } else {
            created += check_outcomes(&db, &batch, &batch_result).await.len() as u64;
        }
        let (taken, held) = (assigned(&db, &kind).await, holders(&db, &kind).await);
        assert!(taken <= 10, "round {round}: {taken} seats of 10 assigned");
        assert_eq!((taken, held), (created, created), "round {round}");
    }
    counters_match_recount(&db, acme.tenant.id).await;
    assert!(failures.is_empty(), "insert_batch failed where it should have decided outcomes:\n{}", failures.join("\n"));
}

// find_by_emails

async fn find_by_emails_returns_exactly_the_users_of_the_tenant_among_many_emails(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let mine = records_for(&acme, "user", 0..600, None);
    assert!(store_batch(&db, acme.tenant.id, &mine, None).await.unwrap().iter().all(|o| *o == Created));
    // Another tenant's users: some with the same emails as mine, some only theirs.
    let mut theirs = records_for(&globex, "user", 0..20, None);
    theirs.extend(records_for(&globex, "theirs", 0..20, None));
    assert!(store_batch(&db, globex.tenant.id, &theirs, None).await.unwrap().iter().all(|o| *o == Created));

    // 1,240 emails, the existing ones spread over every chunk.
    let mut asked = Vec::new();
    for (i, record) in mine.iter().enumerate() {
        asked.push(Email::parse(&format!("nobody{i:03}@example.com")).unwrap());
        asked.push(record.user.email.clone());
    }
    asked.extend(theirs[20..].iter().map(|record| record.user.email.clone()));
    let found = db.store.find_by_emails(acme.tenant.id, &asked).await.unwrap();

    assert_eq!(found.len(), 600);
    let by_id: HashMap<UserId, &User> = found.iter().map(|user| (user.id, user)).collect();
    assert_eq!(by_id.len(), 600, "each user once");
    for record in &mine {
        assert_eq!(by_id.get(&record.user.id).copied(), Some(&record.user), "{}", record.user.email);
    }
    assert!(found.iter().all(|user| user.tenant == acme.tenant.id));
    assert_eq!(db.store.find_by_emails(acme.tenant.id, &[]).await.unwrap(), vec![]);
    let foreign: Vec<Email> = theirs[20..].iter().map(|record| record.user.email.clone()).collect();
    assert_eq!(db.store.find_by_emails(acme.tenant.id, &foreign).await.unwrap(), vec![]);
    // Emails both tenants have: each tenant's own users only.
    let same: Vec<Email> = theirs[..20].iter().map(|record| record.user.email.clone()).collect();
    for (tenant, records) in [(globex.tenant.id, &theirs[..20]), (acme.tenant.id, &mine[..20])] {
        let found = db.store.find_by_emails(tenant, &same).await.unwrap();
        let ids: HashSet<UserId> = found.iter().map(|user| user.id).collect();
        assert_eq!(found.len(), 20);
        assert_eq!(ids, records.iter().map(|record| record.user.id).collect());
    }
}

async fn find_by_emails_returns_a_user_asked_for_twice_once(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let user = add(&db.store, &acme, "twice@example.com", Role::User).await;
    // Asked at the start and at the end of a list longer than one statement carries.
    let mut asked = vec![user.email.clone()];
    asked.extend((0..600).map(|i| Email::parse(&format!("nobody{i}@example.com")).unwrap()));
    asked.push(user.email.clone());
    let found = db.store.find_by_emails(acme.tenant.id, &asked).await.unwrap();
    assert_eq!(found, vec![user]);
}

// scan

/// Every user of `tenant` passing `filter`, walked `limit` at a time from the oldest.
async fn scan_all(db: &TestDatabase, tenant: TenantId, filter: &UserFilter, limit: u32) -> Vec<User> {
    let mut all: Vec<User> = Vec::new();
    let mut after = None;
    loop {
        let page = db.store.scan(tenant, filter, after, limit).await.unwrap();
        assert!(page.len() <= limit as usize, "{} users in a page of {limit}", page.len());
        let Some(last) = page.last() else { return all };
        after = Some(UserCursor::CreatedAt(last.created_at, last.id));
        let full = page.len() == limit as usize;
        all.extend(page);
        if !full {
            return all;
        }
    }
}

/// `users` oldest first: by creation time, then id.
fn oldest_first(mut users: Vec<User>) -> Vec<UserId> {
    users.sort_by_key(|user| (user.created_at, user.id.as_uuid()));
    users.into_iter().map(|user| user.id).collect()
}

fn ids(users: &[User]) -> Vec<UserId> {
    users.iter().map(|user| user.id).collect()
}

async fn scan_walks_every_user_once_oldest_first_with_ties_broken_by_id(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    add(&db.store, &globex, "elsewhere@example.com", Role::User).await;
    // Instants shared by many users, with no, 1, 6 and 3 significant fractional digits.
    let instants = [
        at("2026-03-01T10:00:00Z"),
        at("2026-03-01T10:00:00.5Z"),
        at("2026-03-01T10:00:00.000001Z"),
        at("2026-02-28T23:59:59.999999Z"),
        at("2026-03-01T10:00:00.123Z"),
    ];
    let mut users = vec![acme.admin.clone()];
    for i in 0..46 {
        let user = user_of(&acme, &format!("u{i:02}@example.com"), Role::User, instants[i % instants.len()]);
        insert(&db.store, &user).await;
        users.push(user);
    }
    let expected = oldest_first(users);

    for limit in [7, 1, 47, 200] {
        let walked = ids(&scan_all(&db, acme.tenant.id, &UserFilter::default(), limit).await);
        assert_eq!(walked.iter().collect::<HashSet<_>>().len(), walked.len(), "limit {limit}: a user twice");
        assert_eq!(walked, expected, "limit {limit}");
    }
    let first = db.store.scan(acme.tenant.id, &UserFilter::default(), None, 7).await.unwrap();
    assert_eq!(ids(&first), expected[..7]);
}

async fn scan_reads_each_user_once_whatever_is_created_meanwhile(db: TestDatabase) {
    let acme = tenant(&db.store, "acme").await;
    let mut users = vec![acme.admin.clone()];
    for i in 0..20 {
        let user = user_of(&acme, &format!("u{i:02}@example.com"), Role::User, days_ago(30 - i));
        insert(&db.store, &user).await;
        users.push(user);
    }
    let filter = UserFilter::default();
    let mut walked = db.store.scan(acme.tenant.id, &filter, None, 7).await.unwrap();
    // Created during the walk: newer than anyone read so far.
    let mut newcomers = Vec::new();
    for i in 0..5 {
        newcomers.push(add(&db.store, &acme, &format!("new{i}@example.com"), Role::User).await);
    }
    loop {
        let last = walked.last().unwrap();
        let page =
            db.store.scan(acme.tenant.id, &filter, Some(UserCursor::CreatedAt(last.created_at, last.id)), 7).await;
        let page = page.unwrap();
        if page.is_empty() {
            break;
        }
        walked.extend(page);
    }
    users.extend(newcomers);
    assert_eq!(ids(&walked), oldest_first(users));
}

/// Users of `acme` that each filter tells apart, created a day apart, oldest first.
struct Seeded {
    acme: CreatedTenant,
    pro: LicenseKind,
    /// alice (user, pro, named Martin), bob (collaborator, business), carol (user, deactivated),
    /// dan (user, invited, pro), martine (user), then the administrator.
    users: Vec<User>,
}

async fn seeded(db: &TestDatabase) -> Seeded {
    let acme = tenant(&db.store, "acme").await;
    let globex = tenant(&db.store, "globex").await;
    let pro = add_license(&db.store, &acme, "Pro", 5).await;
    let business = add_license(&db.store, &acme, "Business", 5).await;
    let theirs = add_license(&db.store, &globex, "Pro", 5).await;
    let mut alice = user_of(&acme, "alice@example.com", Role::User, days_ago(5));
    alice.name = Some(PersonName::parse("Alice MARTIN").unwrap());
    alice.license = Some(pro.id);
    let bob = User { license: Some(business.id), ..user_of(&acme, "bob@example.com", Role::Collaborator, days_ago(4)) };
    let carol = user_of(&acme, "carol@example.com", Role::User, days_ago(3)).deactivated(days_ago(1));
    let new = NewUser {
        email: Email::parse("dan@example.com").unwrap(),
        name: None,
        phone: None,
        role: Role::User,
        referral_code: None,
    };
    let dan = User::invite(acme.tenant.id, new, Some(pro.id), days_ago(2));
    let martine = user_of(&acme, "martine@example.com", Role::User, days_ago(1));
    let users = vec![alice, bob, carol, dan, martine, acme.admin.clone()];
    for user in &users[..5] {
        insert(&db.store, user).await;
    }
    // Another tenant's users that every filter below would match.
    let mut twin = User { license: Some(theirs.id), ..user_of(&globex, "alice@example.com", Role::User, days_ago(6)) };
    twin.name = Some(PersonName::parse("Alice Martin").unwrap());
    insert(&db.store, &twin).await;
    let gone = user_of(&globex, "carol@example.com", Role::Collaborator, days_ago(6)).deactivated(days_ago(1));
    insert(&db.store, &gone).await;
    Seeded { acme, pro, users }
}

async fn scan_applies_every_filter_within_the_tenant(db: TestDatabase) {
    let Seeded { acme, pro, users } = seeded(&db).await;
    let [alice, bob, carol, dan, martine, admin] = [0, 1, 2, 3, 4, 5].map(|i| users[i].id);
    let q = |text: &str| Some(SearchText::parse(text).unwrap());
    let cases = [
        ("everyone", UserFilter::default(), vec![alice, bob, carol, dan, martine, admin]),
        ("role", UserFilter { role: Some(Role::User), ..UserFilter::default() }, vec![alice, carol, dan, martine]),
        ("status", UserFilter { status: Some(UserStatus::Deactivated), ..UserFilter::default() }, vec![carol]),
        ("invited", UserFilter { status: Some(UserStatus::Invited), ..UserFilter::default() }, vec![dan]),
        ("q name or email", UserFilter { q: q("MARTIN"), ..UserFilter::default() }, vec![alice, martine]),
        ("q email", UserFilter { q: q("Bob@"), ..UserFilter::default() }, vec![bob]),
        ("q nobody", UserFilter { q: q("nobody"), ..UserFilter::default() }, vec![]),
        ("licensed", UserFilter { licensed: Some(true), ..UserFilter::default() }, vec![alice, bob, dan]),
        ("unlicensed", UserFilter { licensed: Some(false), ..UserFilter::default() }, vec![carol, martine, admin]),
        ("license", UserFilter { license: Some(pro.id), ..UserFilter::default() }, vec![alice, dan]),
        ("unknown license", UserFilter { license: Some(LicenseKindId::new()), ..UserFilter::default() }, vec![]),
        (
            "role and licensed",
            UserFilter { role: Some(Role::User), licensed: Some(true), ..UserFilter::default() },
            vec![alice, dan],
        ),
        (
            "q and status",
            UserFilter { q: q("example"), status: Some(UserStatus::Active), ..UserFilter::default() },
            vec![alice, bob, martine],
        ),
        (
            "period",
            UserFilter {
                created_from: Some(days_ago(4) - chrono::Duration::hours(1)),
                created_to: Some(days_ago(2) - chrono::Duration::hours(1)),
                ..UserFilter::default()
            },
            vec![bob, carol],
        ),
    ];
    for (what, filter, expected) in cases {
        let scanned = db.store.scan(acme.tenant.id, &filter, None, 100).await.unwrap();
        assert!(scanned.iter().all(|user| user.tenant == acme.tenant.id), "{what}: another tenant's user");
        assert_eq!(ids(&scanned), expected, "{what}");
        assert_eq!(ids(&scan_all(&db, acme.tenant.id, &filter, 2).await), expected, "{what}, two at a time");
    }
    let everyone = db.store.scan(acme.tenant.id, &UserFilter::default(), None, 100).await.unwrap();
    assert_eq!(everyone, users, "every field as stored");
}

async fn scan_never_reads_another_tenants_users(db: TestDatabase) {
    let Seeded { acme, .. } = seeded(&db).await;
    let other = tenant(&db.store, "initech").await;
    let scanned = db.store.scan(other.tenant.id, &UserFilter::default(), None, 100).await.unwrap();
    assert_eq!(scanned, vec![other.admin.clone()]);
    let cursor = UserCursor::CreatedAt(days_ago(100), UserId::new());
    let scanned = db.store.scan(TenantId::new(), &UserFilter::default(), Some(cursor), 100).await.unwrap();
    assert_eq!(scanned, vec![]);
    assert_eq!(db.store.scan(acme.tenant.id, &UserFilter::default(), None, 0).await.unwrap(), vec![]);
}

on_both_databases!(
    a_batch_stores_each_user_as_given_with_its_audit_event_counters_and_the_default_budget,
    a_batch_without_a_default_budget_gives_no_budget,
    an_empty_batch_stores_nothing,
    invited_records_are_stored_invited_with_their_invitations_and_seats,
    a_record_whose_email_is_taken_in_any_letter_case_is_email_taken_and_nothing_of_it_is_written,
    a_batch_whose_every_email_is_taken_writes_nothing,
    an_email_given_twice_in_one_batch_is_stored_once,
    seats_go_to_the_records_in_their_order_and_the_rest_are_no_seats,
    seats_already_assigned_are_not_given_twice,
    a_record_asking_for_an_unknown_or_foreign_license_kind_is_license_not_found,
    a_batch_by_an_actor_deactivated_or_demoted_meanwhile_is_actor_changed_and_writes_nothing,
    racing_batches_over_overlapping_emails_store_each_email_exactly_once,
    racing_batches_for_one_kind_never_assign_more_seats_than_purchased,
    a_batch_racing_single_inserts_of_the_same_emails_stores_each_email_once_or_is_stale,
    find_by_emails_returns_exactly_the_users_of_the_tenant_among_many_emails,
    scan_walks_every_user_once_oldest_first_with_ties_broken_by_id,
    scan_reads_each_user_once_whatever_is_created_meanwhile,
    scan_applies_every_filter_within_the_tenant,
    scan_never_reads_another_tenants_users,
    a_batch_racing_single_inserts_for_the_same_seats_fails_only_as_its_contract_allows,
    find_by_emails_returns_a_user_asked_for_twice_once,
);
