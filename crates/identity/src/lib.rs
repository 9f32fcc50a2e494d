//! Roster's OpenID Connect adapter: [`OidcVerifier`] implements `roster-domain`'s
//! [`IdentityProvider`](roster_domain::ports::IdentityProvider) port.
//!
//! For each issuer a tenant trusts it reads the discovery document, fetches the issuer's
//! published keys (JWKS) and caches them; it then verifies bearer tokens (JWTs signed with
//! RS256 or ES256 only) against those keys and the tenant's settings: signature, `exp`,
//! `nbf`, `iss`, `aud`, `sub` and, for Microsoft Entra ID, `tid`. A token naming a key the
//! cache does not know makes it refetch the keys (at most once per
//! [`OidcOptions::min_refetch`]), which is how the issuer's key rotation is picked up.
//!
//! ```no_run
//! # async fn example(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! use roster_domain::identity::{Audience, IssuerUrl, OidcSettings};
//! use roster_domain::ports::IdentityProvider;
//! use roster_identity::{OidcOptions, OidcVerifier};
//!
//! let verifier = OidcVerifier::new(OidcOptions::default())?;
//! let settings = OidcSettings {
//!     issuer: IssuerUrl::parse("https://accounts.example.com")?,
//!     audience: Audience::parse("roster")?,
//!     entra_tenant: None,
//!     just_in_time: false,
//! };
//! let identity = verifier.verify(token, &settings).await?;
//! println!("signed in: {}", identity.subject);
//! # Ok(())
//! # }
//! ```
//!
//! With the feature `testing`, [`testing::TestIssuer`] is a real issuer on 127.0.0.1 for
//! end-to-end tests.

mod cache;
mod fetch;
mod keys;
mod options;
mod token;
mod verifier;

#[cfg(feature = "testing")]
pub mod testing;

pub use options::{BuildError, OidcOptions};
pub use verifier::OidcVerifier;
