//! Identity providers that vouch for a bearer: OpenID Connect issuers (Microsoft Entra ID and
//! any other), through an adapter such as `roster-identity`'s.

use async_trait::async_trait;

use crate::identity::{CredentialRejected, ExternalIdentity, OidcSettings};

/// Verifies tokens issued by a tenant's OpenID Connect issuer.
///
/// The domain asks [`claimed_issuer`](Self::claimed_issuer) which issuer a bearer claims to
/// come from, finds the tenants that trust that issuer, asks [`verify`](Self::verify) to check
/// the token against each tenant's settings, and maps the verified identity to a user itself.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// The `iss` a presented credential claims, read without verifying anything and without
    /// I/O; `None` when the credential is not a token of this provider's form (a JWT).
    fn claimed_issuer(&self, presented: &str) -> Option<String>;

    /// Verifies `presented` against `settings`: signed (RS256 or ES256 only) by a key the
    /// issuer currently publishes, `iss` and `aud` as configured, `tid` matching an Entra
    /// tenant when one is set, and `exp` / `nbf` within a small clock skew.
    ///
    /// # Errors
    /// [`CredentialRejected::Invalid`] for a token that fails any check;
    /// [`CredentialRejected::Unavailable`] when the issuer's keys cannot be had.
    async fn verify(&self, presented: &str, settings: &OidcSettings) -> Result<ExternalIdentity, CredentialRejected>;
}
