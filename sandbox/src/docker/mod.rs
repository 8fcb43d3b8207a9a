//! The Docker backend: sandboxes as containers of the local engine, through bollard.
//!
//! Each sandbox is a container named `sandbox-{project}` on an internal network, with a read-only
//! root, the project's directory bind-mounted at `/app`, a tmpfs at `/tmp`, every capability
//! dropped, `no-new-privileges`, an unprivileged user, and memory, CPU and PID limits. The engine
//! is reached lazily: a host whose engine is down starts anyway and gets
//! [`SandboxError::EngineUnavailable`] from each call until it is back.
//!
//! Over 500 lines: one implementation of the backend trait, whose methods share the engine's lazy
//! connection and the container's labels; network, exec, seal and firewall already live beside it.

mod exec;
mod firewall;
mod network;
mod seal;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, ContainerSummaryStateEnum, HostConfig, HostConfigLogConfig, Mount,
    MountType, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StartContainerOptions, StopContainerOptionsBuilder,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::{Mutex, OnceCell};

use crate::appdir::prepare_app_dir;
use crate::error::{self, SandboxError};
use crate::output::Lines;
use crate::{
    APP_DIR, DockerConfig, ExecOutput, OWNER_LABEL, PROJECT_LABEL, SANDBOX_LABEL, SandboxBackend, SandboxInfo,
    SandboxSpec, WARM_LABEL, container_name, validate_project,
};

use network::NetworkInfo;

/// Seconds the engine may take to answer a request (streams, such as logs, are not bounded).
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// How long a concurrent creation may take to show in the engine's list.
const CREATION_WAIT: Duration = Duration::from_secs(10);
/// Seconds the main process gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT_SECS: i32 = 5;
/// The engine keeps this much of a sandbox's own output (`logs`), in a few rotated files.
const LOG_MAX_SIZE: &str = "2m";
const LOG_MAX_FILES: &str = "2";
/// The kernel's OOM killer picks sandbox processes before the host's when the machine runs short.
const OOM_SCORE_ADJ: i64 = 500;

/// Sandboxes as containers of the local Docker engine.
pub struct DockerBackend {
    config: DockerConfig,
    uid: u32,
    gid: u32,
    /// `unix://` and the socket's path.
    socket: String,
    /// Set once the engine first answers: bollard refuses a missing socket and version
    /// negotiation needs the engine up, and neither may stop the host from starting.
    engine: OnceCell<Engine>,
    /// The sandboxes' network once found or created; reset when the engine no longer knows it.
    network: Mutex<Option<NetworkInfo>>,
}

/// A client that has agreed on an API version with the engine.
struct Engine {
    docker: Docker,
    /// Engines before 25 (API 1.44) give containers on internal networks a default route through
    /// the host, which reaches every address of the host; such sandboxes are sealed after start.
    seal_default_route: bool,
}

impl DockerBackend {
    /// Connects to the local engine through [`DockerConfig::socket`]. The engine need not be up:
    /// if it is down this logs a warning, and each later call returns
    /// [`SandboxError::EngineUnavailable`] until it answers.
    pub async fn connect(config: DockerConfig) -> Result<Self, SandboxError> {
        let (uid, gid) = parse_user(&config.user)?;
        if config.image.is_empty() || config.network.is_empty() {
            return Err(SandboxError::Invalid("the sandbox image and network must be named".into()));
        }
        let socket = match (&config.socket, std::env::var("DOCKER_HOST")) {
            (Some(path), _) => format!("unix://{}", path.display()),
            (None, Ok(host)) if host.starts_with("unix://") => host,
            (None, _) => "unix:///var/run/docker.sock".to_string(),
        };
        let backend = Self { config, uid, gid, socket, engine: OnceCell::new(), network: Mutex::new(None) };
        if let Err(e) = backend.engine().await {
            tracing::warn!("{e}");
        }
        Ok(backend)
    }

    /// The configuration sandboxes are created with.
    pub fn config(&self) -> &DockerConfig {
        &self.config
    }

    async fn engine(&self) -> Result<&Engine, SandboxError> {
        self.engine
            .get_or_try_init(|| async {
                let docker =
                    Docker::connect_with_unix(&self.socket, REQUEST_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
                        .map_err(|e| self.engine_error(e))?
                        .negotiate_version()
                        .await
                        .map_err(|e| self.engine_error(e))?;
                if let Some(runtime) = &self.config.runtime {
                    let info = docker.info().await.map_err(|e| self.engine_error(e))?;
                    let runtimes = info.runtimes.unwrap_or_default();
                    if !runtimes.contains_key(runtime) {
                        let mut available: Vec<&str> = runtimes.keys().map(String::as_str).collect();
                        available.sort_unstable();
                        return Err(SandboxError::RuntimeMissing {
                            runtime: runtime.clone(),
                            available: available.join(", "),
                        });
                    }
                }
                let version = docker.client_version();
                let seal_default_route = (version.major_version, version.minor_version) < (1, 44);
                tracing::info!(
                    api = %format!("{}.{}", version.major_version, version.minor_version),
                    seal_default_route,
                    "connected to the Docker engine"
                );
                Ok(Engine { docker, seal_default_route })
            })
            .await
    }

    fn engine_error(&self, e: bollard::errors::Error) -> SandboxError {
        error::engine(e, &self.socket)
    }

    /// Maps an error about one project's container.
    fn container_error(&self, e: bollard::errors::Error, project: &str) -> SandboxError {
        match error::status(&e) {
            Some(404) => SandboxError::NotFound(project.to_string()),
            Some(409) if error::message(&e).contains("not running") || error::message(&e).contains("paused") => {
                SandboxError::NotRunning(project.to_string())
            }
            _ => self.engine_error(e),
        }
    }

    /// The project's container, running or not. A container that has the name but not our label
    /// is refused: it is not ours to start, run commands in or report.
    async fn find(&self, engine: &Engine, project: &str) -> Result<Option<SandboxInfo>, SandboxError> {
        let name = container_name(project)?;
        // The name filter is a regular expression over names, which carry a leading '/'; project
        // ids hold no metacharacters.
        let filters = HashMap::from([("name", vec![format!("^/{name}$")])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let found = engine.docker.list_containers(Some(options)).await.map_err(|e| self.engine_error(e))?;
        let Some(summary) = found.into_iter().next() else { return Ok(None) };
        if summary.labels.as_ref().and_then(|l| l.get(SANDBOX_LABEL)).map(String::as_str) != Some("1") {
            return Err(SandboxError::Engine(format!(
                "a container named {name} exists that Blink did not create; remove or rename it"
            )));
        }
        Ok(self.info(summary))
    }

    fn info(&self, summary: ContainerSummary) -> Option<SandboxInfo> {
        let name = summary.names.as_ref()?.first()?.trim_start_matches('/').to_string();
        let labels = summary.labels.unwrap_or_default();
        // The name is the truth: `rename` moves a sandbox to another project, and labels cannot
        // change after creation.
        let project = match name.strip_prefix("sandbox-") {
            Some(project) => project.to_string(),
            None => labels.get(PROJECT_LABEL)?.clone(),
        };
        let running = summary.state == Some(ContainerSummaryStateEnum::RUNNING);
        let address = summary
            .network_settings
            .and_then(|settings| settings.networks)
            .and_then(|networks| networks.get(&self.config.network)?.ip_address.clone())
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .filter(|_| running)
            .map(|ip| SocketAddr::new(ip, self.config.dev_port));
        Some(SandboxInfo {
            project,
            name,
            id: summary.id?,
            running,
            address,
            created: summary.created.unwrap_or(0),
            labels,
        })
    }

    /// Creates the container; another caller having created it first is not an error.
    async fn create(&self, engine: &Engine, spec: &SandboxSpec, app_dir: &Path) -> Result<(), SandboxError> {
        let network = self.network(engine).await?;
        let body = self.container_body(engine, spec, app_dir, &network).await?;
        let options = CreateContainerOptionsBuilder::default().name(&container_name(&spec.project)?).build();
        match engine.docker.create_container(Some(options), body).await {
            Ok(created) => {
                for warning in created.warnings {
                    tracing::debug!(project = %spec.project, "engine warning: {warning}");
                }
                Ok(())
            }
            Err(e) if error::status(&e) == Some(409) => Ok(()),
            Err(e) if error::status(&e) == Some(404) && error::message(&e).contains("image") => {
                Err(SandboxError::ImageMissing(self.config.image.clone()))
            }
            Err(e) if error::status(&e) == Some(404) && error::message(&e).contains("network") => {
                // Someone removed the network since it was set up: find or create it again next time.
                *self.network.lock().await = None;
                Err(SandboxError::Network(format!("{} (it will be set up again)", error::message(&e))))
            }
            Err(e) => Err(self.engine_error(e)),
        }
    }

    /// Starts a container that concurrent callers may be creating or starting too.
    async fn start(&self, engine: &Engine, info: &SandboxInfo) -> Result<(), SandboxError> {
        let give_up = tokio::time::Instant::now() + CREATION_WAIT;
        loop {
            let Err(e) = engine.docker.start_container(&info.name, None::<StartContainerOptions>).await else {
                return Ok(());
            };
            // Another caller may have started it meanwhile; only a sandbox still down is an error.
            if self.find(engine, &info.project).await?.is_some_and(|now| now.running) {
                return Ok(());
            }
            let message = error::message(&e);
            if error::status(&e) == Some(404) && message.contains("network") {
                return Err(SandboxError::Network(message.to_string()));
            }
            // The engine lists a container a moment before it can start it.
            let creating = error::status(&e) == Some(404) && message.contains("No such container");
            if !creating || tokio::time::Instant::now() >= give_up {
                return Err(self.container_error(e, &info.project));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The container just created, by this caller or a concurrent one. The engine reserves the
    /// name before it lists the container, so a caller that lost the race waits a moment for it.
    async fn created(&self, engine: &Engine, project: &str) -> Result<SandboxInfo, SandboxError> {
        let give_up = tokio::time::Instant::now() + CREATION_WAIT;
        loop {
            if let Some(info) = self.find(engine, project).await? {
                return Ok(info);
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(SandboxError::NotFound(project.to_string()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn container_body(
        &self,
        engine: &Engine,
        spec: &SandboxSpec,
        app_dir: &Path,
        network: &NetworkInfo,
    ) -> Result<ContainerCreateBody, SandboxError> {
        let limits = &self.config.limits;
        let mut labels = HashMap::from([
            (SANDBOX_LABEL.to_string(), "1".to_string()),
            (PROJECT_LABEL.to_string(), spec.project.clone()),
        ]);
        if spec.warm {
            labels.insert(WARM_LABEL.to_string(), "1".to_string());
        }
        if let Some(owner) = &self.config.owner {
            labels.insert(OWNER_LABEL.to_string(), owner.clone());
        }
        let (entrypoint, cmd) = if engine.seal_default_route {
            let command =
                if spec.command.is_empty() { self.image_command(engine).await? } else { spec.command.clone() };
            (Some(seal::gate_entrypoint()), Some(command))
        } else if spec.command.is_empty() {
            (None, None)
        } else {
            (None, Some(spec.command.clone()))
        };
        let host_config = HostConfig {
            memory: Some(limits.memory_bytes),
            // Swap equal to memory means no swap at all.
            memory_swap: Some(limits.memory_bytes),
            nano_cpus: Some(limits.nano_cpus),
            pids_limit: Some(self.host_pids(limits.pids)),
            ulimits: self.user_kernel().then(|| {
                vec![ResourcesUlimits { name: Some("nproc".into()), soft: Some(limits.pids), hard: Some(limits.pids) }]
            }),
            readonly_rootfs: Some(true),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_string(),
                format!("rw,nosuid,nodev,size={},mode=1777", limits.tmpfs_bytes),
            )])),
            mounts: Some(vec![Mount {
                target: Some(APP_DIR.to_string()),
                source: Some(app_dir.to_string_lossy().into_owned()),
                typ: Some(MountType::BIND),
                read_only: Some(false),
                ..Default::default()
            }]),
            cap_drop: Some(vec!["ALL".to_string()]),
            security_opt: Some(vec!["no-new-privileges".to_string()]),
            // By id: engines before 25 may hold two networks of one name for a moment.
            network_mode: Some(network.id.clone()),
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
            // The engine's tini as PID 1 reaps zombies and forwards SIGTERM, so stops are quick.
            init: Some(true),
            oom_score_adj: Some(OOM_SCORE_ADJ),
            runtime: self.config.runtime.clone(),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".to_string()),
                config: Some(HashMap::from([
                    ("max-size".to_string(), LOG_MAX_SIZE.to_string()),
                    ("max-file".to_string(), LOG_MAX_FILES.to_string()),
                ])),
            }),
            ..Default::default()
        };
        Ok(ContainerCreateBody {
            image: Some(self.config.image.clone()),
            user: Some(self.config.user.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            entrypoint,
            cmd,
            working_dir: Some(APP_DIR.to_string()),
            labels: Some(labels),
            stop_timeout: Some(STOP_TIMEOUT_SECS.into()),
            host_config: Some(host_config),
            ..Default::default()
        })
    }

    /// The image's own command, for a spec that names none while the entrypoint is replaced.
    async fn image_command(&self, engine: &Engine) -> Result<Vec<String>, SandboxError> {
        let image = engine.docker.inspect_image(&self.config.image).await.map_err(|e| {
            if error::status(&e) == Some(404) {
                SandboxError::ImageMissing(self.config.image.clone())
            } else {
                self.engine_error(e)
            }
        })?;
        let config = image.config.unwrap_or_default();
        let command: Vec<String> =
            config.entrypoint.into_iter().flatten().chain(config.cmd.into_iter().flatten()).collect();
        if command.is_empty() {
            return Err(SandboxError::Invalid(format!(
                "the image {} has no command and the spec names none",
                self.config.image
            )));
        }
        Ok(command)
    }

    /// Starts a stopped sandbox and seals it; a running one is only sealed (idempotent), since a
    /// concurrent caller may have started it an instant ago.
    async fn bring_up(
        &self,
        engine: &Engine,
        info: SandboxInfo,
        app_dir: &Path,
        app_dir_prepared: bool,
    ) -> Result<SandboxInfo, SandboxError> {
        if !info.running {
            if !app_dir_prepared {
                prepare_app_dir(app_dir.to_path_buf(), self.uid, self.gid).await?;
            }
            self.start(engine, &info).await?;
        }
        self.seal(engine, &info).await?;
        self.find(engine, &info.project).await?.ok_or_else(|| SandboxError::NotFound(info.project.clone()))
    }

    /// Seals a running sandbox where the engine needs it (idempotent), or removes it.
    async fn seal(&self, engine: &Engine, info: &SandboxInfo) -> Result<(), SandboxError> {
        if engine.seal_default_route {
            let mut sealed = seal::remove_default_route(&engine.docker, &info.name).await;
            if sealed.is_ok() && self.user_kernel() {
                sealed = self.mark_sealed(&info.project).await;
            }
            if let Err(e) = sealed {
                // Fail closed: a sandbox with a route to the host's addresses must not run.
                let _ = self.remove(&info.project).await;
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Host tasks per task of the project's under gVisor's ptrace platform (its stub process per
/// address space and thread per task, and the kernel's own threads): 93 processes of a fork
/// bomb took 972 host tasks here.
const USER_KERNEL_TASKS_PER_TASK: i64 = 16;

impl DockerBackend {
    /// Whether the runtime puts a kernel of its own between the sandbox and the host's (gVisor),
    /// rather than sharing the host's (runc).
    fn user_kernel(&self) -> bool {
        self.config.runtime.as_deref().is_some_and(|runtime| runtime != "runc")
    }

    /// The engine's cgroup limit on the sandbox's tasks. Under runc the project's tasks are the
    /// host's, and that limit is the project's. Under gVisor the cgroup holds the user-space
    /// kernel with its own threads and stubs, which would die at the project's limit, taking the
    /// sandbox with it; there the project's limit is `nproc`, which gVisor's kernel enforces for
    /// the sandbox alone (under runc it would count every container of the same uid), and the
    /// cgroup only bounds the kernel.
    fn host_pids(&self, pids: i64) -> i64 {
        if self.user_kernel() { pids.saturating_mul(USER_KERNEL_TASKS_PER_TASK) } else { pids }
    }

    /// Opens the gate of a sealed sandbox whose runtime hides the seal from it ([`seal::SEALED_MARK`]).
    async fn mark_sealed(&self, project: &str) -> Result<(), SandboxError> {
        let command: Vec<String> =
            ["/bin/sh", "-c", &format!(": > {}", seal::SEALED_MARK)].iter().map(|s| s.to_string()).collect();
        let out = self.exec(project, &command, &[], Duration::from_secs(10)).await?;
        if out.exit_code == 0 {
            Ok(())
        } else {
            Err(SandboxError::Network(format!("cannot mark the sandbox of {project} sealed: {}", out.output.trim())))
        }
    }
}

#[async_trait::async_trait]
impl SandboxBackend for DockerBackend {
    async fn ping(&self) -> Result<(), SandboxError> {
        let engine = self.engine().await?;
        engine.docker.ping().await.map_err(|e| self.engine_error(e))?;
        Ok(())
    }

    async fn ensure(&self, spec: &SandboxSpec) -> Result<SandboxInfo, SandboxError> {
        validate_project(&spec.project)?;
        let app_dir = std::path::absolute(&spec.app_dir)
            .map_err(|source| SandboxError::AppDir { path: spec.app_dir.clone(), source })?;
        let engine = self.engine().await?;
        let (existing, prepared) = match self.find(engine, &spec.project).await? {
            Some(info) => (info, false),
            None => {
                let started = std::time::Instant::now();
                prepare_app_dir(app_dir.clone(), self.uid, self.gid).await?;
                self.create(engine, spec, &app_dir).await?;
                tracing::debug!(project = %spec.project, elapsed = ?started.elapsed(), "sandbox created");
                (self.created(engine, &spec.project).await?, true)
            }
        };
        self.bring_up(engine, existing, &app_dir, prepared).await
    }

    async fn resume(&self, project: &str) -> Result<SandboxInfo, SandboxError> {
        validate_project(project)?;
        let engine = self.engine().await?;
        let info = self.find(engine, project).await?.filter(|info| info.running);
        let info = info.ok_or_else(|| SandboxError::NotFound(project.to_string()))?;
        self.seal(engine, &info).await?;
        Ok(info)
    }

    async fn inspect(&self, project: &str) -> Result<Option<SandboxInfo>, SandboxError> {
        validate_project(project)?;
        let engine = self.engine().await?;
        self.find(engine, project).await
    }

    async fn exec(
        &self,
        project: &str,
        command: &[String],
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<ExecOutput, SandboxError> {
        let name = container_name(project)?;
        if command.is_empty() {
            return Err(SandboxError::Invalid("an empty command".into()));
        }
        let engine = self.engine().await?;
        exec::run(self, engine, project, &name, command, env, timeout).await
    }

    async fn logs(
        &self,
        project: &str,
        tail: usize,
    ) -> Result<BoxStream<'static, Result<String, SandboxError>>, SandboxError> {
        let engine = self.engine().await?;
        let info = self.find(engine, project).await?.ok_or_else(|| SandboxError::NotFound(project.to_string()))?;
        let options =
            LogsOptionsBuilder::default().follow(true).stdout(true).stderr(true).tail(&tail.to_string()).build();
        let chunks = engine.docker.logs(&info.id, Some(options));
        let socket = self.socket.clone();
        // One line buffer per stream: a partial line on stdout must not swallow stderr's lines.
        let state = (chunks.boxed(), Lines::default(), Lines::default(), std::collections::VecDeque::new(), false);
        let lines = futures::stream::unfold(state, move |(mut chunks, mut out, mut err, mut ready, mut ended)| {
            let socket = socket.clone();
            async move {
                loop {
                    if let Some(line) = ready.pop_front() {
                        return Some((Ok(line), (chunks, out, err, ready, ended)));
                    }
                    if ended {
                        return None;
                    }
                    let mut fresh = Vec::new();
                    match chunks.next().await {
                        Some(Ok(bollard::container::LogOutput::StdErr { message })) => err.push(&message, &mut fresh),
                        Some(Ok(chunk)) => out.push(chunk.as_ref(), &mut fresh),
                        Some(Err(e)) => {
                            ended = true;
                            return Some((Err(error::engine(e, &socket)), (chunks, out, err, ready, ended)));
                        }
                        None => {
                            ended = true;
                            fresh.extend(out.finish());
                            fresh.extend(err.finish());
                        }
                    }
                    ready.extend(fresh);
                }
            }
        });
        Ok(lines.boxed())
    }

    async fn stop(&self, project: &str) -> Result<(), SandboxError> {
        let name = container_name(project)?;
        let engine = self.engine().await?;
        let options = StopContainerOptionsBuilder::default().t(STOP_TIMEOUT_SECS).build();
        engine.docker.stop_container(&name, Some(options)).await.map_err(|e| self.container_error(e, project))
    }

    async fn remove(&self, project: &str) -> Result<(), SandboxError> {
        let name = container_name(project)?;
        let engine = self.engine().await?;
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match engine.docker.remove_container(&name, Some(options)).await {
            Ok(()) => Ok(()),
            // Gone already, or being removed by another caller.
            Err(e) if matches!(error::status(&e), Some(404 | 409)) => Ok(()),
            Err(e) => Err(self.engine_error(e)),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> Result<SandboxInfo, SandboxError> {
        let target = container_name(to)?;
        let engine = self.engine().await?;
        let Some(info) = self.find(engine, from).await? else {
            return Err(SandboxError::NotFound(from.to_string()));
        };
        let options = bollard::query_parameters::RenameContainerOptionsBuilder::default().name(&target).build();
        match engine.docker.rename_container(&info.id, options).await {
            Ok(()) => {}
            Err(e) if error::status(&e) == Some(409) => {
                return Err(SandboxError::Invalid(format!("project {to} already has a sandbox")));
            }
            Err(e) => return Err(self.engine_error(e)),
        }
        self.find(engine, to).await?.ok_or_else(|| SandboxError::NotFound(to.to_string()))
    }

    async fn list(&self) -> Result<Vec<SandboxInfo>, SandboxError> {
        let engine = self.engine().await?;
        let filters = HashMap::from([("label", vec![format!("{SANDBOX_LABEL}=1")])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let found = engine.docker.list_containers(Some(options)).await.map_err(|e| self.engine_error(e))?;
        Ok(found.into_iter().filter_map(|summary| self.info(summary)).collect())
    }

    async fn host_address(&self) -> Result<IpAddr, SandboxError> {
        let engine = self.engine().await?;
        Ok(self.network(engine).await?.gateway)
    }

    async fn allow_host_ports(&self, ports: &[u16]) -> Result<(), SandboxError> {
        let engine = self.engine().await?;
        let network = self.network(engine).await?;
        firewall::allow_only(&network.bridge, ports).await
    }
}

/// `uid:gid`, numeric: the project directory is handed to that owner.
fn parse_user(user: &str) -> Result<(u32, u32), SandboxError> {
    let parsed = user.split_once(':').and_then(|(uid, gid)| Some((uid.parse().ok()?, gid.parse().ok()?)));
    match parsed {
        Some((0, _)) | None => {
            Err(SandboxError::Invalid(format!("the sandbox user must be a numeric, non-root uid:gid, not {user:?}")))
        }
        Some(ids) => Ok(ids),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users() {
        assert_eq!(parse_user("1000:1000").ok(), Some((1000, 1000)));
        assert!(parse_user("sandbox").is_err());
        assert!(parse_user("0:0").is_err());
        assert!(parse_user("1000").is_err());
    }
}
