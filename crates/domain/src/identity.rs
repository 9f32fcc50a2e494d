//! Identity providers: the OpenID Connect issuer a tenant trusts, and what a verified token
//! says about its bearer.
//!
//! Verifying a token (discovery, keys, signature, times, issuer, audience) is the job of an
//! [`IdentityProvider`](crate::ports::IdentityProvider) adapter; mapping the verified identity to
//! a user of the tenant (who must exist and be active, or be created just in time) is the
//! domain's, in [`TokenService`](crate::services::TokenService).

use std::fmt;

use crate::{TenantId, Timestamp, UserId};

/// The URL of an OpenID Connect issuer, exactly as its tokens carry it in `iss`: `https://`
/// (or `http://` on a loopback host, for tests and local issuers), a host name or address and an
/// optional port (no user name or password), no query, no fragment, at most 512 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IssuerUrl(String);

/// The text is not an acceptable issuer URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "an issuer is an https:// URL (http:// only on 127.0.0.1, [::1] or localhost) of a host and an optional port, without user name, password, query or fragment, at most 512 characters"
)]
pub struct IssuerUrlError;

impl IssuerUrl {
    /// Parses an issuer URL.
    ///
    /// # Errors
    /// [`IssuerUrlError`] when it breaks the rule above.
    pub fn parse(input: &str) -> Result<Self, IssuerUrlError> {
        let url = input.trim();
        let (secure, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            (None, None) => return Err(IssuerUrlError),
        };
        // The authority is a host and an optional port: no user name or password before an `@`.
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (address, port) = bracketed.split_once(']').ok_or(IssuerUrlError)?;
                let ipv6 =
                    !address.is_empty() && address.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
                (if ipv6 { &authority[..address.len() + 2] } else { "" }, port)
            }
            None => authority.find(':').map_or((authority, ""), |colon| authority.split_at(colon)),
        };
        let named = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        let port_valid = port.is_empty()
            || port.strip_prefix(':').is_some_and(|digits| {
                digits.bytes().all(|b| b.is_ascii_digit()) && digits.parse::<u16>().is_ok_and(|port| port != 0)
            });
        let valid = !host.is_empty()
            && (host.starts_with('[') || host.chars().all(named))
            && port_valid
            && (secure || matches!(host, "127.0.0.1" | "[::1]" | "localhost"))
            && url.len() <= 512
            && !url.contains(['?', '#'])
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid { Ok(Self(url.to_owned())) } else { Err(IssuerUrlError) }
    }

    /// The issuer of a Microsoft Entra ID tenant: `https://login.microsoftonline.com/{tenant}/v2.0`.
    #[must_use]
    pub fn entra(tenant: &EntraTenantId) -> Self {
        Self(format!("https://login.microsoftonline.com/{}/v2.0", tenant.as_str()))
    }

    /// The URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the issuer's discovery document is: the issuer with
    /// `/.well-known/openid-configuration` appended (OpenID Connect Discovery 1.0, section 4).
    #[must_use]
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.0.trim_end_matches('/'))
    }
}

impl fmt::Display for IssuerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The audience Roster's tokens are issued for (`aud`): the client (application) id at the
/// issuer. 1 to 255 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Audience(String);

/// The text is not an acceptable audience.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an audience is 1 to 255 printable characters without spaces")]
pub struct AudienceError;

impl Audience {
    /// Parses an audience.
    ///
    /// # Errors
    /// [`AudienceError`] when empty, too long, or with spaces or control characters.
    pub fn parse(input: &str) -> Result<Self, AudienceError> {
        let text = input.trim();
        let valid = !text.is_empty() && text.len() <= 255 && !text.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid { Ok(Self(text.to_owned())) } else { Err(AudienceError) }
    }

    /// The audience.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Microsoft Entra ID directory (tenant) id: a GUID, which tokens carry in `tid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntraTenantId(String);

/// The text is not a GUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an Entra tenant id is a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47")]
pub struct EntraTenantIdError;

impl EntraTenantId {
    /// Parses a GUID (stored lowercase).
    ///
    /// # Errors
    /// [`EntraTenantIdError`] when it is not one.
    pub fn parse(input: &str) -> Result<Self, EntraTenantIdError> {
        let guid = uuid::Uuid::try_parse(input.trim()).map_err(|_| EntraTenantIdError)?;
        Ok(Self(guid.hyphenated().to_string()))
    }

    /// The GUID, lowercase with hyphens.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The OpenID Connect issuer a tenant trusts to sign its users in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    /// The issuer (`iss`).
    pub issuer: IssuerUrl,
    /// The audience tokens must be issued for (`aud`).
    pub audience: Audience,
    /// For Microsoft Entra ID: the directory whose tokens are accepted (`tid` must match).
    pub entra_tenant: Option<EntraTenantId>,
    /// Whether a verified person unknown to the tenant is created on first sign-in, as an
    /// active `user` (no license, so no AI features until an administrator assigns one).
    /// Otherwise they are refused with `not_provisioned`.
    pub just_in_time: bool,
}

/// What a verified token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The bearer's stable id at the issuer: `oid` when the issuer gives one (Entra ID, where
    /// `sub` differs per application), else `sub`.
    pub subject: String,
    /// The `email` claim, if any.
    pub email: Option<String>,
    /// The `preferred_username` claim (Entra ID: the user principal name, often an email).
    pub preferred_username: Option<String>,
    /// The `name` claim, if any.
    pub name: Option<String>,
    /// When the token was issued (`iat`), if it says.
    pub issued_at: Option<Timestamp>,
}

/// Why a presented token was refused. The text is for logs and the problem's `detail`; it
/// never contains the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialRejected {
    /// The token is malformed, badly signed, expired, not yet valid, for another audience or
    /// issuer, or signed with an algorithm or key the issuer does not publish.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The issuer's discovery document or keys could not be fetched, and none are cached.
    #[error("the identity provider cannot be reached: {0}")]
    Unavailable(String),
}

/// A tenant's link between an issuer's subject and one of its users, made at the first
/// sign-in by email so that later sign-ins survive a change of email at the issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalLink {
    /// The tenant.
    pub tenant: TenantId,
    /// The issuer.
    pub issuer: IssuerUrl,
    /// [`ExternalIdentity::subject`].
    pub subject: String,
    /// The user.
    pub user: UserId,
    /// When the link was made.
    pub linked_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_or_loopback_http() {
        for good in [
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
            "https://accounts.example.com",
            "http://127.0.0.1:8080/realms/x",
            "http://localhost:9000",
            "http://[::1]:9000",
            "https://[2001:db8::1]:8443/issuer",
        ] {
            assert_eq!(IssuerUrl::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "https://",
            "http://example.com",
            "http://10.0.0.1/x",
            "ftp://x",
            "https://a.example/?x=1",
            "https://a.example/#f",
            "https://a b",
            "http://127.0.0.1:80@evil.example.com/",
            "http://localhost:x@evil.example.com/",
            "https://user:pw@login.example.com/",
            "https://:443/",
            "https://a.example:/x",
            "https://a.example:123456/x",
            "https://a.example:99999/x",
            "https://a.example:0/x",
            "https://[]/x",
            "https://[::1/x",
        ] {
            assert!(IssuerUrl::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            IssuerUrl::parse("https://a.example/x/").unwrap().discovery_url(),
            "https://a.example/x/.well-known/openid-configuration"
        );
    }

    #[test]
    fn entra_tenants_are_guids() {
        let id = EntraTenantId::parse("72F988BF-86F1-41AF-91AB-2D7CD011DB47").unwrap();
        assert_eq!(
            IssuerUrl::entra(&id).as_str(),
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
        );
        assert!(EntraTenantId::parse("contoso").is_err());
        assert!(Audience::parse("api://roster").is_ok());
        assert!(Audience::parse("a b").is_err());
    }
}
