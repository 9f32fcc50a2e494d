//! How an [`OidcVerifier`](crate::OidcVerifier) behaves, and why one cannot be built.

use std::time::Duration;

/// Tuning of an [`OidcVerifier`](crate::OidcVerifier). The defaults suit production; tests
/// shorten the durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OidcOptions {
    /// The clock skew allowed when checking `exp` and `nbf` (whole seconds count). Default 60 s.
    pub leeway: Duration,
    /// How long fetched keys are used before they are fetched again on next use. Default 1 h.
    pub cache_ttl: Duration,
    /// The shortest time between two fetches of one issuer's keys, whatever triggers them (a
    /// token naming an unknown key, expired keys, a failed fetch). Default 10 s.
    pub min_refetch: Duration,
    /// The longest one HTTP request (discovery or keys) may take, body included. Default 5 s.
    pub timeout: Duration,
    /// How long past [`cache_ttl`](Self::cache_ttl) expired keys are still used while the
    /// issuer cannot be reached, so that an outage of the issuer does not lock everyone out.
    /// Default 24 h.
    pub stale_grace: Duration,
    /// Whether issuers may be reached on loopback, private, link-local and other non-public
    /// addresses (for an issuer inside the operator's network, and tests). Default false: a
    /// tenant's administrator, who names the issuer, must not make the server reach into the
    /// network it runs in.
    pub allow_private_networks: bool,
}

impl Default for OidcOptions {
    fn default() -> Self {
        Self {
            leeway: Duration::from_secs(60),
            cache_ttl: Duration::from_secs(60 * 60),
            min_refetch: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            stale_grace: Duration::from_secs(24 * 60 * 60),
            allow_private_networks: false,
        }
    }
}

/// Why an [`OidcVerifier`](crate::OidcVerifier) cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The TLS configuration (rustls with ring, Mozilla roots) was refused.
    #[error("cannot set up TLS for the identity provider client")]
    Tls(#[source] rustls::Error),
}
