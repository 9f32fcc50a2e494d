//! Built-in sign-in: single-use magic links, sessions, and TOTP multi-factor authentication.
//!
//! A magic link (`rml_...`) is mailed on request and works once, for [`MAGIC_LINK_TTL`]. Its
//! verification yields a session (`rss_...`, a bearer credential for [`SESSION_TTL`]). A user
//! with TOTP enrolled must add a code; a user whose MFA an administrator reset gets an
//! *enrolling* session, good only for enrolling again, for [`ENROLLMENT_TTL`].
//!
//! Only SHA-256 hashes of links and sessions are stored, as for API tokens.

use chrono::TimeDelta;

use crate::token::{is_secret, random_secret};
use crate::{Email, SessionId, TenantId, Timestamp, TokenHash, UserId};

/// How long a magic link works.
pub const MAGIC_LINK_TTL: TimeDelta = TimeDelta::minutes(15);
/// How long a session lasts.
pub const SESSION_TTL: TimeDelta = TimeDelta::hours(12);
/// How long an enrolling session lasts.
pub const ENROLLMENT_TTL: TimeDelta = TimeDelta::minutes(15);
/// Wrong codes that burn a magic link (the fifth wrong code is its last use).
pub const MAX_CODE_ATTEMPTS: u32 = 5;

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// A fresh secret from the operating system's random source.
            #[must_use]
            pub fn generate() -> Self {
                Self(random_secret($prefix))
            }

            /// Reads a presented secret; `None` when it cannot be one (no lookup needed).
            #[must_use]
            pub fn parse(presented: &str) -> Option<Self> {
                is_secret(presented, $prefix).then(|| Self(presented.to_owned()))
            }

            /// The secret, to hand to its owner.
            #[must_use]
            pub fn expose(&self) -> &str {
                &self.0
            }

            /// The hash under which it is stored and looked up.
            #[must_use]
            pub fn hash(&self) -> TokenHash {
                TokenHash::of(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }
    };
}

secret_type!(
    /// A session's bearer secret (`rss_` and 256 random bits).
    SessionSecret,
    "rss_"
);
secret_type!(
    /// A magic link's secret (`rml_` and 256 random bits).
    MagicLinkSecret,
    "rml_"
);

/// What a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// Everything the user's role allows.
    Active,
    /// Only enroll in MFA (the user's MFA was reset and they must set it up again); becomes
    /// [`SessionState::Active`] when the enrollment is confirmed.
    Enrolling,
}

impl SessionState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Enrolling => "enrolling",
        }
    }

    /// Reads a stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "enrolling" => Some(Self::Enrolling),
            _ => None,
        }
    }
}

/// How a session began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    /// A magic link (with a TOTP code when the user has MFA).
    MagicLink,
    /// Accepting an invitation.
    Invitation,
}

impl SignInMethod {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MagicLink => "magic_link",
            Self::Invitation => "invitation",
        }
    }

    /// Reads a stored name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "magic_link" => Some(Self::MagicLink),
            "invitation" => Some(Self::Invitation),
            _ => None,
        }
    }
}

/// A signed-in user's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its id (shown in the list; never the secret).
    pub id: SessionId,
    /// The tenant.
    pub tenant: TenantId,
    /// The user.
    pub user: UserId,
    /// Hash of the secret.
    pub hash: TokenHash,
    /// What it may do.
    pub state: SessionState,
    /// How it began.
    pub method: SignInMethod,
    /// Whether a TOTP code was given (or MFA enrolled) in this session.
    pub mfa: bool,
    /// When it began.
    pub created_at: Timestamp,
    /// When it ends.
    pub expires_at: Timestamp,
}

impl Session {
    /// A new session for `user`, with its secret (to hand over once).
    #[must_use]
    pub fn start(
        tenant: TenantId,
        user: UserId,
        state: SessionState,
        method: SignInMethod,
        mfa: bool,
        now: Timestamp,
    ) -> (Self, SessionSecret) {
        let secret = SessionSecret::generate();
        let ttl = match state {
            SessionState::Active => SESSION_TTL,
            SessionState::Enrolling => ENROLLMENT_TTL,
        };
        let session = Self {
            id: SessionId::new(),
            tenant,
            user,
            hash: secret.hash(),
            state,
            method,
            mfa,
            created_at: now,
            expires_at: now + ttl,
        };
        (session, secret)
    }
}

/// A mailed sign-in link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MagicLink {
    /// Hash of the secret.
    pub hash: TokenHash,
    /// The tenant.
    pub tenant: TenantId,
    /// The user it signs in.
    pub user: UserId,
    /// When it was requested.
    pub created_at: Timestamp,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// Wrong TOTP codes given with it so far.
    pub failed_attempts: u32,
}

impl MagicLink {
    /// A new link for `user`, with its secret (to mail).
    #[must_use]
    pub fn issue(tenant: TenantId, user: UserId, now: Timestamp) -> (Self, MagicLinkSecret) {
        let secret = MagicLinkSecret::generate();
        let link = Self {
            hash: secret.hash(),
            tenant,
            user,
            created_at: now,
            expires_at: now + MAGIC_LINK_TTL,
            failed_attempts: 0,
        };
        (link, secret)
    }
}

/// A TOTP shared secret: 160 random bits (RFC 4226's recommendation), SHA-1, 6 digits, 30 s
/// steps: what every authenticator app reads from an `otpauth://` URI.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

/// TOTP step length in seconds.
const STEP: u64 = 30;

impl TotpSecret {
    /// A fresh secret from the operating system's random source.
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = vec![0_u8; 20];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        Self(bytes)
    }

    /// A stored secret.
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// A secret given in base32 (as [`base32`](Self::base32) shows it), e.g. by a tool that
    /// computes codes; `None` when it is not base32 or shorter than 128 bits.
    #[must_use]
    pub fn from_base32(text: &str) -> Option<Self> {
        let secret = totp_rs::Secret::try_from_base32(text.trim()).ok()?;
        let bytes = secret.as_bytes().to_vec();
        (bytes.len() >= 16).then_some(Self(bytes))
    }

    /// The secret's bytes, to store.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, account: Option<(&str, &str)>) -> Option<totp_rs::Totp> {
        let mut builder = totp_rs::Builder::new().with_secret(self.0.clone()).with_skew(1).with_step_duration(STEP);
        if let Some((issuer, name)) = account {
            builder = builder.with_issuer(Some(issuer.replace(':', " "))).with_account_name(name.replace(':', " "));
        }
        builder.build().ok()
    }

    /// The secret in base32, for typing into an authenticator app by hand.
    #[must_use]
    pub fn base32(&self) -> String {
        self.totp(None).map(|totp| totp.secret().to_base32()).unwrap_or_default()
    }

    /// The `otpauth://totp/...` URI an authenticator app scans (as a QR code): labelled with
    /// `issuer` (e.g. "Roster (acme)") and the user's email.
    #[must_use]
    pub fn otpauth_uri(&self, issuer: &str, account: &Email) -> String {
        self.totp(Some((issuer, account.as_str()))).and_then(|totp| totp.to_url().ok()).unwrap_or_default()
    }

    /// The step (30 s window since the epoch) `code` is valid for at `now`, one step of clock
    /// skew either way, if it is later than `after` (a code works once: RFC 6238, 5.2).
    #[must_use]
    pub fn verify(&self, code: &str, now: Timestamp, after: Option<u64>) -> Option<u64> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let time = u64::try_from(now.timestamp()).ok()?;
        let step = self.totp(None)?.check(code, time)?;
        after.is_none_or(|used| step > used).then_some(step)
    }

    /// The code for `now` (what the user's app shows), for tests and tools.
    #[must_use]
    pub fn code_at(&self, now: Timestamp) -> String {
        let time = u64::try_from(now.timestamp()).unwrap_or_default();
        self.totp(None).map(|totp| totp.generate(time).to_string()).unwrap_or_default()
    }
}

/// A user's multi-factor state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mfa {
    /// The TOTP secret, confirmed or not.
    pub secret: Option<TotpSecret>,
    /// When the secret was confirmed with a code; until then it is not enforced.
    pub confirmed_at: Option<Timestamp>,
    /// Whether sign-in needs MFA: set at the first confirmed enrollment, kept by a reset (so
    /// the next sign-in must enroll again).
    pub required: bool,
    /// The last TOTP step accepted with the secret (a code works once); a reset forgets it.
    pub last_step: Option<u64>,
}

impl Mfa {
    /// Whether a confirmed TOTP secret guards sign-in.
    #[must_use]
    pub fn enrolled(&self) -> bool {
        self.secret.is_some() && self.confirmed_at.is_some()
    }

    /// The confirmed secret.
    #[must_use]
    pub fn confirmed_secret(&self) -> Option<&TotpSecret> {
        self.confirmed_at.and(self.secret.as_ref())
    }

    /// Whether sign-in must enroll before anything else.
    #[must_use]
    pub fn must_enroll(&self) -> bool {
        self.required && !self.enrolled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn secrets_parse_only_with_their_prefix() {
        let session = SessionSecret::generate();
        assert!(session.expose().starts_with("rss_"));
        assert_eq!(SessionSecret::parse(session.expose()), Some(session.clone()));
        assert_eq!(MagicLinkSecret::parse(session.expose()), None);
        assert!(!format!("{session:?}").contains(&session.expose()[4..]));
    }

    #[test]
    fn a_code_works_once_within_a_step_of_skew() {
        let secret = TotpSecret::generate();
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 10).unwrap();
        let code = secret.code_at(now);
        let step = secret.verify(&code, now, None).unwrap();
        assert_eq!(step, 1_795_424_410 / 30);
        assert_eq!(secret.verify(&code, now, Some(step)), None, "replayed");
        assert_eq!(secret.verify(&code, now + TimeDelta::seconds(30), None), Some(step), "one step late");
        assert_eq!(secret.verify(&code, now + TimeDelta::seconds(90), None), None, "too late");
        assert_eq!(secret.verify("12345", now, None), None);
        assert_eq!(secret.verify("abcdef", now, None), None);
    }

    #[test]
    fn the_otpauth_uri_names_issuer_and_account() {
        let secret = TotpSecret::generate();
        let uri = secret.otpauth_uri("Roster (acme)", &Email::parse("ada@example.com").unwrap());
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&format!("secret={}", secret.base32())), "{uri}");
        assert_eq!(TotpSecret::from_base32(&secret.base32()), Some(secret.clone()));
        assert_eq!(TotpSecret::from_base32("not base32!"), None);
        assert!(uri.contains("ada%40example.com") || uri.contains("ada@example.com"), "{uri}");
    }

    #[test]
    fn a_reset_keeps_mfa_required() {
        let enrolled = Mfa {
            secret: Some(TotpSecret::generate()),
            confirmed_at: Some(chrono::Utc::now()),
            required: true,
            last_step: None,
        };
        assert!(enrolled.enrolled() && !enrolled.must_enroll());
        let reset = Mfa { secret: None, confirmed_at: None, ..enrolled };
        assert!(reset.must_enroll());
        assert!(!Mfa::default().must_enroll());
    }
}
