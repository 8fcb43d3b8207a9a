//! How callers prove who they are: the JWT secret or JWKS, the audience, clock leeway, the
//! operator's token.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub(crate) struct AuthSettings {
    /// Shared secret of HS256 tokens (Supabase's JWT secret).
    #[arg(long = "jwt-secret", env = "BLINK_JWT_SECRET", hide_env_values = true)]
    pub(crate) jwt_secret: Option<String>,

    /// JWKS URL for ES256/RS256 tokens (Supabase: `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`).
    #[arg(long = "jwks-url", env = "BLINK_JWKS_URL")]
    pub(crate) jwks_url: Option<String>,

    /// Required `aud` claim.
    #[arg(long = "jwt-audience", env = "BLINK_JWT_AUDIENCE", default_value = "authenticated")]
    pub(crate) audience: String,

    /// Seconds of clock skew tolerated on `exp`.
    #[arg(long = "jwt-leeway-secs", env = "BLINK_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub(crate) leeway_secs: u64,

    /// Minimum seconds between two JWKS refreshes triggered by unknown key ids.
    #[arg(long = "jwks-refresh-secs", env = "BLINK_JWKS_MIN_REFRESH_SECS", default_value_t = 30)]
    pub(crate) jwks_min_refresh_secs: u64,

    /// Seconds a fetched JWKS is trusted before it is read again (withdrawn keys stop working).
    #[arg(long = "jwks-ttl-secs", env = "BLINK_JWKS_TTL_SECS", default_value_t = 600)]
    pub(crate) jwks_ttl_secs: u64,

    /// Operator token: a bearer equal to it is an admin (credit grants, usage, agents).
    #[arg(long = "admin-token", env = "BLINK_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) admin_token: Option<String>,

    /// DEVELOPMENT ONLY: accept requests without a token (every caller is user `dev`).
    #[arg(long = "dev-no-auth", env = "BLINK_DEV_NO_AUTH", default_value_t = false)]
    pub(crate) dev_no_auth: bool,
}
