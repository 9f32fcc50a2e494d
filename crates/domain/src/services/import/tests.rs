//! The import rules, one behaviour per test, with the ports mocked.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;

use super::*;
use crate::invitation::TenantSettings;
use crate::mail::OutgoingEmail;
use crate::ports::{
    MockClock, MockEmailSender, MockInvitationRepository, MockLicenseRepository, MockTenantRepository,
    MockUserRepository,
};
use crate::services::AcceptLinks;
use crate::{Email, LicenseKind, LicenseName, PersonName, Phone, Premises, Seats, TenantId, UserStatus};

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

/// The id of the `n`th license kind of [`Ports::kinds`] (the first is "Pro").
fn kind_id(n: u128) -> LicenseKindId {
    LicenseKindId::from(uuid::Uuid::from_u128(11 + n))
}

fn cells(line: u64, email: &str) -> ImportRow {
    ImportRow { line, email: email.to_owned(), ..ImportRow::default() }
}

fn row(line: u64, email: &str) -> RowRead {
    Ok(cells(line, email))
}

fn existing(email: &str) -> User {
    existing_as(email, Role::User)
}

fn existing_as(email: &str, role: Role) -> User {
    let new = NewUser { email: Email::parse(email).unwrap(), name: None, phone: None, role, referral_code: None };
    User::create(tenant().id, new, UserSource::Created, Utc::now())
}

/// What the service did to its ports.
#[derive(Clone, Default)]
struct Probe {
    /// Reads of the tenant, its license kinds and its users.
    reads: Arc<AtomicUsize>,
    /// Every `insert_batch` call's records.
    batches: Arc<Mutex<Vec<Vec<NewRecord>>>>,
    /// Every `update` call.
    updates: Arc<Mutex<Vec<(User, Premises, AuditEvent)>>>,
    /// Every invited user stored one by one.
    invited: Arc<Mutex<Vec<User>>>,
    /// Every email sent.
    mails: Arc<Mutex<Vec<OutgoingEmail>>>,
}

impl Probe {
    fn read(&self) {
        self.reads.fetch_add(1, Ordering::SeqCst);
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    fn batch_sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().iter().map(Vec::len).collect()
    }

    fn stored(&self) -> Vec<NewRecord> {
        self.batches.lock().unwrap().concat()
    }

    fn stored_emails(&self) -> Vec<String> {
        self.stored().iter().map(|record| record.user.email.to_string()).collect()
    }

    fn updates(&self) -> Vec<(User, Premises, AuditEvent)> {
        self.updates.lock().unwrap().clone()
    }

    fn mailed_to(&self) -> Vec<String> {
        self.mails.lock().unwrap().iter().map(|mail| mail.to.to_string()).collect()
    }

    /// No user stored or updated (an empty batch stores nothing).
    fn wrote_nothing(&self) -> bool {
        self.stored().is_empty() && self.updates.lock().unwrap().is_empty()
    }
}

/// The ports of an import: storage knowing `known` users and the license kinds `kinds`, storing
/// every batch with the outcomes `outcomes` (by email; created otherwise), every update with
/// what `update` answers and every invited user stored alone with what `invite` answers.
/// Expectations set on `users` come first (mockall matches in FIFO order).
struct Ports {
    users: MockUserRepository,
    known: Vec<User>,
    kinds: Vec<(&'static str, u64)>,
    outcomes: HashMap<String, RecordOutcome>,
    update: fn(&User) -> Result<(), StoreError>,
    invite: fn(&User) -> Result<(), StoreError>,
}

fn ports() -> Ports {
    Ports {
        users: MockUserRepository::new(),
        known: Vec::new(),
        kinds: vec![("Pro", 10)],
        outcomes: HashMap::new(),
        update: |_| Ok(()),
        invite: |_| Ok(()),
    }
}

impl Ports {
    fn users(self, users: MockUserRepository) -> Self {
        Self { users, ..self }
    }

    fn known(self, known: impl IntoIterator<Item = User>) -> Self {
        Self { known: known.into_iter().collect(), ..self }
    }

    fn kinds(self, kinds: &[(&'static str, u64)]) -> Self {
        Self { kinds: kinds.to_vec(), ..self }
    }

    fn outcome(mut self, email: &str, outcome: RecordOutcome) -> Self {
        self.outcomes.insert(email.to_owned(), outcome);
        self
    }

    fn update(self, update: fn(&User) -> Result<(), StoreError>) -> Self {
        Self { update, ..self }
    }

    fn invite(self, invite: fn(&User) -> Result<(), StoreError>) -> Self {
        Self { invite, ..self }
    }

    fn build(self) -> (ImportService, Probe) {
        let probe = Probe::default();
        let Self { mut users, known, kinds, outcomes, update, invite } = self;
        let administrators = known.iter().filter(|user| user.is_active_administrator()).count() as u64;
        // As storage does: a batch reports the emails of known users as taken.
        let taken: HashSet<String> = known.iter().map(|user| user.email.to_string()).collect();
        let p = probe.clone();
        users.expect_find_by_emails().returning(move |_, emails| {
            p.read();
            Ok(known.iter().filter(|user| emails.contains(&user.email)).cloned().collect())
        });
        users.expect_count_active_administrators().returning(move |_| Ok(administrators));
        let p = probe.clone();
        users.expect_insert_batch().returning(move |_, records, _| {
            // The records of known users reach storage but are not stored.
            let fresh = records.iter().filter(|record| !taken.contains(record.user.email.as_str()));
            p.batches.lock().unwrap().push(fresh.cloned().collect());
            let outcome = |record: &NewRecord| {
                let email = record.user.email.as_str();
                outcomes.get(email).copied().or(taken.contains(email).then_some(RecordOutcome::EmailTaken))
            };
            Ok(records.iter().map(|record| outcome(record).unwrap_or(RecordOutcome::Created)).collect())
        });
        let p = probe.clone();
        users.expect_update().returning(move |after, premises, audit| {
            p.updates.lock().unwrap().push((after.clone(), premises.clone(), audit.clone()));
            update(after)
        });
        let mut licenses = MockLicenseRepository::new();
        let kinds: Vec<LicenseKind> = (0..).zip(kinds).map(|(n, (name, seats))| license_kind(n, name, seats)).collect();
        let p = probe.clone();
        licenses.expect_list().returning(move |_| {
            p.read();
            Ok(kinds.clone())
        });
        let mut tenants = MockTenantRepository::new();
        let p = probe.clone();
        tenants.expect_get_tenant().returning(move |_| {
            p.read();
            Ok(Some(tenant()))
        });
        let mut invitations = MockInvitationRepository::new();
        invitations.expect_record_delivery().returning(|_, _, _| Ok(()));
        let p = probe.clone();
        invitations.expect_invite().returning(move |user, _, _, _| {
            p.invited.lock().unwrap().push(user.clone());
            invite(user)
        });
        let mut email = MockEmailSender::new();
        let p = probe.clone();
        email.expect_send().returning(move |mail| {
            p.mails.lock().unwrap().push(mail.clone());
            Ok(())
        });
        let mut clock = MockClock::new();
        clock.expect_now().returning(Utc::now);
        let clock = Arc::new(clock);
        let users: Arc<dyn UserRepository> = Arc::new(users);
        let tenants: Arc<dyn TenantRepository> = Arc::new(tenants);
        let invitations = InvitationService::new(
            users.clone(),
            Arc::new(invitations),
            tenants.clone(),
            Arc::new(email),
            clock.clone(),
            AcceptLinks::new("https://roster.test"),
        );
        (ImportService::new(users, Arc::new(licenses), tenants, invitations, clock), probe)
    }
}

fn license_kind(n: u128, name: &str, seats: u64) -> LicenseKind {
    LicenseKind {
        id: kind_id(n),
        tenant: tenant().id,
        name: LicenseName::parse(name).unwrap(),
        seats: Seats::new(seats).unwrap(),
        assigned: 0,
        created_at: Utc::now(),
    }
}

/// Imports `rows` as `actor` with `options`, expecting the import to run.
async fn import(service: &ImportService, actor: &Actor, rows: Vec<RowRead>, options: &ImportOptions) -> ImportReport {
    service.import(actor, rows, options, |_| {}).await.unwrap()
}

fn reasons(report: &ImportReport) -> Vec<(u64, &'static str)> {
    report.problems.iter().map(|problem| (problem.line, problem.reason.as_str())).collect()
}

fn update_existing() -> ImportOptions {
    ImportOptions { on_existing: OnExisting::Update, ..ImportOptions::default() }
}

fn invite() -> ImportOptions {
    ImportOptions { invite: true, ..ImportOptions::default() }
}

#[tokio::test]
async fn every_row_is_validated_and_only_valid_new_ones_are_stored() {
    let (service, probe) = ports().known([existing("old@acme.test")]).build();
    let rows = vec![
        row(1, "new@acme.test"),
        row(2, "not an email"),
        row(3, "NEW@acme.test"),
        row(4, "old@acme.test"),
        Ok(ImportRow { phone: Some("06 12 34 56 78".into()), ..cells(5, "phone@acme.test") }),
        Ok(ImportRow {
            country_code: Some("33".into()),
            phone: Some("06 12 34 56 78".into()),
            ..cells(6, "fr@acme.test")
        }),
        Err((7, "invalid UTF-8".into())),
        Ok(ImportRow { role: Some("superuser".into()), ..cells(8, "who@acme.test") }),
    ];
    let report = import(&service, &actor(Role::Administrator), rows, &ImportOptions::default()).await;
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
    let stored = probe.stored();
    let phones: Vec<Option<&str>> = stored.iter().map(|r| r.user.phone.as_ref().map(|p| p.as_str())).collect();
    assert_eq!(phones, [None, Some("+33612345678")]);
    assert!(stored.iter().all(|record| record.user.source == UserSource::Imported && record.invitation.is_none()));
}

#[tokio::test]
async fn the_first_row_naming_an_email_claims_it_whether_or_not_it_is_applied() {
    let (service, probe) = ports().build();
    let rows = vec![
        Ok(ImportRow { role: Some("administrator".into()), ..cells(1, "boss@acme.test") }),
        row(2, "boss@acme.test"),
        Ok(ImportRow { role: Some("bogus".into()), ..cells(3, "typo@acme.test") }),
        row(4, "TYPO@acme.test"),
    ];
    let report = import(&service, &actor(Role::Collaborator), rows, &ImportOptions::default()).await;
    assert_eq!(
        reasons(&report),
        [(1, "forbidden_role"), (2, "duplicate_in_file"), (3, "invalid_role"), (4, "duplicate_in_file")],
        "a refused row is never replaced by a later one for the same person, whatever refused it"
    );
    assert!(probe.stored_emails().is_empty());
}

// Row validation.

#[tokio::test]
async fn a_name_too_long_or_with_a_control_character_is_an_invalid_name() {
    let (service, probe) = ports().build();
    let rows = vec![
        Ok(ImportRow { name: Some("Ann\nLee".into()), ..cells(1, "a@acme.test") }),
        Ok(ImportRow { name: Some("x".repeat(201)), ..cells(2, "b@acme.test") }),
        Ok(ImportRow { name: Some("  Ann Lee ".into()), ..cells(3, "c@acme.test") }),
    ];
    let report = import(&service, &actor(Role::Administrator), rows, &ImportOptions::default()).await;
    assert_eq!(reasons(&report), [(1, "invalid_name"), (2, "invalid_name")]);
    assert_eq!((report.created, report.failed), (1, 2));
    let names: Vec<Option<PersonName>> = probe.stored().into_iter().map(|record| record.user.name).collect();
    assert_eq!(names, [Some(PersonName::parse("Ann Lee").unwrap())]);
}

#[tokio::test]
async fn a_role_cell_naming_no_role_is_an_invalid_role() {
    let (service, probe) = ports().build();
    let rows = vec![
        Ok(ImportRow { role: Some("admin".into()), ..cells(1, "a@acme.test") }),
        Ok(ImportRow { role: Some("owner".into()), ..cells(2, "b@acme.test") }),
    ];
    let report = import(&service, &actor(Role::Administrator), rows, &ImportOptions::default()).await;
    assert_eq!(reasons(&report), [(1, "invalid_role"), (2, "invalid_role")]);
    assert_eq!(report.failed, 2);
    assert!(probe.stored().is_empty());
}

#[tokio::test]
async fn role_cells_are_read_in_any_letter_case() {
    let (service, probe) = ports().build();
    let rows = vec![
        Ok(ImportRow { role: Some("Collaborator".into()), ..cells(1, "a@acme.test") }),
        Ok(ImportRow { role: Some("ADMINISTRATOR".into()), ..cells(2, "b@acme.test") }),
        Ok(ImportRow { role: Some(" uSeR ".into()), ..cells(3, "c@acme.test") }),
    ];
    let options = ImportOptions { default_role: Role::Collaborator, ..ImportOptions::default() };
    let report = import(&service, &actor(Role::Administrator), rows, &options).await;
    assert!(report.problems.is_empty());
    let roles: Vec<Role> = probe.stored().iter().map(|record| record.user.role).collect();
    assert_eq!(roles, [Role::Collaborator, Role::Administrator, Role::User]);
}

#[tokio::test]
async fn a_license_the_tenant_lacks_is_an_unknown_license() {
    let (service, probe) = ports().build();
    let rows = vec![Ok(ImportRow { license: Some("Enterprise".into()), ..cells(1, "a@acme.test") })];
    let report = import(&service, &actor(Role::Administrator), rows, &ImportOptions::default()).await;
    assert_eq!(reasons(&report), [(1, "unknown_license")]);
    assert_eq!(report.failed, 1);
    assert!(probe.stored().is_empty());
}

#[tokio::test]
async fn license_names_are_matched_in_any_letter_case() {
    let (service, probe) = ports().kinds(&[("Pro", 10), ("Knowledge Only", 10), ("Équipe", 10)]).build();
    let rows = vec![
        Ok(ImportRow { license: Some("pRO".into()), ..cells(1, "a@acme.test") }),
        Ok(ImportRow { license: Some("KNOWLEDGE ONLY".into()), ..cells(2, "b@acme.test") }),
        Ok(ImportRow { license: Some("ÉQUIPE".into()), ..cells(3, "c@acme.test") }),
    ];
    let report = import(&service, &actor(Role::Administrator), rows, &ImportOptions::default()).await;
    assert!(report.problems.is_empty());
    let licenses: Vec<Option<LicenseKindId>> = probe.stored().iter().map(|record| record.user.license).collect();
    assert_eq!(licenses, [Some(kind_id(0)), Some(kind_id(1)), Some(kind_id(2))]);
}

#[tokio::test]
async fn the_license_option_gives_a_seat_to_every_new_user_whose_row_names_none() {
    let (service, probe) = ports().kinds(&[("Pro", 10), ("Business", 10)]).build();
    let rows =
        vec![row(1, "a@acme.test"), Ok(ImportRow { license: Some("business".into()), ..cells(2, "b@acme.test") })];
    let options = ImportOptions { license: Some(kind_id(0)), ..ImportOptions::default() };
    let report = import(&service, &actor(Role::Administrator), rows, &options).await;
    assert_eq!(report.created, 2);
    let licenses: Vec<Option<LicenseKindId>> = probe.stored().iter().map(|record| record.user.license).collect();
    assert_eq!(licenses, [Some(kind_id(0)), Some(kind_id(1))]);
}

#[tokio::test]
async fn a_national_phone_takes_its_country_as_a_calling_code_or_an_iso_code() {
    let (service, probe) = ports().build();
    let rows: Vec<RowRead> = ["33", "+33", "FR", "fr"]
        .into_iter()
        .zip(1..)
        .map(|(country, line)| {
            Ok(ImportRow {
                country_code: Some(country.into()),
                phone: Some("06 12 34 56 78".into()),
                ..cells(line, &format!("u{line}@acme.test"))
            })
        })
        .collect();
    let report = import(&service, &actor(Role::Administrator), rows, &ImportOptions::default()).await;
    assert!(report.problems.is_empty());
    let phones: Vec<Option<Phone>> = probe.stored().into_iter().map(|record| record.user.phone).collect();
    assert_eq!(phones, vec![Some(Phone::parse("+33612345678").unwrap()); 4]);
}

#[tokio::test]
async fn a_national_phone_without_a_country_is_an_invalid_phone() {
    let (service, probe) = ports().build();
    let rows = vec![
        Ok(ImportRow { phone: Some("06 12 34 56 78".into()), ..cells(1, "a@acme.test") }),
        Ok(ImportRow { phone: Some("+33 6 12 34 56 78".into()), ..cells(2, "b@acme.test") }),
    ];
    let report = import(&service, &actor(Role::Administrator), rows, &ImportOptions::default()).await;
    assert_eq!(reasons(&report), [(1, "invalid_phone")]);
    assert_eq!(probe.stored_emails(), ["b@acme.test"]);
}

#[tokio::test]
async fn an_unreadable_row_is_reported_with_its_detail_and_counted_as_read_and_failed() {
    let (service, probe) = ports().build();
    let rows = vec![row(2, "a@acme.test"), Err((3, "too many cells".into()))];
    let report = import(&service, &actor(Role::Administrator), rows, &ImportOptions::default()).await;
    assert_eq!((report.rows, report.created, report.skipped, report.failed), (2, 1, 0, 1));
    let problem = RowProblem {
        line: 3,
        email: String::new(),
        reason: RowReason::Unreadable,
        detail: Some("too many cells".into()),
    };
    assert_eq!(report.problems, [problem]);
    assert_eq!(probe.stored_emails(), ["a@acme.test"]);
}

// Governance.

#[tokio::test]
async fn a_collaborator_cannot_create_administrators() {
    let (service, probe) = ports().build();
    let rows = vec![Ok(ImportRow { role: Some("administrator".into()), ..cells(1, "boss@acme.test") })];
    let report = import(&service, &actor(Role::Collaborator), rows, &ImportOptions::default()).await;
    assert_eq!(reasons(&report), [(1, "forbidden_role")]);
    assert_eq!(report.failed, 1);
    assert!(probe.stored().is_empty());
}

#[tokio::test]
async fn a_collaborator_cannot_make_administrators_the_default_role() {
    let (service, probe) = ports().build();
    let options = ImportOptions { default_role: Role::Administrator, ..ImportOptions::default() };
    let report = import(&service, &actor(Role::Collaborator), vec![row(1, "boss@acme.test")], &options).await;
    assert_eq!(reasons(&report), [(1, "forbidden_role")]);
    assert!(probe.stored().is_empty());
}

#[tokio::test]
async fn a_collaborator_creates_collaborators_and_users() {
    let (service, probe) = ports().build();
    let rows = vec![
        Ok(ImportRow { role: Some("collaborator".into()), ..cells(1, "a@acme.test") }),
        Ok(ImportRow { role: Some("user".into()), ..cells(2, "b@acme.test") }),
        row(3, "c@acme.test"),
    ];
    let report = import(&service, &actor(Role::Collaborator), rows, &ImportOptions::default()).await;
    assert!(report.problems.is_empty());
    assert_eq!(report.created, 3);
    let roles: Vec<Role> = probe.stored().iter().map(|record| record.user.role).collect();
    assert_eq!(roles, [Role::Collaborator, Role::User, Role::User]);
}

#[tokio::test]
async fn a_collaborators_row_naming_a_license_is_a_forbidden_license() {
    let (service, probe) = ports().build();
    let rows =
        vec![Ok(ImportRow { license: Some("Pro".into()), ..cells(1, "seat@acme.test") }), row(2, "ok@acme.test")];
    let report = import(&service, &actor(Role::Collaborator), rows, &ImportOptions::default()).await;
    assert_eq!(reasons(&report), [(1, "forbidden_license")]);
    assert_eq!((report.created, report.failed), (1, 1));
    assert!(probe.stored().iter().all(|record| record.user.license.is_none()));
}

/// Runs an import of one row as `actor`, counting how many rows it read.
async fn import_counting_rows_read(
    service: &ImportService,
    actor: &Actor,
    options: &ImportOptions,
) -> (Result<ImportReport, ImportError>, usize) {
    let consumed = Cell::new(0);
    let rows = vec![row(1, "x@acme.test")].into_iter().inspect(|_| consumed.set(consumed.get() + 1));
    let result = service.import(actor, rows, options, |_| {}).await;
    (result, consumed.get())
}

#[tokio::test]
async fn a_collaborator_giving_every_row_a_license_is_forbidden_before_anything_is_read() {
    let (service, probe) = ports().build();
    let options = ImportOptions { license: Some(kind_id(0)), ..ImportOptions::default() };
    let (result, rows_read) = import_counting_rows_read(&service, &actor(Role::Collaborator), &options).await;
    assert!(
        matches!(result, Err(ImportError::Forbidden(Violation::MissingCapability(Capability::ManageLicenses)))),
        "{result:?}"
    );
    assert_eq!((rows_read, probe.reads()), (0, 0));
    assert!(probe.wrote_nothing());
}

#[tokio::test]
async fn a_user_cannot_import() {
    let (service, probe) = ports().build();
    let (result, rows_read) = import_counting_rows_read(&service, &actor(Role::User), &ImportOptions::default()).await;
    assert!(
        matches!(result, Err(ImportError::Forbidden(Violation::MissingCapability(Capability::ManageUsers)))),
        "{result:?}"
    );
    assert_eq!((rows_read, probe.reads()), (0, 0));
    assert!(probe.wrote_nothing());
}

#[tokio::test]
async fn a_license_option_of_a_kind_the_tenant_lacks_is_not_found_and_nothing_is_written() {
    let (service, probe) = ports().build();
    let options = ImportOptions { license: Some(kind_id(7)), ..ImportOptions::default() };
    let (result, rows_read) = import_counting_rows_read(&service, &actor(Role::Administrator), &options).await;
    assert!(matches!(result, Err(ImportError::LicenseNotFound)), "{result:?}");
    assert_eq!(rows_read, 0);
    assert!(probe.wrote_nothing());
}

// Existing users, updated.

fn profiled(email: &str, role: Role) -> User {
    User {
        name: Some(PersonName::parse("Old Name").unwrap()),
        phone: Some(Phone::parse("+33612345678").unwrap()),
        ..existing_as(email, role)
    }
}

#[tokio::test]
async fn an_update_sets_the_rows_name_and_phone_as_a_profile_update() {
    let before = profiled("old@acme.test", Role::User);
    let (service, probe) = ports().known([before.clone()]).build();
    let rows = vec![Ok(ImportRow {
        name: Some("New Name".into()),
        country_code: Some("FR".into()),
        phone: Some("06 98 76 54 32".into()),
        ..cells(1, "OLD@acme.test")
    })];
    let actor = actor(Role::Administrator);
    let report = import(&service, &actor, rows, &update_existing()).await;
    assert_eq!((report.updated, report.created, report.skipped, report.failed), (1, 0, 0, 0));
    let updates = probe.updates();
    let [(after, premises, audit)] = updates.as_slice() else { panic!("one update expected: {updates:?}") };
    assert_eq!((after.id, after.role), (before.id, Role::User));
    assert_eq!(after.name, Some(PersonName::parse("New Name").unwrap()));
    assert_eq!(after.phone, Some(Phone::parse("+33698765432").unwrap()));
    assert_eq!(*premises, Premises::of(&actor, &before, Some((Role::User, UserStatus::Active))));
    assert_eq!((audit.action, audit.target.id), (AuditAction::UserUpdated, before.id.into()));
    assert!(probe.stored().is_empty());
}

#[tokio::test]
async fn an_update_naming_another_license_says_an_import_does_not_change_licenses() {
    let before = profiled("old@acme.test", Role::User);
    let (service, probe) = ports().kinds(&[("Pro", 10)]).known([before.clone()]).build();
    let rows = vec![Ok(ImportRow { license: Some("pro".into()), ..cells(1, "old@acme.test") })];
    let report = import(&service, &actor(Role::Administrator), rows, &update_existing()).await;
    assert_eq!(reasons(&report), [(1, "already_exists")]);
    let detail = report.problems[0].detail.as_deref().unwrap_or_default();
    assert!(detail.contains("does not change the license"), "{detail:?}");
    assert!(probe.updates().is_empty());
}

#[tokio::test]
async fn an_update_sets_the_rows_role_as_a_role_change() {
    let before = profiled("old@acme.test", Role::User);
    let (service, probe) = ports().known([before.clone()]).build();
    let rows = vec![Ok(ImportRow { role: Some("collaborator".into()), ..cells(1, "old@acme.test") })];
    let report = import(&service, &actor(Role::Administrator), rows, &update_existing()).await;
    assert_eq!(report.updated, 1);
    let updates = probe.updates();
    let [(after, _, audit)] = updates.as_slice() else { panic!("one update expected: {updates:?}") };
    assert_eq!((after.role, &after.name), (Role::Collaborator, &before.name));
    assert_eq!(audit.action, AuditAction::UserRoleChanged);
}

#[tokio::test]
async fn a_collaborator_cannot_update_an_administrator() {
    let administrator = existing_as("boss@acme.test", Role::Administrator);
    let (service, probe) = ports().known([administrator]).build();
    let rows = vec![Ok(ImportRow { name: Some("Renamed".into()), ..cells(1, "boss@acme.test") })];
    let report = import(&service, &actor(Role::Collaborator), rows, &update_existing()).await;
    assert_eq!(reasons(&report), [(1, "not_updated")]);
    assert_eq!((report.updated, report.failed), (0, 1));
    assert!(probe.wrote_nothing());
}

#[tokio::test]
async fn the_last_active_administrator_is_not_demoted() {
    let administrator = existing_as("boss@acme.test", Role::Administrator);
    let (service, probe) = ports().known([administrator]).build();
    let rows = vec![Ok(ImportRow { role: Some("user".into()), ..cells(1, "boss@acme.test") })];
    let report = import(&service, &Actor::system(tenant().id), rows, &update_existing()).await;
    assert_eq!(reasons(&report), [(1, "not_updated")]);
    assert_eq!((report.updated, report.failed), (0, 1));
    assert!(probe.wrote_nothing());
}

#[tokio::test]
async fn a_row_that_changes_nothing_is_skipped_as_already_existing() {
    let before = profiled("old@acme.test", Role::Collaborator);
    let (service, probe) = ports().known([before]).build();
    let rows = vec![Ok(ImportRow {
        name: Some("Old Name".into()),
        phone: Some("+33 6 12 34 56 78".into()),
        role: Some("Collaborator".into()),
        ..cells(1, "old@acme.test")
    })];
    let report = import(&service, &actor(Role::Administrator), rows, &update_existing()).await;
    assert_eq!(reasons(&report), [(1, "already_exists")]);
    assert_eq!((report.updated, report.skipped, report.failed), (0, 1, 0));
    assert!(probe.wrote_nothing());
}

#[tokio::test]
async fn a_dry_run_counts_updates_without_writing_them() {
    let (service, probe) = ports().known([profiled("old@acme.test", Role::User)]).build();
    let rows = vec![Ok(ImportRow { name: Some("New Name".into()), ..cells(1, "old@acme.test") })];
    let options = ImportOptions { dry_run: true, ..update_existing() };
    let report = import(&service, &actor(Role::Administrator), rows, &options).await;
    assert_eq!((report.updated, report.skipped, report.failed), (1, 0, 0));
    assert!(probe.wrote_nothing());
}

#[tokio::test]
async fn an_acting_user_changed_during_an_update_is_a_conflict() {
    let (service, _) = ports().known([existing("old@acme.test")]).update(|_| Err(StoreError::ActorChanged)).build();
    let rows = vec![Ok(ImportRow { name: Some("New Name".into()), ..cells(1, "old@acme.test") })];
    let result = service.import(&actor(Role::Administrator), rows, &update_existing(), |_| {}).await;
    assert!(matches!(result, Err(ImportError::Conflict)), "{result:?}");
}

#[tokio::test]
async fn other_refusals_of_an_update_by_storage_are_not_updated() {
    let known = ["stale@acme.test", "gone@acme.test", "last@acme.test", "ok@acme.test"].map(existing);
    let (service, probe) = ports()
        .known(known)
        .update(|user| match user.email.as_str() {
            "stale@acme.test" => Err(StoreError::Stale),
            "gone@acme.test" => Err(StoreError::NotFound),
            "last@acme.test" => Err(StoreError::LastAdministrator),
            _ => Ok(()),
        })
        .build();
    let rows: Vec<RowRead> = ["stale@acme.test", "gone@acme.test", "last@acme.test", "ok@acme.test"]
        .into_iter()
        .zip(1..)
        .map(|(email, line)| Ok(ImportRow { name: Some("New Name".into()), ..cells(line, email) }))
        .collect();
    let report = import(&service, &actor(Role::Administrator), rows, &update_existing()).await;
    assert_eq!(reasons(&report), [(1, "not_updated"), (2, "not_updated"), (3, "not_updated")]);
    assert_eq!((report.updated, report.failed), (1, 3));
    assert_eq!(probe.updates().len(), 4);
}

// Batches.

#[tokio::test]
async fn rows_are_stored_in_batches_in_file_order_with_progress_after_each() {
    let (service, probe) = ports().build();
    let total = 2 * BATCH + 201;
    let emails: Vec<String> = (1..=total).map(|i| format!("u{i}@acme.test")).collect();
    let rows: Vec<RowRead> = (1..).zip(&emails).map(|(line, email)| row(line, email)).collect();
    let mut seen = Vec::new();
    let report =
        service.import(&actor(Role::Administrator), rows, &ImportOptions::default(), |n| seen.push(n)).await.unwrap();
    assert_eq!((report.rows, report.created), (total as u64, total as u64));
    assert_eq!(probe.batch_sizes(), [BATCH, BATCH, 201]);
    assert_eq!(probe.stored_emails(), emails);
    assert_eq!(seen, [BATCH as u64, 2 * BATCH as u64, total as u64]);
}

#[tokio::test]
async fn the_report_lists_the_first_problems_in_file_order_and_counts_the_others() {
    let (service, probe) = ports().build();
    // Within each batch the storage's outcomes come after the invalid rows: the listed ones must
    // still be the first lines of the file.
    let rows: Vec<RowRead> = (1..=1200)
        .map(|line| if line % 3 == 0 { row(line, "not an email") } else { row(line, &format!("u{line}@acme.test")) })
        .collect();
    let options = ImportOptions { listed_problems: 250, ..ImportOptions::default() };
    let report = import(&service, &actor(Role::Administrator), rows, &options).await;
    assert_eq!((report.rows, report.created, report.failed), (1200, 800, 400));
    let lines: Vec<u64> = report.problems.iter().map(|problem| problem.line).collect();
    assert_eq!(lines, (1..=250).map(|n| n * 3).collect::<Vec<_>>());
    assert_eq!(report.problems_omitted, 150);
    assert_eq!(probe.stored().len(), 800, "what is not listed is still imported");
}

#[tokio::test]
async fn a_batch_raced_by_another_writer_is_stored_one_by_one() {
    let mut users = MockUserRepository::new();
    users.expect_insert_batch().times(1).returning(|_, _, _| Err(StoreError::Stale));
    users.expect_insert().times(2).returning(|user, _, _| {
        if user.email.as_str() == "raced@acme.test" { Err(StoreError::EmailTaken) } else { Ok(()) }
    });
    let (service, _) = ports().users(users).build();
    let rows = vec![row(1, "fine@acme.test"), row(2, "raced@acme.test")];
    let report = import(&service, &actor(Role::Administrator), rows, &ImportOptions::default()).await;
    assert_eq!((report.created, report.skipped), (1, 1));
    assert_eq!(reasons(&report), [(2, "already_exists")]);
}

#[tokio::test]
async fn an_acting_user_changed_during_a_batch_is_a_conflict() {
    let mut users = MockUserRepository::new();
    users.expect_insert_batch().returning(|_, _, _| Err(StoreError::ActorChanged));
    let (service, _) = ports().users(users).build();
    let rows = vec![row(1, "a@acme.test")];
    let result = service.import(&actor(Role::Administrator), rows, &ImportOptions::default(), |_| {}).await;
    assert!(matches!(result, Err(ImportError::Conflict)), "{result:?}");
}

// Outcomes of storage.

#[tokio::test]
async fn storage_outcomes_are_reported_as_row_reasons() {
    let (service, _) = ports()
        .outcome("taken@acme.test", RecordOutcome::EmailTaken)
        .outcome("full@acme.test", RecordOutcome::NoSeats)
        .outcome("gone@acme.test", RecordOutcome::LicenseNotFound)
        .build();
    let rows =
        vec![row(1, "taken@acme.test"), row(2, "full@acme.test"), row(3, "gone@acme.test"), row(4, "fine@acme.test")];
    let report = import(&service, &actor(Role::Administrator), rows, &ImportOptions::default()).await;
    assert_eq!(reasons(&report), [(1, "already_exists"), (2, "no_seats_available"), (3, "unknown_license")]);
    assert_eq!((report.rows, report.created, report.skipped, report.failed), (4, 1, 1, 2));
}

#[tokio::test]
async fn problems_of_validation_and_of_storage_are_reported_in_line_order() {
    let (service, _) = ports()
        .outcome("taken@acme.test", RecordOutcome::EmailTaken)
        .outcome("full@acme.test", RecordOutcome::NoSeats)
        .build();
    let rows = vec![
        row(1, "taken@acme.test"),
        row(2, "not an email"),
        row(3, "full@acme.test"),
        Err((4, "invalid UTF-8".into())),
        row(5, "fine@acme.test"),
        Ok(ImportRow { role: Some("boss".into()), ..cells(6, "who@acme.test") }),
    ];
    let report = import(&service, &actor(Role::Administrator), rows, &ImportOptions::default()).await;
    assert_eq!(
        reasons(&report),
        [
            (1, "already_exists"),
            (2, "invalid_email"),
            (3, "no_seats_available"),
            (4, "unreadable_row"),
            (6, "invalid_role")
        ]
    );
}

// Invitations.

#[tokio::test]
async fn an_invited_import_stores_invited_users_with_their_invitation() {
    let (service, probe) = ports().build();
    let rows = vec![row(1, "a@acme.test"), row(2, "b@acme.test")];
    let report = import(&service, &actor(Role::Administrator), rows, &invite()).await;
    assert_eq!(report.created, 2);
    let stored = probe.stored();
    assert_eq!(stored.len(), 2);
    for record in &stored {
        assert_eq!(record.user.status, UserStatus::Invited);
        assert_eq!(record.audit.action, AuditAction::UserInvited);
        let invitation = record.invitation.as_ref().expect("an invitation");
        assert_eq!((invitation.user, invitation.tenant), (record.user.id, tenant().id));
    }
}

#[tokio::test]
async fn each_invited_user_created_is_mailed_once_and_no_one_else() {
    let (service, probe) = ports()
        .known([existing("old@acme.test")])
        .outcome("taken@acme.test", RecordOutcome::EmailTaken)
        .outcome("full@acme.test", RecordOutcome::NoSeats)
        .build();
    let rows = vec![
        row(1, "a@acme.test"),
        row(2, "old@acme.test"),
        row(3, "taken@acme.test"),
        row(4, "not an email"),
        row(5, "full@acme.test"),
        row(6, "b@acme.test"),
    ];
    let report = import(&service, &actor(Role::Administrator), rows, &invite()).await;
    assert_eq!(report.created, 2);
    assert_eq!(probe.mailed_to(), ["a@acme.test", "b@acme.test"]);
}

#[tokio::test]
async fn a_raced_invited_batch_is_stored_one_by_one_and_the_created_are_mailed() {
    let mut users = MockUserRepository::new();
    users.expect_insert_batch().times(1).returning(|_, _, _| Err(StoreError::Stale));
    users.expect_insert().never();
    let (service, probe) = ports()
        .users(users)
        .invite(|user| if user.email.as_str() == "raced@acme.test" { Err(StoreError::EmailTaken) } else { Ok(()) })
        .build();
    let rows = vec![row(1, "fine@acme.test"), row(2, "raced@acme.test")];
    let report = import(&service, &actor(Role::Administrator), rows, &invite()).await;
    assert_eq!((report.created, report.skipped), (1, 1));
    assert_eq!(reasons(&report), [(2, "already_exists")]);
    let invited: Vec<(String, UserSource)> =
        probe.invited.lock().unwrap().iter().map(|user| (user.email.to_string(), user.source)).collect();
    assert_eq!(
        invited,
        [("fine@acme.test".into(), UserSource::Imported), ("raced@acme.test".into(), UserSource::Imported)]
    );
    assert_eq!(probe.mailed_to(), ["fine@acme.test"]);
}

#[tokio::test]
async fn a_dry_run_mails_no_invitation() {
    let (service, probe) = ports().build();
    let options = ImportOptions { dry_run: true, ..invite() };
    let report = import(&service, &actor(Role::Administrator), vec![row(1, "a@acme.test")], &options).await;
    assert_eq!(report.created, 1);
    assert!(probe.mailed_to().is_empty());
    assert!(probe.wrote_nothing());
}

#[tokio::test]
async fn imported_users_have_the_imported_source_invited_or_not() {
    for options in [ImportOptions::default(), invite()] {
        let (service, probe) = ports().build();
        let report = import(&service, &actor(Role::Administrator), vec![row(1, "a@acme.test")], &options).await;
        assert_eq!(report.created, 1);
        let stored = probe.stored();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].user.source, UserSource::Imported, "invite: {}", options.invite);
        assert_eq!(stored[0].audit.after.as_ref().unwrap()["source"], "imported", "invite: {}", options.invite);
    }
}

// Dry runs.

#[tokio::test]
async fn a_dry_run_writes_nothing_and_reports_the_seats_that_would_run_out() {
    let (service, probe) = ports().known([existing("old@acme.test")]).kinds(&[("Pro", 2)]).build();
    let options = ImportOptions {
        dry_run: true,
        license: Some(kind_id(0)),
        on_existing: OnExisting::Update,
        ..ImportOptions::default()
    };
    let rows = vec![row(1, "a@acme.test"), row(2, "b@acme.test"), row(3, "c@acme.test")];
    let report = import(&service, &actor(Role::Administrator), rows, &options).await;
    assert_eq!((report.created, report.failed), (2, 1));
    assert_eq!(reasons(&report), [(3, "no_seats_available")]);
    assert!(probe.wrote_nothing(), "a dry run stores nothing");
}
