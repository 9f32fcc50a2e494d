//! [`OidcVerifier`]: the [`IdentityProvider`] port over OpenID Connect discovery, cached
//! JWKS, and `jsonwebtoken`'s signature and claim checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, Validation};
use roster_domain::identity::{CredentialRejected, ExternalIdentity, IssuerUrl, OidcSettings};
use roster_domain::ports::IdentityProvider;

use crate::cache::IssuerKeys;
use crate::fetch::Fetcher;
use crate::keys::{KeySet, SigningKey};
use crate::options::{BuildError, OidcOptions};
use crate::token::{self, Claims, invalid};

/// Verifies OpenID Connect ID and access tokens (JWTs signed with RS256 or ES256) against the
/// keys their issuer publishes, caching those keys per issuer.
///
/// Cheap to clone: clones share the HTTP client and the key caches. One verifier serves every
/// tenant; the caches grow by one entry per distinct issuer it is asked about, which are the
/// issuers tenants configured.
#[derive(Debug, Clone)]
pub struct OidcVerifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: OidcOptions,
    fetcher: Fetcher,
    issuers: Mutex<HashMap<IssuerUrl, Arc<IssuerKeys>>>,
}

impl OidcVerifier {
    /// A verifier with an empty cache; nothing is fetched before the first
    /// [`verify`](IdentityProvider::verify).
    ///
    /// # Errors
    /// [`BuildError`] when the HTTPS client cannot be set up.
    pub fn new(options: OidcOptions) -> Result<Self, BuildError> {
        let fetcher = Fetcher::new(options.timeout, options.allow_private_networks)?;
        Ok(Self { inner: Arc::new(Inner { options, fetcher, issuers: Mutex::new(HashMap::new()) }) })
    }

    /// The cache of `issuer`, created empty on first use.
    fn issuer_keys(&self, issuer: &IssuerUrl) -> Arc<IssuerKeys> {
        let mut issuers = self.inner.issuers.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(issuers.entry(issuer.clone()).or_default())
    }

    /// The key set holding the key the token's header picks: the cached one, or, when it does
    /// not know the header's `kid`, a newer one if a refetch is allowed now.
    async fn keys_for(
        &self,
        issuer: &IssuerUrl,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<KeySet>, CredentialRejected> {
        let Inner { options, fetcher, .. } = &*self.inner;
        let cache = self.issuer_keys(issuer);
        let keys = cache.usable(fetcher, issuer, options).await?;
        match keys.select(kid, alg) {
            Ok(_) => Ok(keys),
            Err(miss) if kid.is_none() => Err(invalid(miss.reason())),
            Err(miss) => {
                tracing::debug!(%issuer, kid, "a token names an unknown key; asking for newer keys");
                cache
                    .newer_than(&keys, fetcher, issuer, options.min_refetch)
                    .await
                    .ok_or_else(|| invalid(miss.reason()))
            }
        }
    }

    /// Checks the signature with `key` and the standard claims against `settings`.
    fn decode(&self, presented: &str, key: &SigningKey, settings: &OidcSettings) -> Result<Claims, CredentialRejected> {
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = self.inner.options.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        jsonwebtoken::decode::<Claims>(presented, &key.key, &validation)
            .map(|data| data.claims)
            .map_err(|error| invalid(token::decode_failure(&error)))
    }
}

#[async_trait]
impl IdentityProvider for OidcVerifier {
    fn claimed_issuer(&self, presented: &str) -> Option<String> {
        token::unverified_claims(presented)?.get("iss")?.as_str().map(str::to_owned)
    }

    async fn verify(&self, presented: &str, settings: &OidcSettings) -> Result<ExternalIdentity, CredentialRejected> {
        // Cheap refusals first, so that junk never costs a fetch.
        let claims = token::unverified_claims(presented).ok_or_else(|| invalid("not a signed JWT"))?;
        if !token::from_issuer(&claims, settings) {
            return Err(invalid("issued by another issuer (iss)"));
        }
        let header = jsonwebtoken::decode_header(presented)
            .map_err(|_| invalid("malformed header, or an algorithm other than RS256 or ES256"))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(invalid(format!("algorithm {:?} is not accepted, only RS256 and ES256", header.alg)));
        }
        let kid = header.kid.as_deref();
        let keys = self.keys_for(&settings.issuer, kid, header.alg).await?;
        let key = keys.select(kid, header.alg).map_err(|miss| invalid(miss.reason()))?;
        if key.algorithm != header.alg {
            return Err(invalid(format!("the token says {:?} but its key is for {:?}", header.alg, key.algorithm)));
        }
        let claims = self.decode(presented, key, settings)?;
        token::identity(&claims, settings)
    }
}
