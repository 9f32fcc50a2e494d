//! `last_active_at`: authenticated use shows up after the next flush, and is no edit of the
//! user. (The server's stop writing the last notes: `apps/http/tests/cli.rs`.)

use std::sync::Arc;
use std::time::Duration;

use roster_domain::ports::SystemClock;
use roster_http::Settings;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_app_with};

/// Polls `user` (as the administrator) until `last_active_at` is set, for at most 10 s.
async fn last_active_at(app: &TestApp, user: &str) -> Value {
    for _ in 0..100 {
        let seen = app.user(user).await["last_active_at"].clone();
        if !seen.is_null() {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Value::Null
}

async fn authenticated_use_sets_last_active_at_at_the_next_flush(db: TestDatabase) {
    let settings = Settings { activity_flush_seconds: 1, ..Settings::for_database(&db.url) };
    let app = spawn_app_with(&settings, Arc::new(SystemClock)).await;
    let (ada, ada_token) = app.user_with_token("ada@example.com", "user").await;
    let (bob, _) = app.user_with_token("bob@example.com", "user").await;
    let before = app.user(&ada).await;
    assert!(before["last_active_at"].is_null(), "never used yet");

    for _ in 0..20 {
        app.get("/v1/me", &ada_token).await.expect(200);
    }
    let seen = last_active_at(&app, &ada).await;
    let seen = seen.as_str().unwrap_or_else(|| panic!("ada's use was never written"));
    let at = chrono::DateTime::parse_from_rfc3339(seen).unwrap();
    let age = chrono::Utc::now().signed_duration_since(at);
    assert!(age >= chrono::TimeDelta::zero() && age < chrono::TimeDelta::seconds(30), "{seen}");
    assert!(app.user(&bob).await["last_active_at"].is_null(), "bob did nothing");
    let after = app.user(&ada).await;
    assert_eq!(after["updated_at"], before["updated_at"], "activity is no edit of the user");
}

on_both_databases!(authenticated_use_sets_last_active_at_at_the_next_flush);
