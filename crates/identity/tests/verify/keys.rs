//! Discovery, the key cache, rotation, the refetch rate limit, and issuer outages.

use std::time::Duration;

use roster_domain::ports::IdentityProvider;
use serde_json::json;
use tokio::task::JoinSet;

use crate::{TestApp, assert_invalid, assert_unavailable, options, settings_for};

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let app = TestApp::spawn().await;
    // The same server reached as "localhost": its discovery document says 127.0.0.1.
    let alias = app.issuer.issuer().replace("127.0.0.1", "localhost");
    let settings = settings_for(&alias);
    let mut claims = app.claims();
    claims["iss"] = json!(alias);

    let reason = assert_unavailable(app.verifier.verify(&app.issuer.token(claims), &settings).await);

    assert!(reason.contains("names the issuer"), "{reason}");
    assert_eq!(app.issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn keys_are_fetched_once_and_reused() {
    let app = TestApp::spawn().await;

    for _ in 0..3 {
        assert!(app.verify(&app.issuer.token(app.claims())).await.is_ok());
        assert!(app.verify(&app.issuer.token_es256(app.claims())).await.is_ok());
    }

    assert_eq!(app.issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_by_the_same_verifier() {
    let app = TestApp::with_options(options(|o| o.min_refetch = Duration::ZERO)).await;
    let before = app.issuer.token(app.claims());
    assert!(app.verify(&before).await.is_ok());

    app.issuer.rotate();
    let identity = app.verify(&app.issuer.token(app.claims())).await;

    assert!(identity.is_ok(), "{identity:?}");
    assert_eq!(app.issuer.jwks_fetches(), 2);
    let reason = assert_invalid(app.verify(&before).await);
    assert!(reason.contains("unknown key"), "the retired key is gone: {reason}");
}

#[tokio::test]
async fn unknown_kids_cause_at_most_one_refetch_per_min_refetch() {
    let app = TestApp::with_options(options(|o| o.min_refetch = Duration::from_millis(900))).await;
    assert!(app.verify(&app.issuer.token(app.claims())).await.is_ok());
    assert_eq!(app.issuer.jwks_fetches(), 1);
    // Right after a fetch, an unknown kid fetches nothing.
    assert_invalid(app.verify(&app.issuer.token_with_kid(app.claims(), "unknown-0")).await);
    assert_eq!(app.issuer.jwks_fetches(), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;

    assert_invalid(app.verify(&app.issuer.token_with_kid(app.claims(), "unknown-1")).await);
    assert_invalid(app.verify(&app.issuer.token_with_kid(app.claims(), "unknown-2")).await);

    assert_eq!(app.issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn concurrent_verifiers_share_one_refetch() {
    let app = TestApp::with_options(options(|o| o.min_refetch = Duration::ZERO)).await;
    assert!(app.verify(&app.issuer.token(app.claims())).await.is_ok());
    app.issuer.rotate();
    let token = app.issuer.token(app.claims());

    let mut verifying = JoinSet::new();
    for _ in 0..8 {
        let (verifier, settings, token) = (app.verifier.clone(), app.settings.clone(), token.clone());
        verifying.spawn(async move { verifier.verify(&token, &settings).await });
    }

    while let Some(verified) = verifying.join_next().await {
        assert!(verified.expect("a finished task").is_ok());
    }
    assert_eq!(app.issuer.jwks_fetches(), 2);
}

#[tokio::test]
async fn expired_keys_are_fetched_again_on_next_use() {
    let app = TestApp::with_options(options(|o| {
        o.cache_ttl = Duration::ZERO;
        o.min_refetch = Duration::ZERO;
    }))
    .await;

    for _ in 0..3 {
        assert!(app.verify(&app.issuer.token(app.claims())).await.is_ok());
    }

    assert_eq!(app.issuer.jwks_fetches(), 3);
}

#[tokio::test]
async fn cached_keys_still_verify_while_the_issuer_is_down() {
    let app = TestApp::with_options(options(|o| {
        o.cache_ttl = Duration::ZERO;
        o.min_refetch = Duration::ZERO;
    }))
    .await;
    assert!(app.verify(&app.issuer.token(app.claims())).await.is_ok());

    app.issuer.set_down(true);
    let during = app.verify(&app.issuer.token(app.claims())).await;
    app.issuer.set_down(false);
    let after = app.verify(&app.issuer.token(app.claims())).await;

    assert!(during.is_ok(), "{during:?}");
    assert!(after.is_ok(), "{after:?}");
    assert_eq!(app.issuer.jwks_fetches(), 2, "one fetch before and one after the outage");
}

#[tokio::test]
async fn keys_past_the_stale_grace_are_not_used() {
    let app = TestApp::with_options(options(|o| {
        o.cache_ttl = Duration::ZERO;
        o.stale_grace = Duration::ZERO;
        o.min_refetch = Duration::ZERO;
    }))
    .await;
    assert!(app.verify(&app.issuer.token(app.claims())).await.is_ok());

    app.issuer.set_down(true);
    let reason = assert_unavailable(app.verify(&app.issuer.token(app.claims())).await);

    assert!(reason.contains("503"), "{reason}");
}

#[tokio::test]
async fn an_issuer_down_with_nothing_cached_is_unavailable() {
    let app = TestApp::spawn().await;
    app.issuer.set_down(true);

    let reason = assert_unavailable(app.verify(&app.issuer.token(app.claims())).await);

    assert!(reason.contains("503"), "{reason}");
    // Within min_refetch the failure is remembered instead of asking the issuer again.
    app.issuer.set_down(false);
    assert_unavailable(app.verify(&app.issuer.token(app.claims())).await);
    assert_eq!(app.issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn an_unreachable_issuer_is_unavailable() {
    let app = TestApp::with_options(options(|o| o.timeout = Duration::from_secs(1))).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{closed}");
    let mut claims = app.claims();
    claims["iss"] = json!(issuer);

    let result = app.verifier.verify(&app.issuer.token(claims), &settings_for(&issuer)).await;

    assert_unavailable(result);
}

#[tokio::test]
async fn an_https_issuer_is_reached_over_tls() {
    let app = TestApp::spawn().await;
    // A listener that records the first bytes it receives, then hangs up.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("https://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (sender, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut first = [0u8; 3];
        std::io::Read::read_exact(&mut stream, &mut first).unwrap();
        sender.send(first).unwrap();
    });
    let mut claims = app.claims();
    claims["iss"] = json!(issuer);

    let result = app.verifier.verify(&app.issuer.token(claims), &settings_for(&issuer)).await;

    assert_unavailable(result);
    let first = received.recv_timeout(Duration::from_secs(2)).expect("a connection");
    assert_eq!(first, [0x16, 0x03, 0x01], "a TLS handshake record (ClientHello)");
}

#[tokio::test]
async fn an_issuer_on_a_private_address_is_not_reached_unless_allowed() {
    let app = TestApp::with_options(options(|o| o.allow_private_networks = false)).await;
    let localhost = app.issuer.issuer().replace("127.0.0.1", "localhost");

    for (issuer, refusal) in
        [(app.issuer.issuer(), "is on a non-public address"), (localhost, "resolves to non-public addresses only")]
    {
        let mut claims = app.claims();
        claims["iss"] = json!(issuer);
        let result = app.verifier.verify(&app.issuer.token(claims), &settings_for(&issuer)).await;

        let reason = assert_unavailable(result);
        assert!(reason.contains(refusal) && reason.contains("--oidc-allow-private-networks"), "{reason}");
    }
    assert_eq!(app.issuer.discovery_fetches(), 0, "nothing reached the issuer");
}
