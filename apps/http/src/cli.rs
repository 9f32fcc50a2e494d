//! The `roster` command line: `serve` (the default), `migrate`, `tenant create`, `token create`.

use clap::{Parser, Subcommand};
use roster_domain::services::{CreateTenantError, IssueTokenError};
use roster_domain::{Email, TenantName, TokenLabel};
use roster_storage::{PoolSettings, Store, connect};

use crate::app::{Application, StartupError, open_store};
use crate::settings::{Settings, parse_email, parse_tenant};
use crate::state::AppState;

/// Roster: who may sign in to your AI platform, with which role.
#[derive(Parser, Debug)]
#[command(name = "roster", version, about)]
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
            println!("{}", crate::api::openapi(&AppState::new(Store::new(db))).spec());
            Ok(())
        }
        Command::Migrate => {
            open_store(&cli.settings).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Tenant(TenantCommand::Create { name, admin_email }) => {
            let state = AppState::new(open_store(&cli.settings).await?);
            let created = state.tenants.create(name, admin_email).await?;
            eprintln!(
                "created tenant {} with administrator {}; their API token (shown once):",
                created.tenant.name, created.admin.email
            );
            println!("{}", created.token.expose());
            Ok(())
        }
        Command::Token(TokenCommand::Create { tenant, email, label }) => {
            let state = AppState::new(open_store(&cli.settings).await?);
            let secret = state.tokens.issue(&tenant, &email, &label).await?;
            eprintln!("API token for {email} in tenant {tenant} (shown once):");
            println!("{}", secret.expose());
            Ok(())
        }
    }
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
