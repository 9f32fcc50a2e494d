//! The import report and the export rows.

use poem_openapi::{Enum, Object};
use roster_csv::{Delimiter, ExportRow, Layout};
use roster_domain::import::RowReason;
use roster_domain::services::import::RowProblem;
use roster_domain::services::{ImportReport, OnExisting};
use roster_domain::{Role, UserStatus};

use crate::api::models::UserBody;

/// What to do with a row whose email belongs to a user of the tenant.
#[derive(Enum, Debug, Clone, Copy, Default)]
#[oai(rename = "OnExisting", rename_all = "lowercase")]
pub enum OnExistingParam {
    /// Leave the user as is; the row is reported `already_exists`.
    #[default]
    Skip,
    /// Set the name, phone and role the row gives (governance applies; `not_updated` otherwise).
    Update,
}

impl From<OnExistingParam> for OnExisting {
    fn from(param: OnExistingParam) -> Self {
        match param {
            OnExistingParam::Skip => Self::Skip,
            OnExistingParam::Update => Self::Update,
        }
    }
}

/// Why a row was skipped or failed.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename = "ImportRowReason", rename_all = "snake_case")]
pub enum RowReasonDto {
    /// Failed: the email is not an address.
    InvalidEmail,
    /// Skipped: an earlier row of the file has the same email (in any letter case), whether or
    /// not that row could be applied.
    DuplicateInFile,
    /// Skipped: the tenant has a user with this email (`on_existing=skip`), or the row changes
    /// nothing (an import sets the name, phone and role of existing users, never their
    /// license: a row naming another license says so in `detail`).
    AlreadyExists,
    /// Failed: the phone is not a valid number, or has no country code.
    InvalidPhone,
    /// Failed: the name is too long or has control characters.
    InvalidName,
    /// Failed: the role is not `administrator`, `collaborator` or `user`.
    InvalidRole,
    /// Failed: only administrators create administrators.
    ForbiddenRole,
    /// Failed: the tenant has no license kind of this name.
    UnknownLicense,
    /// Failed: every seat of the license kind is taken.
    NoSeatsAvailable,
    /// Failed: the existing user could not be updated (administrator target, last administrator, or changed meanwhile).
    NotUpdated,
    /// Failed: only administrators give seats.
    ForbiddenLicense,
    /// Failed: the row could not be read (`detail` says why).
    UnreadableRow,
}

impl From<RowReason> for RowReasonDto {
    fn from(reason: RowReason) -> Self {
        match reason {
            RowReason::InvalidEmail => Self::InvalidEmail,
            RowReason::DuplicateInFile => Self::DuplicateInFile,
            RowReason::AlreadyExists => Self::AlreadyExists,
            RowReason::InvalidPhone => Self::InvalidPhone,
            RowReason::InvalidName => Self::InvalidName,
            RowReason::InvalidRole => Self::InvalidRole,
            RowReason::ForbiddenRole => Self::ForbiddenRole,
            RowReason::UnknownLicense => Self::UnknownLicense,
            RowReason::NoSeats => Self::NoSeatsAvailable,
            RowReason::NotUpdated => Self::NotUpdated,
            RowReason::ForbiddenLicense => Self::ForbiddenLicense,
            RowReason::Unreadable => Self::UnreadableRow,
        }
    }
}

/// A row that was skipped or failed.
#[derive(Object, Debug)]
#[oai(rename = "ImportRowProblem", skip_serializing_if_is_none)]
pub struct RowProblemBody {
    /// The line of the file the row starts on, counted from 1 (header and blank lines included).
    pub line: u64,
    /// The row's email cell, as written (empty when the row could not be read).
    pub email: String,
    /// Why.
    pub reason: RowReasonDto,
    /// More about why, for `unreadable_row`.
    pub detail: Option<String>,
}

impl From<RowProblem> for RowProblemBody {
    fn from(problem: RowProblem) -> Self {
        Self { line: problem.line, email: problem.email, reason: problem.reason.into(), detail: problem.detail }
    }
}

/// The separator of the cells.
#[derive(Enum, Debug, Clone, Copy)]
#[oai(rename = "CsvDelimiter", rename_all = "lowercase")]
pub enum DelimiterDto {
    /// `,`
    Comma,
    /// `;`
    Semicolon,
    /// A tab.
    Tab,
}

/// How the file was read.
#[derive(Object, Debug)]
#[oai(rename = "ImportFormat")]
pub struct FormatBody {
    /// The delimiter found.
    pub delimiter: DelimiterDto,
    /// Whether the first row was a header naming the columns.
    pub header: bool,
    /// Header columns that were not read (unknown titles).
    pub ignored_columns: Vec<String>,
    /// Whether the file started with a UTF-8 byte order mark.
    pub bom: bool,
}

impl From<&Layout> for FormatBody {
    fn from(layout: &Layout) -> Self {
        Self {
            delimiter: match layout.delimiter {
                Delimiter::Comma => DelimiterDto::Comma,
                Delimiter::Semicolon => DelimiterDto::Semicolon,
                Delimiter::Tab => DelimiterDto::Tab,
            },
            header: layout.header.is_some(),
            ignored_columns: layout.header.as_ref().map(|header| header.ignored.clone()).unwrap_or_default(),
            bom: layout.bom,
        }
    }
}

/// What an import did, or with `dry_run` would do.
#[derive(Object, Debug)]
#[oai(rename = "ImportReport")]
pub struct ImportReportBody {
    /// Whether nothing was written.
    pub dry_run: bool,
    /// How the file was read.
    pub format: FormatBody,
    /// Rows read (the header and blank lines excluded).
    pub rows: u64,
    /// Users created.
    pub created: u64,
    /// Existing users updated (`on_existing=update`).
    pub updated: u64,
    /// Rows skipped: duplicates within the file, existing users left as they are.
    pub skipped: u64,
    /// Rows not applied because of a problem.
    pub failed: u64,
    /// The skipped or failed rows in file order: the first 10,000.
    pub problems: Vec<RowProblemBody>,
    /// Skipped or failed rows beyond the 10,000 listed (counted in `skipped` and `failed`).
    pub problems_omitted: u64,
}

impl ImportReportBody {
    /// The report of an import of a file read with `layout`.
    pub fn new(report: ImportReport, layout: &Layout, dry_run: bool) -> Self {
        Self {
            dry_run,
            format: layout.into(),
            rows: report.rows,
            created: report.created,
            updated: report.updated,
            skipped: report.skipped,
            failed: report.failed,
            problems: report.problems.into_iter().map(Into::into).collect(),
            problems_omitted: report.problems_omitted,
        }
    }
}

/// `user` as an export line. `consumed` is the current period's consumption of the user's budget,
/// or, without a budget, every credit they ever used.
pub fn export_row(user: UserBody) -> ExportRow {
    let rfc3339 = |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let consumed = match (&user.budget, &user.usage) {
        (Some(budget), _) => Some(budget.consumed),
        (None, Some(usage)) => Some(usage.credits),
        (None, None) => None,
    };
    ExportRow {
        email: user.email,
        name: user.name,
        phone: user.phone,
        role: Role::from(user.role).as_str().to_owned(),
        status: UserStatus::from(user.status).as_str().to_owned(),
        license: user.license.map(|license| license.name),
        budget_limit: user.budget.as_ref().map(|budget| budget.limit),
        consumed,
        created_at: rfc3339(user.created_at),
        activated_at: user.activated_at.map(rfc3339),
        last_active_at: user.last_active_at.map(rfc3339),
        invitation: user.invitation.map(|invitation| match invitation.state {
            crate::api::models::InvitationStateDto::Pending => "pending".to_owned(),
            crate::api::models::InvitationStateDto::Expired => "expired".to_owned(),
        }),
    }
}
