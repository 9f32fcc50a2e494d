//! The one typed configuration, read once: command-line flags or `ROSTER_*` environment
//! variables (flags win).

use std::fmt;
use std::net::SocketAddr;

use clap::{Args, ValueEnum};
use roster_domain::{Email, TenantName};

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything `roster` can be configured with.
#[derive(Args, Clone)]
pub struct Settings {
    /// Database: `sqlite://FILE?mode=rwc` (embedded; the file is created and migrated on first
    /// start) or `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`.
    #[arg(long, env = "ROSTER_DATABASE_URL", default_value = "sqlite://roster.db?mode=rwc", global = true)]
    pub database_url: String,

    /// Most database connections this instance keeps open.
    #[arg(long, env = "ROSTER_DATABASE_MAX_CONNECTIONS", default_value_t = 16, global = true)]
    pub database_max_connections: u32,

    /// Address the HTTP server listens on (port 0 picks a free port).
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,

    /// Log format on stderr; the level is set with RUST_LOG (default `info`).
    #[arg(long, env = "ROSTER_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,

    /// Name of the tenant created at first start on an empty database.
    #[arg(long, env = "ROSTER_BOOTSTRAP_TENANT", default_value = "default", value_parser = parse_tenant, global = true)]
    pub bootstrap_tenant: TenantName,

    /// Email of the administrator created at first start on an empty database.
    #[arg(long, env = "ROSTER_BOOTSTRAP_ADMIN_EMAIL", default_value = "admin@example.com", value_parser = parse_email, global = true)]
    pub bootstrap_admin_email: Email,
}

pub(crate) fn parse_tenant(text: &str) -> Result<TenantName, String> {
    TenantName::parse(text).map_err(|e| e.to_string())
}

pub(crate) fn parse_email(text: &str) -> Result<Email, String> {
    Email::parse(text).map_err(|e| e.to_string())
}

impl Settings {
    /// Settings for an instance on `database_url`, listening on a free loopback port: what tests
    /// and embedders start from.
    #[must_use]
    pub fn for_database(database_url: &str) -> Self {
        Self {
            database_url: database_url.to_owned(),
            database_max_connections: 16,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_format: LogFormat::Text,
            bootstrap_tenant: TenantName::parse("default").expect("valid"),
            bootstrap_admin_email: Email::parse("admin@example.com").expect("valid"),
        }
    }
}

/// `url` with any password replaced by `***`.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let authority_end = url[scheme_end..].find('/').map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => {
            format!("{}{}:***{}", &url[..scheme_end], &authority[..colon], &url[scheme_end + at..])
        }
        _ => url.to_owned(),
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("database_max_connections", &self.database_max_connections)
            .field("listen", &self.listen)
            .field("log_format", &self.log_format)
            .field("bootstrap_tenant", &self.bootstrap_tenant.as_str())
            .field("bootstrap_admin_email", &self.bootstrap_admin_email.as_str())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        assert_eq!(redact_url("postgres://roster:s3cret@db:5432/roster"), "postgres://roster:***@db:5432/roster");
        assert_eq!(redact_url("postgres://roster@db/roster"), "postgres://roster@db/roster");
        assert_eq!(redact_url("sqlite://roster.db?mode=rwc"), "sqlite://roster.db?mode=rwc");
        let mut settings = Settings::for_database("postgres://u:hunter2@h/d");
        settings.listen = "127.0.0.1:1".parse().unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
