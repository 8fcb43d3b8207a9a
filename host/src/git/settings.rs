//! The repositories' settings: the committer, GitHub's API, the sealing key, which remotes may be
//! reached and how much they may send.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub(crate) struct GitSettings {
    /// Name on the commits the host makes (the user is the author).
    #[arg(long, env = "BLINK_GIT_COMMITTER_NAME", default_value = "Blink")]
    pub(crate) git_committer_name: String,

    /// Email on the commits the host makes.
    #[arg(long, env = "BLINK_GIT_COMMITTER_EMAIL", default_value = "blink@localhost")]
    pub(crate) git_committer_email: String,

    /// GitHub's REST API, for creating a project's repository.
    #[arg(long, env = "BLINK_GITHUB_API", default_value = "https://api.github.com")]
    pub(crate) github_api: String,

    /// 64 hex digits: the key that seals remote tokens at rest. Default: `<data dir>/secret.key`,
    /// generated on first start.
    #[arg(long, env = "BLINK_SECRET_KEY", hide_env_values = true)]
    pub(crate) secret_key: Option<String>,

    /// Schemes a project's remote may use, comma-separated: `https`, and `http` by opt-in. Git's
    /// other transports (`file`, `ssh`, `git`) read the host's disk or resolve names on their own,
    /// so they are never offered.
    #[arg(long, env = "BLINK_GIT_REMOTE_SCHEMES", default_value = "https", value_delimiter = ',', value_parser = parse_remote_scheme)]
    pub(crate) git_remote_schemes: Vec<String>,

    /// Let remotes reach loopback, private, link-local and other internal addresses (a git server
    /// on the operator's own network); off, such remotes are refused before and at connection.
    #[arg(long, env = "BLINK_GIT_ALLOW_PRIVATE_NETWORKS", default_value_t = false, action = clap::ArgAction::Set)]
    pub(crate) git_allow_private_networks: bool,

    /// Bytes one fetch (a pull) may receive from the remote; past it the fetch is aborted.
    #[arg(long, env = "BLINK_GIT_MAX_FETCH_BYTES", default_value_t = 64 << 20)]
    pub(crate) git_max_fetch_bytes: u64,

    /// Seconds the remote may take to accept a connection, and to send the next bytes of an
    /// answer; a remote that stalls longer fails the pull or push instead of holding it.
    #[arg(long, env = "BLINK_GIT_REMOTE_TIMEOUT_SECS", default_value_t = 60)]
    pub(crate) git_remote_timeout_secs: u64,

    /// Seconds one git operation (a pull's fetch, a push) may talk to its remote in all, however
    /// steadily the remote answers.
    #[arg(long, env = "BLINK_GIT_OPERATION_TIMEOUT_SECS", default_value_t = 600)]
    pub(crate) git_operation_timeout_secs: u64,
}

fn parse_remote_scheme(s: &str) -> Result<String, String> {
    let scheme = s.trim().to_ascii_lowercase();
    match scheme.as_str() {
        "https" | "http" => Ok(scheme),
        _ => Err(format!("remotes may use https or http, not {s:?}")),
    }
}
