//! Where and how releases are deployed: the store, releases kept, limits, custom domains, the CDN.

use std::net::SocketAddr;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub(crate) struct DeploySettings {
    /// Releases kept per project; older ones are deleted (the live one never is).
    #[arg(long, env = "BLINK_DEPLOY_KEEP", default_value_t = 10)]
    pub(crate) deploy_keep: usize,

    /// Seconds a release that stopped being live is kept beyond `BLINK_DEPLOY_KEEP`, for pages
    /// loaded from it that still fetch their assets.
    #[arg(long, env = "BLINK_DEPLOY_GRACE_SECS", default_value_t = 60)]
    pub(crate) deploy_grace_secs: u64,

    /// Deployed sites answer at `{projectId}.{domain}`, served by this host.
    #[arg(long, env = "BLINK_SITES_DOMAIN", default_value = "sites.localhost")]
    pub(crate) sites_domain: String,

    /// Host names of this service (its API, previews…) that no project may claim as a custom
    /// domain, comma-separated; the Cloudflare origin is refused anyway. Taken from here only,
    /// never from a request's `Host`, which the caller chooses.
    #[arg(long, env = "BLINK_RESERVED_DOMAINS", value_delimiter = ',')]
    pub(crate) reserved_domains: Vec<String>,

    /// The DNS server (`ip:port`) asked for custom domains' ownership proofs (a TXT record at
    /// `_blink-challenge.{domain}`); unset, the system's resolvers.
    #[arg(long, env = "BLINK_DNS_RESOLVER")]
    pub(crate) dns_resolver: Option<SocketAddr>,

    /// Seconds a custom-domain claim may stay unproven before it expires.
    #[arg(long, env = "BLINK_DOMAIN_CLAIM_TTL_SECS", default_value_t = 3 * 24 * 60 * 60)]
    pub(crate) domain_claim_ttl_secs: u64,

    /// A deploy larger than this many bytes is refused (413 `deploy_too_large`).
    #[arg(long, env = "BLINK_DEPLOY_MAX_BYTES", default_value_t = 512 * 1024 * 1024)]
    pub(crate) deploy_max_bytes: u64,

    /// A deploy of more files than this is refused (413 `deploy_too_large`).
    #[arg(long, env = "BLINK_DEPLOY_MAX_FILES", default_value_t = 10_000)]
    pub(crate) deploy_max_files: usize,

    /// A deploy with a file larger than this many bytes is refused (413 `deploy_too_large`).
    #[arg(long, env = "BLINK_DEPLOY_MAX_FILE_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub(crate) deploy_max_file_bytes: u64,

    /// Deploys one user may have in flight at once; more are refused (429 `too_many_deploys`).
    #[arg(long, env = "BLINK_DEPLOY_MAX_CONCURRENT_PER_USER", default_value_t = 2)]
    pub(crate) deploy_max_concurrent_per_user: usize,

    /// Releases go to this S3 bucket (AWS or any S3-compatible store); unset, they go to the data
    /// directory.
    #[arg(long, env = "BLINK_S3_BUCKET")]
    pub(crate) s3_bucket: Option<String>,

    /// The store's endpoint, for S3-compatible stores (MinIO, R2, Garage…); unset: AWS.
    #[arg(long, env = "BLINK_S3_ENDPOINT")]
    pub(crate) s3_endpoint: Option<String>,

    #[arg(long, env = "BLINK_S3_REGION", default_value = "us-east-1")]
    pub(crate) s3_region: String,

    /// Path-style addressing (`endpoint/bucket/key`), which most self-hosted stores need.
    #[arg(long, env = "BLINK_S3_PATH_STYLE", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) s3_path_style: bool,

    /// Objects are stored under `{prefix}{projectId}/{deployId}/`.
    #[arg(long, env = "BLINK_S3_PREFIX", default_value = "sites/")]
    pub(crate) s3_prefix: String,

    /// Credentials; unset, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    #[arg(long, env = "BLINK_S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub(crate) s3_access_key_id: Option<String>,

    #[arg(long, env = "BLINK_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub(crate) s3_secret_access_key: Option<String>,

    #[arg(long, env = "BLINK_S3_SESSION_TOKEN", hide_env_values = true)]
    pub(crate) s3_session_token: Option<String>,

    /// Uploads in flight at once per deploy.
    #[arg(long, env = "BLINK_S3_PARALLEL", default_value_t = 16)]
    pub(crate) s3_parallel: usize,

    /// Attempts per S3 request; throttling, 5xx and connection errors are retried with backoff.
    #[arg(long, env = "BLINK_S3_MAX_ATTEMPTS", default_value_t = 4)]
    pub(crate) s3_max_attempts: u32,

    /// Seconds one attempt of one S3 request may take.
    #[arg(long, env = "BLINK_S3_TIMEOUT_SECS", default_value_t = 60)]
    pub(crate) s3_timeout_secs: u64,

    /// A Cloudflare API token (Zone DNS edit, SSL and Certificates edit); set, project host names
    /// get a proxied DNS record and custom domains a Cloudflare for SaaS custom hostname.
    #[arg(long, env = "BLINK_CLOUDFLARE_TOKEN", hide_env_values = true)]
    pub(crate) cloudflare_token: Option<String>,

    #[arg(long, env = "BLINK_CLOUDFLARE_API", default_value = "https://api.cloudflare.com/client/v4")]
    pub(crate) cloudflare_api: String,

    /// The zone of `BLINK_SITES_DOMAIN`.
    #[arg(long, env = "BLINK_CLOUDFLARE_ZONE_ID")]
    pub(crate) cloudflare_zone_id: Option<String>,

    /// What project host names point at: this host's public name, the CDN's origin.
    #[arg(long, env = "BLINK_CLOUDFLARE_ORIGIN")]
    pub(crate) cloudflare_origin: Option<String>,

    /// Seconds between checks of pending custom-domain certificates.
    #[arg(long, env = "BLINK_CLOUDFLARE_POLL_SECS", default_value_t = 30)]
    pub(crate) cloudflare_poll_secs: u64,
}
