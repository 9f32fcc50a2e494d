//! `spawn_app` and a small client for the API.

use reqwest::{Method, StatusCode};
use roster_domain::{Email, TenantName, TokenLabel};
use roster_http::{Application, Settings};
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

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
    let app = Application::build(&Settings::for_database(&db.url)).await.expect("application starts");
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
        let app = Application::build(&Settings::for_database(&db.url)).await.expect("second instance starts");
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
