//! A first run's way in. With no way to check tokens configured (no JWT secret, no JWKS, no
//! `BLINK_DEV_NO_AUTH`) every route would answer 401; on a loopback address the host instead
//! generates an HS256 secret into its data directory and mints a token for a local user, which
//! it prints with a request that works as printed. Never on any other address: a token minted
//! by default must not open a host others can reach.

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use jsonwebtoken::{EncodingKey, Header, encode};

use super::AuthSettings;

/// Whom the development token speaks for.
pub(crate) const LOCAL_USER: &str = "local-dev";

/// How long the printed token stays good: a working day's session and many more.
const TOKEN_DAYS: i64 = 30;

/// The development secret and a token signed with it.
pub(crate) struct DevAccess {
    pub(crate) secret: String,
    pub(crate) token: String,
    pub(crate) secret_file: std::path::PathBuf,
}

/// The development access a first run gets, or `None` when auth is configured or the address is
/// not loopback. The secret is kept in the data directory (mode 0600), so tokens printed by
/// earlier runs keep working.
pub(crate) fn access(settings: &AuthSettings, addr: SocketAddr, data_dir: &Path) -> anyhow::Result<Option<DevAccess>> {
    if settings.jwt_secret.is_some() || settings.jwks_url.is_some() || settings.dev_no_auth {
        return Ok(None);
    }
    if !addr.ip().is_loopback() {
        return Ok(None);
    }
    let secret_file = data_dir.join("dev-jwt-secret");
    let secret = match std::fs::read_to_string(&secret_file) {
        Ok(secret) if secret.trim().len() >= 32 => secret.trim().to_string(),
        _ => {
            let secret = hex::encode(rand::random::<[u8; 32]>());
            let mut file =
                std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&secret_file)?;
            file.write_all(secret.as_bytes())?;
            secret
        }
    };
    let now = crate::db::now_ms() / 1000;
    let claims = serde_json::json!({
        "sub": LOCAL_USER,
        "aud": settings.audience,
        "role": "authenticated",
        "iat": now,
        "exp": now + TOKEN_DAYS * 24 * 3600,
    });
    let token = encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes()))?;
    Ok(Some(DevAccess { secret, token, secret_file }))
}

/// What to print once the host listens at `url`: the token and one request that works as printed.
pub(crate) fn instructions(access: &DevAccess, url: &str) -> String {
    format!(
        "No auth is configured (BLINK_JWT_SECRET, BLINK_JWKS_URL): on this loopback address, a development token \
         for user `{LOCAL_USER}` works, signed with the secret in {}:\n  export BLINK_TOKEN={}\n  curl -N \
         {url}/api/orchestrator -H \"authorization: Bearer $BLINK_TOKEN\" -H 'content-type: application/json' -d \
         '{{\"messages\":[{{\"role\":\"user\",\"content\":\"Add a navbar with the site title\"}}]}}'",
        access.secret_file.display(),
        access.token
    )
}
