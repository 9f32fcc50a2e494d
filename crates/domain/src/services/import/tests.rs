//! The import rules, one behaviour per test, with the ports mocked.

use std::sync::{Arc, Mutex};

use chrono::Utc;

use super::*;
use crate::invitation::TenantSettings;
use crate::ports::{
    MockClock, MockEmailSender, MockInvitationRepository, MockLicenseRepository, MockTenantRepository,
    MockUserRepository,
};
use crate::services::AcceptLinks;
use crate::{Email, LicenseKind, LicenseName, Seats, TenantId};

fn tenant() -> Tenant {
    Tenant {
        id: TenantId::from(uuid::Uuid::from_u128(3)),
        name: "acme".parse().unwrap(),
        created_at: Utc::now(),
        settings: TenantSettings::default(),
    }
}

fn actor(role: Role) -> Actor {
    Actor::user(tenant().id, crate::UserId::new(), Email::parse("me@acme.test").unwrap(), role)
}

fn row(line: u64, email: &str) -> RowRead {
    Ok(ImportRow { line, email: email.to_owned(), ..ImportRow::default() })
}

fn existing(email: &str) -> User {
    let new =
        NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role: Role::User, referral_code: None };
    User::create(tenant().id, new, UserSource::Created, Utc::now())
}

/// A service whose storage knows `known` users and a "Pro" kind with `seats` free, and records
/// the batches it is asked to store.
fn service(known: Vec<User>, seats: u64, users: MockUserRepository) -> (ImportService, Arc<Mutex<Vec<NewRecord>>>) {
    let stored = Arc::new(Mutex::new(Vec::new()));
    let mut users = users;
    users
        .expect_find_by_emails()
        .returning(move |_, emails| Ok(known.iter().filter(|user| emails.contains(&user.email)).cloned().collect()));
    let sink = stored.clone();
    users.expect_insert_batch().returning(move |_, records, _| {
        sink.lock().unwrap().extend(records.iter().cloned());
        Ok(records.iter().map(|_| RecordOutcome::Created).collect())
    });
    let mut licenses = MockLicenseRepository::new();
    let pro = LicenseKind {
        id: LicenseKindId::from(uuid::Uuid::from_u128(11)),
        tenant: tenant().id,
        name: LicenseName::parse("Pro").unwrap(),
        seats: Seats::new(seats).unwrap(),
        assigned: 0,
        created_at: Utc::now(),
    };
    licenses.expect_list().returning(move |_| Ok(vec![pro.clone()]));
    let mut tenants = MockTenantRepository::new();
    tenants.expect_get_tenant().returning(|_| Ok(Some(tenant())));
    let mut clock = MockClock::new();
    clock.expect_now().returning(Utc::now);
    let clock = Arc::new(clock);
    let users: Arc<dyn UserRepository> = Arc::new(users);
    let tenants: Arc<dyn TenantRepository> = Arc::new(tenants);
    let invitations = InvitationService::new(
        users.clone(),
        Arc::new(MockInvitationRepository::new()),
        tenants.clone(),
        Arc::new(MockEmailSender::new()),
        clock.clone(),
        AcceptLinks::new("https://roster.test"),
    );
    (ImportService::new(users, Arc::new(licenses), tenants, invitations, clock), stored)
}

fn reasons(report: &ImportReport) -> Vec<(u64, &'static str)> {
    report.problems.iter().map(|problem| (problem.line, problem.reason.as_str())).collect()
}

#[tokio::test]
async fn every_row_is_validated_and_only_valid_new_ones_are_stored() {
    let (service, stored) = service(vec![existing("old@acme.test")], 10, MockUserRepository::new());
    let rows = vec![
        row(1, "new@acme.test"),
        row(2, "not an email"),
        row(3, "NEW@acme.test"),
        row(4, "old@acme.test"),
        Ok(ImportRow {
            line: 5,
            email: "phone@acme.test".into(),
            phone: Some("06 12 34 56 78".into()),
            ..ImportRow::default()
        }),
        Ok(ImportRow {
            line: 6,
            email: "fr@acme.test".into(),
            country_code: Some("33".into()),
            phone: Some("06 12 34 56 78".into()),
            ..ImportRow::default()
        }),
        Err((7, "invalid UTF-8".into())),
        Ok(ImportRow {
            line: 8,
            email: "who@acme.test".into(),
            role: Some("superuser".into()),
            ..ImportRow::default()
        }),
    ];
    let report = service.import(&actor(Role::Administrator), rows, &ImportOptions::default(), |_| {}).await.unwrap();
    assert_eq!((report.rows, report.created, report.skipped, report.failed), (8, 2, 2, 4));
    assert_eq!(
        reasons(&report),
        [
            (2, "invalid_email"),
            (3, "duplicate_in_file"),
            (4, "already_exists"),
            (5, "invalid_phone"),
            (7, "unreadable_row"),
            (8, "invalid_role")
        ]
    );
    let stored = stored.lock().unwrap();
    let phones: Vec<Option<&str>> = stored.iter().map(|r| r.user.phone.as_ref().map(|p| p.as_str())).collect();
    assert_eq!(phones, [None, Some("+33612345678")]);
    assert!(stored.iter().all(|record| record.user.source == UserSource::Imported && record.invitation.is_none()));
}

#[tokio::test]
async fn a_collaborators_file_cannot_create_administrators_nor_give_seats() {
    let (service, stored) = service(vec![], 10, MockUserRepository::new());
    let rows = vec![
        Ok(ImportRow {
            line: 1,
            email: "boss@acme.test".into(),
            role: Some("Administrator".into()),
            ..ImportRow::default()
        }),
        Ok(ImportRow { line: 2, email: "seat@acme.test".into(), license: Some("pro".into()), ..ImportRow::default() }),
        row(3, "fine@acme.test"),
    ];
    let report = service.import(&actor(Role::Collaborator), rows, &ImportOptions::default(), |_| {}).await.unwrap();
    assert_eq!(reasons(&report), [(1, "forbidden_role"), (2, "forbidden_license")]);
    assert_eq!(stored.lock().unwrap().len(), 1);
    let option =
        ImportOptions { license: Some(LicenseKindId::from(uuid::Uuid::from_u128(11))), ..ImportOptions::default() };
    let refused = service.import(&actor(Role::Collaborator), vec![row(1, "x@acme.test")], &option, |_| {}).await;
    assert!(matches!(refused, Err(ImportError::Forbidden(_))), "{refused:?}");
    let plain_user = actor(Role::User);
    let users_cannot =
        service.import(&plain_user, vec![row(1, "y@acme.test")], &ImportOptions::default(), |_| {}).await;
    assert!(matches!(users_cannot, Err(ImportError::Forbidden(_))));
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_reports_the_seats_that_would_run_out() {
    let mut users = MockUserRepository::new();
    users.expect_update().never();
    let (service, stored) = service(vec![existing("old@acme.test")], 2, users);
    let options = ImportOptions {
        dry_run: true,
        license: Some(LicenseKindId::from(uuid::Uuid::from_u128(11))),
        on_existing: OnExisting::Update,
        ..ImportOptions::default()
    };
    let rows = vec![row(1, "a@acme.test"), row(2, "b@acme.test"), row(3, "c@acme.test")];
    let report = service.import(&actor(Role::Administrator), rows, &options, |_| {}).await.unwrap();
    assert_eq!((report.created, report.failed), (2, 1));
    assert_eq!(reasons(&report), [(3, "no_seats_available")]);
    assert!(stored.lock().unwrap().is_empty(), "a dry run stores nothing");
}

#[tokio::test]
async fn progress_is_reported_after_every_batch_and_at_the_end() {
    let (service, stored) = service(vec![], 0, MockUserRepository::new());
    let rows: Vec<RowRead> = (0..(BATCH as u64 * 2 + 7)).map(|i| row(i + 1, &format!("u{i}@acme.test"))).collect();
    let mut seen = Vec::new();
    let report = service.import(&actor(Role::Administrator), rows, &ImportOptions::default(), |n| seen.push(n)).await;
    assert_eq!(report.unwrap().created, BATCH as u64 * 2 + 7);
    assert_eq!(seen, [BATCH as u64, BATCH as u64 * 2, BATCH as u64 * 2 + 7]);
    assert_eq!(stored.lock().unwrap().len(), BATCH * 2 + 7);
}

#[tokio::test]
async fn a_batch_raced_by_another_writer_is_stored_one_by_one() {
    let mut users = MockUserRepository::new();
    users.expect_find_by_emails().returning(|_, _| Ok(Vec::new()));
    users.expect_insert_batch().times(1).returning(|_, _, _| Err(StoreError::Stale));
    users.expect_insert().times(2).returning(|user, _, _| {
        if user.email.as_str() == "raced@acme.test" { Err(StoreError::EmailTaken) } else { Ok(()) }
    });
    let (service, _) = service_with_raw_users(users);
    let rows = vec![row(1, "fine@acme.test"), row(2, "raced@acme.test")];
    let report = service.import(&actor(Role::Administrator), rows, &ImportOptions::default(), |_| {}).await.unwrap();
    assert_eq!((report.created, report.skipped), (1, 1));
    assert_eq!(reasons(&report), [(2, "already_exists")]);
}

/// A service over `users` as given (no expectations added).
fn service_with_raw_users(users: MockUserRepository) -> (ImportService, ()) {
    let mut licenses = MockLicenseRepository::new();
    licenses.expect_list().returning(|_| Ok(Vec::new()));
    let mut tenants = MockTenantRepository::new();
    tenants.expect_get_tenant().returning(|_| Ok(Some(tenant())));
    let mut clock = MockClock::new();
    clock.expect_now().returning(Utc::now);
    let clock = Arc::new(clock);
    let users: Arc<dyn UserRepository> = Arc::new(users);
    let tenants: Arc<dyn TenantRepository> = Arc::new(tenants);
    let invitations = InvitationService::new(
        users.clone(),
        Arc::new(MockInvitationRepository::new()),
        tenants.clone(),
        Arc::new(MockEmailSender::new()),
        clock.clone(),
        AcceptLinks::new("https://roster.test"),
    );
    (ImportService::new(users, Arc::new(licenses), tenants, invitations, clock), ())
}
