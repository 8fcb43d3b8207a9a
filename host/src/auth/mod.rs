//! Supabase-style JWT authentication: HS256 with the project's shared secret, or ES256/RS256 with
//! keys published as a JWKS (fetched, cached, refreshed when a token names an unknown key id).

pub(crate) mod dev;
mod settings;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

pub(crate) use self::settings::AuthSettings;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    /// The token's `sub`.
    pub(crate) id: String,
    pub(crate) email: Option<String>,
    /// `app_metadata.role == "admin"`: a role only the server side of Supabase can set.
    pub(crate) is_admin: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not for this audience")]
    WrongAudience,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("cannot fetch the signing keys: {0}")]
    KeysUnavailable(String),
}

/// User ids the host gives its own callers; no token may claim one.
const RESERVED_PREFIX: &str = "blink:";

/// Who a call without a token acts as, where the host allows one (today's frontend's legacy
/// routes): projects it owns are the projects no signed-in user owns.
pub(crate) const ANONYMOUS: &str = "blink:anonymous";

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    app_metadata: Option<serde_json::Value>,
}

pub(crate) struct Authenticator {
    secret: Option<DecodingKey>,
    jwks: Option<Jwks>,
    audience: String,
    leeway: u64,
    dev_no_auth: bool,
}

impl Authenticator {
    pub(crate) fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        if settings.dev_no_auth {
            tracing::warn!(
                "AUTHENTICATION IS DISABLED (BLINK_DEV_NO_AUTH): every request runs as user `dev`. Never do this in production."
            );
        } else if settings.jwt_secret.is_none() && settings.jwks_url.is_none() {
            tracing::warn!(
                "neither BLINK_JWT_SECRET nor BLINK_JWKS_URL is set: every authenticated route will answer 401"
            );
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        Ok(Self {
            secret: settings.jwt_secret.as_deref().map(|s| DecodingKey::from_secret(s.as_bytes())),
            jwks: settings.jwks_url.clone().map(|url| Jwks {
                url,
                http,
                keys: RwLock::new(HashMap::new()),
                last_fetch: Mutex::new(None),
                min_refresh: Duration::from_secs(settings.jwks_min_refresh_secs),
                ttl: Duration::from_secs(settings.jwks_ttl_secs),
            }),
            audience: settings.audience.clone(),
            leeway: settings.leeway_secs,
            dev_no_auth: settings.dev_no_auth,
        })
    }

    /// Checks the `Authorization` header's bearer token.
    pub(crate) async fn authenticate(&self, authorization: Option<&str>) -> Result<User, AuthError> {
        if self.dev_no_auth {
            return Ok(User { id: "dev".into(), email: None, is_admin: true });
        }
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::Missing)?;
        let header = decode_header(token).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let key = match header.alg {
            Algorithm::HS256 => {
                self.secret.clone().ok_or_else(|| AuthError::Invalid("HS256 tokens are not accepted here".into()))?
            }
            Algorithm::ES256 | Algorithm::RS256 => {
                let jwks = self
                    .jwks
                    .as_ref()
                    .ok_or_else(|| AuthError::Invalid(format!("{:?} tokens are not accepted here", header.alg)))?;
                let kid =
                    header.kid.as_deref().ok_or_else(|| AuthError::Invalid("the token names no key id".into()))?;
                jwks.key(kid, header.alg).await?
            }
            other => return Err(AuthError::Invalid(format!("unsupported algorithm {other:?}"))),
        };
        let mut validation = Validation::new(header.alg);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.leeway = self.leeway;
        let data = decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                _ => AuthError::Invalid(e.to_string()),
            }
        })?;
        let claims = data.claims;
        if claims.sub.trim().is_empty() {
            return Err(AuthError::Invalid("empty subject".into()));
        }
        if claims.sub.starts_with(RESERVED_PREFIX) {
            return Err(AuthError::Invalid(format!("subjects starting with {RESERVED_PREFIX:?} are the host's own")));
        }
        let is_admin = claims
            .app_metadata
            .as_ref()
            .and_then(|m| m.get("role"))
            .and_then(|r| r.as_str())
            .is_some_and(|r| r == "admin");
        Ok(User { id: claims.sub, email: claims.email, is_admin })
    }
}

struct Jwks {
    url: String,
    http: reqwest::Client,
    keys: RwLock<HashMap<String, (Algorithm, Arc<DecodingKey>)>>,
    last_fetch: Mutex<Option<Instant>>,
    min_refresh: Duration,
    ttl: Duration,
}

impl Jwks {
    async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, AuthError> {
        // Keys are re-read after `ttl`, so a key withdrawn from the JWKS (revoked) stops working.
        let stale = self.last_fetch.lock().await.is_none_or(|t| t.elapsed() >= self.ttl);
        if !stale && let Some(key) = self.cached(kid, alg).await? {
            return Ok(key);
        }
        // An unknown key id means the keys rotated (or a forgery): refresh, at most once per
        // `min_refresh`, so forged ids cannot make us hammer the key server.
        {
            let mut last = self.last_fetch.lock().await;
            // Checked again under the lock: concurrent requests refresh once, not each.
            let gap = if stale { self.ttl } else { self.min_refresh };
            if last.is_none_or(|t| t.elapsed() >= gap) {
                *last = Some(Instant::now());
                match self.refresh().await {
                    Ok(()) => {}
                    // A key server that is down does not lock everyone out: the keys already
                    // known keep working until it is back.
                    Err(e) if stale && !self.keys.read().await.is_empty() => {
                        tracing::warn!("keeping the cached signing keys: {e}");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        self.cached(kid, alg).await?.ok_or_else(|| AuthError::Invalid(format!("unknown signing key {kid:?}")))
    }

    async fn cached(&self, kid: &str, alg: Algorithm) -> Result<Option<DecodingKey>, AuthError> {
        match self.keys.read().await.get(kid) {
            Some((key_alg, key)) if *key_alg == alg => Ok(Some((**key).clone())),
            Some((key_alg, _)) => Err(AuthError::Invalid(format!("key {kid:?} is for {key_alg:?}, not {alg:?}"))),
            None => Ok(None),
        }
    }

    async fn refresh(&self) -> Result<(), AuthError> {
        let unavailable = |e: reqwest::Error| AuthError::KeysUnavailable(e.to_string());
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(unavailable)?
            .error_for_status()
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            let alg = match &jwk.algorithm {
                AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                _ => continue,
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, (alg, Arc::new(key)));
                }
                Err(e) => tracing::warn!(kid, "ignoring an unusable JWKS key: {e}"),
            }
        }
        tracing::info!(count = keys.len(), "fetched signing keys");
        *self.keys.write().await = keys;
        Ok(())
    }
}
