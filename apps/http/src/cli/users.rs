//! `roster users import` and `roster users export`: the CSV files of the HTTP API, from the shell,
//! acting as the system in a tenant.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressStyle};
use roster_csv::{ExportWriter, read_rows};
use roster_domain::invitation::InvitationState;
use roster_domain::services::{ImportOptions, ImportReport, OnExisting};
use roster_domain::user::InvitationFilter;
use roster_domain::{ReferralCode, Role, SearchText, TenantName, UserFilter, UserStatus};

use super::{CliError, RoleArg, cli_state, license_kind, system_actor};
use crate::api::transfer::export_file;
use crate::api::views::UserViews;
use crate::settings::{Settings, parse_tenant};

/// Users commands.
#[derive(clap::Subcommand, Debug)]
pub enum UsersCommand {
    /// Import users from a CSV file: one per line, the email first, then optionally the country
    /// code and the phone; a header row, `;` or tab delimiters, and Roster's export file are read
    /// too. Shows progress on standard error, then a summary; prints the skipped and failed rows
    /// as CSV (line,email,reason,detail) on standard output. Exits with status 1 when a row
    /// failed (skipped rows are not failures).
    Import {
        /// The file; `-` reads standard input.
        file: PathBuf,
        /// The tenant's name.
        #[arg(long, value_parser = parse_tenant)]
        tenant: TenantName,
        /// Validate and report; write nothing, mail nobody.
        #[arg(long)]
        dry_run: bool,
        /// The role of rows that give none.
        #[arg(long, value_enum, default_value = "user")]
        role: RoleArg,
        /// A license kind (its name, in any letter case, or its id) giving a seat to every new
        /// user whose row names none.
        #[arg(long)]
        license: Option<String>,
        /// Create new users invited and mail them their accept link (else they are created active).
        #[arg(long)]
        invite: bool,
        /// What to do with a row whose email belongs to a user.
        #[arg(long, value_enum, default_value = "skip")]
        on_existing: OnExistingArg,
    },
    /// Export users as CSV (the file of `GET /v1/users/export`) on standard output, or into a file.
    Export {
        /// The tenant's name.
        #[arg(long, value_parser = parse_tenant)]
        tenant: TenantName,
        /// Write into this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Name or email contains this text, case-insensitively.
        #[arg(long, value_parser = parse_search)]
        q: Option<SearchText>,
        /// Has this role.
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// Has this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Created at or after this instant (RFC 3339).
        #[arg(long)]
        created_from: Option<DateTime<Utc>>,
        /// Created before this instant (RFC 3339).
        #[arg(long)]
        created_to: Option<DateTime<Utc>>,
        /// Signed up with exactly this referral or promo code.
        #[arg(long, value_parser = parse_referral_code)]
        referral_code: Option<ReferralCode>,
        /// Holds a seat of this license kind (its name or id).
        #[arg(long)]
        license: Option<String>,
        /// Holds a seat of any kind (`true`) or none (`false`).
        #[arg(long)]
        licensed: Option<bool>,
        /// Is invited with a link that still works (`pending`) or not (`expired`).
        #[arg(long, value_enum)]
        invitation: Option<InvitationArg>,
        /// Start the file with a UTF-8 byte order mark, which Excel needs to read non-ASCII
        /// names right (Roster's import skips it).
        #[arg(long)]
        bom: bool,
    },
}

/// What to do with existing users, on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OnExistingArg {
    /// Leave them as they are.
    Skip,
    /// Set the name, phone and role the row gives.
    Update,
}

/// A status, on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum StatusArg {
    /// Invited, not accepted yet.
    Invited,
    /// May sign in.
    Active,
    /// Soft-deleted.
    Deactivated,
}

/// An invitation state, on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum InvitationArg {
    /// The link still works.
    Pending,
    /// The link expired.
    Expired,
}

fn parse_search(text: &str) -> Result<SearchText, String> {
    SearchText::parse(text).map_err(|e| e.to_string())
}

fn parse_referral_code(text: &str) -> Result<ReferralCode, String> {
    ReferralCode::parse(text).map_err(|e| e.to_string())
}

/// Runs a users command.
pub async fn run(settings: &Settings, command: UsersCommand) -> Result<(), CliError> {
    match command {
        UsersCommand::Import { file, tenant, dry_run, role, license, invite, on_existing } => {
            let on_existing = match on_existing {
                OnExistingArg::Skip => OnExisting::Skip,
                OnExistingArg::Update => OnExisting::Update,
            };
            // Every problem is printed: the operator fixes the file from this list.
            let options = ImportOptions {
                dry_run,
                default_role: role.into(),
                license: None,
                invite,
                on_existing,
                listed_problems: usize::MAX,
            };
            import(settings, &file, &tenant, license, options).await
        }
        UsersCommand::Export {
            tenant,
            output,
            q,
            role,
            status,
            created_from,
            created_to,
            referral_code,
            license,
            licensed,
            invitation,
            bom,
        } => {
            let state = cli_state(settings).await?;
            let actor = system_actor(&state, &tenant).await?;
            let license = match license {
                Some(wanted) => Some(license_kind(&state, &actor, &tenant, wanted).await?),
                None => None,
            };
            let filter = UserFilter {
                q,
                role: role.map(Role::from),
                status: status.map(|status| match status {
                    StatusArg::Invited => UserStatus::Invited,
                    StatusArg::Active => UserStatus::Active,
                    StatusArg::Deactivated => UserStatus::Deactivated,
                }),
                created_from,
                created_to,
                referral_code,
                license,
                licensed,
                invitation: invitation.map(|state| InvitationFilter {
                    state: match state {
                        InvitationArg::Pending => InvitationState::Pending,
                        InvitationArg::Expired => InvitationState::Expired,
                    },
                    at: Utc::now(),
                }),
            };
            let (path, out): (String, Box<dyn Write>) = match output {
                Some(path) => {
                    let file = File::create(&path).map_err(|e| file_error(&path.display().to_string(), &e))?;
                    (path.display().to_string(), Box::new(file))
                }
                None => ("-".to_owned(), Box::new(std::io::stdout().lock())),
            };
            let mut out = BufWriter::new(out);
            let bar = ProgressBar::new_spinner().with_style(style("{spinner} {elapsed} {bytes} written"));
            let mut chunks = std::pin::pin!(
                export_file(state.users.clone(), UserViews::of(&state), actor, filter, bom)
                    .await
                    .map_err(CliError::Problem)?
            );
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(CliError::Problem)?;
                out.write_all(&chunk).map_err(|e| file_error(&path, &e))?;
                bar.inc(chunk.len() as u64);
            }
            out.flush().map_err(|e| file_error(&path, &e))?;
            bar.finish_and_clear();
            Ok(())
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("a valid progress template")
}

fn file_error(path: &str, error: &dyn std::fmt::Display) -> CliError {
    CliError::File { path: path.to_owned(), message: error.to_string() }
}

/// `roster users import`.
async fn import(
    settings: &Settings,
    file: &std::path::Path,
    tenant: &TenantName,
    license: Option<String>,
    mut options: ImportOptions,
) -> Result<(), CliError> {
    let state = cli_state(settings).await?;
    let actor = system_actor(&state, tenant).await?;
    if let Some(wanted) = license {
        options.license = Some(license_kind(&state, &actor, tenant, wanted).await?);
    }
    let path = file.display().to_string();
    let (input, length): (Box<dyn Read>, Option<u64>) = if path == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let opened = File::open(file).map_err(|e| file_error(&path, &e))?;
        let length = opened.metadata().map_err(|e| file_error(&path, &e))?.len();
        (Box::new(opened), Some(length))
    };
    let bar = match length {
        Some(length) => ProgressBar::new(length)
            .with_style(style("{spinner} {elapsed} [{wide_bar}] {bytes}/{total_bytes} {msg} (eta {eta})")),
        None => ProgressBar::new_spinner().with_style(style("{spinner} {elapsed} {bytes} {msg}")),
    };
    let rows =
        read_rows(BufReader::with_capacity(64 * 1024, bar.wrap_read(input))).map_err(|e| file_error(&path, &e))?;
    let layout = rows.layout().clone();
    let mut rows = rows.for_import();
    let report =
        state.imports.import(&actor, &mut rows, &options, |done| bar.set_message(format!("{done} rows"))).await?;
    bar.finish_and_clear();
    print_problems(&report).map_err(|e| file_error("-", &e))?;
    let delimiter = match layout.delimiter {
        roster_csv::Delimiter::Comma => "','",
        roster_csv::Delimiter::Semicolon => "';'",
        roster_csv::Delimiter::Tab => "tab",
    };
    let header = if layout.header.is_some() { "a header row" } else { "no header" };
    eprintln!(
        "{}{} rows ({delimiter}-delimited, {header}): {} created, {} updated, {} skipped, {} failed",
        if options.dry_run { "dry run, nothing written: " } else { "" },
        report.rows,
        report.created,
        report.updated,
        report.skipped,
        report.failed,
    );
    if let Some(error) = rows.error() {
        return Err(file_error(&path, &format!("{error}; the rows before were imported")));
    }
    if report.failed > 0 {
        return Err(CliError::RowsFailed(report.failed));
    }
    Ok(())
}

/// Prints the skipped and failed rows of `report` as CSV on standard output.
fn print_problems(report: &ImportReport) -> std::io::Result<()> {
    if report.problems.is_empty() {
        return Ok(());
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut writer = ExportWriter::new();
    out.write_all(&writer.problems_header())?;
    for problem in &report.problems {
        let line = writer.problem(problem.line, &problem.email, problem.reason.as_str(), problem.detail.as_deref());
        out.write_all(&line)?;
    }
    out.flush()
}
