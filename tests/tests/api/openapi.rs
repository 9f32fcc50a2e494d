//! The OpenAPI document, the docs UI and the probes.

use reqwest::Method;
use roster_storage::on_both_databases;
use roster_storage::testing::TestDatabase;

use serde_json::{Value, json};

use crate::helpers::{event, spawn_app};

async fn the_spec_declares_every_operation_and_every_status_it_can_answer(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let spec = app.call(Method::GET, "/openapi.json", None, None).await.expect(200).clone();
    let operations = [
        ("/v1/users", "get", &["200", "400", "401", "403", "422", "500"][..]),
        ("/v1/users", "post", &["201", "400", "401", "403", "409", "413", "415", "422", "500"]),
        ("/v1/users/{id}", "get", &["200", "400", "401", "403", "404", "500"]),
        ("/v1/users/{id}", "patch", &["200", "400", "401", "403", "404", "409", "413", "415", "422", "500"]),
        ("/v1/users/{id}", "delete", &["200", "400", "401", "403", "404", "409", "500"]),
        ("/v1/users/{id}/reactivate", "post", &["200", "400", "401", "403", "404", "409", "500"]),
        ("/v1/users/{id}/role", "put", &["200", "400", "401", "403", "404", "409", "413", "415", "500"]),
        ("/v1/users/{id}/purge", "delete", &["204", "400", "401", "403", "404", "409", "422", "500"]),
        ("/v1/users/{id}/license", "put", &["200", "400", "401", "403", "404", "409", "413", "415", "422", "500"]),
        ("/v1/users/{id}/license", "delete", &["200", "400", "401", "403", "404", "409", "500"]),
        ("/v1/users/{id}/entitlements", "get", &["200", "400", "401", "403", "404", "500"]),
        ("/v1/me", "get", &["200", "401", "403", "500"]),
        ("/v1/me/entitlements", "get", &["200", "401", "403", "500"]),
        ("/v1/licenses", "get", &["200", "401", "403", "500"]),
        ("/v1/licenses", "post", &["201", "400", "401", "403", "409", "413", "415", "422", "500"]),
        ("/v1/licenses/{id}", "get", &["200", "400", "401", "403", "404", "500"]),
        ("/v1/licenses/{id}", "patch", &["200", "400", "401", "403", "404", "409", "413", "415", "422", "500"]),
        ("/v1/licenses/{id}", "delete", &["204", "400", "401", "403", "404", "409", "500"]),
        ("/v1/metrics", "get", &["200", "401", "403", "500"]),
        ("/v1/invitations", "post", &["201", "400", "401", "403", "409", "413", "415", "422", "500"]),
        ("/v1/users/{id}/invitation", "post", &["200", "400", "401", "403", "404", "409", "500"]),
        ("/v1/users/{id}/invitation", "delete", &["204", "400", "401", "403", "404", "409", "500"]),
        ("/v1/users/{id}/invitation/link", "post", &["200", "400", "401", "403", "404", "409", "500"]),
        ("/v1/invitations/accept", "post", &["200", "400", "404", "410", "413", "415", "422", "429", "500"]),
        ("/v1/settings", "get", &["200", "401", "403", "500"]),
        ("/v1/settings", "patch", &["200", "400", "401", "403", "409", "413", "415", "500"]),
        ("/v1/audit", "get", &["200", "400", "401", "403", "422", "500"]),
        ("/v1/users/{id}/budget", "get", &["200", "400", "401", "403", "404", "500"]),
        ("/v1/users/{id}/budget", "put", &["200", "400", "401", "403", "404", "409", "413", "415", "500"]),
        ("/v1/users/{id}/budget", "delete", &["204", "400", "401", "403", "404", "409", "500"]),
        ("/v1/users/{id}/usage", "get", &["200", "400", "401", "403", "404", "422", "500"]),
        (
            "/v1/usage/reservations",
            "post",
            &["201", "400", "401", "402", "403", "404", "409", "413", "415", "422", "500"],
        ),
        (
            "/v1/usage/reservations/{id}/commit",
            "post",
            &["200", "400", "401", "403", "404", "409", "413", "415", "422", "500"],
        ),
        ("/v1/usage/reservations/{id}", "delete", &["200", "400", "401", "403", "404", "409", "500"]),
        ("/v1/usage/events", "post", &["200", "400", "401", "403", "413", "415", "422", "500"]),
        ("/v1/service-credentials", "post", &["201", "400", "401", "403", "409", "413", "415", "422", "500"]),
        ("/v1/service-credentials", "get", &["200", "401", "403", "500"]),
        ("/v1/service-credentials/{id}", "delete", &["204", "400", "401", "403", "404", "409", "500"]),
        ("/v1/auth/magic-link", "post", &["202", "400", "413", "415", "422", "429", "500"]),
        ("/v1/auth/magic-link/verify", "post", &["201", "400", "401", "413", "415", "429", "500"]),
        ("/v1/me/sessions", "get", &["200", "401", "403", "500"]),
        ("/v1/me/sessions/{id}", "delete", &["204", "400", "401", "403", "404", "500"]),
        ("/v1/me/mfa/totp", "post", &["201", "401", "403", "409", "500"]),
        ("/v1/me/mfa/totp/confirm", "post", &["204", "400", "401", "403", "409", "413", "415", "422", "500"]),
        ("/v1/users/{id}/mfa", "delete", &["204", "400", "401", "403", "404", "409", "500"]),
        ("/v1/users/{id}/sessions", "delete", &["200", "400", "401", "403", "404", "409", "500"]),
        ("/v1/settings/oidc", "get", &["200", "401", "403", "404", "500"]),
        ("/v1/settings/oidc", "put", &["200", "400", "401", "403", "409", "413", "415", "422", "500"]),
        ("/v1/settings/oidc", "delete", &["204", "401", "403", "409", "500"]),
        ("/healthz", "get", &["200"]),
        ("/readyz", "get", &["200", "503"]),
    ];
    for (path, method, statuses) in operations {
        let responses =
            spec["paths"][path][method]["responses"].as_object().unwrap_or_else(|| panic!("{method} {path} missing"));
        let mut declared: Vec<&str> = responses.keys().map(String::as_str).collect();
        declared.sort_unstable();
        assert_eq!(declared, statuses, "{method} {path}");
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') && path.starts_with("/v1") {
                assert!(response["content"]["application/problem+json"].is_object(), "{method} {path} {status}");
            }
        }
    }
    assert_eq!(spec["components"]["securitySchemes"]["BearerAuth"]["scheme"], "bearer");
    // Accepting an invitation is public (the link is the proof) and says when to retry.
    let accept = &spec["paths"]["/v1/invitations/accept"]["post"];
    assert!(accept.get("security").is_none(), "{accept}");
    assert!(spec["paths"]["/v1/invitations"]["post"]["security"].is_array());
    assert_eq!(header_names(&accept["responses"]["429"]), ["retry-after"], "{accept}");
    assert_eq!(header_names(&spec["paths"]["/v1/invitations"]["post"]["responses"]["201"]), ["location"]);
    // So is signing in with a link; enrolling an authenticator also takes an enrolling session.
    for public in ["/v1/auth/magic-link", "/v1/auth/magic-link/verify"] {
        let operation = &spec["paths"][public]["post"];
        assert!(operation.get("security").is_none(), "{operation}");
        assert_eq!(header_names(&operation["responses"]["429"]), ["retry-after"], "{operation}");
    }
    assert_eq!(spec["components"]["securitySchemes"]["EnrollingSessionAuth"]["scheme"], "bearer");
    assert_eq!(spec["paths"]["/v1/me/mfa/totp"]["post"]["security"], json!([{ "EnrollingSessionAuth": [] }]));

    // Request bodies refuse unknown fields, and their optional fields accept null, as the server does.
    let schemas = &spec["components"]["schemas"];
    let closed = [
        "CreateUser",
        "UpdateUser",
        "ChangeRole",
        "CreateLicense",
        "UpdateLicense",
        "AssignLicense",
        "CreateInvitation",
        "AcceptInvitation",
        "UpdateSettings",
        "ReserveCredits",
        "CommitUsage",
        "UsageEvents",
        "BudgetPolicy",
        "CreateServiceCredential",
        "MagicLinkRequest",
        "VerifyMagicLink",
        "ConfirmTotp",
        "SetOidcSettings",
    ];
    for name in closed {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
    }
    assert_eq!(schemas["UpdateUser"]["properties"]["name"]["nullable"], true);
    assert_eq!(schemas["CreateUser"]["properties"]["phone"]["nullable"], true);
    assert_eq!(schemas["UpdateLicense"]["properties"]["name"]["nullable"], true);
    assert_eq!(schemas["UpdateLicense"]["properties"]["seats"]["nullable"], true);
    assert_eq!(schemas["CreateLicense"]["properties"]["seats"]["maximum"], 1_000_000_000.0);
    assert!(schemas["CreateUser"]["properties"]["email"].get("nullable").is_none(), "email is required");
    assert_eq!(schemas["UsageEvents"]["properties"]["events"]["maxItems"], 1000);
    assert_eq!(schemas["ReserveCredits"]["properties"]["ttl_seconds"]["maximum"], 3600.0);
    assert_eq!(schemas["UpdateSettings"]["properties"]["default_budget"]["nullable"], true, "null removes it");
    for field in ["limit", "consumed", "reserved"] {
        assert!(schemas["Problem"]["properties"][field].is_object(), "budget_exceeded carries {field}");
    }
    // Metering is for service credentials: the operations say so.
    let reserve = &spec["paths"]["/v1/usage/reservations"]["post"];
    assert!(reserve["security"].is_array(), "{reserve}");
    assert_eq!(reserve["tags"], serde_json::json!(["Usage"]), "{reserve}");
}

/// The names of the headers a response declares, lowercased.
fn header_names(response: &serde_json::Value) -> Vec<String> {
    let headers = response["headers"].as_object().map(|headers| headers.keys().map(|name| name.to_lowercase()));
    headers.map(Iterator::collect).unwrap_or_default()
}

async fn the_docs_and_probes_answer(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let docs = app.call(Method::GET, "/docs", None, None).await;
    assert_eq!(docs.status, 200);
    assert!(docs.content_type.starts_with("text/html"));
    let html = docs.body.as_str().unwrap();
    assert!(html.contains(r#""additionalProperties":false"#), "the UI shows the served document");
    assert_eq!(app.call(Method::GET, "/healthz", None, None).await.expect(200)["status"], "ok");
    assert_eq!(app.call(Method::GET, "/readyz", None, None).await.expect(200)["status"], "ok");
    let tagged = app.call(Method::GET, "/healthz", None, None).await;
    assert!(tagged.headers.contains_key("x-request-id"));
}

/// The objects nested in request bodies are parsed as strictly as the bodies themselves, and
/// the document must say so too (as it does for the bodies).
async fn objects_nested_in_request_bodies_are_described_as_the_server_parses_them(db: TestDatabase) {
    let app = spawn_app(&db).await;
    let gateway = app.service_key(&["usage:write"]).await;
    let user = app.licensed_user("nested@example.com").await;
    let mut extra = event("e-1", &user, 1, json!({}));
    extra["extra"] = json!(1);
    app.record(&gateway, vec![extra]).await.expect_problem(400, "invalid_request");
    let mut nulls = event("e-2", &user, 1, Value::Null);
    nulls["occurred_at"] = Value::Null;
    let recorded = app.record(&gateway, vec![nulls]).await;
    assert_eq!(recorded.expect(200)["results"][0]["status"], "recorded", "null means none");
    let policy = json!({ "default_budget": { "limit": 1, "period": "daily", "extra": 1 } });
    app.patch("/v1/settings", &app.admin_token, policy).await.expect_problem(400, "invalid_request");

    let spec = app.call(Method::GET, "/openapi.json", None, None).await.expect(200).clone();
    let schemas = &spec["components"]["schemas"];
    assert_eq!(schemas["UsageEvents"]["properties"]["events"]["items"]["$ref"], "#/components/schemas/UsageEvent");
    let event = &schemas["UsageEvent"];
    assert_eq!(event["additionalProperties"], false, "an event with an unknown field is refused: {event}");
    for optional in ["metrics", "occurred_at"] {
        assert_eq!(event["properties"][optional]["nullable"], true, "{optional} accepts null: {event}");
    }
    assert_eq!(schemas["BudgetPolicy"]["additionalProperties"], false);
}

on_both_databases!(
    the_spec_declares_every_operation_and_every_status_it_can_answer,
    the_docs_and_probes_answer,
    objects_nested_in_request_bodies_are_described_as_the_server_parses_them,
);
