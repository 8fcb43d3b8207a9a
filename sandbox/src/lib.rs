//! Blink's sandboxes: one isolated container per project, where the project's Vite dev server,
//! package installs and production builds run.
//!
//! The host talks to sandboxes only through [`SandboxBackend`], so the engine behind it can change:
//! [`DockerBackend`] is the implementation for one machine; [`KubernetesBackend`] (one pod per
//! project) is the one for clusters. A sandbox is named after its project
//! (`sandbox-{project}`) and that name is the lock that keeps a project from ever getting two.
//! Sandboxes carry labels, so a restarted host finds the ones still running and adopts them.

mod appdir;
mod docker;
mod error;
mod kubernetes;
mod output;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

pub use docker::DockerBackend;
pub use error::SandboxError;
pub use kubernetes::{KubernetesBackend, KubernetesConfig};

/// Label every sandbox carries, so `list` finds them among other containers.
pub const SANDBOX_LABEL: &str = "blink.sandbox";
/// Label naming the project a sandbox belongs to.
pub const PROJECT_LABEL: &str = "blink.project";
/// Label of a sandbox created for the host's warm pool ([`SandboxSpec::warm`]). Only the host
/// sets labels, when it creates a container, and they never change: a project cannot give its
/// sandbox this one, whatever its id.
pub const WARM_LABEL: &str = "blink.warm";
/// Label naming who owns a sandbox ([`DockerConfig::owner`]): the data directory of the host that
/// created it, so that a host adopts only its own and a sandbox whose host is gone can be found.
pub const OWNER_LABEL: &str = "blink.owner";
/// Where the project's directory is mounted inside a sandbox; commands run there.
pub const APP_DIR: &str = "/app";
/// Longest project id a sandbox accepts (container names stay well under Docker's limits).
pub const MAX_PROJECT_ID_LEN: usize = 64;

/// Resource limits of one sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Memory, in bytes. Swap is set to the same value, so a sandbox cannot swap.
    pub memory_bytes: i64,
    /// CPU time, in billionths of a CPU (`1_000_000_000` is one CPU).
    pub nano_cpus: i64,
    /// Processes and threads, together.
    pub pids: i64,
    /// Size of the tmpfs mounted at `/tmp` (it counts against the memory limit too).
    pub tmpfs_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { memory_bytes: 512 << 20, nano_cpus: 1_000_000_000, pids: 100, tmpfs_bytes: 64 << 20 }
    }
}

/// How [`DockerBackend`] creates sandboxes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DockerConfig {
    /// The sandbox image (`sandbox/build-image.sh` builds it). Never pulled: it must exist locally.
    pub image: String,
    /// The internal network sandboxes join. Created (internal, no traffic between sandboxes) when
    /// missing; an existing network of that name that is not internal is refused.
    pub network: String,
    /// Limits of each sandbox.
    pub limits: Limits,
    /// The port the dev server listens on inside a sandbox; [`SandboxInfo::address`] points at it.
    pub dev_port: u16,
    /// The unprivileged `uid:gid` sandboxes run as (numeric: the project directory is given to it).
    pub user: String,
    /// The engine's Unix socket; `None` means `DOCKER_HOST` if it names one, else
    /// `/var/run/docker.sock`.
    pub socket: Option<PathBuf>,
    /// Set as [`OWNER_LABEL`] on every sandbox this backend creates.
    pub owner: Option<String>,
    /// The engine's runtime sandboxes run under (`runsc` for gVisor); `None`: its default. The
    /// backend refuses to work with an engine that does not have it.
    pub runtime: Option<String>,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            image: "blink-sandbox:latest".into(),
            network: "blink-sandboxes".into(),
            limits: Limits::default(),
            dev_port: 5173,
            user: "1000:1000".into(),
            socket: None,
            owner: None,
            runtime: None,
        }
    }
}

/// What a project's sandbox runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSpec {
    /// The project id: ASCII letters, digits, `-` and `_`, at most [`MAX_PROJECT_ID_LEN`].
    pub project: String,
    /// The project's directory on the host, mounted read-write at [`APP_DIR`]. It is created if
    /// missing and handed to the sandbox user, since the host usually runs as root.
    pub app_dir: PathBuf,
    /// Environment of the main process (and the base of every `exec`).
    pub env: Vec<(String, String)>,
    /// The main process, e.g. the Vite dev server; empty means the image's own command.
    pub command: Vec<String>,
    /// Started ahead of time for the warm pool, not for a project: labelled [`WARM_LABEL`].
    pub warm: bool,
}

/// A sandbox as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxInfo {
    /// The project the sandbox belongs to.
    pub project: String,
    /// The container's name, `sandbox-{project}`.
    pub name: String,
    /// The engine's id of the container: it changes when the sandbox is recreated.
    pub id: String,
    /// Whether its main process runs.
    pub running: bool,
    /// Where the host reaches the dev server: the sandbox's address on the internal network and
    /// [`DockerConfig::dev_port`]. `None` unless running.
    pub address: Option<SocketAddr>,
    /// Creation time, in seconds since the Unix epoch.
    pub created: i64,
    /// The container's labels: ours (`blink.sandbox`, `blink.project`) and the image's.
    pub labels: HashMap<String, String>,
}

/// What a command run with [`SandboxBackend::exec`] produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecOutput {
    /// The command's exit status (137 when it was killed, by the memory limit for instance).
    pub exit_code: i64,
    /// Standard output and standard error, interleaved as written; only the last few MiB are kept.
    pub output: String,
}

/// The sandbox layer as the host sees it. Object safe: the host holds an `Arc<dyn SandboxBackend>`.
#[async_trait::async_trait]
pub trait SandboxBackend: Send + Sync {
    /// Checks that the engine answers.
    async fn ping(&self) -> Result<(), SandboxError>;

    /// Creates and starts the project's sandbox, or returns the existing one (started if it was
    /// stopped, as it is: a changed spec takes effect only after `remove`). Concurrent calls for
    /// one project, from this process or another, end with one sandbox.
    async fn ensure(&self, spec: &SandboxSpec) -> Result<SandboxInfo, SandboxError>;

    /// Takes over the project's running sandbox, as a host that started it and died left it:
    /// sealed as [`ensure`](Self::ensure) seals (the host may have died between its start and
    /// its seal, leaving its gate shut), or removed if it cannot be. [`SandboxError::NotFound`]
    /// if it is not running.
    async fn resume(&self, project: &str) -> Result<SandboxInfo, SandboxError>;

    /// The project's sandbox, running or not; `None` if it has none.
    async fn inspect(&self, project: &str) -> Result<Option<SandboxInfo>, SandboxError>;

    /// Runs a command in the project's running sandbox, as the sandbox user in [`APP_DIR`], with
    /// `env` added to the sandbox's environment. Past `timeout` the command and everything it
    /// started are killed and [`SandboxError::Timeout`] carries the output so far.
    async fn exec(
        &self,
        project: &str,
        command: &[String],
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<ExecOutput, SandboxError>;

    /// Follows the main process's output (standard output and error), line by line, starting with
    /// its last `tail` lines. The stream ends when the sandbox stops.
    async fn logs(
        &self,
        project: &str,
        tail: usize,
    ) -> Result<BoxStream<'static, Result<String, SandboxError>>, SandboxError>;

    /// Stops the project's sandbox, keeping it for a later `ensure`; [`SandboxError::NotFound`] if
    /// it has none.
    async fn stop(&self, project: &str) -> Result<(), SandboxError>;

    /// Removes the project's sandbox, running or not; nothing to remove is not an error. The
    /// project's directory on the host stays.
    async fn remove(&self, project: &str) -> Result<(), SandboxError>;

    /// Gives the sandbox of project `from` to project `to`, as it is (running, same container,
    /// same mounts): how a warm sandbox, started ahead of time, becomes a project's. `to` must
    /// have no sandbox.
    async fn rename(&self, from: &str, to: &str) -> Result<SandboxInfo, SandboxError>;

    /// Every sandbox of this backend, running or not, found by label: what a restarted host adopts.
    async fn list(&self) -> Result<Vec<SandboxInfo>, SandboxError>;

    /// The host's address on the sandboxes' network: the only host address a sandbox reaches, so
    /// services the host runs for sandboxes (the npm registry proxy) listen there. Whatever else
    /// listens on all addresses (`0.0.0.0`) is reachable there too: bind host services to the
    /// addresses they serve.
    async fn host_address(&self) -> Result<IpAddr, SandboxError>;

    /// Fences sandboxes off the host: of the host's own ports they reach only these (TCP), plus
    /// replies to connections the host opens. Other hosts on the same engine add their own ports.
    async fn allow_host_ports(&self, ports: &[u16]) -> Result<(), SandboxError>;
}

/// Checks a project id: it becomes part of a container name and of label filters.
pub fn validate_project(project: &str) -> Result<(), SandboxError> {
    let valid = !project.is_empty()
        && project.len() <= MAX_PROJECT_ID_LEN
        && project.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(SandboxError::Invalid(format!(
            "invalid project id {project:?}: 1 to {MAX_PROJECT_ID_LEN} ASCII letters, digits, '-' or '_'"
        )))
    }
}

/// The container name of a project's sandbox.
pub fn container_name(project: &str) -> Result<String, SandboxError> {
    validate_project(project)?;
    Ok(format!("sandbox-{project}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_ids() {
        assert_eq!(container_name("p-1_X").ok().as_deref(), Some("sandbox-p-1_X"));
        for bad in ["", "a/b", "a b", "../x", "é", "a.b", &"x".repeat(65)] {
            assert!(matches!(validate_project(bad), Err(SandboxError::Invalid(_))), "{bad:?}");
        }
        assert!(validate_project(&"x".repeat(64)).is_ok());
    }
}
