//! Refusals for the signature and the algorithm: forgeries must not verify.

use crate::{TestApp, assert_invalid};

#[tokio::test]
async fn a_tampered_payload_is_invalid() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token(app.claims());
    assert!(app.verify(&token).await.is_ok());

    let reason = assert_invalid(app.verify(&app.issuer.tampered(&token)).await);

    assert!(reason.contains("signature"), "{reason}");
}

#[tokio::test]
async fn a_tampered_es256_payload_is_invalid() {
    let app = TestApp::spawn().await;
    let token = app.issuer.token_es256(app.claims());

    assert_invalid(app.verify(&app.issuer.tampered(&token)).await);
}

#[tokio::test]
async fn an_unsigned_token_is_invalid() {
    let app = TestApp::spawn().await;

    assert_invalid(app.verify(&app.issuer.unsigned_token(app.claims())).await);
}

#[tokio::test]
async fn hs256_keyed_with_the_public_key_is_invalid() {
    let app = TestApp::spawn().await;
    // Keys cached first, so that the refusal cannot be owed to a missing key.
    assert!(app.verify(&app.issuer.token(app.claims())).await.is_ok());

    let reason = assert_invalid(app.verify(&app.issuer.hs256_with_public_key(app.claims())).await);

    assert!(reason.contains("HS256"), "{reason}");
}

#[tokio::test]
async fn a_signature_by_another_issuers_key_is_invalid() {
    let app = TestApp::spawn().await;
    let other = roster_identity::testing::TestIssuer::start().await;
    let mut claims = app.claims();
    claims["iss"] = serde_json::json!(app.issuer.issuer());

    let reason = assert_invalid(app.verify(&other.token(claims)).await);

    assert!(reason.contains("signature"), "{reason}");
}

#[tokio::test]
async fn an_unknown_kid_is_invalid() {
    let app = TestApp::spawn().await;

    let reason = assert_invalid(app.verify(&app.issuer.token_with_kid(app.claims(), "unheard-of")).await);

    assert!(reason.contains("unknown key"), "{reason}");
}
