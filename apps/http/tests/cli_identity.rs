//! `roster tenant set-oidc` as an operator runs it: the real binary against the database a
//! running `roster serve` uses, which then shows the settings on `GET /v1/settings/oidc`; and
//! the values and tenants it refuses, with a message and a failing exit status.

use std::path::Path;
use std::process::Output;

mod common;

use common::{Server, roster, run, serve};
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;
use serde_json::{Value, json};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Creates the tenant `default` with the administrator `admin@example.com`; their token.
fn create_tenant(dir: &Path, url: Option<&str>) -> String {
    let created =
        run(roster(dir, url).args(["tenant", "create", "--name", "default", "--admin-email", "admin@example.com"]));
    assert!(created.status.success(), "{created:?}");
    text(&created.stdout).trim().to_owned()
}

/// `roster tenant set-oidc ARGS`.
fn set_oidc(dir: &Path, url: Option<&str>, args: &[&str]) -> Output {
    run(roster(dir, url).args(["tenant", "set-oidc"]).args(args))
}

/// `GET /v1/settings/oidc` with `token`: status and body.
async fn oidc_settings(server: &Server, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/settings/oidc", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn set_oidc_stores_what_the_api_then_shows_and_clear_removes_it(db: TestDatabase) {
    let dir = tempfile::tempdir().unwrap();
    let url = Some(db.url.as_str());
    let token = create_tenant(dir.path(), url);
    let server = serve(dir.path(), url);
    assert_eq!(oidc_settings(&server, &token).await.0, 404);

    let args = ["--tenant", "default", "--issuer", "https://idp.example.com/acme", "--audience", "api://roster"];
    let set = set_oidc(dir.path(), url, &[&args[..], &["--just-in-time"]].concat());

    assert!(set.status.success(), "{set:?}");
    assert_eq!(text(&set.stdout), "issuer=https://idp.example.com/acme\naudience=api://roster\njust_in_time=true\n");
    assert!(text(&set.stderr).contains("tenant default now trusts"), "{set:?}");
    let expected =
        json!({ "issuer": "https://idp.example.com/acme", "audience": "api://roster", "just_in_time": true });
    assert_eq!(oidc_settings(&server, &token).await, (200, expected));

    let guid = "0b5e7c1a-3f2d-4e8b-9a6c-1d2e3f4a5b6c";
    let entra = set_oidc(dir.path(), url, &["--tenant", "default", "--entra-tenant-id", guid, "--audience", "roster"]);
    assert!(entra.status.success(), "{entra:?}");
    let issuer = format!("https://login.microsoftonline.com/{guid}/v2.0");
    assert!(text(&entra.stdout).contains(&format!("issuer={issuer}\n")), "{entra:?}");
    let expected = json!({ "issuer": issuer, "audience": "roster", "entra_tenant_id": guid, "just_in_time": false });
    assert_eq!(oidc_settings(&server, &token).await, (200, expected));

    let cleared = set_oidc(dir.path(), url, &["--tenant", "default", "--clear"]);

    assert!(cleared.status.success(), "{cleared:?}");
    assert!(text(&cleared.stderr).contains("trusts no OpenID Connect issuer"), "{cleared:?}");
    let (status, body) = oidc_settings(&server, &token).await;
    assert_eq!((status, &body["code"]), (404, &json!("oidc_not_configured")), "{body}");
    let audit = reqwest::Client::new()
        .get(format!("{}/v1/audit?action=tenant.oidc_changed", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let trail: Value = audit.json().await.unwrap();
    let actors: Vec<&Value> = trail["items"].as_array().unwrap().iter().map(|e| &e["actor"]["type"]).collect();
    assert_eq!(actors, ["system", "system", "system"], "the operator's three changes: {trail}");
}

#[tokio::test]
async fn set_oidc_refuses_an_invalid_issuer_an_unknown_tenant_and_missing_values() {
    let dir = tempfile::tempdir().unwrap();
    let token = create_tenant(dir.path(), None);
    let good = ["--tenant", "default", "--issuer", "https://idp.example.com", "--audience", "roster"];
    assert!(set_oidc(dir.path(), None, &good).status.success());

    let insecure =
        set_oidc(dir.path(), None, &["--tenant", "default", "--issuer", "http://example.com", "--audience", "r"]);
    assert_eq!(insecure.status.code(), Some(1), "{insecure:?}");
    assert!(text(&insecure.stderr).contains("https://"), "the rule is told: {insecure:?}");

    let ghost =
        set_oidc(dir.path(), None, &["--tenant", "ghost", "--issuer", "https://idp.example.com", "--audience", "r"]);
    assert_eq!(ghost.status.code(), Some(1), "{ghost:?}");
    assert!(text(&ghost.stderr).contains("no tenant named ghost"), "{ghost:?}");

    let bad_guid = set_oidc(dir.path(), None, &["--tenant", "default", "--entra-tenant-id", "nope", "--audience", "r"]);
    assert_eq!(bad_guid.status.code(), Some(1), "{bad_guid:?}");
    assert!(!text(&bad_guid.stderr).trim().is_empty(), "{bad_guid:?}");

    let no_issuer = set_oidc(dir.path(), None, &["--tenant", "default", "--audience", "roster"]);
    assert!(!no_issuer.status.success(), "{no_issuer:?}");
    assert!(text(&no_issuer.stderr).contains("--issuer"), "{no_issuer:?}");
    let both = set_oidc(dir.path(), None, &["--tenant", "default", "--clear", "--issuer", "https://idp.example.com"]);
    assert!(!both.status.success(), "{both:?}");
    assert!(text(&both.stderr).contains("--clear"), "{both:?}");

    let server = serve(dir.path(), None);
    let (status, body) = oidc_settings(&server, &token).await;
    assert_eq!((status, &body["issuer"]), (200, &json!("https://idp.example.com")), "nothing refused was stored");
}

on_both_databases!(set_oidc_stores_what_the_api_then_shows_and_clear_removes_it);
