//! The `roster` command line: `serve` (the default), `migrate`, `tenant create`, `token create`,
//! `invite`, `users import`, `users export`, `openapi`.

mod users;

use clap::{Parser, Subcommand};
use roster_domain::services::invitations::{InviteError, NewInvitation};
use roster_domain::services::{CreateTenantError, IssueTokenError};
use roster_domain::user::NewUser;
use roster_domain::{Actor, Email, LicenseKindId, Role, TenantName, TokenLabel, UnexpectedError};
use roster_storage::{PoolSettings, Store, connect};

use crate::app::{Application, StartupError, open_store};
use crate::settings::{EmailSettings, Settings, parse_email, parse_tenant};
use crate::state::{Adapters, AppState};
use roster_identity::OidcOptions;

/// Roster: who may sign in to your AI platform, with which role.
#[derive(Parser, Debug)]
#[command(name = "roster", version)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; `serve` when omitted.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the HTTP API (creates and migrates the database, and on an empty one the first
    /// tenant with its administrator, whose token is printed once).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the OpenAPI document (JSON) and exit; needs no database.
    Openapi,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Invite a user: creates them invited and mails them a link (SMTP, or the local outbox);
    /// prints the link on stdout too.
    Invite {
        /// The tenant's name.
        #[arg(long, value_parser = parse_tenant)]
        tenant: TenantName,
        /// The invitee's email.
        #[arg(long, value_parser = parse_email)]
        email: Email,
        /// Their role.
        #[arg(long, value_enum, default_value = "user")]
        role: RoleArg,
        /// A license kind (its name, in any letter case, or its id) whose seat is reserved for them.
        #[arg(long)]
        license: Option<String>,
    },
    /// Import users from a CSV file, or export them as one.
    #[command(subcommand)]
    Users(users::UsersCommand),
}

/// A role, on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    /// Everything.
    Administrator,
    /// Manages non-administrator users, agents, workspaces.
    Collaborator,
    /// Uses what is shared with them.
    User,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Administrator => Role::Administrator,
            RoleArg::Collaborator => Role::Collaborator,
            RoleArg::User => Role::User,
        }
    }
}

/// Tenant commands.
#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant with its first administrator; prints the administrator's API token (once).
    Create {
        /// Unique name: 1 to 63 of a-z 0-9 and '-'.
        #[arg(long, value_parser = parse_tenant)]
        name: TenantName,
        /// Email of the first administrator.
        #[arg(long, value_parser = parse_email)]
        admin_email: Email,
    },
    /// Trust an OpenID Connect issuer (Microsoft Entra ID or any other) to sign the tenant's
    /// users in; prints the settings stored. `--clear` stops trusting any.
    SetOidc {
        /// The tenant's name.
        #[arg(long, value_parser = parse_tenant)]
        tenant: TenantName,
        /// The issuer URL, exactly as its tokens carry it in `iss`. Optional with
        /// `--entra-tenant-id` (then `https://login.microsoftonline.com/{id}/v2.0`).
        #[arg(long, required_unless_present_any = ["entra_tenant_id", "clear"])]
        issuer: Option<String>,
        /// Roster's client (application) id at the issuer: tokens' `aud`.
        #[arg(long, required_unless_present = "clear")]
        audience: Option<String>,
        /// Microsoft Entra ID directory (tenant) id: tokens' `tid` must match.
        #[arg(long)]
        entra_tenant_id: Option<String>,
        /// Create people unknown to the tenant at their first sign-in (role `user`, no license).
        #[arg(long)]
        just_in_time: bool,
        /// Stop trusting any issuer.
        #[arg(long, conflicts_with_all = ["issuer", "audience", "entra_tenant_id", "just_in_time"])]
        clear: bool,
    },
}

/// Token commands.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue an API token for an active user; prints it (once) on stdout.
    Create {
        /// The tenant's name.
        #[arg(long, value_parser = parse_tenant)]
        tenant: TenantName,
        /// The user's email.
        #[arg(long, value_parser = parse_email)]
        email: Email,
        /// What the token is for: 1 to 100 characters.
        #[arg(long, default_value = "cli", value_parser = parse_label)]
        label: TokenLabel,
    },
}

fn parse_label(text: &str) -> Result<TokenLabel, String> {
    TokenLabel::parse(text).map_err(|e| e.to_string())
}

/// A command failed; the message is for the operator.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Starting failed.
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// Creating a tenant failed.
    #[error(transparent)]
    Tenant(#[from] CreateTenantError),
    /// Issuing a token failed.
    #[error(transparent)]
    Token(#[from] IssueTokenError),
    /// Inviting failed.
    #[error(transparent)]
    Invite(#[from] InviteError),
    /// No tenant has this name.
    #[error("no tenant named {0}")]
    UnknownTenant(TenantName),
    /// The tenant has no license kind of this name or id.
    #[error("tenant {tenant} has no license kind {license:?}; see GET /v1/licenses")]
    UnknownLicense {
        /// The tenant.
        tenant: TenantName,
        /// The name or id given.
        license: String,
    },
    /// Importing failed as a whole.
    #[error(transparent)]
    Import(#[from] roster_domain::services::ImportError),
    /// The import file or the export's destination failed.
    #[error("{path}: {message}")]
    File {
        /// The file (`-`: standard input or output).
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Some rows of an import failed (they are listed on standard output).
    #[error("{0} row(s) failed; they are listed on standard output")]
    RowsFailed(u64),
    /// Setting a tenant's issuer failed.
    #[error(transparent)]
    Oidc(#[from] roster_domain::services::OidcSettingsError),
    /// A value given on the command line is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// Listing users failed.
    #[error(transparent)]
    List(#[from] roster_domain::services::users::ListUsersError),
    /// Rendering users failed.
    #[error("{}", .0.detail.as_deref().unwrap_or(&.0.code))]
    Problem(crate::api::problem::Problem),
    /// Something else failed.
    #[error(transparent)]
    Unexpected(#[from] UnexpectedError),
    /// Serving failed.
    #[error("server error: {0}")]
    Serve(#[from] std::io::Error),
}

/// Runs the command of `cli`.
///
/// # Errors
/// See [`CliError`].
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.settings).await,
        Command::Openapi => {
            // The operations hold services; wire them onto an empty in-memory database that
            // nothing reads.
            let db = connect("sqlite::memory:", PoolSettings::default())
                .await
                .map_err(|source| StartupError::Database { url: "sqlite::memory:".into(), source })?;
            let outbox = EmailSettings::outbox(std::env::temp_dir());
            let adapters =
                Adapters::new(&outbox, "http://localhost", OidcOptions::default()).map_err(StartupError::from)?;
            println!("{}", crate::api::openapi(&AppState::new(Store::new(db), adapters)).spec());
            Ok(())
        }
        Command::Migrate => {
            open_store(&cli.settings).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Tenant(TenantCommand::Create { name, admin_email }) => {
            let state = cli_state(&cli.settings).await?;
            let created = state.tenants.create(name, admin_email).await?;
            eprintln!(
                "created tenant {} with administrator {}; their API token (shown once):",
                created.tenant.name, created.admin.email
            );
            println!("{}", created.token.expose());
            Ok(())
        }
        Command::Tenant(TenantCommand::SetOidc { tenant, issuer, audience, entra_tenant_id, just_in_time, clear }) => {
            let settings = if clear {
                None
            } else {
                let request = crate::api::SetOidcRequest {
                    issuer: issuer.map(crate::api::Text),
                    audience: crate::api::Text(audience.unwrap_or_default()),
                    entra_tenant_id: entra_tenant_id.map(crate::api::Text),
                    just_in_time: Some(just_in_time),
                };
                let settings = request.try_into_domain().map_err(|problem| {
                    CliError::Invalid(problem.detail.clone().unwrap_or_else(|| problem.code.clone()))
                })?;
                Some(settings)
            };
            let state = cli_state(&cli.settings).await?;
            match state.oidc.set_for(&tenant, settings).await? {
                Some(stored) => {
                    eprintln!("tenant {tenant} now trusts this OpenID Connect issuer:");
                    let body = crate::api::OidcSettingsBody::from(stored);
                    println!("issuer={}", body.issuer);
                    println!("audience={}", body.audience);
                    if let Some(entra) = body.entra_tenant_id {
                        println!("entra_tenant_id={entra}");
                    }
                    println!("just_in_time={}", body.just_in_time);
                }
                None => eprintln!("tenant {tenant} trusts no OpenID Connect issuer now"),
            }
            Ok(())
        }
        Command::Invite { tenant, email, role, license } => {
            invite(&cli.settings, tenant, email, role.into(), license).await
        }
        Command::Users(command) => users::run(&cli.settings, command).await,
        Command::Token(TokenCommand::Create { tenant, email, label }) => {
            let state = cli_state(&cli.settings).await?;
            let secret = state.tokens.issue(&tenant, &email, &label).await?;
            eprintln!("API token for {email} in tenant {tenant} (shown once):");
            println!("{}", secret.expose());
            Ok(())
        }
    }
}

/// The services for a command run from the shell: the configured store and email, links
/// under the public URL (or the default listen address).
async fn cli_state(settings: &Settings) -> Result<AppState, CliError> {
    let public_url = settings.public_url_or(settings.listen);
    let adapters = Adapters::new(&settings.email, &public_url, settings.oidc_options()).map_err(StartupError::from)?;
    Ok(AppState::new(open_store(settings).await?, adapters))
}

/// `roster invite`: the operator invites on the tenant's behalf (acting as the system).
async fn invite(
    settings: &Settings,
    tenant: TenantName,
    email: Email,
    role: Role,
    license: Option<String>,
) -> Result<(), CliError> {
    let state = cli_state(settings).await?;
    let actor = system_actor(&state, &tenant).await?;
    let license = match license {
        None => None,
        Some(wanted) => Some(license_kind(&state, &actor, &tenant, wanted).await?),
    };
    let user = NewUser { email, name: None, phone: None, role, referral_code: None };
    let issued = state.invitations.invite(&actor, NewInvitation { user, license }).await?;
    let delivery = &issued.invitation.delivery;
    eprintln!(
        "invited {} to tenant {tenant} as {role}; the link works until {}; email: {}{}",
        issued.user.email,
        issued.invitation.expires_at.format("%Y-%m-%d %H:%M UTC"),
        delivery.status.as_str(),
        delivery.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default(),
    );
    println!("{}", issued.link);
    Ok(())
}

/// The system acting in the tenant named `tenant`: what the operator's commands act as.
async fn system_actor(state: &AppState, tenant: &TenantName) -> Result<Actor, CliError> {
    let found = state.tenants.find(tenant).await?.ok_or_else(|| CliError::UnknownTenant(tenant.clone()))?;
    Ok(Actor::system(found.id))
}

/// The license kind of the tenant whose name (in any letter case) or id is `wanted`.
async fn license_kind(
    state: &AppState,
    actor: &Actor,
    tenant: &TenantName,
    wanted: String,
) -> Result<LicenseKindId, CliError> {
    let kinds = state.licenses.names(actor).await?;
    let kind = kinds
        .into_iter()
        .find(|(id, name)| name.as_str().eq_ignore_ascii_case(wanted.trim()) || id.to_string() == wanted.trim());
    Ok(kind.ok_or(CliError::UnknownLicense { tenant: tenant.clone(), license: wanted })?.0)
}

async fn serve(settings: &Settings) -> Result<(), CliError> {
    let app = Application::build(settings).await?;
    let base = format!("http://{}", app.address());
    println!("Roster is listening on {base} (API docs: {base}/docs, OpenAPI: {base}/openapi.json)");
    if let Some(created) = app.bootstrap() {
        let token = created.token.expose();
        println!();
        println!("First start: created tenant \"{}\" with administrator {}.", created.tenant.name, created.admin.email);
        println!("Their API token, shown this once (store it; `roster token create` issues more):");
        println!();
        println!("    export TOKEN={token}");
        println!();
        println!("Try: curl -H \"Authorization: Bearer $TOKEN\" {base}/v1/me");
    }
    tracing::info!(address = %app.address(), "serving");
    app.run_until_stopped().await?;
    Ok(())
}
