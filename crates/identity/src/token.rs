//! A token's parts and claims: reading the claimed issuer without verifying anything, the
//! checks `jsonwebtoken` does not make, and what a verified token says about its bearer.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::{Error as JwtError, ErrorKind};
use roster_domain::Timestamp;
use roster_domain::identity::{CredentialRejected, ExternalIdentity, OidcSettings};
use serde_json::{Map, Value};

/// The longest token looked at.
pub(crate) const MAX_TOKEN_LENGTH: usize = 16 * 1024;

/// JSON claims.
pub(crate) type Claims = Map<String, Value>;

/// A token problem, as [`CredentialRejected::Invalid`].
pub(crate) fn invalid(reason: impl Into<String>) -> CredentialRejected {
    CredentialRejected::Invalid(reason.into())
}

/// The unverified claims of `presented` when it has the form of a signed JWT: at most
/// [`MAX_TOKEN_LENGTH`] bytes, three base64url segments (header and payload not empty), and a
/// JSON object as payload.
pub(crate) fn unverified_claims(presented: &str) -> Option<Claims> {
    if presented.len() > MAX_TOKEN_LENGTH {
        return None;
    }
    let segments: Vec<&str> = presented.split('.').collect();
    let [header, payload, signature] = segments.as_slice() else { return None };
    if header.is_empty() || payload.is_empty() || URL_SAFE_NO_PAD.decode(header).is_err() {
        return None;
    }
    if URL_SAFE_NO_PAD.decode(signature).is_err() {
        return None;
    }
    match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// The string `name` claim, if any.
fn string(claims: &Claims, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// Whether `claims` say they were issued by `settings`' issuer (a string, exactly equal).
pub(crate) fn from_issuer(claims: &Claims, settings: &OidcSettings) -> bool {
    claims.get("iss").and_then(Value::as_str) == Some(settings.issuer.as_str())
}

/// The checks of verified claims that `jsonwebtoken` leaves to Roster (an exact string `iss`,
/// a string `sub`, the Entra tenant), then what they say about the bearer.
///
/// # Errors
/// [`CredentialRejected::Invalid`] when a check fails.
pub(crate) fn identity(claims: &Claims, settings: &OidcSettings) -> Result<ExternalIdentity, CredentialRejected> {
    if !from_issuer(claims, settings) {
        return Err(invalid("issued by another issuer (iss)"));
    }
    let sub = string(claims, "sub").filter(|sub| !sub.is_empty()).ok_or_else(|| invalid("no subject (sub)"))?;
    if let Some(tenant) = &settings.entra_tenant {
        let tid = string(claims, "tid").ok_or_else(|| invalid("no Entra tenant (tid)"))?;
        if !tid.eq_ignore_ascii_case(tenant.as_str()) {
            return Err(invalid("issued for another Entra tenant (tid)"));
        }
    }
    Ok(ExternalIdentity {
        subject: string(claims, "oid").filter(|oid| !oid.is_empty()).unwrap_or(sub),
        // An address the issuer says it has not verified maps to nobody (a user who could set
        // it to a colleague's would sign in as them).
        email: string(claims, "email").filter(|_| claims.get("email_verified").and_then(Value::as_bool) != Some(false)),
        preferred_username: string(claims, "preferred_username"),
        name: string(claims, "name"),
        issued_at: claims.get("iat").and_then(timestamp),
    })
}

/// A NumericDate (seconds since the epoch, possibly fractional) as a [`Timestamp`].
fn timestamp(value: &Value) -> Option<Timestamp> {
    let seconds = match value.as_i64() {
        Some(seconds) => seconds,
        None => value.as_f64().filter(|seconds| seconds.is_finite() && seconds.abs() < 1e15)?.floor() as i64,
    };
    Timestamp::from_timestamp(seconds, 0)
}

/// A short reason for a failed `jsonwebtoken::decode`.
pub(crate) fn decode_failure(error: &JwtError) -> String {
    match error.kind() {
        ErrorKind::InvalidSignature => "bad signature".to_owned(),
        ErrorKind::ExpiredSignature => "expired (exp)".to_owned(),
        ErrorKind::ImmatureSignature => "not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidAudience => "issued for another audience (aud)".to_owned(),
        ErrorKind::InvalidIssuer => "issued by another issuer (iss)".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("no {claim} claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("malformed {claim} claim"),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => "algorithm not allowed for the key".to_owned(),
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => {
            "the issuer's key is unusable".to_owned()
        }
        _ => "malformed token".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use roster_domain::identity::{Audience, EntraTenantId, IssuerUrl};
    use serde_json::json;

    use super::*;

    fn jwt(payload: &Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        format!("{header}.{}.c2ln", URL_SAFE_NO_PAD.encode(payload.to_string()))
    }

    fn settings(tenant: Option<&str>) -> OidcSettings {
        OidcSettings {
            issuer: IssuerUrl::parse("https://issuer.example").unwrap(),
            audience: Audience::parse("roster").unwrap(),
            entra_tenant: tenant.map(|tenant| EntraTenantId::parse(tenant).unwrap()),
            just_in_time: false,
        }
    }

    fn claims(value: Value) -> Claims {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn claims_are_read_only_from_jwt_shaped_text() {
        let token = jwt(&json!({"iss": "https://issuer.example"}));
        assert_eq!(unverified_claims(&token).unwrap()["iss"], "https://issuer.example");
        let too_long = jwt(&json!({"iss": "x", "pad": "y".repeat(MAX_TOKEN_LENGTH)}));
        for junk in ["", "abc", "a.b", "a.b.c.d", "..", "e30.e30", "!!.e30.", "e30.W10.", &too_long] {
            assert!(unverified_claims(junk).is_none(), "{junk:?}");
        }
        assert!(unverified_claims("e30.e30.").is_some(), "an empty signature still has the form");
    }

    #[test]
    fn oid_is_preferred_over_sub_and_odd_claims_are_left_out() {
        let claims = claims(json!({
            "iss": "https://issuer.example", "sub": "pairwise", "oid": "object-id",
            "email": 7, "name": "Ada", "iat": 1_700_000_000.6
        }));
        let identity = identity(&claims, &settings(None)).unwrap();
        assert_eq!(identity.subject, "object-id");
        assert_eq!(identity.email, None);
        assert_eq!(identity.name.as_deref(), Some("Ada"));
        assert_eq!(identity.issued_at.unwrap().timestamp(), 1_700_000_000);
    }

    #[test]
    fn the_entra_tenant_is_compared_without_case() {
        let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        let upper = claims(json!({"iss": "https://issuer.example", "sub": "s", "tid": tenant.to_uppercase()}));
        assert!(identity(&upper, &settings(Some(tenant))).is_ok());
        let none = claims(json!({"iss": "https://issuer.example", "sub": "s"}));
        assert!(matches!(identity(&none, &settings(Some(tenant))), Err(CredentialRejected::Invalid(_))));
    }

    #[test]
    fn issuer_and_subject_must_be_strings() {
        let array = claims(json!({"iss": ["https://issuer.example"], "sub": "s"}));
        assert!(matches!(identity(&array, &settings(None)), Err(CredentialRejected::Invalid(_))));
        let numeric = claims(json!({"iss": "https://issuer.example", "sub": 5}));
        assert!(matches!(identity(&numeric, &settings(None)), Err(CredentialRejected::Invalid(_))));
    }
}
