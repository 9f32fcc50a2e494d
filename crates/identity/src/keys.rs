//! An issuer's signing keys as fetched once: the usable keys of its JWKS, and how a token's
//! header picks one.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// One public key the issuer signs tokens with, and the only algorithm it is used with.
#[derive(Debug)]
pub(crate) struct SigningKey {
    /// The JWK's `kid`, if it has one.
    pub(crate) kid: Option<String>,
    /// RS256 for an RSA key, ES256 for a P-256 key.
    pub(crate) algorithm: Algorithm,
    /// The key itself.
    pub(crate) key: DecodingKey,
}

impl SigningKey {
    /// The key a JWK describes, when Roster can use it: `kty` RSA (RS256) or EC on P-256
    /// (ES256), with `alg`, if present, naming that algorithm and `use`, if present, `sig`.
    /// Anything else (encryption keys, symmetric keys, other curves or algorithms) is `None`.
    fn from_jwk(value: &Value) -> Option<Self> {
        let jwk: Jwk = serde_json::from_value(value.clone()).ok()?;
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) if !rsa.n.is_empty() && !rsa.e.is_empty() => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec)
                if ec.curve == EllipticCurve::P256 && is_coordinate(&ec.x) && is_coordinate(&ec.y) =>
            {
                Algorithm::ES256
            }
            _ => return None,
        };
        if jwk.common.key_algorithm.is_some_and(|alg| alg != KeyAlgorithm::from(algorithm)) {
            return None;
        }
        if jwk.common.public_key_use.as_ref().is_some_and(|usage| *usage != PublicKeyUse::Signature) {
            return None;
        }
        let key = DecodingKey::from_jwk(&jwk).ok()?;
        Some(Self { kid: jwk.common.key_id, algorithm, key })
    }
}

/// Whether `encoded` is a P-256 coordinate: 32 bytes, base64url without padding.
fn is_coordinate(encoded: &str) -> bool {
    URL_SAFE_NO_PAD.decode(encoded).is_ok_and(|bytes| bytes.len() == 32)
}

/// Why a token's header picks no key of a [`KeySet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The header's `kid` names no usable key.
    UnknownKid,
    /// The header has no `kid`, and the set does not have exactly one usable key.
    NoKid {
        /// How many usable keys the set has.
        usable: usize,
    },
}

impl Miss {
    /// A short reason for [`CredentialRejected::Invalid`](roster_domain::identity::CredentialRejected::Invalid).
    pub(crate) fn reason(self) -> String {
        match self {
            Self::UnknownKid => "unknown key: the token's kid is not among the issuer's published keys".to_owned(),
            Self::NoKid { usable } => {
                format!("the token names no key (kid) and the issuer publishes {usable} usable keys, not exactly one")
            }
        }
    }
}

/// The usable keys of one JWKS, and when they were fetched.
#[derive(Debug)]
pub(crate) struct KeySet {
    keys: Vec<SigningKey>,
    fetched_at: Instant,
}

impl KeySet {
    /// The usable keys among `jwks` (the JWKS's `keys` array), fetched now.
    pub(crate) fn from_jwks(jwks: &[Value]) -> Self {
        Self { keys: jwks.iter().filter_map(SigningKey::from_jwk).collect(), fetched_at: Instant::now() }
    }

    /// How many usable keys there are.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How long ago the keys were fetched.
    pub(crate) fn age(&self) -> Duration {
        self.fetched_at.elapsed()
    }

    /// The key a token's header picks: the one whose `kid` it names (preferring, among keys
    /// sharing that kid, one for the header's `alg`); without a kid, the only key.
    ///
    /// # Errors
    /// [`Miss`] when there is no such key.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&SigningKey, Miss> {
        match kid {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|key| key.kid.as_deref() == Some(kid));
                let first = named.clone().next();
                named.find(|key| key.algorithm == alg).or(first).ok_or(Miss::UnknownKid)
            }
            None => match self.keys.as_slice() {
                [only] => Ok(only),
                keys => Err(Miss::NoKid { usable: keys.len() }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A real RSA modulus is not needed to build a key; verification would fail, selection not.
    fn rsa(kid: &str) -> Value {
        json!({"kty": "RSA", "kid": kid, "n": URL_SAFE_NO_PAD.encode([0xab; 256]), "e": "AQAB"})
    }

    fn ec(kid: &str) -> Value {
        let coordinate = URL_SAFE_NO_PAD.encode([7u8; 32]);
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": coordinate, "y": coordinate})
    }

    #[test]
    fn only_rsa_and_p256_signing_keys_are_usable() {
        let mut wrong_alg = rsa("rs384");
        wrong_alg["alg"] = json!("RS384");
        let mut encryption = rsa("enc");
        encryption["use"] = json!("enc");
        let mut p384 = ec("p384");
        p384["crv"] = json!("P-384");
        let mut short = ec("short");
        short["x"] = json!("AAAA");
        let mut declared = ec("declared");
        declared["alg"] = json!("ES256");
        declared["use"] = json!("sig");
        let jwks = [
            rsa("rsa"),
            ec("ec"),
            declared,
            wrong_alg,
            encryption,
            p384,
            short,
            json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
            json!("not a key"),
        ];
        let set = KeySet::from_jwks(&jwks);
        let kids: Vec<_> = set.keys.iter().map(|key| (key.kid.as_deref().unwrap(), key.algorithm)).collect();
        assert_eq!(kids, [("rsa", Algorithm::RS256), ("ec", Algorithm::ES256), ("declared", Algorithm::ES256)]);
    }

    #[test]
    fn the_kid_picks_the_key_and_no_kid_needs_a_single_key() {
        let set = KeySet::from_jwks(&[rsa("a"), ec("b")]);
        assert_eq!(set.select(Some("b"), Algorithm::ES256).unwrap().algorithm, Algorithm::ES256);
        assert_eq!(set.select(Some("c"), Algorithm::RS256).unwrap_err(), Miss::UnknownKid);
        assert_eq!(set.select(None, Algorithm::RS256).unwrap_err(), Miss::NoKid { usable: 2 });
        let single = KeySet::from_jwks(&[rsa("a")]);
        assert_eq!(single.select(None, Algorithm::RS256).unwrap().kid.as_deref(), Some("a"));
    }

    #[test]
    fn among_keys_sharing_a_kid_the_header_alg_decides() {
        let set = KeySet::from_jwks(&[rsa("same"), ec("same")]);
        assert_eq!(set.select(Some("same"), Algorithm::ES256).unwrap().algorithm, Algorithm::ES256);
        assert_eq!(set.select(Some("same"), Algorithm::RS256).unwrap().algorithm, Algorithm::RS256);
        assert_eq!(set.select(Some("same"), Algorithm::HS256).unwrap().algorithm, Algorithm::RS256);
    }
}
