//! API tokens: random bearer secrets of which only a SHA-256 hash is ever stored.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::{TenantId, Timestamp, TokenId, UserId};

const PREFIX: &str = "rst_";
const SECRET_BYTES: usize = 32;
/// Length of the random part of a secret: 32 bytes in unpadded base64url.
const RANDOM_LEN: usize = 43;

/// A fresh secret: `prefix` and 256 random bits from the operating system, in unpadded base64url.
pub(crate) fn random_secret(prefix: &str) -> String {
    let mut bytes = [0_u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `presented` has the form of a secret made by [`random_secret`] with `prefix`.
pub(crate) fn is_secret(presented: &str, prefix: &str) -> bool {
    presented.len() == prefix.len() + RANDOM_LEN
        && presented.starts_with(prefix)
        && presented[prefix.len()..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A bearer secret (`rst_` and 256 random bits). Shown to its owner once; its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// A fresh secret from the operating system's random source.
    #[must_use]
    pub fn generate() -> Self {
        Self(random_secret(PREFIX))
    }

    /// Reads a presented secret; `None` when it cannot be one of ours (no lookup needed).
    #[must_use]
    pub fn parse(presented: &str) -> Option<Self> {
        is_secret(presented, PREFIX).then(|| Self(presented.to_owned()))
    }

    /// The secret, to show its owner.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the secret is stored and looked up.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(***)")
    }
}

/// SHA-256 of a secret (an API token or an invitation link). Secrets carry 256 random bits, so
/// a fast hash is enough: there is nothing to brute-force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// The hash of `secret`.
    #[must_use]
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    /// The hash as bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// What a token is for, e.g. "ci pipeline": 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLabel(String);

/// The text is not an acceptable token label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a token label is 1 to 100 characters without control characters")]
pub struct TokenLabelError;

impl TokenLabel {
    /// Parses a label.
    ///
    /// # Errors
    /// [`TokenLabelError`] when empty, too long or containing control characters.
    pub fn parse(input: &str) -> Result<Self, TokenLabelError> {
        let trimmed = input.trim();
        let valid = !trimmed.is_empty() && trimmed.chars().count() <= 100 && !trimmed.chars().any(char::is_control);
        if valid { Ok(Self(trimmed.to_owned())) } else { Err(TokenLabelError) }
    }

    /// The label.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A bearer credential bound to one user of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Id of the token.
    pub id: TokenId,
    /// Tenant of the user.
    pub tenant: TenantId,
    /// The user the token acts as.
    pub user: UserId,
    /// What the token is for.
    pub label: TokenLabel,
    /// Hash of the secret.
    pub hash: TokenHash,
    /// When the token was issued.
    pub created_at: Timestamp,
}

impl ApiToken {
    /// Issues a new token for `user`, returning it with its secret (to show once).
    #[must_use]
    pub fn issue(tenant: TenantId, user: UserId, label: TokenLabel, now: Timestamp) -> (Self, TokenSecret) {
        let secret = TokenSecret::generate();
        let token = Self { id: TokenId::new(), tenant, user, label, hash: secret.hash(), created_at: now };
        (token, secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_and_differ() {
        let a = TokenSecret::generate();
        let b = TokenSecret::generate();
        assert_ne!(a, b);
        assert_eq!(TokenSecret::parse(a.expose()), Some(a.clone()));
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn malformed_secrets_are_refused_without_lookup() {
        let good = TokenSecret::generate();
        for bad in ["", "rst_", "Bearer x", &good.expose()[1..], &format!("{}=", &good.expose()[..46])] {
            assert_eq!(TokenSecret::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = TokenSecret::generate();
        assert!(!format!("{secret:?}").contains(&secret.expose()[4..]));
    }
}
