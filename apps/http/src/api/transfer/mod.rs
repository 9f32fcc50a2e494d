//! `/v1/users/import` and `/v1/users/export`: users in and out as CSV files.

mod models;
mod payload;

use std::io::Cursor;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt as _};
use poem::Body;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};
use roster_csv::{ExportWriter, read_rows};
use roster_domain::services::{ImportOptions, ImportService, UserService};
use roster_domain::user::InvitationFilter;
use roster_domain::{Actor, Role, User, UserCursor, UserFilter};
use uuid::Uuid;

use self::models::{ImportReportBody, OnExistingParam, export_row};
use self::payload::{CsvBody, CsvFile};
use super::ApiTags;
use super::auth::BearerAuth;
use super::models::{InvitationStateDto, RoleDto, StatusDto};
use super::problem::{Problem, answer, from_request_error, problem_responses};
use super::users::user_filter;
use super::views::UserViews;

/// The import and export endpoints.
#[derive(Debug, Clone)]
pub struct TransferApi {
    pub users: UserService,
    pub imports: ImportService,
    pub views: UserViews,
}

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ImportUsersResponse {
    /// What the import did (or, with `dry_run`, would do), row by row.
    #[oai(status = 200)]
    Ok(Json<ImportReportBody>),
    /// `invalid_request`: a parameter is malformed.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: the role lacks `manage_users`, or, with `license`, `manage_licenses`.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `license_not_found`: no license kind with the `license` id.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// `concurrent_modification`: the caller's own account changed while the import ran (the rows
    /// imported until then stay; run the file again to import the rest).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `payload_too_large`: the file exceeds 32 MiB.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// `unsupported_media_type`: send `Content-Type: text/csv`.
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// `invalid_csv`: the file cannot be read as a whole (a header row without an email column,
    /// or not UTF-8 text: UTF-16, a spreadsheet, a compressed file, Windows-1252 or Latin-1).
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(ImportUsersResponse {
    400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 404 => NotFound, 409 => Conflict,
    413 => PayloadTooLarge, 415 => UnsupportedMediaType, 422 => Unprocessable,
});

#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "from_request_error")]
pub enum ExportUsersResponse {
    /// The users, one per line after a header line, oldest first. The file is streamed: should
    /// the server fail midway, the transfer is cut off (never ends cleanly), so a complete
    /// download is a complete export.
    #[oai(status = 200)]
    Ok(CsvFile, #[oai(header = "Content-Disposition")] String),
    /// `invalid_request`: a parameter is malformed.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// `unauthenticated`.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// `forbidden`: users without the `view_users` capability cannot export users.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// `invalid_search`, `invalid_time` or `invalid_referral_code`.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// `internal_error`.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}
problem_responses!(ExportUsersResponse { 400 => BadRequest, 401 => Unauthorized, 403 => Forbidden, 422 => Unprocessable });

/// What the export stream carries from one page to the next.
struct ExportPages {
    users: UserService,
    views: UserViews,
    actor: Actor,
    filter: UserFilter,
    writer: ExportWriter,
}

impl ExportPages {
    /// The lines of `users`.
    async fn render(&mut self, users: Vec<User>) -> Result<Vec<u8>, Problem> {
        let mut lines = Vec::with_capacity(users.len() * 160);
        for user in self.views.many(&self.actor, users).await? {
            lines.extend_from_slice(&self.writer.row(&export_row(user)));
        }
        Ok(lines)
    }

    /// The lines of the page after `after`, and the position after that page.
    async fn next(&mut self, after: UserCursor) -> Result<(Vec<u8>, Option<UserCursor>), Problem> {
        let (users, next) = self.users.export_page(&self.actor, &self.filter, Some(after)).await?;
        Ok((self.render(users).await?, next))
    }
}

/// The export file of the users matching `filter`, as the actor sees them: chunks of lines, a
/// page of users each, read as the stream is polled. The first page (and the header) is read
/// before returning, so that a refusal is an error here rather than in the stream.
///
/// # Errors
/// The actor may not list users, or reading the first page failed.
/// What Excel looks for to read a CSV file as UTF-8 (without it, it reads the local code page
/// and garbles every name outside ASCII); Roster's import skips it.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

pub(crate) async fn export_file(
    users: UserService,
    views: UserViews,
    actor: Actor,
    filter: UserFilter,
    byte_order_mark: bool,
) -> Result<impl Stream<Item = Result<Vec<u8>, Problem>> + Send + 'static, Problem> {
    let (first, next) = users.export_page(&actor, &filter, None).await?;
    let mut pages = ExportPages { users, views, actor, filter, writer: ExportWriter::new() };
    let mut head = if byte_order_mark { UTF8_BOM.to_vec() } else { Vec::new() };
    head.extend_from_slice(&pages.writer.header());
    head.extend_from_slice(&pages.render(first).await?);
    let rest = futures::stream::try_unfold((pages, next), |(mut pages, next)| async move {
        let Some(after) = next else { return Ok(None) };
        let (lines, next) = pages.next(after).await?;
        Ok(Some((lines, (pages, next))))
    });
    Ok(futures::stream::once(async { Ok(head) }).chain(rest))
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Users")]
impl TransferApi {
    /// Import users from a CSV file
    ///
    /// The body is the file (`Content-Type: text/csv`, UTF-8, at most 32 MiB, about 300,000
    /// lines of the usual format): one user per line, the email first, then optionally the
    /// country code and the phone, no header. A header row naming the columns (`email`, `name`,
    /// `country code`, `phone`, `role`, `license`) is also read, so the export file imports as
    /// is; `,`, `;` and tab delimiters, a byte order mark, CRLF line ends, quoted cells and blank
    /// lines are all accepted. Each row is validated and governed like a single creation
    /// (`forbidden_role`: only administrators create administrators) and applied all or nothing;
    /// rows are stored 2,000 at a time. A row whose email exists is skipped (`already_exists`), or
    /// updated with `on_existing=update`, so running a file again creates nobody twice. The report
    /// lists the first 10,000 skipped or failed rows with their lines (`problems_omitted` counts
    /// the others). `dry_run=true` validates and reports
    /// without writing. Administrators and collaborators only.
    #[oai(path = "/users/import", method = "post", operation_id = "importUsers")]
    #[allow(clippy::too_many_arguments)]
    async fn import(
        &self,
        auth: BearerAuth,
        /// Validate and report; write nothing, mail nobody.
        #[oai(default)]
        dry_run: Query<bool>,
        /// The role of rows that give none; `user` by default.
        role: Query<Option<RoleDto>>,
        /// A license kind (its id) giving a seat to every new user whose row names none
        /// (administrators only). Once its seats run out, the remaining rows fail with
        /// `no_seats_available`.
        license: Query<Option<Uuid>>,
        /// Create new users invited and mail them their accept link; by default they are created
        /// active.
        #[oai(default)]
        invite: Query<bool>,
        /// What to do with a row whose email belongs to a user: `skip` (default) or `update`.
        #[oai(default)]
        on_existing: Query<OnExistingParam>,
        file: CsvBody,
    ) -> ImportUsersResponse {
        answer(
            async {
                let rows = read_rows(Cursor::new(file.0))
                    .map_err(|error| Problem::unprocessable("invalid_csv", error.to_string()))?;
                let layout = rows.layout().clone();
                let options = ImportOptions {
                    dry_run: dry_run.0,
                    default_role: role.0.map_or(Role::User, Role::from),
                    license: license.0.map(Into::into),
                    invite: invite.0,
                    on_existing: on_existing.0.into(),
                    ..ImportOptions::default()
                };
                let mut rows = rows.for_import();
                let report = self.imports.import(&auth.0, &mut rows, &options, |_| {}).await?;
                if let Some(error) = rows.error() {
                    // The file is in memory: reading it cannot fail.
                    return Err(Problem::internal(error));
                }
                Ok(ImportUsersResponse::Ok(Json(ImportReportBody::new(report, &layout, options.dry_run))))
            }
            .await,
        )
    }

    /// Export users as a CSV file
    ///
    /// Every user of the caller's tenant matching the filters (those of `GET /v1/users`), oldest
    /// first, as CSV (UTF-8, CRLF line ends): a header line, then `email`, `name`, `phone`
    /// (E.164), `role`, `status`, `license` (its name), `budget_limit`, `consumed` (credits of the
    /// budget's current period; without a budget, all credits used), `created_at`,
    /// `activated_at`, `last_active_at` (RFC 3339), `invitation` (`pending` or `expired` for
    /// invited users). A cell a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
    /// `@`, a tab or a carriage return) is written with a `'` before it. The file is streamed
    /// a page at a time, whatever the number of users. Importing it recreates the users' emails,
    /// names, phones, roles and licenses, as active users: status, invitations, budgets and
    /// usage are not imported (the report lists those columns as `ignored_columns`).
    /// Administrators and collaborators only.
    #[oai(path = "/users/export", method = "get", operation_id = "exportUsers")]
    #[allow(clippy::too_many_arguments)]
    async fn export(
        &self,
        auth: BearerAuth,
        /// Contains this text (at most 100 characters once trimmed, else 422 `invalid_search`;
        /// blank: no filter), in any letter case, in the email and name read as one text:
        /// `email name`.
        q: Query<Option<String>>,
        /// Has this role.
        role: Query<Option<RoleDto>>,
        /// Has this status.
        status: Query<Option<StatusDto>>,
        /// Created at or after this instant (RFC 3339).
        created_from: Query<Option<DateTime<Utc>>>,
        /// Created before this instant (RFC 3339, exclusive).
        created_to: Query<Option<DateTime<Utc>>>,
        /// Signed up with exactly this referral or promo code.
        referral_code: Query<Option<String>>,
        /// Holds a seat of this license kind (its id).
        license: Query<Option<Uuid>>,
        /// Holds a seat of any kind (`true`) or none (`false`).
        licensed: Query<Option<bool>>,
        /// Is invited, with a link that still works (`pending`) or not (`expired`).
        invitation: Query<Option<InvitationStateDto>>,
        /// Start the file with a UTF-8 byte order mark, which Excel needs to read non-ASCII
        /// names right (Roster's import skips it). Default false.
        bom: Query<Option<bool>>,
    ) -> ExportUsersResponse {
        answer(
            async {
                let now = self.views.clock.now();
                let filter = user_filter(
                    q.0,
                    role.0,
                    status.0,
                    created_from.0,
                    created_to.0,
                    referral_code.0,
                    license.0,
                    licensed.0,
                    invitation.0.map(|state| InvitationFilter { state: state.into(), at: now }),
                )?;
                let bom = bom.0.unwrap_or(false);
                let file = export_file(self.users.clone(), self.views.clone(), auth.0, filter, bom).await?;
                // A failure midway cuts the transfer off (the problem is logged where it arose).
                let body = file.map(|chunk| chunk.map_err(|problem| std::io::Error::other(problem.code)));
                let disposition = format!("attachment; filename=\"users-{}.csv\"", now.format("%Y-%m-%d"));
                Ok(ExportUsersResponse::Ok(CsvFile(Body::from_bytes_stream(body)), disposition))
            }
            .await,
        )
    }
}
