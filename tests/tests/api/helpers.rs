//! `spawn_app` and a small client for the API; `spawn_mailing_app` for an instance that mails
//! through a test SMTP server and runs on a clock the test moves; budgets and metering in
//! [`metering`]; CSV import and export in [`transfer`].

use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SubsecRound as _, TimeDelta, Utc};
use reqwest::{Method, StatusCode};
use roster_domain::ports::{Clock, SystemClock};
use roster_domain::{Email, TenantName, Timestamp, TokenLabel};
use roster_email::testing::{ReceivedMessage, TestSmtpServer};
use roster_http::settings::SmtpTlsMode;
use roster_http::{Application, Settings};
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

mod identity;
mod metering;
mod transfer;

pub use self::identity::{AUDIENCE, epoch_now, sign_in_link, spawn_oidc_app, spawn_oidc_app_with};
pub use self::metering::{budget_totals, event, exceeded, policy, spawn_clocked_app, spent, statuses};
pub use self::transfer::{counts, csv_records, export_table, layout, member, plain, problem, report, with};

/// A running application and the first administrator's token.
pub struct TestApp {
    pub base: String,
    pub admin_token: String,
    pub admin_id: String,
    pub client: reqwest::Client,
    pub app_state: roster_http::state::AppState,
}

/// A response: status, content type and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Asserts the status and, for an error, that it is a problem with `code`.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.content_type, "application/problem+json", "{self:?}");
        assert_eq!(self.body["code"], code, "{self:?}");
        assert_eq!(self.body["status"], status, "{self:?}");
    }

    /// Asserts the status and returns the body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        &self.body
    }
}

/// Starts the application on `db` and returns once it serves.
pub async fn spawn_app(db: &TestDatabase) -> TestApp {
    spawn_app_with(&Settings::for_database(&db.url), Arc::new(SystemClock)).await
}

/// Starts the application with `settings` (on an empty database) and `clock`.
pub async fn spawn_app_with(settings: &Settings, clock: Arc<dyn Clock>) -> TestApp {
    let app = Application::build_with_clock(settings, clock).await.expect("application starts");
    let created = app.bootstrap().expect("an empty database gets a first tenant");
    let admin_token = created.token.expose().to_owned();
    let admin_id = created.admin.id.to_string();
    let base = format!("http://{}", app.address());
    let app_state = app.state().clone();
    tokio::spawn(app.run_until_stopped());
    TestApp { base, admin_token, admin_id, client: reqwest::Client::new(), app_state }
}

impl TestApp {
    /// Sends a request with `token` and an optional JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(token), Some(body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Creates a user as the administrator and returns its JSON.
    pub async fn create_user(&self, email: &str, role: &str) -> Value {
        self.post("/v1/users", &self.admin_token, json!({ "email": email, "role": role })).await.expect(201).clone()
    }

    /// Creates a user with `role` and returns its id and an API token of theirs.
    pub async fn user_with_token(&self, email: &str, role: &str) -> (String, String) {
        let user = self.create_user(email, role).await;
        (user["id"].as_str().unwrap().to_owned(), self.token_for(email).await)
    }

    /// Creates a license kind as the administrator and returns its id.
    pub async fn create_license(&self, name: &str, seats: u64) -> String {
        let created = self.post("/v1/licenses", &self.admin_token, json!({ "name": name, "seats": seats })).await;
        created.expect(201)["id"].as_str().unwrap().to_owned()
    }

    /// The license kind `id` as the administrator reads it.
    pub async fn license(&self, id: &str) -> Value {
        self.get(&format!("/v1/licenses/{id}"), &self.admin_token).await.expect(200).clone()
    }

    /// Gives the user `user` a seat of the kind `kind`, as the administrator.
    pub async fn assign(&self, user: &str, kind: &str) -> Reply {
        self.put(&format!("/v1/users/{user}/license"), &self.admin_token, json!({ "kind": kind })).await
    }

    /// The user `id` as the administrator reads it.
    pub async fn user(&self, id: &str) -> Value {
        self.get(&format!("/v1/users/{id}"), &self.admin_token).await.expect(200).clone()
    }

    /// Starts a second instance of the application on the same database, as a second replica
    /// behind a load balancer would be: it creates no tenant, and this instance's tokens work on
    /// it.
    pub async fn another_instance(&self, db: &TestDatabase) -> TestApp {
        self.another_instance_with(&Settings::for_database(&db.url)).await
    }

    /// As [`another_instance`](Self::another_instance), configured with `settings` (whose
    /// database is this instance's).
    pub async fn another_instance_with(&self, settings: &Settings) -> TestApp {
        let app = Application::build(settings).await.expect("second instance starts");
        assert!(app.bootstrap().is_none(), "a database with a tenant is not bootstrapped again");
        let base = format!("http://{}", app.address());
        let app_state = app.state().clone();
        tokio::spawn(app.run_until_stopped());
        TestApp {
            base,
            admin_token: self.admin_token.clone(),
            admin_id: self.admin_id.clone(),
            client: reqwest::Client::new(),
            app_state,
        }
    }

    /// Issues a token for `email` of the default tenant, as the operator's CLI does.
    pub async fn token_for(&self, email: &str) -> String {
        let tenant = TenantName::parse("default").unwrap();
        let label = TokenLabel::parse("e2e").unwrap();
        let secret =
            self.app_state.tokens.issue(&tenant, &Email::parse(email).unwrap(), &label).await.expect("token issued");
        secret.expose().to_owned()
    }
}

/// Reads a response into a [`Reply`].
pub async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = response.text().await.expect("body read");
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Reply { status, content_type, headers, body }
}

/// The `id` of a JSON body.
pub fn id_of(body: &Value) -> String {
    body["id"].as_str().unwrap_or_else(|| panic!("no id in {body}")).to_owned()
}

/// A clock the test moves: it starts at the real time and advances only when told.
#[derive(Debug)]
pub struct TestClock(Mutex<Timestamp>);

impl TestClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Utc::now().trunc_subsecs(6))))
    }

    pub fn advance(&self, by: TimeDelta) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// Settings for an instance on `db` that mails through an SMTP server at 127.0.0.1 and
/// `smtp_port`, in plain text.
pub fn smtp_settings(db: &TestDatabase, smtp_port: u16) -> Settings {
    let mut settings = Settings::for_database(&db.url);
    settings.email.smtp_host = Some("127.0.0.1".to_owned());
    settings.email.smtp_port = Some(smtp_port);
    settings.email.smtp_tls = SmtpTlsMode::None;
    settings.email.email_from = "Roster <roster@example.com>".to_owned();
    settings
}

/// How long a mail may take to arrive, and how long the test waits to be sure none comes.
pub const MAIL_ARRIVES_WITHIN: Duration = Duration::from_secs(10);
pub const NO_MAIL_WITHIN: Duration = Duration::from_millis(500);

/// An instance that mails through its own test SMTP server and runs on a test clock.
pub struct MailingApp {
    pub app: TestApp,
    pub smtp: TestSmtpServer,
    pub clock: Arc<TestClock>,
}

impl Deref for MailingApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// Starts the application on `db`, mailing through a fresh test SMTP server, on a test clock.
pub async fn spawn_mailing_app(db: &TestDatabase) -> MailingApp {
    let smtp = TestSmtpServer::start();
    let clock = TestClock::new();
    let app = spawn_app_with(&smtp_settings(db, smtp.port()), clock.clone()).await;
    MailingApp { app, smtp, clock }
}

impl MailingApp {
    /// The accept link of the next mail the SMTP server receives.
    pub async fn mailed_link(&self) -> String {
        let message = self.smtp.next_message(MAIL_ARRIVES_WITHIN).await.expect("an invitation mail arrives");
        accept_link(&message)
    }

    /// Asserts that no mail arrives within a short wait.
    pub async fn expect_no_mail(&self) {
        let message = self.smtp.next_message(NO_MAIL_WITHIN).await;
        assert!(message.is_none(), "no mail was expected: {message:?}");
    }

    /// Invites `email` (with the other fields of `extra`) as the administrator, expects 201,
    /// and returns the user and the link mailed to them.
    pub async fn invite_and_read_link(&self, email: &str, extra: Value) -> (Value, String) {
        let mut body = json!({ "email": email });
        body.as_object_mut().unwrap().extend(extra.as_object().cloned().unwrap_or_default());
        let user = self.invite(&self.admin_token, body).await.expect(201).clone();
        (user, self.mailed_link().await)
    }
}

impl TestApp {
    /// `POST /v1/invitations` with `token`.
    pub async fn invite(&self, token: &str, body: Value) -> Reply {
        self.post("/v1/invitations", token, body).await
    }

    /// `POST /v1/users/{id}/invitation` (reinvite) as the administrator.
    pub async fn reinvite(&self, id: &str) -> Reply {
        self.call(Method::POST, &format!("/v1/users/{id}/invitation"), Some(&self.admin_token), None).await
    }

    /// `POST /v1/invitations/accept` (public) with the token of `link` and `name`, if any.
    pub async fn accept(&self, link: &str, name: Option<&str>) -> Reply {
        self.accept_token(token_of(link), name).await
    }

    /// `POST /v1/invitations/accept` (public) with `token` and `name`, if any.
    pub async fn accept_token(&self, token: &str, name: Option<&str>) -> Reply {
        let body = match name {
            Some(name) => json!({ "token": token, "name": name }),
            None => json!({ "token": token }),
        };
        self.call(Method::POST, "/v1/invitations/accept", None, Some(body)).await
    }
}

/// The accept link (`http...://.../invitations/accept?token=inv_...`) in a received mail's text.
pub fn accept_link(message: &ReceivedMessage) -> String {
    let data = &message.data;
    let path = data.find("/invitations/accept?token=").unwrap_or_else(|| panic!("no accept link in {data}"));
    let start = data[..path].rfind("http").unwrap_or_else(|| panic!("no absolute accept link in {data}"));
    let end = data[start..].find(|c: char| c.is_whitespace() || c == '"' || c == '<').map_or(data.len(), |i| start + i);
    data[start..end].to_owned()
}

/// The token of an accept link.
pub fn token_of(link: &str) -> &str {
    link.split_once("?token=").unwrap_or_else(|| panic!("no token in {link}")).1
}

/// The headers of a page whose address carries a link's secret: not cached, not sent on as a
/// referrer, not framed, running nothing but its own script against this API.
pub fn assert_secret_page_headers(headers: &reqwest::header::HeaderMap) {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("cache-control"), "no-store", "{headers:?}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{headers:?}");
    assert_eq!(header("x-frame-options"), "DENY", "{headers:?}");
    let policy = header("content-security-policy");
    for directive in ["default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(policy.contains(directive), "{directive} in {policy:?}");
    }
}
