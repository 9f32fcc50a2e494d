//! Valid tokens, what they map to, and refusals for their claims.

use roster_domain::identity::EntraTenantId;
use roster_domain::ports::IdentityProvider;
use serde_json::json;

use crate::{TestApp, assert_invalid, now};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

#[tokio::test]
async fn a_valid_rs256_token_verifies_and_maps_its_claims() {
    let app = TestApp::spawn().await;
    let mut claims = app.claims();
    claims["name"] = json!("Ada Lovelace");
    claims["preferred_username"] = json!("ada@contoso.example");
    claims["iat"] = json!(1_700_000_000);

    let identity = app.verify(&app.issuer.token(claims)).await.expect("a verified token");

    assert_eq!(identity.subject, "user-1");
    assert_eq!(identity.email.as_deref(), Some("ada@example.com"));
    assert_eq!(identity.name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(identity.preferred_username.as_deref(), Some("ada@contoso.example"));
    assert_eq!(identity.issued_at.map(|at| at.timestamp()), Some(1_700_000_000));
}

#[tokio::test]
async fn a_valid_es256_token_verifies() {
    let app = TestApp::spawn().await;

    let identity = app.verify(&app.issuer.token_es256(app.claims())).await.expect("a verified token");

    assert_eq!(identity.subject, "user-1");
}

#[tokio::test]
async fn oid_is_the_subject_when_present_and_odd_claims_are_left_out() {
    let app = TestApp::spawn().await;
    let mut claims = app.claims();
    claims["oid"] = json!("00000000-0000-0000-0000-00000000a1b2");
    claims["email"] = json!(["not", "a", "string"]);
    claims.as_object_mut().unwrap().remove("iat");

    let identity = app.verify(&app.issuer.token(claims)).await.expect("a verified token");

    assert_eq!(identity.subject, "00000000-0000-0000-0000-00000000a1b2");
    assert_eq!((identity.email, identity.name, identity.issued_at), (None, None, None));
}

#[tokio::test]
async fn an_email_the_issuer_has_not_verified_is_left_out() {
    let app = TestApp::spawn().await;
    let mut claims = app.claims();
    claims["email_verified"] = json!(false);
    let unverified = app.verify(&app.issuer.token(claims.clone())).await.expect("a verified token");
    claims["email_verified"] = json!(true);
    let verified = app.verify(&app.issuer.token(claims)).await.expect("a verified token");

    assert_eq!(unverified.email, None);
    assert_eq!(verified.email.as_deref(), Some("ada@example.com"));
}

#[tokio::test]
async fn an_audience_list_containing_ours_verifies() {
    let app = TestApp::spawn().await;
    let mut claims = app.claims();
    claims["aud"] = json!(["another-app", crate::AUDIENCE]);

    assert!(app.verify(&app.issuer.token(claims)).await.is_ok());
}

#[tokio::test]
async fn an_expired_token_is_invalid() {
    let app = TestApp::spawn().await;
    let mut claims = app.claims();
    claims["exp"] = json!(now() - 120);

    let reason = assert_invalid(app.verify(&app.issuer.token(claims)).await);

    assert!(reason.contains("expired"), "{reason}");
}

#[tokio::test]
async fn expiry_within_the_leeway_is_tolerated() {
    let app = TestApp::spawn().await;
    let mut claims = app.claims();
    claims["exp"] = json!(now() - 20);

    assert!(app.verify(&app.issuer.token(claims)).await.is_ok());
}

#[tokio::test]
async fn a_token_not_valid_yet_is_invalid() {
    let app = TestApp::spawn().await;
    let mut claims = app.claims();
    claims["nbf"] = json!(now() + 300);

    let reason = assert_invalid(app.verify(&app.issuer.token(claims)).await);

    assert!(reason.contains("nbf"), "{reason}");
}

#[tokio::test]
async fn a_token_without_exp_or_sub_is_invalid() {
    let app = TestApp::spawn().await;
    for claim in ["exp", "sub"] {
        let mut claims = app.claims();
        claims.as_object_mut().unwrap().remove(claim);

        let reason = assert_invalid(app.verify(&app.issuer.token(claims)).await);

        assert!(reason.contains(claim), "{reason}");
    }
}

#[tokio::test]
async fn a_token_for_another_audience_is_invalid() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token(app.issuer.claims("another-app", "user-1", "ada@example.com"));

    let reason = assert_invalid(app.verify(&token).await);

    assert!(reason.contains("aud"), "{reason}");
}

#[tokio::test]
async fn a_token_from_another_issuer_is_invalid_without_fetching_anything() {
    let app = TestApp::spawn().await;
    let mut claims = app.claims();
    claims["iss"] = json!("https://login.example.com");

    let reason = assert_invalid(app.verify(&app.issuer.token(claims)).await);

    assert!(reason.contains("iss"), "{reason}");
    assert_eq!(app.issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn an_entra_tenant_must_match_the_tid_claim() {
    let mut app = TestApp::spawn().await;
    app.settings.entra_tenant = Some(EntraTenantId::parse(TENANT).unwrap());
    let mut claims = app.claims();

    claims["tid"] = json!("11111111-2222-3333-4444-555555555555");
    let reason = assert_invalid(app.verify(&app.issuer.token(claims.clone())).await);
    assert!(reason.contains("tid"), "{reason}");

    claims.as_object_mut().unwrap().remove("tid");
    assert_invalid(app.verify(&app.issuer.token(claims.clone())).await);

    claims["tid"] = json!(TENANT.to_uppercase());
    assert!(app.verify(&app.issuer.token(claims)).await.is_ok());
}

#[tokio::test]
async fn the_claimed_issuer_is_read_only_from_jwt_shaped_text() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token(app.claims());
    assert_eq!(app.verifier.claimed_issuer(&token), Some(app.issuer.issuer()));

    let mut huge = app.claims();
    huge["padding"] = json!("x".repeat(20_000));
    let mut numeric = app.claims();
    numeric["iss"] = json!(42);
    for junk in [
        String::new(),
        "roster_pat_0123456789abcdef".to_owned(),
        "a.b".to_owned(),
        "not base64!.e30.e30".to_owned(),
        "e30.bm90IGpzb24.".to_owned(),
        format!("{token}.extra"),
        app.issuer.token(numeric),
        app.issuer.token(huge),
    ] {
        assert_eq!(app.verifier.claimed_issuer(&junk), None, "{junk:.40}");
    }
    assert_eq!(app.issuer.jwks_fetches(), 0);
}
