//! `OidcVerifier` against a real issuer on 127.0.0.1 (`roster_identity::testing::TestIssuer`):
//! one fresh issuer and verifier per test.

mod claims;
mod keys;
mod signatures;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use roster_domain::identity::{Audience, CredentialRejected, ExternalIdentity, IssuerUrl, OidcSettings};
use roster_domain::ports::IdentityProvider;
use roster_identity::testing::TestIssuer;
use roster_identity::{OidcOptions, OidcVerifier};
use serde_json::Value;

/// The audience of the tenants' settings.
const AUDIENCE: &str = "api://roster";

/// A running issuer, a verifier, and a tenant's settings trusting that issuer.
struct TestApp {
    issuer: TestIssuer,
    verifier: OidcVerifier,
    settings: OidcSettings,
}

impl TestApp {
    /// With the default options, but for the issuer's address: loopback.
    async fn spawn() -> Self {
        Self::with_options(OidcOptions { allow_private_networks: true, ..OidcOptions::default() }).await
    }

    async fn with_options(options: OidcOptions) -> Self {
        let issuer = TestIssuer::start().await;
        let settings = settings_for(&issuer.issuer());
        Self { issuer, verifier: OidcVerifier::new(options).expect("a verifier"), settings }
    }

    /// Typical claims for [`AUDIENCE`] about `user-1`.
    fn claims(&self) -> Value {
        self.issuer.claims(AUDIENCE, "user-1", "ada@example.com")
    }

    async fn verify(&self, token: &str) -> Result<ExternalIdentity, CredentialRejected> {
        self.verifier.verify(token, &self.settings).await
    }
}

/// Settings trusting `issuer` for [`AUDIENCE`], without an Entra tenant.
fn settings_for(issuer: &str) -> OidcSettings {
    OidcSettings {
        issuer: IssuerUrl::parse(issuer).expect("an issuer URL"),
        audience: Audience::parse(AUDIENCE).expect("an audience"),
        entra_tenant: None,
        just_in_time: false,
    }
}

/// Options whose every duration is short or zero, allowing the test issuer's loopback address,
/// changed by `change`.
fn options(change: impl FnOnce(&mut OidcOptions)) -> OidcOptions {
    let mut options =
        OidcOptions { timeout: Duration::from_secs(2), allow_private_networks: true, ..OidcOptions::default() };
    change(&mut options);
    options
}

/// Seconds since the epoch.
fn now() -> i64 {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).expect("a time after 1970").as_secs();
    i64::try_from(seconds).expect("a time before 2^63")
}

/// The reason of an [`CredentialRejected::Invalid`] refusal; panics on anything else.
#[track_caller]
fn assert_invalid(result: Result<ExternalIdentity, CredentialRejected>) -> String {
    match result {
        Err(CredentialRejected::Invalid(reason)) => reason,
        other => panic!("expected an invalid token, got {other:?}"),
    }
}

/// The reason of an [`CredentialRejected::Unavailable`] refusal; panics on anything else.
#[track_caller]
fn assert_unavailable(result: Result<ExternalIdentity, CredentialRejected>) -> String {
    match result {
        Err(CredentialRejected::Unavailable(reason)) => reason,
        other => panic!("expected an unavailable issuer, got {other:?}"),
    }
}
