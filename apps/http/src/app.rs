//! [`Application`]: opens the database, creates the first tenant on an empty one, binds the
//! listener, and serves until stopped. `main` only calls it.

use crate::api::client::TrustedProxies;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use poem::Server;
use poem::listener::{Acceptor as _, Listener as _, TcpAcceptor, TcpListener};
use roster_domain::UnexpectedError;
use roster_domain::ports::{Clock, SystemClock};
use roster_domain::services::{ActivityTracker, CreatedTenant};
use roster_storage::{DbErr, PoolSettings, Store};

use crate::settings::{Settings, redact_url};
use crate::state::{AdapterError, Adapters, AppState};

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database is unreachable or could not be migrated.
    #[error("cannot open the database {url}: {source}")]
    Database {
        /// The URL, without password.
        url: String,
        /// The cause.
        source: DbErr,
    },
    /// The email settings are unusable, or the OpenID Connect client cannot be set up.
    #[error(transparent)]
    Adapters(#[from] AdapterError),
    /// The first tenant could not be created.
    #[error("cannot create the first tenant: {0}")]
    Bootstrap(#[from] UnexpectedError),
    /// The listen address is taken or not ours.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// Opens the store of `settings` and applies pending migrations.
///
/// # Errors
/// [`StartupError::Database`].
pub async fn open_store(settings: &Settings) -> Result<Store, StartupError> {
    let pool = PoolSettings { max_connections: settings.database_max_connections, ..PoolSettings::default() };
    Store::open(&settings.database_url, pool)
        .await
        .map_err(|source| StartupError::Database { url: redact_url(&settings.database_url), source })
}

/// A bound, ready-to-serve instance.
pub struct Application {
    acceptor: TcpAcceptor,
    address: SocketAddr,
    state: AppState,
    bootstrap: Option<CreatedTenant>,
    activity_flush: Duration,
    trusted_proxies: TrustedProxies,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Application {
    /// Binds the listen address (port 0 picks a free port; see [`address`](Self::address)),
    /// opens and migrates the database, and creates the first tenant if there is none.
    ///
    /// # Errors
    /// See [`StartupError`].
    pub async fn build(settings: &Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`build`](Self::build), with `clock` as every service's clock (tests move time).
    ///
    /// # Errors
    /// See [`StartupError`].
    pub async fn build_with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        roster_domain::Phone::preload();
        // Bind before anything else: if the address is taken, nothing is created (in particular
        // not the first tenant, whose token is printed only once).
        let acceptor = TcpListener::bind(settings.listen.to_string())
            .into_acceptor()
            .await
            .map_err(|source| StartupError::Bind { address: settings.listen, source })?;
        let address =
            acceptor.local_addr().first().and_then(|addr| addr.as_socket_addr().copied()).unwrap_or(settings.listen);
        let adapters = Adapters {
            clock,
            ..Adapters::new(&settings.email, &settings.public_url_or(address), settings.oidc_options())?
        };
        let cache = usize::try_from(settings.access_cache_users).unwrap_or(usize::MAX);
        let store = open_store(settings).await?.with_access_cache(cache);
        let state = AppState::new(store, adapters);
        let bootstrap =
            state.tenants.bootstrap(settings.bootstrap_tenant.clone(), settings.bootstrap_admin_email.clone()).await?;
        let activity_flush = Duration::from_secs(settings.activity_flush_seconds);
        let trusted_proxies = TrustedProxies::new(settings.trusted_proxies.clone());
        Ok(Self { acceptor, address, state, bootstrap, activity_flush, trusted_proxies })
    }

    /// The address actually bound.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The tenant created at this start, when the database was empty (with the administrator's
    /// token, shown once).
    #[must_use]
    pub fn bootstrap(&self) -> Option<&CreatedTenant> {
        self.bootstrap.as_ref()
    }

    /// The wired services.
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests (10 s at most) and
    /// writes the last `last_active_at` notes. Meanwhile writes them every
    /// `activity_flush_seconds`.
    ///
    /// # Errors
    /// The server failed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let routes = crate::api::routes(&self.state, self.trusted_proxies);
        let activity = self.state.tokens.activity().clone();
        let flushing = tokio::spawn(flush_activity(activity.clone(), self.activity_flush));
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(routes, shutdown_signal(), Some(Duration::from_secs(10)))
            .await;
        flushing.abort();
        while activity.pending() > 0 {
            if let Err(error) = activity.flush().await {
                tracing::warn!(%error, "the last activity notes could not be written");
                break;
            }
        }
        served
    }
}

/// Writes the noted activity every `every`, until aborted.
async fn flush_activity(activity: ActivityTracker, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        while activity.pending() > 0 {
            match activity.flush().await {
                Ok(written) if written < roster_domain::services::FLUSH_LIMIT => break,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "activity notes not written; retrying at the next tick");
                    break;
                }
            }
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return interrupt.await.unwrap_or_default(),
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or_default();
    tracing::info!("shutting down");
}
