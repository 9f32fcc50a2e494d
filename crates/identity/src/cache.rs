//! One issuer's cached keys: when they are fetched again, by whom, and how long old ones
//! serve while the issuer cannot be reached.
//!
//! Reading the cache takes a short synchronous lock; fetching takes the issuer's
//! asynchronous `refresh` lock, so that concurrent verifiers wait for one fetch instead of
//! each starting their own (single flight), and at most one fetch starts per
//! [`OidcOptions::min_refetch`].

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use roster_domain::identity::{CredentialRejected, IssuerUrl};

use crate::fetch::Fetcher;
use crate::keys::KeySet;
use crate::options::OidcOptions;

/// What the last fetch attempt left behind, guarded by the refresh lock.
#[derive(Debug, Default)]
struct Attempts {
    /// When the last fetch started, successful or not.
    last: Option<Instant>,
    /// Why the last fetch failed, if it did.
    last_error: Option<String>,
}

/// Why [`IssuerKeys::refresh`] brought no keys.
#[derive(Debug)]
enum NotFetched {
    /// A fetch started less than `min_refetch` ago; `last_error` is why it failed, if it did.
    TooSoon { last_error: Option<String> },
    /// The fetch failed.
    Failed(String),
}

impl NotFetched {
    /// A short reason for [`CredentialRejected::Unavailable`].
    fn into_reason(self, min_refetch: Duration) -> String {
        match self {
            Self::TooSoon { last_error: Some(reason) } | Self::Failed(reason) => reason,
            Self::TooSoon { last_error: None } => {
                format!("the issuer's keys were fetched less than {} ms ago", min_refetch.as_millis())
            }
        }
    }
}

/// The cache of one issuer.
#[derive(Debug, Default)]
pub(crate) struct IssuerKeys {
    current: RwLock<Option<Arc<KeySet>>>,
    refresh: tokio::sync::Mutex<Attempts>,
}

impl IssuerKeys {
    /// The keys to verify with: the cached ones while younger than `cache_ttl`; else freshly
    /// fetched ones; else, when that fetch fails or is not allowed yet, the cached ones while
    /// younger than `cache_ttl + stale_grace`.
    ///
    /// # Errors
    /// [`CredentialRejected::Unavailable`] when there are no keys to use.
    pub(crate) async fn usable(
        &self,
        fetcher: &Fetcher,
        issuer: &IssuerUrl,
        options: &OidcOptions,
    ) -> Result<Arc<KeySet>, CredentialRejected> {
        let cached = self.cached();
        if let Some(keys) = &cached
            && keys.age() <= options.cache_ttl
        {
            return Ok(Arc::clone(keys));
        }
        match self.refresh(fetcher, issuer, cached.as_ref(), options.min_refetch).await {
            Ok(keys) => Ok(keys),
            Err(failure) => match cached {
                Some(keys) if keys.age() <= options.cache_ttl.saturating_add(options.stale_grace) => {
                    if let NotFetched::Failed(reason) = &failure {
                        let age_seconds = keys.age().as_secs();
                        tracing::warn!(%issuer, age_seconds, %reason, "using expired keys: no newer ones");
                    }
                    Ok(keys)
                }
                _ => Err(CredentialRejected::Unavailable(failure.into_reason(options.min_refetch))),
            },
        }
    }

    /// Newer keys than `seen`, after a token named a key `seen` does not have: fetched now
    /// unless a fetch started less than `min_refetch` ago (another verifier's fetch that ended
    /// while this one waited counts as newer). `None` when there are none.
    pub(crate) async fn newer_than(
        &self,
        seen: &Arc<KeySet>,
        fetcher: &Fetcher,
        issuer: &IssuerUrl,
        min_refetch: Duration,
    ) -> Option<Arc<KeySet>> {
        self.refresh(fetcher, issuer, Some(seen), min_refetch).await.ok()
    }

    fn cached(&self) -> Option<Arc<KeySet>> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Fetches the keys, one fetch at a time and at most one per `min_refetch`, unless keys
    /// other than `seen` arrived meanwhile.
    async fn refresh(
        &self,
        fetcher: &Fetcher,
        issuer: &IssuerUrl,
        seen: Option<&Arc<KeySet>>,
        min_refetch: Duration,
    ) -> Result<Arc<KeySet>, NotFetched> {
        let mut attempts = self.refresh.lock().await;
        if let Some(current) = self.cached()
            && !seen.is_some_and(|seen| Arc::ptr_eq(seen, &current))
        {
            return Ok(current);
        }
        if let Some(last) = attempts.last
            && last.elapsed() < min_refetch
        {
            return Err(NotFetched::TooSoon { last_error: attempts.last_error.clone() });
        }
        attempts.last = Some(Instant::now());
        match fetcher.fetch_keys(issuer).await {
            Ok((keys, jwks_uri)) => {
                tracing::info!(%issuer, %jwks_uri, keys = keys.len(), "fetched the issuer's signing keys");
                let keys = Arc::new(keys);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&keys));
                attempts.last_error = None;
                Ok(keys)
            }
            Err(reason) => {
                tracing::warn!(%issuer, %reason, "the issuer's signing keys could not be fetched");
                attempts.last_error = Some(reason.clone());
                Err(NotFetched::Failed(reason))
            }
        }
    }
}
