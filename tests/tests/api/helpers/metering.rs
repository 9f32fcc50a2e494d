//! Helpers for budgets and metering: service credentials, licensed users with budgets, the
//! gateway's calls (reserve, commit, release, events), another tenant, and budget readings.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDate, TimeDelta};
use roster_domain::ports::Clock as _;
use roster_domain::{Email, TenantName};
use roster_http::Settings;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

use super::{Reply, TestApp, TestClock, id_of, spawn_app_with};

/// A budget policy as `PUT /v1/users/{id}/budget` takes it: `limit` credits per `period`, hard.
pub fn policy(limit: i64, period: &str) -> Value {
    json!({ "limit": limit, "period": period })
}

/// A usage event of `credits` for `user` under `key`, with `metrics`, now.
pub fn event(key: &str, user: &str, credits: i64, metrics: Value) -> Value {
    json!({ "idempotency_key": key, "user": user, "credits": credits, "metrics": metrics })
}

/// How many replies had each status.
pub fn statuses(replies: &[Reply]) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for reply in replies {
        *counts.entry(reply.status.as_u16()).or_default() += 1;
    }
    counts
}

/// An instance on a test clock, and the clock.
pub async fn spawn_clocked_app(db: &TestDatabase) -> (TestApp, Arc<TestClock>) {
    let clock = TestClock::new();
    (spawn_app_with(&Settings::for_database(&db.url), clock.clone()).await, clock)
}

/// `consumed`, `reserved` and `remaining` of a budget body.
pub fn spent(budget: &Value) -> [i64; 3] {
    ["consumed", "reserved", "remaining"].map(|field| budget[field].as_i64().unwrap_or_else(|| panic!("{budget}")))
}

/// `limit`, `consumed` and `reserved` of a `budget_exceeded` problem.
pub fn exceeded(problem: &Value) -> [i64; 3] {
    ["limit", "consumed", "reserved"].map(|field| problem[field].as_i64().unwrap_or_else(|| panic!("{problem}")))
}

/// The `budgets` of `/v1/metrics`.
pub async fn budget_totals(app: &TestApp) -> Value {
    app.get("/v1/metrics", &app.admin_token).await.expect(200)["budgets"].clone()
}

impl TestApp {
    /// Issues a service credential with `scopes` as the administrator and returns its secret.
    pub async fn service_key(&self, scopes: &[&str]) -> String {
        let body = json!({ "name": format!("gateway {}", scopes.join(" ")), "scopes": scopes });
        let issued = self.post("/v1/service-credentials", &self.admin_token, body).await;
        let secret = issued.expect(201)["secret"].as_str().unwrap_or_else(|| panic!("no secret: {issued:?}"));
        assert!(secret.starts_with("rsk_"), "{secret}");
        secret.to_owned()
    }

    /// Creates an active user holding a seat of a kind of their own (named after them), and
    /// returns their id.
    pub async fn licensed_user(&self, email: &str) -> String {
        let id = id_of(&self.create_user(email, "user").await);
        let kind = self.create_license(&format!("Seat of {email}"), 1).await;
        self.assign(&id, &kind).await.expect(200);
        id
    }

    /// As [`licensed_user`](Self::licensed_user), with the budget `policy` (see [`policy`]).
    pub async fn licensed_user_with_budget(&self, email: &str, policy: Value) -> String {
        let id = self.licensed_user(email).await;
        self.set_budget(&id, policy).await.expect(200);
        id
    }

    /// `PUT /v1/users/{id}/budget` as the administrator.
    pub async fn set_budget(&self, id: &str, policy: Value) -> Reply {
        self.put(&format!("/v1/users/{id}/budget"), &self.admin_token, policy).await
    }

    /// The budget of the user `id` as the administrator reads it (`Value::Null`: none).
    pub async fn budget(&self, id: &str) -> Value {
        let reply = self.get(&format!("/v1/users/{id}/budget"), &self.admin_token).await;
        if reply.status == 404 && reply.body["code"] == "no_budget" {
            return Value::Null;
        }
        reply.expect(200).clone()
    }

    /// `GET /v1/users/{id}/usage?from&to` (UTC days) as the administrator: the `usage` object.
    pub async fn usage(&self, id: &str, from: NaiveDate, to: NaiveDate) -> Value {
        let report = self.get(&format!("/v1/users/{id}/usage?from={from}&to={to}"), &self.admin_token).await;
        let span = [&report.expect(200)["from"], &report.body["to"]];
        assert_eq!(span, [&json!(from.to_string()), &json!(to.to_string())], "{report:?}");
        report.body["usage"].clone()
    }

    /// `POST /v1/usage/reservations` with the service secret `gateway`: `credits` for `user`
    /// under the idempotency key `key`.
    pub async fn reserve(&self, gateway: &str, user: &str, credits: i64, key: &str) -> Reply {
        let body = json!({ "user": user, "credits": credits, "idempotency_key": key });
        self.post("/v1/usage/reservations", gateway, body).await
    }

    /// As [`reserve`](Self::reserve), holding the credits for `ttl_seconds`.
    pub async fn reserve_for(&self, gateway: &str, user: &str, credits: i64, key: &str, ttl_seconds: u32) -> Reply {
        let body = json!({ "user": user, "credits": credits, "idempotency_key": key, "ttl_seconds": ttl_seconds });
        self.post("/v1/usage/reservations", gateway, body).await
    }

    /// `POST /v1/usage/reservations/{id}/commit` with `gateway`: `credits` used, and `metrics`.
    pub async fn commit(&self, gateway: &str, reservation: &str, credits: i64, metrics: Value) -> Reply {
        let body = json!({ "credits": credits, "metrics": metrics });
        self.post(&format!("/v1/usage/reservations/{reservation}/commit"), gateway, body).await
    }

    /// `DELETE /v1/usage/reservations/{id}` with `gateway`.
    pub async fn release(&self, gateway: &str, reservation: &str) -> Reply {
        self.delete(&format!("/v1/usage/reservations/{reservation}"), gateway).await
    }

    /// `POST /v1/usage/events` with `gateway`.
    pub async fn record(&self, gateway: &str, events: Vec<Value>) -> Reply {
        self.post("/v1/usage/events", gateway, json!({ "events": events })).await
    }

    /// Creates the tenant `name` (as the operator's CLI does) with the administrator
    /// `admin_email`, and returns this instance as that administrator sees it.
    pub async fn another_tenant(&self, name: &str, admin_email: &str) -> TestApp {
        let tenants = &self.app_state.tenants;
        let created = tenants
            .create(TenantName::parse(name).unwrap(), Email::parse(admin_email).unwrap())
            .await
            .expect("tenant created");
        TestApp {
            base: self.base.clone(),
            admin_token: created.token.expose().to_owned(),
            admin_id: created.admin.id.to_string(),
            client: self.client.clone(),
            app_state: self.app_state.clone(),
        }
    }

    /// `PUT /v1/users/{id}/budget` with `token`.
    pub async fn set_budget_as(&self, token: &str, id: &str, policy: Value) -> Reply {
        self.put(&format!("/v1/users/{id}/budget"), token, policy).await
    }
}

impl TestClock {
    /// Moves the clock to `by` past the next midnight UTC, and returns the new day.
    pub fn advance_past_midnight(&self, by: TimeDelta) -> NaiveDate {
        let now = self.now();
        let next = now.date_naive().succ_opt().expect("a next day").and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        self.advance(next - now + by);
        self.now().date_naive()
    }
}
