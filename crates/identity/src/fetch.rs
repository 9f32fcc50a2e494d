//! Fetching an issuer's discovery document and keys: one HTTP client with rustls on ring and
//! the Mozilla roots, a timeout per request, bodies bounded to 1 MiB, redirects followed only
//! to secure URLs, and (unless the operator allows them) no connection to a loopback, private,
//! link-local or otherwise non-public address: a tenant's administrator chooses the issuer, and
//! must not reach the operator's own network through it.

use std::error::Error;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, LOCATION, USER_AGENT};
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use roster_domain::identity::IssuerUrl;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::{Host, Url};

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
    client: Client<HttpsConnector<HttpConnector<Resolver>>, Empty<Bytes>>,
    timeout: Duration,
    allow_private: bool,
}

impl Fetcher {
    /// A client whose every request (redirects and body included) takes at most `timeout`,
    /// and which connects to public addresses only unless `allow_private`.
    ///
    /// # Errors
    /// [`BuildError`] when TLS cannot be set up.
    pub(crate) fn new(timeout: Duration, allow_private: bool) -> Result<Self, BuildError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(BuildError::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new_with_resolver(Resolver { allow_private });
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self { client: Client::builder(TokioExecutor::new()).build(connector), timeout, allow_private })
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
            if !self.allow_private
                && let Some(ip) = literal_ip(&current)
                && !is_public(ip)
            {
                return Err(format!("{what} at {current} is on a non-public address, {PRIVATE_REFUSED}"));
            }
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

/// Why a non-public address is refused.
const PRIVATE_REFUSED: &str = "which the operator has not allowed (--oidc-allow-private-networks)";

/// Resolves host names as the system does, keeping only public addresses unless private ones
/// are allowed. Checking the addresses connected to (not a lookup made beforehand) leaves no
/// room for a name that resolves differently the second time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolver {
    allow_private: bool,
}

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> =
                found.iter().copied().filter(|addr| allow_private || is_public(addr.ip())).collect();
            if usable.is_empty() && !found.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!("{name} resolves to non-public addresses only, {PRIVATE_REFUSED}"),
                ));
            }
            Ok(usable.into_iter())
        })
    }
}

/// The address `url`'s host is written as, if it is one (no lookup).
fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        Host::Domain(_) => None,
    }
}

/// Whether `ip` is an address of the public internet: not loopback, private (RFC 1918, unique
/// local), shared (carrier-grade NAT), link-local (where clouds serve instance metadata),
/// unspecified, broadcast, multicast, reserved or for documentation.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(ip),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, second, ..] = ip.segments();
    // 6to4 (2002::/16) and Teredo (2001::/32) carry IPv4 addresses; site-local (fec0::/10) is
    // private, if deprecated.
    let carries_ipv4 = first == 0x2002 || (first == 0x2001 && second == 0);
    !(carries_ipv4
        || (first & 0xffc0) == 0xfec0
        || ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || (first == 0x2001 && second == 0x0db8)
        || (first == 0x0064 && second == 0xff9b)
        || first == 0)
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
    fn only_public_addresses_are_public() {
        for public in ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "ff02::1",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "fec0::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        assert_eq!(quote("abc"), "\"abc\"");
        assert_eq!(quote(&"x".repeat(500)).len(), MAX_QUOTED + 2 + 3);
    }
}
