//! Fetching an issuer's discovery document and keys: one HTTP client with rustls on ring and
//! the Mozilla roots, a timeout per request, bodies bounded to 1 MiB, and redirects followed
//! only to secure URLs.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, LOCATION, USER_AGENT};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use roster_domain::identity::IssuerUrl;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::keys::KeySet;
use crate::options::BuildError;

/// The largest discovery document or key set accepted.
const MAX_BODY: usize = 1024 * 1024;
/// The most redirects one request follows.
const MAX_REDIRECTS: usize = 5;
/// The most characters of a value read from the issuer that an error message quotes.
const MAX_QUOTED: usize = 120;

/// What Roster reads of an OpenID Connect discovery document.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// What Roster reads of a JWKS: its keys, each judged on its own later.
#[derive(Debug, Deserialize)]
struct Jwks {
    keys: Vec<Value>,
}

/// The HTTP side of the verifier: hyper over rustls, whose configuration (ring, the Mozilla
/// roots) is given to the connector, so that no process-wide crypto provider is needed.
#[derive(Debug, Clone)]
pub(crate) struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

impl Fetcher {
    /// A client whose every request (redirects and body included) takes at most `timeout`.
    ///
    /// # Errors
    /// [`BuildError`] when TLS cannot be set up.
    pub(crate) fn new(timeout: Duration) -> Result<Self, BuildError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(BuildError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        Ok(Self { client: Client::builder(TokioExecutor::new()).build(connector), timeout })
    }

    /// The issuer's usable keys: its discovery document (which MUST name this very issuer and
    /// a secure `jwks_uri`), then the key set there.
    ///
    /// # Errors
    /// A short reason when either cannot be fetched, is malformed, or no key is usable.
    pub(crate) async fn fetch_keys(&self, issuer: &IssuerUrl) -> Result<(KeySet, Url), String> {
        let discovery: Discovery = self.get_json(&issuer.discovery_url(), "the discovery document").await?;
        if discovery.issuer != issuer.as_str() {
            return Err(format!("the discovery document names the issuer {}, not {issuer}", quote(&discovery.issuer)));
        }
        let jwks_uri = Url::parse(&discovery.jwks_uri)
            .ok()
            .filter(is_secure)
            .ok_or_else(|| format!("the discovery document's jwks_uri {} is not https", quote(&discovery.jwks_uri)))?;
        let jwks: Jwks = self.get_json(jwks_uri.as_str(), "the key set").await?;
        let keys = KeySet::from_jwks(&jwks.keys);
        if keys.is_empty() {
            return Err(format!("the key set at {jwks_uri} has no usable RS256 or ES256 signing key"));
        }
        Ok((keys, jwks_uri))
    }

    /// GETs `url`, following up to [`MAX_REDIRECTS`] redirects to secure URLs, and reads the
    /// body, at most [`MAX_BODY`] bytes, as JSON; all within the timeout.
    async fn get_json<T: DeserializeOwned>(&self, url: &str, what: &str) -> Result<T, String> {
        let body = tokio::time::timeout(self.timeout, self.get(url, what))
            .await
            .map_err(|_| format!("{what} at {url} could not be fetched within {:?}", self.timeout))??;
        serde_json::from_slice(&body).map_err(|error| format!("{what} at {url} is malformed: {error}"))
    }

    async fn get(&self, url: &str, what: &str) -> Result<Bytes, String> {
        let mut current = Url::parse(url).map_err(|error| format!("{what} at {url} has no valid URL: {error}"))?;
        for _ in 0..=MAX_REDIRECTS {
            let failed = |error: &dyn Error| format!("{what} at {current} could not be fetched: {}", chain(error));
            let request = http::Request::get(current.as_str())
                .header(ACCEPT, "application/json")
                .header(USER_AGENT, concat!("roster-identity/", env!("CARGO_PKG_VERSION")))
                .body(Empty::new())
                .map_err(|error| failed(&error))?;
            let response = self.client.request(request).await.map_err(|error| failed(&error))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response.headers().get(LOCATION).and_then(|value| value.to_str().ok());
                let next = location.and_then(|location| current.join(location).ok());
                current = next.filter(is_secure).ok_or_else(|| {
                    format!("{what} at {current} redirects to a URL that is neither https nor loopback http")
                })?;
                continue;
            }
            if !status.is_success() {
                return Err(format!("{what} at {current} answered {status}"));
            }
            let body = Limited::new(response.into_body(), MAX_BODY).collect().await.map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    format!("{what} at {current} is larger than {MAX_BODY} bytes")
                } else {
                    format!("{what} at {current} could not be read: {error}")
                }
            })?;
            return Ok(body.to_bytes());
        }
        Err(format!("{what} at {url}: too many redirects"))
    }
}

/// Whether keys may be fetched from `url`: https, or http on a loopback host (127.0.0.1,
/// [::1], localhost) for tests and local issuers.
fn is_secure(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host_str().is_some_and(|host| !host.is_empty()),
        "http" => matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")),
        _ => false,
    }
}

/// `error` and its causes, joined with ": ".
fn chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// `value` quoted for an error message, cut to [`MAX_QUOTED`] characters.
fn quote(value: &str) -> String {
    match value.char_indices().nth(MAX_QUOTED) {
        Some((end, _)) => format!("{:?}...", &value[..end]),
        None => format!("{value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_https_or_loopback_http_only() {
        for secure in
            ["https://login.example.com/keys", "http://127.0.0.1:8080/jwks", "http://[::1]/k", "http://localhost/k"]
        {
            assert!(is_secure(&Url::parse(secure).unwrap()), "{secure}");
        }
        for insecure in ["http://example.com/keys", "http://10.0.0.1/keys", "ftp://127.0.0.1/k", "file:///etc/keys"] {
            assert!(!is_secure(&Url::parse(insecure).unwrap()), "{insecure}");
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        assert_eq!(quote("abc"), "\"abc\"");
        assert_eq!(quote(&"x".repeat(500)).len(), MAX_QUOTED + 2 + 3);
    }
}
