//! A real OpenID Connect issuer for tests, on 127.0.0.1 and a free port: it serves a discovery
//! document and its public keys over plain HTTP (which [`OidcVerifier`](crate::OidcVerifier)
//! accepts on loopback, with `allow_private_networks`), signs tokens with its private keys, rotates keys, counts key
//! fetches and plays dead on demand. Feature `testing`.
//!
//! ```no_run
//! # async fn example() {
//! use roster_domain::identity::{Audience, IssuerUrl, OidcSettings};
//! use roster_domain::ports::IdentityProvider;
//! use roster_identity::testing::TestIssuer;
//! use roster_identity::{OidcOptions, OidcVerifier};
//!
//! let issuer = TestIssuer::start().await;
//! let token = issuer.token(issuer.claims("roster", "user-1", "ada@example.com"));
//! let settings = OidcSettings {
//!     issuer: IssuerUrl::parse(&issuer.issuer()).unwrap(),
//!     audience: Audience::parse("roster").unwrap(),
//!     entra_tenant: None,
//!     just_in_time: true,
//! };
//! // The issuer is on loopback, which only an operator's choice opens.
//! let options = OidcOptions { allow_private_networks: true, ..OidcOptions::default() };
//! let verifier = OidcVerifier::new(options).unwrap();
//! assert_eq!(verifier.verify(&token, &settings).await.unwrap().subject, "user-1");
//! # }
//! ```

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::EncodePrivateKey;
use poem::endpoint::make_sync;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Json;
use poem::{Endpoint, EndpointExt, IntoResponse, Response, Route, Server, get};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::rand_core::OsRng;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// How long [`TestIssuer::claims`] makes a token valid.
const LIFETIME_SECONDS: u64 = 600;

/// An RSA-2048 key pair, as the issuer signs with it and publishes it.
#[derive(Debug)]
struct RsaSigner {
    kid: String,
    private: EncodingKey,
    /// The public key as SubjectPublicKeyInfo PEM: what an attacker would use as an HMAC secret.
    public_pem: String,
    jwk: Jwk,
}

impl RsaSigner {
    fn generate(kid: String) -> Self {
        let private = rsa::RsaPrivateKey::new(&mut OsRng, 2048).expect("an RSA-2048 key");
        let public_pem = private.to_public_key().to_public_key_pem(LineEnding::LF).expect("a PEM public key");
        let private = EncodingKey::from_rsa_der(private.to_pkcs1_der().expect("a DER private key").as_bytes());
        let jwk = published(&private, Algorithm::RS256, &kid);
        Self { kid, private, public_pem, jwk }
    }
}

/// A P-256 key pair.
#[derive(Debug)]
struct EcSigner {
    kid: String,
    private: EncodingKey,
    jwk: Jwk,
}

impl EcSigner {
    fn generate(kid: String) -> Self {
        let secret = p256::SecretKey::random(&mut OsRng);
        let private = EncodingKey::from_ec_der(secret.to_pkcs8_der().expect("a PKCS#8 private key").as_bytes());
        let jwk = published(&private, Algorithm::ES256, &kid);
        Self { kid, private, jwk }
    }
}

/// The public JWK of `private`, with `kid`, `alg` and `use: sig`.
fn published(private: &EncodingKey, algorithm: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(private, algorithm).expect("a public JWK");
    jwk.common.key_id = Some(kid.to_owned());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk
}

/// The current keys.
#[derive(Debug)]
struct Keys {
    rsa: RsaSigner,
    ec: EcSigner,
    /// How many RSA keys were generated, the current one included.
    rsa_generation: u32,
}

/// What the server shares with the test.
#[derive(Debug)]
struct Shared {
    issuer: String,
    keys: Mutex<Keys>,
    discovery_fetches: AtomicUsize,
    jwks_fetches: AtomicUsize,
    down: AtomicBool,
}

impl Shared {
    fn keys(&self) -> MutexGuard<'_, Keys> {
        // A panicking test thread leaves the keys as they were: keep using them.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn discovery(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/jwks", self.issuer),
            "authorization_endpoint": format!("{}/authorize", self.issuer),
            "token_endpoint": format!("{}/token", self.issuer),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        })
    }

    fn jwks(&self) -> Value {
        let keys = self.keys();
        json!({"keys": [keys.rsa.jwk, keys.ec.jwk]})
    }
}

/// A running test issuer; it stops when dropped.
#[derive(Debug)]
pub struct TestIssuer {
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl TestIssuer {
    /// Generates an RSA-2048 key (kid `rsa-1`) and a P-256 key (kid `ec-1`) and starts serving
    /// `GET /.well-known/openid-configuration` and `GET /jwks` on the current tokio runtime.
    ///
    /// RSA key generation is slow in unoptimised builds: see the crate README for the
    /// profile overrides that make it fast.
    ///
    /// # Panics
    /// When no loopback port can be bound or no key can be generated.
    pub async fn start() -> Self {
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("a free loopback port");
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|address| address.as_socket_addr().copied())
            .expect("a bound TCP address")
            .port();
        let keys = tokio::task::spawn_blocking(|| Keys {
            rsa: RsaSigner::generate("rsa-1".to_owned()),
            ec: EcSigner::generate("ec-1".to_owned()),
            rsa_generation: 1,
        })
        .await
        .expect("generated keys");
        let shared = Arc::new(Shared {
            issuer: format!("http://127.0.0.1:{port}"),
            keys: Mutex::new(keys),
            discovery_fetches: AtomicUsize::new(0),
            jwks_fetches: AtomicUsize::new(0),
            down: AtomicBool::new(false),
        });
        let routes = routes(&shared);
        let server = tokio::spawn(async move {
            // The server ends only with an I/O error of the listener, or when aborted on drop.
            let _ = Server::new_with_acceptor(acceptor).run(routes).await;
        });
        Self { shared, server }
    }

    /// The issuer URL, `http://127.0.0.1:PORT` (no trailing slash): the tokens' `iss`.
    #[must_use]
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// Typical claims of a token for `audience` about `subject`: `iss`, `aud`, `sub`, `email`,
    /// `iat` and `nbf` now, `exp` ten minutes from now.
    #[must_use]
    pub fn claims(&self, audience: &str, subject: &str, email: &str) -> Value {
        let now = jsonwebtoken::get_current_timestamp();
        json!({
            "iss": self.shared.issuer,
            "aud": audience,
            "sub": subject,
            "email": email,
            "iat": now,
            "nbf": now,
            "exp": now + LIFETIME_SECONDS,
        })
    }

    /// `claims` signed with RS256 by the current RSA key, whose kid the header names.
    #[must_use]
    pub fn token(&self, claims: Value) -> String {
        let keys = self.shared.keys();
        sign(Algorithm::RS256, Some(&keys.rsa.kid), &claims, &keys.rsa.private)
    }

    /// `claims` signed with ES256 by the P-256 key, whose kid the header names.
    #[must_use]
    pub fn token_es256(&self, claims: Value) -> String {
        let keys = self.shared.keys();
        sign(Algorithm::ES256, Some(&keys.ec.kid), &claims, &keys.ec.private)
    }

    /// `claims` signed with RS256 by the current RSA key, but with a header naming `kid`.
    #[must_use]
    pub fn token_with_kid(&self, claims: Value, kid: &str) -> String {
        sign(Algorithm::RS256, Some(kid), &claims, &self.shared.keys().rsa.private)
    }

    /// `claims` without a signature: header `{"alg":"none","typ":"JWT","kid":<current RSA kid>}`
    /// and an empty third segment.
    #[must_use]
    pub fn unsigned_token(&self, claims: Value) -> String {
        let header = json!({"alg": "none", "typ": "JWT", "kid": self.shared.keys().rsa.kid});
        format!("{}.{}.", encode_json(&header), encode_json(&claims))
    }

    /// The algorithm-confusion attack: `claims` "signed" with HS256 using the current RSA
    /// public key (its SubjectPublicKeyInfo PEM text) as the HMAC secret, header naming the RSA
    /// kid. A verifier that lets the header choose the algorithm would accept it.
    #[must_use]
    pub fn hs256_with_public_key(&self, claims: Value) -> String {
        let keys = self.shared.keys();
        let secret = EncodingKey::from_secret(keys.rsa.public_pem.as_bytes());
        sign(Algorithm::HS256, Some(&keys.rsa.kid), &claims, &secret)
    }

    /// `token` with its payload altered (`sub` gets "-tampered" appended, or is set to
    /// "tampered") and its header and signature kept.
    ///
    /// # Panics
    /// When `token` is not a JWT with a JSON object as payload.
    #[must_use]
    pub fn tampered(&self, token: &str) -> String {
        let [header, payload, signature]: [&str; 3] =
            token.split('.').collect::<Vec<_>>().try_into().expect("a JWT of three segments");
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("a base64url payload")).expect("JSON");
        let sub = claims["sub"].as_str().map_or_else(|| "tampered".to_owned(), |sub| format!("{sub}-tampered"));
        claims["sub"] = Value::String(sub);
        format!("{header}.{}.{signature}", encode_json(&claims))
    }

    /// Replaces the RSA key by a new one with the next kid (`rsa-2`, `rsa-3`, ...): `/jwks`
    /// publishes only the new one, and later [`token`](Self::token)s are signed with it.
    /// Generates the key on the calling thread.
    pub fn rotate(&self) {
        let generation = self.shared.keys().rsa_generation + 1;
        let rsa = RsaSigner::generate(format!("rsa-{generation}"));
        let mut keys = self.shared.keys();
        keys.rsa = rsa;
        keys.rsa_generation = generation;
    }

    /// How many times the discovery document was served (not counting 503 answers while down).
    #[must_use]
    pub fn discovery_fetches(&self) -> usize {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }

    /// How many times `/jwks` was served (not counting 503 answers while down).
    #[must_use]
    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// While `down`, every request is answered 503 Service Unavailable.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The issuer's two endpoints, behind the "down" switch.
fn routes(shared: &Arc<Shared>) -> impl Endpoint + 'static {
    let discovery = Arc::clone(shared);
    let jwks = Arc::clone(shared);
    let switch = Arc::clone(shared);
    Route::new()
        .at(
            "/.well-known/openid-configuration",
            get(make_sync(move |_| {
                discovery.discovery_fetches.fetch_add(1, Ordering::SeqCst);
                Json(discovery.discovery())
            })),
        )
        .at(
            "/jwks",
            get(make_sync(move |_| {
                jwks.jwks_fetches.fetch_add(1, Ordering::SeqCst);
                Json(jwks.jwks())
            })),
        )
        .around(move |endpoint, request| {
            let down = switch.down.load(Ordering::SeqCst);
            async move {
                if down {
                    return Ok(Response::builder().status(StatusCode::SERVICE_UNAVAILABLE).finish());
                }
                endpoint.call(request).await.map(IntoResponse::into_response)
            }
        })
}

/// A JWT of `claims` with a header of `algorithm` and `kid`, signed with `key`.
fn sign(algorithm: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("a signed token")
}

/// `value` as base64url JSON, as a JWT segment.
fn encode_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}
