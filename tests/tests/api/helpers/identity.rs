//! Signing in: magic links read from the test SMTP server, TOTP codes computed on the test
//! clock; and an instance whose tenant trusts a real OpenID Connect issuer ([`TestIssuer`]).

use std::ops::Deref;
use std::sync::Arc;

use reqwest::Method;
use roster_domain::ports::{Clock as _, SystemClock};
use roster_domain::session::TotpSecret;
use roster_email::testing::ReceivedMessage;
use roster_http::Settings;
use roster_identity::testing::TestIssuer;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use super::{MAIL_ARRIVES_WITHIN, MailingApp, Reply, TestApp, spawn_app_with};

/// The audience the tenant's OIDC settings name: Roster's client id at the test issuer.
pub const AUDIENCE: &str = "api://roster";

impl TestApp {
    /// `POST /v1/auth/magic-link` (public) for `email` of `tenant`.
    pub async fn request_link(&self, tenant: &str, email: &str) -> Reply {
        self.call(Method::POST, "/v1/auth/magic-link", None, Some(json!({ "tenant": tenant, "email": email }))).await
    }

    /// `POST /v1/auth/magic-link/verify` (public) with the link's `token` and a TOTP `code`.
    pub async fn verify_link(&self, token: &str, code: Option<&str>) -> Reply {
        let body = match code {
            Some(code) => json!({ "token": token, "code": code }),
            None => json!({ "token": token }),
        };
        self.call(Method::POST, "/v1/auth/magic-link/verify", None, Some(body)).await
    }

    /// Starts a TOTP enrollment with `token` (expecting 201): the secret the app would show.
    pub async fn begin_totp(&self, token: &str) -> TotpSecret {
        let started = self.call(Method::POST, "/v1/me/mfa/totp", Some(token), None).await;
        let secret = started.expect(201)["secret"].as_str().unwrap().to_owned();
        TotpSecret::from_base32(&secret).unwrap_or_else(|| panic!("not a base32 secret: {started:?}"))
    }

    /// `POST /v1/me/mfa/totp/confirm` with `token` and `code`.
    pub async fn confirm_totp(&self, token: &str, code: &str) -> Reply {
        self.post("/v1/me/mfa/totp/confirm", token, json!({ "code": code })).await
    }

    /// The actions of the audit events about `target` (newest first), as the administrator
    /// reads them.
    pub async fn audited(&self, target: &str) -> Vec<String> {
        let trail = self.get(&format!("/v1/audit?target={target}"), &self.admin_token).await.expect(200).clone();
        trail["items"].as_array().unwrap().iter().map(|event| event["action"].as_str().unwrap().to_owned()).collect()
    }
}

impl MailingApp {
    /// Asks for a sign-in link for `email` of the tenant `default` (expecting 202) and returns
    /// the token of the link mailed to them.
    pub async fn link_for(&self, email: &str) -> String {
        self.request_link("default", email).await.expect(202);
        self.mailed_sign_in_token(email).await
    }

    /// The token (`rml_...`) of the sign-in link in the next mail, which must be to `email`.
    pub async fn mailed_sign_in_token(&self, email: &str) -> String {
        let message = self.smtp.next_message(MAIL_ARRIVES_WITHIN).await.expect("a sign-in mail arrives");
        assert_eq!(message.to, [email], "{message:?}");
        let link = sign_in_link(&message);
        assert!(link.starts_with(&format!("{}/sign-in?token=rml_", self.base)), "{link}");
        link.split_once("?token=").unwrap().1.to_owned()
    }

    /// Signs `email` (without MFA) in through a mailed link: the session's JSON (`token`,
    /// `session`, ...).
    pub async fn sign_in(&self, email: &str) -> Value {
        let link = self.link_for(email).await;
        self.verify_link(&link, None).await.expect(201).clone()
    }

    /// Enrolls the bearer of `token` in TOTP (start, then confirm with the current code): the
    /// secret their authenticator holds.
    pub async fn enroll(&self, token: &str) -> TotpSecret {
        let secret = self.begin_totp(token).await;
        let confirmed = self.confirm_totp(token, &self.code(&secret)).await;
        assert_eq!(confirmed.status, 204, "{confirmed:?}");
        secret
    }

    /// The test clock's time.
    pub fn now(&self) -> roster_domain::Timestamp {
        self.clock.now()
    }

    /// The code `secret`'s authenticator shows now, by the test clock.
    pub fn code(&self, secret: &TotpSecret) -> String {
        secret.code_at(self.clock.now())
    }

    /// A code that is none of those `secret` accepts now (one 30 s step of skew either way).
    pub fn wrong_code(&self, secret: &TotpSecret) -> String {
        let now = self.clock.now();
        let step = chrono::TimeDelta::seconds(30);
        let valid = [secret.code_at(now - step), secret.code_at(now), secret.code_at(now + step)];
        (0..1_000_000_u32)
            .map(|n| format!("{n:06}"))
            .find(|code| !valid.contains(code))
            .expect("a million codes are not all valid")
    }
}

/// The sign-in link (`http...://.../sign-in?token=rml_...`) in a received mail's text.
pub fn sign_in_link(message: &ReceivedMessage) -> String {
    let data = &message.data;
    let path = data.find("/sign-in?token=").unwrap_or_else(|| panic!("no sign-in link in {data}"));
    let start = data[..path].rfind("http").unwrap_or_else(|| panic!("no absolute sign-in link in {data}"));
    let end = data[start..].find(|c: char| c.is_whitespace() || c == '"' || c == '<').map_or(data.len(), |i| start + i);
    data[start..end].to_owned()
}

/// An instance whose tenant `default` trusts a running [`TestIssuer`] for [`AUDIENCE`].
pub struct OidcApp {
    pub app: TestApp,
    pub issuer: TestIssuer,
}

impl Deref for OidcApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// Starts a test issuer and the application on `db`, and has the administrator trust the issuer
/// through `PUT /v1/settings/oidc`.
pub async fn spawn_oidc_app(db: &TestDatabase) -> OidcApp {
    spawn_oidc_app_with(&Settings::for_database(&db.url), json!({})).await
}

/// As [`spawn_oidc_app`], with `settings` (allowing private networks: the issuer is on
/// loopback), and the fields of `extra` added to the PUT body (e.g. `{"just_in_time": true}`).
pub async fn spawn_oidc_app_with(settings: &Settings, extra: Value) -> OidcApp {
    let issuer = TestIssuer::start().await;
    let settings = Settings { oidc_allow_private_networks: true, ..settings.clone() };
    let app = spawn_app_with(&settings, Arc::new(SystemClock)).await;
    let mut body = json!({ "issuer": issuer.issuer(), "audience": AUDIENCE });
    body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
    app.put("/v1/settings/oidc", &app.admin_token, body).await.expect(200);
    OidcApp { app, issuer }
}

impl OidcApp {
    /// Typical claims of a token for [`AUDIENCE`] about `subject` with `email`, valid now.
    pub fn claims(&self, subject: &str, email: &str) -> Value {
        self.issuer.claims(AUDIENCE, subject, email)
    }

    /// An RS256 token of the issuer about `subject` with `email`.
    pub fn id_token(&self, subject: &str, email: &str) -> String {
        self.issuer.token(self.claims(subject, email))
    }

    /// `claims` with the fields of `changes` replaced (a `null` removes the field).
    pub fn claims_with(&self, subject: &str, email: &str, changes: Value) -> Value {
        let mut claims = self.claims(subject, email);
        let fields = claims.as_object_mut().unwrap();
        for (name, value) in changes.as_object().cloned().unwrap_or_default() {
            if value.is_null() {
                fields.remove(&name);
            } else {
                fields.insert(name, value);
            }
        }
        claims
    }
}

/// Seconds since the epoch, as a JWT's NumericDate.
pub fn epoch_now() -> i64 {
    chrono::Utc::now().timestamp()
}
