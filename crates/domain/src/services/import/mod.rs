//! The bulk-import use case: every row of a file validated by the domain's own rules (email,
//! phone, name, role under governance, license), existing users skipped or updated, new users
//! stored in batches of [`BATCH`] where each row is all or nothing, their invitations mailed.
//! A killed import leaves whole rows only; running the same file again creates nothing twice.

mod rows;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use self::rows::{Parsed, parse_row};
use super::invitations::InvitationService;
use crate::governance::{self, Premises};
use crate::import::{ImportRow, RowReason};
use crate::invitation::{Delivery, Invitation};
use crate::ports::{Clock, LicenseRepository, NewRecord, RecordOutcome, TenantRepository, UserRepository};
use crate::user::NewUser;
use crate::{
    Actor, AuditAction, AuditEvent, Capability, LicenseKindId, Role, StoreError, Tenant, UnexpectedError, User,
    UserSource, Violation,
};

/// How many rows one transaction stores: 50 transactions for 100,000 rows, each about 0.1 s on
/// PostgreSQL (fewer commits and round trips than the 500 it was).
pub const BATCH: usize = 2000;

/// What to do with a row whose email exists in the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExisting {
    /// Leave the user as is (`already_exists`).
    #[default]
    Skip,
    /// Set the name, phone and role the row gives (governance applies).
    Update,
}

/// How to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Validate and report, write nothing.
    pub dry_run: bool,
    /// The role of rows that give none.
    pub default_role: Role,
    /// A license kind giving a seat to every new user whose row names none.
    pub license: Option<LicenseKindId>,
    /// Create new users invited, and mail them their link (else they are created active).
    pub invite: bool,
    /// What to do with existing users.
    pub on_existing: OnExisting,
    /// How many problems the report lists (the first ones in file order); the others are
    /// counted in [`ImportReport::problems_omitted`]. Bounds the report's memory.
    pub listed_problems: usize,
}

/// The problems a report lists by default.
pub const LISTED_PROBLEMS: usize = 10_000;

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            default_role: Role::User,
            license: None,
            invite: false,
            on_existing: OnExisting::Skip,
            listed_problems: LISTED_PROBLEMS,
        }
    }
}

/// A row that was skipped or failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// Its line in the file.
    pub line: u64,
    /// Its email cell, as written.
    pub email: String,
    /// Why.
    pub reason: RowReason,
    /// More about why, when the reason alone does not say (an unreadable row's defect).
    pub detail: Option<String>,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportReport {
    /// Rows read (blank lines and the header excluded).
    pub rows: u64,
    /// Users created.
    pub created: u64,
    /// Existing users updated.
    pub updated: u64,
    /// Rows skipped: duplicates within the file, existing users left as they are.
    pub skipped: u64,
    /// Rows that could not be applied.
    pub failed: u64,
    /// The skipped or failed rows in file order, up to [`ImportOptions::listed_problems`].
    pub problems: Vec<RowProblem>,
    /// Skipped or failed rows beyond those listed.
    pub problems_omitted: u64,
}

impl ImportReport {
    fn problem(&mut self, line: u64, email: &str, reason: RowReason) {
        if reason.is_skip() {
            self.skipped += 1;
        } else {
            self.failed += 1;
        }
        self.problems.push(RowProblem { line, email: email.to_owned(), reason, detail: None });
    }

    /// Puts the problems from `from` on (one batch's) in file order and keeps the first `listed`.
    fn settle(&mut self, from: usize, listed: usize) {
        self.problems[from..].sort_by_key(|problem| problem.line);
        if self.problems.len() > listed {
            self.problems_omitted += (self.problems.len() - listed) as u64;
            self.problems.truncate(listed);
        }
    }
}

/// An import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The actor may not import users (or give the option's license).
    #[error(transparent)]
    Forbidden(#[from] Violation),
    /// The option's license kind does not exist in the tenant.
    #[error("license kind not found")]
    LicenseNotFound,
    /// The acting user changed meanwhile.
    #[error("your own account changed while the import ran; what was imported stays")]
    Conflict,
    /// Anything else (what was imported before stays).
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
}

impl From<StoreError> for ImportError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ActorChanged => Self::Conflict,
            other => Self::Unexpected(other.into_unexpected()),
        }
    }
}

/// A row read from the file, or why it could not be read (its line and the reason).
pub type RowRead = Result<ImportRow, (u64, String)>;

/// Imports users from rows.
#[derive(Clone)]
pub struct ImportService {
    users: Arc<dyn UserRepository>,
    licenses: Arc<dyn LicenseRepository>,
    tenants: Arc<dyn TenantRepository>,
    invitations: InvitationService,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ImportService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImportService")
    }
}

/// What an import knows of the tenant while it runs.
struct Context<'a> {
    actor: &'a Actor,
    tenant: Tenant,
    options: &'a ImportOptions,
    /// License kinds by lowercased name.
    kinds: HashMap<String, LicenseKindId>,
}

/// A batch of rows read and validated, waiting to be applied.
#[derive(Default)]
struct Checked {
    /// Rows read (readable or not).
    rows: u64,
    /// The valid rows.
    valid: Vec<(ImportRow, Parsed)>,
    /// The rows refused by validation: line, email, reason, detail.
    problems: Vec<(u64, String, RowReason, Option<String>)>,
}

/// Rows read between two chances for the batch being stored to make progress (see
/// [`ImportService::import`]).
const ROWS_PER_TURN: usize = 50;

/// A future that is pending once, asking to be polled again at once: the rest of its task
/// (the batch being stored) gets a turn.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

impl ImportService {
    /// A service over these ports.
    pub fn new(
        users: Arc<dyn UserRepository>,
        licenses: Arc<dyn LicenseRepository>,
        tenants: Arc<dyn TenantRepository>,
        invitations: InvitationService,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { users, licenses, tenants, invitations, clock }
    }

    /// Imports `rows` into the actor's tenant with `options`; `progress` is called with the
    /// number of rows done after every batch.
    ///
    /// # Errors
    /// See [`ImportError`]; a failure after some batches leaves those batches imported.
    pub async fn import(
        &self,
        actor: &Actor,
        rows: impl IntoIterator<Item = RowRead>,
        options: &ImportOptions,
        mut progress: impl FnMut(u64),
    ) -> Result<ImportReport, ImportError> {
        if !actor.can(Capability::ManageUsers) {
            return Err(Violation::MissingCapability(Capability::ManageUsers).into());
        }
        if options.license.is_some() {
            governance::check_license_management(actor)?;
        }
        let unexpected = StoreError::into_unexpected;
        let tenant = self.tenants.get_tenant(actor.tenant).await.map_err(unexpected)?;
        let tenant = tenant.ok_or_else(|| UnexpectedError::new("the actor's tenant does not exist"))?;
        let kinds = self.licenses.list(actor.tenant).await.map_err(unexpected)?;
        if options.license.is_some_and(|wanted| kinds.iter().all(|kind| kind.id != wanted)) {
            return Err(ImportError::LicenseNotFound);
        }
        // Seats left per kind (kept for a dry run, whose batches store nothing).
        let mut available: HashMap<LicenseKindId, u64> = kinds.iter().map(|kind| (kind.id, kind.available())).collect();
        let context = Context {
            actor,
            tenant,
            options,
            kinds: kinds.into_iter().map(|kind| (kind.name.key(), kind.id)).collect(),
        };
        let mut report = ImportReport::default();
        let mut rows = rows.into_iter();
        let mut seen = HashSet::new();
        // Batch N is stored while batch N+1 is read and validated, in turns of a few rows, so
        // that the work of this process overlaps the database's.
        let mut next = self.check(&context, &mut rows, &mut seen).await;
        loop {
            let batch = std::mem::take(&mut next);
            if batch.rows == 0 {
                break;
            }
            let (applied, checked) = futures::join!(
                self.apply(&context, &mut available, batch, &mut report),
                self.check(&context, &mut rows, &mut seen),
            );
            applied?;
            next = checked;
            progress(report.rows);
        }
        if report.rows == 0 {
            progress(0);
        }
        Ok(report)
    }

    /// Reads and validates the next [`BATCH`] rows, letting the batch being stored make progress
    /// every [`ROWS_PER_TURN`] rows.
    async fn check(
        &self,
        context: &Context<'_>,
        rows: &mut impl Iterator<Item = RowRead>,
        seen: &mut HashSet<crate::Email>,
    ) -> Checked {
        let mut checked = Checked::default();
        for (n, row) in rows.take(BATCH).enumerate() {
            if n % ROWS_PER_TURN == ROWS_PER_TURN - 1 {
                YieldNow(false).await;
            }
            checked.rows += 1;
            let row = match row {
                Ok(row) => row,
                Err((line, detail)) => {
                    checked.problems.push((line, String::new(), RowReason::Unreadable, Some(detail)));
                    continue;
                }
            };
            let refused = match parse_row(&row, context.options.default_role, &context.kinds) {
                Err(reason) => {
                    // The first row naming an email claims it, applied or not: a later row for
                    // the same person is never applied in its place.
                    if let Ok(email) = crate::Email::parse(&row.email) {
                        seen.insert(email);
                    }
                    Some(reason)
                }
                Ok(parsed) if !seen.insert(parsed.email.clone()) => Some(RowReason::DuplicateInFile),
                Ok(parsed) => match self.permit(context.actor, &parsed) {
                    Err(reason) => Some(reason),
                    Ok(()) => {
                        checked.valid.push((row, parsed));
                        continue;
                    }
                },
            };
            if let Some(reason) = refused {
                checked.problems.push((row.line, row.email, reason, None));
            }
        }
        checked
    }

    /// Applies one batch of checked rows: reports its refused rows, updates or skips the
    /// existing users, stores the new ones.
    async fn apply(
        &self,
        context: &Context<'_>,
        available: &mut HashMap<LicenseKindId, u64>,
        batch: Checked,
        report: &mut ImportReport,
    ) -> Result<(), ImportError> {
        let from = report.problems.len();
        report.rows += batch.rows;
        for (line, email, reason, detail) in batch.problems {
            report.problem(line, &email, reason);
            report.problems.last_mut().expect("just pushed").detail = detail;
        }
        let result = self.apply_valid(context, available, batch.valid, report).await;
        report.settle(from, context.options.listed_problems);
        result
    }

    async fn apply_valid(
        &self,
        context: &Context<'_>,
        available: &mut HashMap<LicenseKindId, u64>,
        valid: Vec<(ImportRow, Parsed)>,
        report: &mut ImportReport,
    ) -> Result<(), ImportError> {
        if valid.is_empty() {
            return Ok(());
        }
        // Skipping existing users needs no lookup when storing: the batch insert reports their
        // emails as taken, under the tenant's lock. Updating them, or a dry run, looks them up.
        let options = context.options;
        if options.on_existing == OnExisting::Skip && !options.dry_run {
            return self.create(context, available, valid, report).await;
        }
        let emails: Vec<crate::Email> = valid.iter().map(|(_, parsed)| parsed.email.clone()).collect();
        let existing: HashMap<crate::Email, User> = self
            .users
            .find_by_emails(context.actor.tenant, &emails)
            .await?
            .into_iter()
            .map(|u| (u.email.clone(), u))
            .collect();
        let mut new = Vec::with_capacity(valid.len());
        for (row, parsed) in valid {
            match existing.get(&parsed.email) {
                None => new.push((row, parsed)),
                Some(_) if options.on_existing == OnExisting::Skip => {
                    report.problem(row.line, &row.email, RowReason::AlreadyExists);
                }
                Some(user) => self.update(context, &row, &parsed, user, report).await?,
            }
        }
        self.create(context, available, new, report).await
    }

    /// May the actor give this row's role and license?
    fn permit(&self, actor: &Actor, parsed: &Parsed) -> Result<(), RowReason> {
        governance::check_create(actor, parsed.role).map_err(|_| RowReason::ForbiddenRole)?;
        if parsed.license.is_some() && !actor.can(Capability::ManageLicenses) {
            return Err(RowReason::ForbiddenLicense);
        }
        Ok(())
    }

    /// Sets the row's name, phone and role on the existing `user`, in one governed change.
    async fn update(
        &self,
        context: &Context<'_>,
        row: &ImportRow,
        parsed: &Parsed,
        user: &User,
        report: &mut ImportReport,
    ) -> Result<(), ImportError> {
        let actor = context.actor;
        let now = self.clock.now();
        if governance::check_profile_update(actor, user).is_err() {
            report.problem(row.line, &row.email, RowReason::NotUpdated);
            return Ok(());
        }
        let mut after = user.with_profile(parsed.profile(), now).unwrap_or_else(|| user.clone());
        if let Some(role) = parsed.explicit_role.filter(|role| *role != user.role) {
            let administrators = if user.is_active_administrator() {
                self.users.count_active_administrators(user.tenant).await?
            } else {
                0
            };
            if governance::check_role_change(actor, user, role, administrators).is_err() {
                report.problem(row.line, &row.email, RowReason::NotUpdated);
                return Ok(());
            }
            after = after.with_role(role, now);
        }
        if after == *user {
            report.problem(row.line, &row.email, RowReason::AlreadyExists);
            if parsed.license.is_some_and(|kind| user.license != Some(kind)) {
                let detail = "an import does not change the license of an existing user; assign it on the user";
                report.problems.last_mut().expect("just pushed").detail = Some(detail.to_owned());
            }
            return Ok(());
        }
        if context.options.dry_run {
            report.updated += 1;
            return Ok(());
        }
        let premises = Premises::of(actor, user, Some((after.role, after.status)));
        // A role change is the governed part of the update: audit it as one (its diff holds the
        // profile changes too), as `UserService::change_role` does.
        let action = if after.role == user.role { AuditAction::UserUpdated } else { AuditAction::UserRoleChanged };
        let audit = AuditEvent::user_changed(actor, action, user, &after, now);
        match self.users.update(&after, &premises, &audit).await {
            Ok(()) => report.updated += 1,
            Err(StoreError::ActorChanged) => return Err(ImportError::Conflict),
            Err(StoreError::Unexpected(error)) => return Err(error.into()),
            Err(_) => report.problem(row.line, &row.email, RowReason::NotUpdated),
        }
        Ok(())
    }

    /// Stores the new users of a batch (or counts them, dry), then mails their invitations.
    async fn create(
        &self,
        context: &Context<'_>,
        available: &mut HashMap<LicenseKindId, u64>,
        new: Vec<(ImportRow, Parsed)>,
        report: &mut ImportReport,
    ) -> Result<(), ImportError> {
        if new.is_empty() {
            return Ok(());
        }
        let (actor, options) = (context.actor, context.options);
        let now = self.clock.now();
        let mut records = Vec::with_capacity(new.len());
        let mut secrets = Vec::with_capacity(new.len());
        for (_, parsed) in &new {
            let user = NewUser {
                email: parsed.email.clone(),
                name: parsed.name.clone(),
                phone: parsed.phone.clone(),
                role: parsed.role,
                referral_code: None,
            };
            let license = parsed.license.or(options.license);
            let mut user = if options.invite {
                User::invite(actor.tenant, user, license, now)
            } else {
                User { license, ..User::create(actor.tenant, user, UserSource::Imported, now) }
            };
            user.source = UserSource::Imported;
            let (invitation, audit) = if options.invite {
                let ttl = context.tenant.settings.invitation_ttl;
                let (invitation, secret) =
                    Invitation::issue(actor.tenant, user.id, ttl, actor.user_id(), Delivery::pending(), now);
                secrets.push(Some(secret));
                let audit = AuditEvent::user_invited(actor, &user, &invitation, now);
                (Some(invitation), audit)
            } else {
                secrets.push(None);
                (None, AuditEvent::user_created(actor, &user, now))
            };
            records.push(NewRecord { user, invitation, audit });
        }
        let outcomes =
            if options.dry_run { Self::dry_outcomes(available, &records) } else { self.store(actor, &records).await? };
        for (((row, _), record), (outcome, secret)) in new.iter().zip(&records).zip(outcomes.into_iter().zip(secrets)) {
            match outcome {
                RecordOutcome::Created => {
                    report.created += 1;
                    if let (Some(invitation), Some(secret), false) = (&record.invitation, secret, options.dry_run) {
                        self.invitations
                            .deliver(&context.tenant, actor, &record.user, invitation.clone(), &secret)
                            .await?;
                    }
                }
                RecordOutcome::EmailTaken => report.problem(row.line, &row.email, RowReason::AlreadyExists),
                RecordOutcome::NoSeats => report.problem(row.line, &row.email, RowReason::NoSeats),
                RecordOutcome::LicenseNotFound => report.problem(row.line, &row.email, RowReason::UnknownLicense),
            }
        }
        Ok(())
    }

    /// Stores `records` in one transaction, or, when a concurrent write took one of their
    /// emails meanwhile, one by one.
    async fn store(&self, actor: &Actor, records: &[NewRecord]) -> Result<Vec<RecordOutcome>, ImportError> {
        let acting = governance::acting(actor);
        match self.users.insert_batch(actor.tenant, records, acting).await {
            Err(StoreError::Stale) => {}
            other => return Ok(other?),
        }
        let mut outcomes = Vec::with_capacity(records.len());
        for record in records {
            let result = match &record.invitation {
                Some(invitation) => {
                    let invitations = self.invitations.repository();
                    invitations.invite(&record.user, invitation, acting, &record.audit).await
                }
                None => self.users.insert(&record.user, acting, &record.audit).await,
            };
            outcomes.push(match result {
                Ok(()) => RecordOutcome::Created,
                Err(StoreError::EmailTaken) => RecordOutcome::EmailTaken,
                Err(StoreError::NoSeats { .. }) => RecordOutcome::NoSeats,
                Err(StoreError::LicenseNotFound) => RecordOutcome::LicenseNotFound,
                Err(other) => return Err(other.into()),
            });
        }
        Ok(outcomes)
    }

    /// What storing `records` would come to: every one created, but for the seats that run out.
    fn dry_outcomes(available: &mut HashMap<LicenseKindId, u64>, records: &[NewRecord]) -> Vec<RecordOutcome> {
        records
            .iter()
            .map(|record| match record.user.license {
                None => RecordOutcome::Created,
                Some(kind) => match available.get_mut(&kind) {
                    None => RecordOutcome::LicenseNotFound,
                    Some(0) => RecordOutcome::NoSeats,
                    Some(left) => {
                        *left -= 1;
                        RecordOutcome::Created
                    }
                },
            })
            .collect()
    }
}
