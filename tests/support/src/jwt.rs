//! Supabase-style tokens for tests: HS256 with a shared secret, ES256 and RS256 with keys served
//! from a real JWKS endpoint whose key set can be rotated.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

pub const SECRET: &str = "test-secret-with-at-least-32-characters!";

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Claims of a signed-in Supabase user, valid for an hour.
pub fn claims(sub: &str) -> Value {
    json!({ "sub": sub, "aud": "authenticated", "role": "authenticated", "exp": now() + 3600, "iat": now(), "email": format!("{sub}@example.com") })
}

pub fn hs256(claims: &Value, secret: &str) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// A token for `sub` signed with [`SECRET`].
pub fn user_token(sub: &str) -> String {
    hs256(&claims(sub), SECRET)
}

/// An asymmetric signing key and its public JWK.
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    encoding: EncodingKey,
    pub jwk: Value,
}

impl SigningKey {
    pub fn es256(kid: &str) -> Self {
        use p256::pkcs8::EncodePrivateKey;
        let secret = p256::SecretKey::random(&mut rand::thread_rng());
        let pem = secret.to_pkcs8_pem(Default::default()).unwrap();
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
            "y": URL_SAFE_NO_PAD.encode(point.y().unwrap()),
        });
        Self {
            kid: kid.into(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
            jwk,
        }
    }

    pub fn rs256(kid: &str) -> Self {
        use rsa::pkcs8::EncodePrivateKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let pem = key.to_pkcs8_pem(Default::default()).unwrap();
        let jwk = json!({
            "kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
        });
        Self {
            kid: kid.into(),
            alg: Algorithm::RS256,
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
            jwk,
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.encoding).unwrap()
    }
}

/// A JWKS endpoint on loopback, serving whatever keys it currently holds.
type Published = (Arc<Mutex<Vec<Value>>>, Arc<Mutex<usize>>);

#[derive(Clone)]
pub struct JwksServer {
    keys: Arc<Mutex<Vec<Value>>>,
    hits: Arc<Mutex<usize>>,
    pub addr: SocketAddr,
}

impl JwksServer {
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let keys = Arc::new(Mutex::new(keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()));
        let hits = Arc::new(Mutex::new(0));
        let state = (keys.clone(), hits.clone());
        let app = axum::Router::new()
            .route(
                "/auth/v1/.well-known/jwks.json",
                get(|State((keys, hits)): State<Published>| async move {
                    *hits.lock().unwrap() += 1;
                    Json(json!({ "keys": keys.lock().unwrap().clone() }))
                }),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Self { keys, hits, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}/auth/v1/.well-known/jwks.json", self.addr)
    }

    /// Replaces the published keys, as a key rotation does.
    pub fn publish(&self, keys: &[&SigningKey]) {
        *self.keys.lock().unwrap() = keys.iter().map(|k| k.jwk.clone()).collect();
    }

    pub fn hits(&self) -> usize {
        *self.hits.lock().unwrap()
    }
}

/// An unsigned token (`alg: none`), which no verifier may accept.
pub fn unsigned(claims: &Value) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.", b64(&json!({ "alg": "none", "typ": "JWT" })), b64(claims))
}
