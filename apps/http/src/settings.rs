//! The one typed configuration, read once: command-line flags or `ROSTER_*` environment
//! variables (flags win).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

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

    /// The address users reach Roster at (or the front end that serves the invitation page),
    /// put in the links mailed to invitees, e.g. `https://ai.example.com`. Default: `http://`
    /// and the listen address.
    #[arg(long, env = "ROSTER_PUBLIC_URL", value_parser = parse_public_url, global = true)]
    pub public_url: Option<String>,

    /// Seconds between writes of users' `last_active_at` (authenticated use is noted in memory
    /// and written in one batch; the last notes when the server stops), 1 to 3600.
    #[arg(long, env = "ROSTER_ACTIVITY_FLUSH_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    pub activity_flush_seconds: u64,

    /// Fewest seconds between two fetches of an OpenID Connect issuer's keys, 0 to 3600: a
    /// token signed with a key not yet fetched (a rotation at the issuer) triggers a fetch, at
    /// most this often per issuer.
    #[arg(long, env = "ROSTER_OIDC_MIN_REFETCH_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3600), global = true)]
    pub oidc_min_refetch_seconds: u64,

    /// Let OpenID Connect issuers (their discovery documents, keys and redirects) be reached on
    /// loopback, private, link-local and other non-public addresses: for an issuer inside your
    /// network. Off by default, since a tenant's administrator names the issuer and must not
    /// reach into the network Roster runs in.
    #[arg(long, env = "ROSTER_OIDC_ALLOW_PRIVATE_NETWORKS", global = true)]
    pub oidc_allow_private_networks: bool,

    /// Proxies (addresses or networks, comma-separated: `10.0.3.7,10.0.3.8`) in front of Roster
    /// whose `X-Forwarded-For` names the client, so that the attempt limits of the public
    /// endpoints count each client, not the load balancer. A network listed must hold nothing
    /// but proxies (any host in it could write the header). Default: none (the peer of the
    /// connection is the client).
    #[arg(long, env = "ROSTER_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network, global = true)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Users whose access facts (entitlements) are kept in memory, with as many service
    /// credentials, 0 to 10,000,000 (0: none). A kept value is never served once a write of
    /// any instance may have changed it; about 300 bytes each.
    #[arg(long, env = "ROSTER_ACCESS_CACHE_USERS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(0..=10_000_000), global = true)]
    pub access_cache_users: u64,

    /// How email is sent.
    #[command(flatten)]
    pub email: EmailSettings,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmtpTlsMode {
    /// Plain text (a relay on the same host or network only).
    None,
    /// Upgrade with STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
}

/// Email delivery: an SMTP relay when `--smtp-host` is set, else the local outbox (each message
/// is logged and written as a file to `--outbox-dir`), so invitations work with no setup.
#[derive(Args, Clone)]
pub struct EmailSettings {
    /// SMTP relay host; unset: messages go to the local outbox.
    #[arg(long, env = "ROSTER_SMTP_HOST", global = true)]
    pub smtp_host: Option<String>,

    /// SMTP port; default 587 with STARTTLS, 465 with implicit TLS, 25 without TLS.
    #[arg(long, env = "ROSTER_SMTP_PORT", global = true)]
    pub smtp_port: Option<u16>,

    /// How the SMTP connection is secured.
    #[arg(long, env = "ROSTER_SMTP_TLS", value_enum, default_value = "starttls", global = true)]
    pub smtp_tls: SmtpTlsMode,

    /// SMTP user name, if the relay wants one.
    #[arg(long, env = "ROSTER_SMTP_USERNAME", global = true)]
    pub smtp_username: Option<String>,

    /// SMTP password (never printed).
    #[arg(long, env = "ROSTER_SMTP_PASSWORD", global = true)]
    pub smtp_password: Option<String>,

    /// Sender of every email, e.g. `Roster <roster@example.com>`.
    #[arg(long, env = "ROSTER_EMAIL_FROM", default_value = "Roster <roster@localhost>", global = true)]
    pub email_from: String,

    /// Directory of the local outbox (used when no SMTP host is set).
    #[arg(long, env = "ROSTER_OUTBOX_DIR", default_value = "roster-outbox", global = true)]
    pub outbox_dir: PathBuf,
}

impl EmailSettings {
    /// The port: the configured one, or the usual one for the TLS mode.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.smtp_tls {
            SmtpTlsMode::None => 25,
            SmtpTlsMode::Starttls => 587,
            SmtpTlsMode::Implicit => 465,
        })
    }

    /// The local outbox in `dir`, with every other setting at its default.
    #[must_use]
    pub fn outbox(dir: PathBuf) -> Self {
        Self {
            smtp_host: None,
            smtp_port: None,
            smtp_tls: SmtpTlsMode::Starttls,
            smtp_username: None,
            smtp_password: None,
            email_from: "Roster <roster@localhost>".to_owned(),
            outbox_dir: dir,
        }
    }
}

impl fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSettings")
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.port())
            .field("smtp_tls", &self.smtp_tls)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_password", &self.smtp_password.as_ref().map(|_| "***"))
            .field("email_from", &self.email_from)
            .field("outbox_dir", &self.outbox_dir)
            .finish()
    }
}

fn parse_public_url(text: &str) -> Result<String, String> {
    let valid = (text.starts_with("http://") || text.starts_with("https://"))
        && text.len() > "https://".len()
        && !text.contains(['?', '#', ' ']);
    if valid {
        Ok(text.trim_end_matches('/').to_owned())
    } else {
        Err(format!("not an http(s) URL without query: {text}"))
    }
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
            public_url: None,
            activity_flush_seconds: 10,
            oidc_min_refetch_seconds: 10,
            oidc_allow_private_networks: false,
            trusted_proxies: Vec::new(),
            access_cache_users: 100_000,
            email: EmailSettings::outbox(std::env::temp_dir().join("roster-outbox")),
        }
    }

    /// How the OpenID Connect verifier behaves: the defaults, with the configured refetch rate
    /// and networks.
    #[must_use]
    pub fn oidc_options(&self) -> roster_identity::OidcOptions {
        roster_identity::OidcOptions {
            min_refetch: std::time::Duration::from_secs(self.oidc_min_refetch_seconds),
            allow_private_networks: self.oidc_allow_private_networks,
            ..roster_identity::OidcOptions::default()
        }
    }

    /// The public URL: the configured one, or `http://` and the address actually bound.
    #[must_use]
    pub fn public_url_or(&self, bound: SocketAddr) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{bound}"))
    }
}

/// A network (`10.0.0.0/8`) or one address (`192.168.1.1`).
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is neither an address nor a network such as 10.0.0.0/8"))
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
            .field("public_url", &self.public_url)
            .field("activity_flush_seconds", &self.activity_flush_seconds)
            .field("access_cache_users", &self.access_cache_users)
            .field("email", &self.email)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_networks_or_single_addresses() {
        assert_eq!(parse_network(" 10.0.0.0/8 ").unwrap(), "10.0.0.0/8".parse::<ipnet::IpNet>().unwrap());
        assert_eq!(parse_network("192.168.1.1").unwrap(), "192.168.1.1/32".parse::<ipnet::IpNet>().unwrap());
        assert_eq!(parse_network("::1").unwrap(), "::1/128".parse::<ipnet::IpNet>().unwrap());
        assert!(parse_network("load-balancer").unwrap_err().contains("neither an address nor a network"));
    }

    #[test]
    fn passwords_never_print() {
        assert_eq!(redact_url("postgres://roster:s3cret@db:5432/roster"), "postgres://roster:***@db:5432/roster");
        assert_eq!(redact_url("postgres://roster@db/roster"), "postgres://roster@db/roster");
        assert_eq!(redact_url("sqlite://roster.db?mode=rwc"), "sqlite://roster.db?mode=rwc");
        let mut settings = Settings::for_database("postgres://u:hunter2@h/d");
        settings.listen = "127.0.0.1:1".parse().unwrap();
        settings.email.smtp_password = Some("swordfish".into());
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("swordfish"), "{printed}");
    }
}
